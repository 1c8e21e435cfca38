// Webhooks: partners' HTTP(S) endpoints that receive matching events as protobuf JSON, signed
// with HMAC-SHA256. A consumer group over the event partitions turns each matching event into
// one delivery per hook (created once, whatever the retries or replicas); delivery workers on
// every replica claim due deliveries with a lease, POST them, and retry with exponential
// backoff and jitter on network errors, 5xx and 429, until success or the dead-letter list.
//
//   stp:{g}:notif:hook:<id>                 HASH pb (Webhook without secret), secret, org, role
//   stp:{g}:notif:hooks                     ZSET every hook id (creation order)
//   stp:{g}:notif:delivery:<hook>:<id>      HASH pb (Delivery), event (serialized Event)
//   stp:{g}:notif:deliveries:<hook>         ZSET delivery ids by creation time
//   stp:{g}:notif:due                       ZSET "<hook>/<delivery>" by due time (ms)
//   stp:{g}:notif:dead:<hook>               LIST dead-lettered delivery ids, newest first
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/call_context.h"
#include "libs/common/stop_flag.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "libs/redis/streams.h"
#include "stp/notification/v1/notification_service.pb.h"

namespace stp::notification {

namespace nv1 = stp::notification::v1;

// The signature header of a delivery: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." +
// body)>".
std::string SignDelivery(const std::string& secret, int64_t unix_seconds, const std::string& body);

struct HttpResult {
  int status = 0;     // 0 when no answer came
  std::string error;  // network error, when status is 0
};

// Sends one POST. Thread-compatible (one per worker thread).
class HttpSender {
 public:
  virtual ~HttpSender() = default;
  virtual HttpResult Post(const std::string& url, const std::vector<std::string>& headers,
                          const std::string& body, absl::Duration timeout) = 0;
};
std::unique_ptr<HttpSender> NewCurlSender();

struct WebhookOptions {
  int max_attempts = 8;
  absl::Duration base_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(10);
  absl::Duration lease = absl::Seconds(60);  // a claimed delivery is retried elsewhere after this
  absl::Duration http_timeout = absl::Seconds(10);
  int workers = 4;
  std::string group = "webhooks";
  std::string consumer;  // default host-pid
  absl::Duration reclaim_idle = absl::Seconds(30);
  absl::Duration poll = absl::Milliseconds(50);
  bool allow_private_targets = true;  // loopback/private URLs (tests, on-premises)
  int read_count = 500;               // events per read of the consumer group
  std::function<void()> after_batch;  // tests: runs after each batch read is acknowledged
};

class WebhookStore {
 public:
  WebhookStore(redis::RedisClient* redis, redis::Keyspace keyspace);

  absl::StatusOr<nv1::Webhook> Create(const RequestContext& rc,
                                      const nv1::CreateWebhookRequest& req, absl::Time now);
  absl::StatusOr<nv1::Webhook> Get(const RequestContext& rc, const std::string& name);
  absl::StatusOr<nv1::ListWebhooksResponse> List(const RequestContext& rc,
                                                 const nv1::ListWebhooksRequest& req);
  absl::Status Delete(const RequestContext& rc, const std::string& name);
  absl::StatusOr<nv1::ListDeliveriesResponse> ListDeliveries(const RequestContext& rc,
                                                             const nv1::ListDeliveriesRequest& req);

  struct Hook {
    std::string id;
    nv1::Webhook webhook;
    std::string secret;
    Principal owner;
  };
  absl::StatusOr<std::vector<Hook>> AllHooks();
  absl::StatusOr<std::optional<Hook>> LoadHook(const std::string& id);

  redis::RedisClient* redis() { return redis_; }
  const redis::Keyspace& keyspace() const { return keyspace_; }
  std::string Key(const std::string& a, const std::string& b = "", const std::string& c = "") const;

 private:
  absl::StatusOr<Hook> Authorized(const RequestContext& rc, const std::string& name);
  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
};

class WebhookDispatcher {
 public:
  WebhookDispatcher(WebhookStore* store, WebhookOptions options, std::function<absl::Time()> clock,
                    std::function<std::unique_ptr<HttpSender>()> make_sender);
  ~WebhookDispatcher();

  // INVALID_ARGUMENT when the lease is shorter than twice the HTTP timeout.
  absl::Status Start();
  void Stop();

  // Turns stream entries into deliveries (idempotent). Exposed for tests.
  absl::Status Enqueue(int partition, const std::vector<redis::StreamEntry>& entries);
  // Claims and attempts up to `max` due deliveries; returns how many were attempted.
  absl::StatusOr<int> AttemptDue(HttpSender* sender, int max);

  int64_t delivered() const { return delivered_.load(); }
  int64_t dead_lettered() const { return dead_lettered_.load(); }
  int64_t failed_attempts() const { return failed_attempts_.load(); }
  // Losses of events (trimmed from a stream before the group read them) this replica reported.
  int64_t losses() const { return losses_.load(); }

 private:
  void ConsumeLoop();
  // Pending entries (taken by this consumer, or reclaimed from another) that were trimmed
  // before deliveries were made for them: reported as a loss.
  void ReportTrimmedPending(const std::string& stream, const std::vector<std::string>& ids);
  // Reports events of `stream` trimmed before the group read them (see EntriesLostToGroup).
  absl::Status CheckForLostEvents(const std::string& stream);
  void WorkLoop();
  // `lease` is the claim's lease (its score in the due set): the outcome is recorded only while
  // the claim still holds.
  absl::Status Attempt(HttpSender* sender, const std::string& member, const std::string& lease);
  absl::StatusOr<std::vector<WebhookStore::Hook>> Hooks();

  WebhookStore* store_;
  WebhookOptions options_;
  std::function<absl::Time()> clock_;
  std::function<std::unique_ptr<HttpSender>()> make_sender_;
  StopFlag stopping_;
  redis::Waker waker_;  // the consumer's read
  std::vector<std::thread> threads_;
  std::atomic<int64_t> delivered_{0}, dead_lettered_{0}, failed_attempts_{0}, losses_{0};
  absl::Mutex hooks_mu_;
  std::vector<WebhookStore::Hook> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  std::string hooks_version_ ABSL_GUARDED_BY(hooks_mu_) = "unloaded";
};

}  // namespace stp::notification
