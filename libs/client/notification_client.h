// stp.notification.v1.NotificationService: resumable event subscriptions and webhooks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/client/connection.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"

namespace stp::client {

namespace nv1 = stp::notification::v1;

// What to follow and how to reconnect.
struct SubscribeOptions {
  nv1::EventFilter filter;
  // Resume after this cursor (one persisted from Subscription::cursor()). Empty: the events
  // committed from the first connection on; if that connection drops before its first message
  // (on_live), events of that moment can be missed, so pass a cursor when none may be lost.
  std::string cursor;
  // Seconds between heartbeats on an idle stream, 1 to 300; 0 is the server's 15.
  int heartbeat_seconds = 0;
  // End the subscription (with OK) after handing this many events to the handler; 0: never.
  int64_t max_events = 0;
  // Reconnection backoff. max_attempts counts consecutive connections that fail before
  // delivering anything; 0 reconnects until cancelled.
  RetryPolicy reconnect{.max_attempts = 0,
                        .initial_backoff = absl::Milliseconds(200),
                        .max_backoff = absl::Seconds(30)};
  // Called when a connection delivers its first message (an event or a heartbeat): from then
  // on, changes are followed. Called again after each reconnection.
  std::function<void()> on_live;
  // Called before each wait to reconnect, with what ended the stream.
  std::function<void(const absl::Status& why, absl::Duration wait)> on_reconnect;
};

// A subscription that survives disconnects, server restarts and being cut off as too slow: it
// reconnects with its last cursor (the stp-cursor trailer when the server gives one) after a
// backoff, and hands every event to the handler exactly once and in order (an event the server
// repeats after a resume is recognised by its stream position and skipped). It ends when
// cancelled, or with an error that a reconnection cannot fix: OUT_OF_RANGE (the cursor is
// older than the retention: resync with the List methods, then subscribe without a cursor),
// INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, ...
class Subscription {
 public:
  // Runs on the subscription's own thread, one event at a time. `cursor` is the position after
  // this event: persist it together with the event's effect.
  using EventHandler =
      std::function<void(const stp::events::v1::Event& event, const std::string& cursor)>;

  ~Subscription();  // cancels and waits for the thread
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Ends the subscription; safe from any thread, the handler included.
  void Cancel();
  // Waits until the subscription ends; OK after Cancel(), otherwise the error that ended it.
  absl::Status Wait();
  // Waits at most `timeout`; true once the subscription has ended.
  bool WaitFor(absl::Duration timeout);

  // The cursor after the last event handled (or heartbeat received): resume from it.
  std::string cursor() const;
  int64_t events_delivered() const { return events_delivered_.load(); }
  // Connections made after the first.
  int reconnects() const { return reconnects_.load(); }

 private:
  friend class NotificationClient;
  Subscription(std::shared_ptr<Connection> connection, SubscribeOptions options,
               EventHandler handler);
  void Run();
  // One stream: reads until it ends; answers its final status.
  absl::Status ReadStream(bool* delivered_any);
  // False for an event at or before the last one delivered from its partition.
  bool IsNew(const stp::events::v1::Event& event);
  void SetCursor(const std::string& cursor);

  std::shared_ptr<Connection> connection_;
  std::unique_ptr<nv1::NotificationService::Stub> stub_;
  SubscribeOptions options_;
  EventHandler handler_;

  mutable absl::Mutex mu_;
  std::string cursor_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status result_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;  // the open stream's
  // Last delivered stream id per partition, as (milliseconds, sequence).
  std::map<int, std::pair<uint64_t, uint64_t>> last_delivered_;  // subscription thread only
  std::atomic<int64_t> events_delivered_{0};
  std::atomic<int> reconnects_{0};
  std::thread thread_;
};

class NotificationClient {
 public:
  explicit NotificationClient(std::shared_ptr<Connection> connection);

  // Starts following events on a thread of the subscription's own.
  std::unique_ptr<Subscription> Subscribe(SubscribeOptions options,
                                          Subscription::EventHandler handler) const;

  absl::StatusOr<nv1::Webhook> CreateWebhook(nv1::CreateWebhookRequest request,
                                             const CallOptions& call = {}) const;
  absl::StatusOr<nv1::Webhook> GetWebhook(const nv1::GetWebhookRequest& request,
                                          const CallOptions& call = {}) const;
  absl::StatusOr<nv1::ListWebhooksResponse> ListWebhooks(const nv1::ListWebhooksRequest& request,
                                                         const CallOptions& call = {}) const;
  absl::StatusOr<nv1::DeleteWebhookResponse> DeleteWebhook(nv1::DeleteWebhookRequest request,
                                                           const CallOptions& call = {}) const;
  absl::StatusOr<nv1::ListDeliveriesResponse> ListDeliveries(
      const nv1::ListDeliveriesRequest& request, const CallOptions& call = {}) const;

  nv1::NotificationService::Stub* stub() const { return stub_.get(); }

 private:
  std::shared_ptr<Connection> connection_;
  std::unique_ptr<nv1::NotificationService::Stub> stub_;
};

}  // namespace stp::client
