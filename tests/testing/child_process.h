// A server binary started by the benchmark as a child process, so that its CPU time and memory
// can be read from /proc apart from the load generator's.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace stp::testing {

// Polls the gRPC health check of `address` until it answers SERVING (true), or `deadline`
// passes or `alive` says the server's process is gone (false).
bool WaitUntilServing(const std::string& address, absl::Time deadline,
                      const std::function<bool()>& alive);

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts `argv` with stdout/stderr to `log_file`, then waits until the gRPC health check of
  // `address` answers SERVING.
  absl::Status Start(const std::vector<std::string>& argv, const std::string& address,
                     const std::string& log_file, absl::Duration timeout = absl::Seconds(30));
  // SIGTERM, then SIGKILL after 10 s. The wait status (as waitpid gives it), or -1 when no
  // process was running.
  int Stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace stp::testing
