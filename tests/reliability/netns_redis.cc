#include "tests/reliability/netns_redis.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/redis/redis.h"

namespace stp::reliability {
namespace {

// Runs a shell command; returns its exit status and output.
int Run(const std::string& command, std::string* output = nullptr) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

absl::Status Must(const std::string& command) {
  std::string out;
  int rc = Run(command, &out);
  if (rc != 0) return absl::FailedPreconditionError(absl::StrCat("`", command, "` failed: ", out));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetnsRedis>> NetnsRedis::Start() {
  std::unique_ptr<NetnsRedis> r(new NetnsRedis());
  int id = getpid() % 60000;
  r->ns_ = absl::StrCat("stprel", id);
  r->host_if_ = absl::StrCat("stph", id);
  r->ns_if_ = absl::StrCat("stpn", id);
  // A /30 of 10.213.0.0/16 per process, so parallel runs do not meet.
  int block = id % 16384;
  std::string prefix = absl::StrCat("10.213.", block / 64, ".");
  r->host_ip_ = absl::StrCat(prefix, (block % 64) * 4 + 1);
  r->ns_ip_ = absl::StrCat(prefix, (block % 64) * 4 + 2);
  if (Run("command -v ip >/dev/null") != 0) {
    return absl::FailedPreconditionError("the `ip` tool (iproute2) is not installed");
  }
  absl::Status s = Must("ip netns add " + r->ns_);
  if (!s.ok()) return s;
  r->created_ns_ = true;
  s = Must(absl::StrCat("ip link add ", r->host_if_, " type veth peer name ", r->ns_if_));
  if (!s.ok()) return s;
  r->created_link_ = true;
  for (const std::string& command :
       {absl::StrCat("ip link set ", r->ns_if_, " netns ", r->ns_),
        absl::StrCat("ip addr add ", r->host_ip_, "/30 dev ", r->host_if_),
        absl::StrCat("ip link set ", r->host_if_, " up"),
        absl::StrCat("ip -n ", r->ns_, " addr add ", r->ns_ip_, "/30 dev ", r->ns_if_),
        absl::StrCat("ip -n ", r->ns_, " link set ", r->ns_if_, " up"),
        absl::StrCat("ip -n ", r->ns_, " link set lo up")}) {
    s = Must(command);
    if (!s.ok()) return s;
  }
  char tmpl[] = "/tmp/stp-netns-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  r->dir_ = tmpl;
  std::vector<std::string> args = {"ip",
                                   "netns",
                                   "exec",
                                   r->ns_,
                                   "redis-server",
                                   "--port",
                                   "6379",
                                   "--bind",
                                   r->ns_ip_,
                                   "--dir",
                                   r->dir_,
                                   "--appendonly",
                                   "yes",
                                   "--save",
                                   "",
                                   "--logfile",
                                   r->dir_ + "/redis.log",
                                   "--protected-mode",
                                   "no"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
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
    execvp("ip", argv.data());  // `ip netns exec` execs redis-server in the same process
    _exit(127);
  }
  r->pid_ = pid;
  redis::RedisOptions options;
  options.address = r->address();
  options.connect_timeout = absl::Milliseconds(200);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto conn = redis::Connection::Open(options);
    if (conn.ok()) {
      auto reply = (*conn)->Command({"PING"}, absl::Seconds(1));
      if (reply.ok() && redis::Str(reply->get()) == "PONG") return r;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      r->pid_ = -1;
      return absl::FailedPreconditionError("redis-server did not start in the namespace");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("redis-server in the namespace did not answer within 10s");
}

NetnsRedis::~NetnsRedis() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (created_link_) Run("ip link del " + host_if_);
  if (created_ns_) Run("ip netns del " + ns_);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string NetnsRedis::address() const { return ns_ip_ + ":6379"; }

absl::Status NetnsRedis::Blackhole() {
  // Frames still leave each side, but to a MAC no interface owns: the peer drops them.
  absl::Status s = Must(absl::StrCat("ip neigh replace ", ns_ip_,
                                     " lladdr 02:00:5e:00:53:01 nud permanent dev ", host_if_));
  if (!s.ok()) return s;
  return Must(absl::StrCat("ip -n ", ns_, " neigh replace ", host_ip_,
                           " lladdr 02:00:5e:00:53:02 nud permanent dev ", ns_if_));
}

absl::Status NetnsRedis::Heal() {
  // Deleting the pinned entries lets ARP find the real addresses again.
  absl::Status s = Must(absl::StrCat("ip neigh del ", ns_ip_, " dev ", host_if_));
  if (!s.ok()) return s;
  return Must(absl::StrCat("ip -n ", ns_, " neigh del ", host_ip_, " dev ", ns_if_));
}

std::string NetnsRedis::Cli(const std::string& args) const {
  std::string out;
  Run(absl::StrCat("ip netns exec ", ns_, " redis-cli -h ", ns_ip_, " ", args), &out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace stp::reliability
