#include "tests/testing/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/redis/redis.h"

namespace stp::testing {

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(Options options) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->options_ = std::move(options);
  char tmpl[] = "/tmp/stp-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  server->dir_ = tmpl;
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = PickFreePort();
    last = server->Launch();
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status RedisServer::Launch() {
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   absl::StrCat(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--appendonly",
                                   options_.appendonly ? "yes" : "no",
                                   "--appendfsync",
                                   options_.appendfsync,
                                   "--save",
                                   "",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log",
                                   "--protected-mode",
                                   "no"};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The test's signal mask must not leak into the server.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Not the test's stdout and stderr: a server outliving a crashed test would hold ctest's
    // output pipe open, and ctest would wait for it until its timeout. It logs to its file.
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execvp("redis-server", argv.data());
    _exit(127);
  }
  pid_ = pid;
  absl::Status ready = WaitReady();
  if (!ready.ok()) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  return ready;
}

absl::Status RedisServer::WaitReady() {
  redis::RedisOptions options;
  options.address = address();
  options.connect_timeout = absl::Milliseconds(200);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError("redis-server exited during start (port taken?)");
    }
    auto conn = redis::Connection::Open(options);
    if (conn.ok()) {
      auto reply = (*conn)->Command({"PING"}, absl::Seconds(1));
      if (reply.ok() && redis::Str(reply->get()) == "PONG") return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("redis-server did not answer within 10s");
}

void RedisServer::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

absl::Status RedisServer::Restart() {
  Kill();
  absl::Status last;
  // The port may linger briefly after the kill.
  for (int attempt = 0; attempt < 50; ++attempt) {
    last = Launch();
    if (last.ok()) return last;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return last;
}

void RedisServer::Pause() { Signal(SIGSTOP); }
void RedisServer::Resume() { Signal(SIGCONT); }

std::string RedisServer::Cli(const std::vector<std::string>& args) const {
  std::string cmd = absl::StrCat("redis-cli -p ", port_, " ", absl::StrJoin(args, " "), " 2>&1");
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

absl::Status TakeThenTrim(redis::RedisClient& client, const std::vector<std::string>& streams,
                          const std::string& group, const std::string& consumer) {
  for (const auto& stream : streams) {
    auto taken = client.Command(
        {"XREADGROUP", "GROUP", group, consumer, "COUNT", "1000", "STREAMS", stream, ">"});
    if (!taken.ok()) return taken.status();
    auto trimmed = client.Command({"XTRIM", stream, "MAXLEN", "0"});
    if (!trimmed.ok()) return trimmed.status();
  }
  return absl::OkStatus();
}

}  // namespace stp::testing
