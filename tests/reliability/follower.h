// A Subscribe client that behaves as the API guide's follow() does: it keeps the cursor of the
// last message it received (event or heartbeat) and, whenever the stream ends, subscribes again
// from that cursor, on whatever address `address()` names at that moment.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "stp/events/v1/events.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"

namespace stp::reliability {

class Follower {
 public:
  Follower(std::function<std::string()> address, stp::notification::v1::EventFilter filter,
           std::string cursor, int heartbeat_seconds = 1);
  ~Follower();

  void Stop();
  std::vector<stp::events::v1::Event> events();
  size_t event_count();
  std::string cursor();
  // How each stream ended (one per connection), in order.
  std::vector<grpc::StatusCode> endings();
  int connections() const { return connections_.load(); }

 private:
  void Loop();

  std::function<std::string()> address_;
  stp::notification::v1::EventFilter filter_;
  int heartbeat_seconds_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  absl::Mutex mu_;
  std::string cursor_ ABSL_GUARDED_BY(mu_);
  std::vector<stp::events::v1::Event> events_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::StatusCode> endings_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* live_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace stp::reliability
