#include "tests/reliability/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/child_process.h"
#include "tests/testing/redis_server.h"

extern char** environ;

namespace stp::reliability {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path,
    const std::vector<std::string>& extra_env) {
  // Everything the child needs is built before fork: after it, a multi-threaded parent's child
  // may only call async-signal-safe functions until exec.
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (auto& a : args) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> c_env;
  for (auto& e : env) c_env.push_back(e.data());
  c_env.push_back(nullptr);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError("cannot open " + log_path);
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  close(log_fd);
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->log_path_ = log_path;
  return child;
}

ChildProcess::~ChildProcess() { Kill(); }

bool ChildProcess::Signal(int sig) {
  if (!Running()) return false;
  ::kill(pid_, sig);
  if (sig == SIGKILL) {
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  return true;
}

void ChildProcess::Kill() { Signal(SIGKILL); }

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ChildProcess::LogTail(size_t bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

std::string ServiceProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(
    const std::string& binary, const std::string& redis_address,
    const std::vector<std::string>& flags, const std::string& log_path,
    absl::Duration ready_within) {
  absl::Status last = absl::UnavailableError("not started");
  // A picked port can be taken by someone else before the child binds it: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto service = std::unique_ptr<ServiceProcess>(new ServiceProcess());
    service->port_ = testing::PickFreePort();
    std::vector<std::string> argv = {binary,
                                     "--listen=" + service->address(),
                                     "--plaintext",
                                     "--auth-disabled",
                                     "--metrics-listen=",
                                     "--readiness-interval=100ms",
                                     "--log-level=info",
                                     "--redis-address=" + redis_address};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto child = ChildProcess::Start(argv, log_path);
    if (!child.ok()) return child.status();
    service->child_ = *std::move(child);
    if (testing::WaitUntilServing(service->address(), absl::Now() + ready_within,
                                  [&] { return service->child_->Running(); })) {
      return service;
    }
    last = absl::UnavailableError(absl::StrCat(binary, " did not become SERVING on port ",
                                               service->port_, "; log tail:\n",
                                               service->child_->LogTail()));
  }
  return last;
}

std::string BinaryFromEnv(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || access(value, X_OK) != 0) return "";
  return value;
}

std::string TempDir() {
  char tmpl[] = "/tmp/stp-reliability-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return "/tmp";
  return tmpl;
}

}  // namespace stp::reliability
