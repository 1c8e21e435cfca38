// Service binaries from the build tree (stp-scoring, stp-notification) run as child processes,
// so that a test can SIGKILL one the way a node failure or the OOM killer would: no shutdown
// hook runs, nothing is acknowledged or flushed on the way out.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stp::reliability {

class ChildProcess {
 public:
  // fork + exec `argv` (argv[0] is a path) with stdout and stderr appended to `log_path`.
  // `extra_env` entries ("NAME=value") are added to the inherited environment.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path,
      const std::vector<std::string>& extra_env = {});
  ~ChildProcess();  // SIGKILL and reap, if still running

  pid_t pid() const { return pid_; }
  // Sends `sig`; SIGKILL also reaps. Returns whether the process was running.
  bool Signal(int sig);
  void Kill();
  // True while the process has not exited (reaps it when it has).
  bool Running();
  const std::string& log_path() const { return log_path_; }
  // The last `bytes` of the log, for failure messages.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::string log_path_;
};

// A service binary listening on a loopback port picked for it, plaintext, no authentication
// and no metrics port; Start returns once grpc.health.v1 answers SERVING.
class ServiceProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(
      const std::string& binary, const std::string& redis_address,
      const std::vector<std::string>& flags, const std::string& log_path,
      absl::Duration ready_within = absl::Seconds(20));

  int port() const { return port_; }
  std::string address() const;
  ChildProcess& process() { return *child_; }
  void Kill() { child_->Kill(); }

 private:
  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
};

// The path of a binary named by an environment variable that ctest sets
// (STP_SCORING_BINARY, ...), or empty.
std::string BinaryFromEnv(const char* variable);

// A fresh temporary directory for logs ("/tmp/stp-reliability-XXXXXX").
std::string TempDir();

}  // namespace stp::reliability
