#include "tests/testing/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace stp::testing {

int ListenOnLoopback(int backlog, int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  listen(fd, backlog);
  return fd;
}

std::optional<ReceivedRequest> ReadHttpRequest(int fd, absl::Duration timeout,
                                               const std::atomic<bool>& stopping) {
  std::string data;
  char buf[8192];
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline && !stopping.load()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    data.append(buf, n);
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        for (absl::string_view line : absl::StrSplit(data.substr(0, header_end), "\r\n")) {
          auto colon = line.find(':');
          if (colon != absl::string_view::npos &&
              absl::AsciiStrToLower(line.substr(0, colon)) == "content-length") {
            (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)),
                                   &content_length);
          }
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
  }
  if (header_end == std::string::npos) return std::nullopt;
  ReceivedRequest req;
  std::vector<std::string> lines = absl::StrSplit(data.substr(0, header_end), "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  if (first.size() >= 2) {
    req.method = first[0];
    req.path = first[1];
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    auto colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  req.body = data.substr(header_end + 4, content_length);
  return req;
}

void AnswerAndClose(int fd, int status) {
  if (status < 0) {
    linger l{1, 0};  // RST instead of FIN
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  } else {
    std::string reply =
        absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    (void)!write(fd, reply.data(), reply.size());
  }
  close(fd);
}

HttpReceiver::HttpReceiver(Responder responder, absl::Duration delay)
    : responder_(std::move(responder)), delay_(delay) {
  listen_fd_ = ListenOnLoopback(64, &port_);
  thread_ = std::thread([this] { Serve(); });
}

HttpReceiver::~HttpReceiver() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
}

std::string HttpReceiver::url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

std::vector<ReceivedRequest> HttpReceiver::requests() {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int HttpReceiver::count() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(requests_.size());
}

void HttpReceiver::Serve() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Handle(fd);
  }
}

void HttpReceiver::Handle(int fd) {
  // A connection that never sent whole headers is still counted, as an empty request.
  ReceivedRequest req =
      ReadHttpRequest(fd, absl::Seconds(5), stopping_).value_or(ReceivedRequest{});
  int n;
  {
    absl::MutexLock lock(&mu_);
    n = static_cast<int>(requests_.size());
    requests_.push_back(req);
  }
  int status = responder_(n, req);
  if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
  AnswerAndClose(fd, status);
}

}  // namespace stp::testing
