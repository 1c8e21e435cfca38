// A private redis-server for one test suite: a free TCP port on loopback, a temporary data
// directory with AOF on, stopped and removed when the object goes away.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/redis/redis.h"

namespace stp::testing {

class RedisServer {
 public:
  struct Options {
    bool appendonly = true;
    std::string appendfsync = "everysec";
    std::vector<std::string> extra_args;
  };

  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start() { return Start(Options()); }
  ~RedisServer();

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  void Signal(int sig);
  // SIGKILL and reap (the AOF keeps what was written before).
  void Kill();
  // Starts again on the same port and directory, and waits until it answers.
  absl::Status Restart();
  void Pause();   // SIGSTOP
  void Resume();  // SIGCONT
  // Runs redis-cli against the server and returns its output (for test assertions).
  std::string Cli(const std::vector<std::string>& args) const;

 private:
  RedisServer() = default;
  absl::Status Launch();
  absl::Status WaitReady();

  Options options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bound then released; the caller retries on a collision).
int PickFreePort();

// Has `consumer` of `group` take every new entry of each stream without acknowledging it, then
// trims the streams empty: pending entries whose events are gone.
absl::Status TakeThenTrim(redis::RedisClient& client, const std::vector<std::string>& streams,
                          const std::string& group, const std::string& consumer);

}  // namespace stp::testing
