// A small HTTP/1.1 server on loopback for webhook tests: records every request and answers
// with the status a test scripts (and can reset connections or answer slowly).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stp::testing {

struct ReceivedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Pieces shared by the loopback HTTP receivers of the tests.
// A TCP socket listening on 127.0.0.1 on a free port, written to *port.
int ListenOnLoopback(int backlog, int* port);
// One request read from `fd`: the request line, headers and a Content-Length body, waiting at
// most `timeout` (or until `stopping`). nullopt when the headers never arrived whole.
std::optional<ReceivedRequest> ReadHttpRequest(int fd, absl::Duration timeout,
                                               const std::atomic<bool>& stopping);
// Answers `status` with an empty body, or resets the connection (RST, no FIN) when status < 0;
// closes `fd` either way.
void AnswerAndClose(int fd, int status);

class HttpReceiver {
 public:
  // What to do with the n-th request (0-based): an HTTP status, or -1 to reset the connection.
  using Responder = std::function<int(int n, const ReceivedRequest& request)>;

  explicit HttpReceiver(Responder responder, absl::Duration delay = absl::ZeroDuration());
  ~HttpReceiver();

  int port() const { return port_; }
  std::string url(const std::string& path = "/hook") const;
  std::vector<ReceivedRequest> requests();
  int count();

 private:
  void Serve();
  void Handle(int fd);

  Responder responder_;
  absl::Duration delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<ReceivedRequest> requests_;
};

}  // namespace stp::testing
