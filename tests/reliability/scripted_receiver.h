// A webhook receiver for fault tests: every connection is served on its own thread, so one slow
// answer does not hold up the others (tests/testing/http_receiver.h serves one at a time, which
// would turn a slow answer into timeouts for every request queued behind it).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stp::reliability {

struct WebhookRequest {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  absl::Time received;
};

// How to answer one request: an HTTP status after `delay`, or a connection reset.
struct Answer {
  int status = 200;
  bool reset = false;
  absl::Duration delay = absl::ZeroDuration();
};

class ScriptedReceiver {
 public:
  // `script(request, attempt)`: attempt counts earlier requests with the same X-STP-Delivery.
  using Script = std::function<Answer(const WebhookRequest& request, int attempt)>;

  explicit ScriptedReceiver(Script script);
  ~ScriptedReceiver();

  std::string url() const;
  std::vector<WebhookRequest> requests();

 private:
  void Serve();
  void Handle(int fd);

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  absl::Mutex mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<WebhookRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> attempts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stp::reliability
