#include "tests/reliability/scripted_receiver.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/http_receiver.h"

namespace stp::reliability {

ScriptedReceiver::ScriptedReceiver(Script script) : script_(std::move(script)) {
  listen_fd_ = testing::ListenOnLoopback(128, &port_);
  accept_thread_ = std::thread([this] { Serve(); });
}

ScriptedReceiver::~ScriptedReceiver() {
  stopping_.store(true);
  accept_thread_.join();
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  close(listen_fd_);
}

std::string ScriptedReceiver::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/hook");
}

std::vector<WebhookRequest> ScriptedReceiver::requests() {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void ScriptedReceiver::Serve() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    workers_.emplace_back([this, fd] { Handle(fd); });
  }
}

void ScriptedReceiver::Handle(int fd) {
  std::optional<testing::ReceivedRequest> read =
      testing::ReadHttpRequest(fd, absl::Seconds(5), stopping_);
  if (!read.has_value()) {
    close(fd);
    return;
  }
  WebhookRequest req;
  req.received = absl::Now();
  req.headers = std::move(read->headers);
  req.body = std::move(read->body);
  int attempt;
  {
    absl::MutexLock lock(&mu_);
    attempt = attempts_[req.headers["x-stp-delivery"]]++;
    requests_.push_back(req);
  }
  Answer answer = script_(req, attempt);
  if (answer.delay > absl::ZeroDuration()) absl::SleepFor(answer.delay);
  testing::AnswerAndClose(fd, answer.reset ? -1 : answer.status);
}

}  // namespace stp::reliability
