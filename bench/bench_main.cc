// stp-bench: measures each service against this machine's own ceilings in one run — a bare echo
// service on the same runner, redis-benchmark and a hiredis pipelined loop on the same Redis —
// and writes bench/RESULTS.md with every number, its ratio to its ceiling and the issue targets.
#include <grpcpp/grpcpp.h>
#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/bench_report.h"
#include "bench/datagen.h"
#include "bench/loadgen.h"
#include "bench/scenarios.h"
#include "libs/common/flags.h"
#include "libs/redis/redis.h"
#include "libs/runtime/allocator.h"
#include "stp/testing/v1/echo.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/redis_server.h"

namespace stp::bench {

using stp::testing::ChildProcess;
namespace {

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// redis-benchmark's SET and GET rates (-P pipelining, 50 clients), from its CSV output.
std::map<std::string, double> RedisBenchmark(int port, int pipeline, int requests) {
  std::string out =
      RunCommand(absl::StrCat("redis-benchmark -h 127.0.0.1 -p ", port, " -t set,get -n ", requests,
                              " -d 1024 -P ", pipeline, " -q --csv 2>/dev/null"));
  std::map<std::string, double> rates;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    if (cells.size() < 2) continue;
    std::string name = std::string(absl::StripAsciiWhitespace(cells[0]));
    name.erase(std::remove(name.begin(), name.end(), '"'), name.end());
    std::string value = cells[1];
    value.erase(std::remove(value.begin(), value.end(), '"'), value.end());
    double v = 0;
    if (absl::SimpleAtod(value, &v)) rates[name] = v;
  }
  return rates;
}

// A hiredis loop on one connection: HSET then HGET of 1 KB values, `pipeline` commands per round
// trip — the ceiling for one Redis connection doing what the store does.
double HiredisPipelined(const std::string& address, int pipeline, absl::Duration duration) {
  redis::RedisOptions o;
  o.address = address;
  auto conn = redis::Connection::Open(o);
  if (!conn.ok()) return 0;
  std::string value(1024, 'x');
  int64_t ops = 0;
  absl::Time end = absl::Now() + duration;
  int64_t key = 0;
  while (absl::Now() < end) {
    std::vector<std::vector<std::string>> cmds;
    for (int i = 0; i < pipeline; ++i) {
      std::string k = absl::StrCat("bench:h:", key++ % 100000);
      cmds.push_back(i % 2 ? std::vector<std::string>{"HGET", k, "pb"}
                           : std::vector<std::string>{"HSET", k, "pb", value});
    }
    if (!(*conn)->Pipeline(cmds, absl::Seconds(5)).ok()) return 0;
    ops += pipeline;
  }
  return ops / absl::ToDoubleSeconds(duration);
}

std::string MachineDescription() {
  struct utsname u;
  uname(&u);
  std::string cpu = RunCommand("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
  std::string mem =
      RunCommand("grep MemTotal /proc/meminfo | awk '{printf \"%.1f GiB\", $2/1048576}'");
  std::string redis = RunCommand("redis-server --version | awk '{print $3}'");
  return absl::StrCat("- machine: ", std::string(absl::StripAsciiWhitespace(cpu)), ", ",
                      RunCommand("nproc").substr(0, RunCommand("nproc").find('\n')), " cores, ",
                      mem, ", ", u.sysname, " ", u.release, "\n- versions: gRPC ", grpc::Version(),
                      ", protobuf ", GOOGLE_PROTOBUF_VERSION / 1000000, ".",
                      GOOGLE_PROTOBUF_VERSION / 1000 % 1000, ".", GOOGLE_PROTOBUF_VERSION % 1000,
                      ", Redis ", absl::StripAsciiWhitespace(redis), ", g++ ", __VERSION__,
                      "\n- allocator of this build (its servers, echo and load generator): ",
                      AllocatorName(), "\n");
}

}  // namespace

int Main(int argc, char** argv) {
  // The load generator runs as the servers do (ServerRunner::PrepareServingProcess), without
  // Debian Abseil's lock-order checking on every mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  BenchConfig config;
  std::string out = "bench/RESULTS.md";
  bool smoke = false;
  FlagSet flags("stp-bench", "Benchmarks every service against this machine's ceilings.");
  flags.String("bin-dir", &config.bin_dir, "the build directory holding the server binaries");
  flags.Bool("full", &config.full, "long runs (default: the quick version, under 5 minutes)");
  flags.Bool("smoke", &smoke, "run the echo baseline for one second only (harness self-test)");
  flags.String("out", &out, "where to write the results (markdown)");
  flags.String("only", &config.only, "comma-separated scenario groups to run (default: all)");
  flags.Int("import-projects", &config.import_projects,
            "projects in the import scenario (0: default size)");
  if (auto s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    std::fputs(s.ok() ? flags.Usage().c_str() : (std::string(s.message()) + "\n").c_str(),
               s.ok() ? stdout : stderr);
    return s.ok() ? 0 : 2;
  }
  config.duration = smoke ? absl::Seconds(1) : config.full ? absl::Seconds(15) : absl::Seconds(4);
  config.warmup = smoke ? absl::Milliseconds(200) : absl::Seconds(1);

  auto redis_server = stp::testing::RedisServer::Start();
  if (!redis_server.ok()) {
    std::fprintf(stderr, "cannot start redis-server: %s\n",
                 std::string(redis_server.status().message()).c_str());
    return 1;
  }
  config.redis_address = (*redis_server)->address();
  config.redis_port = (*redis_server)->port();
  Report report;

  // Ceilings: the bare echo service on the same runner, and Redis itself.
  ChildProcess echo;
  int echo_port = stp::testing::PickFreePort();
  std::string echo_address = absl::StrCat("127.0.0.1:", echo_port);
  if (auto s = echo.Start({config.bin_dir + "/bench/stp-echo-server", "--listen", echo_address,
                           "--worker-threads", "8", "--worker-queue", "4096"},
                          echo_address, "/tmp/stp-bench-echo.log");
      !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  Baselines& base = config.baselines;
  base.echo_address = echo_address;
  base.echo_pid = echo.pid();
  for (int concurrency : {1, 64}) {
    LoadResult r = EchoUnary(config, concurrency);
    if (concurrency == 1)
      base.echo_single = r;
    else
      base.echo_unary = r;
    report.Add({"baseline", absl::StrCat("echo unary, 1 KB, concurrency ", concurrency),
                r.Summary(), absl::StrFormat("%.1f CPU-s per 1M calls", r.CpuSecondsPerMillion()),
                "", "", ""});
  }
  base.echo_stream_rate = EchoStreamRate(MakeChannels(echo_address, 4), 100, config);
  report.Add({"baseline", "echo server-streaming fan-out, 100 streams",
              absl::StrFormat("%.0f msgs/s", base.echo_stream_rate), "", "", "", ""});
  if (smoke) {
    report.Write(out, MachineDescription(), "smoke run: the harness only");
    std::printf("%s", report.Text().c_str());
    return base.echo_unary.ok > 0 ? 0 : 1;
  }
  auto rates = RedisBenchmark(config.redis_port, 1, config.full ? 200000 : 50000);
  auto rates_p = RedisBenchmark(config.redis_port, 32, config.full ? 1000000 : 300000);
  base.redis_set = rates["SET"];
  base.redis_get = rates["GET"];
  base.redis_set_pipelined = rates_p["SET"];
  base.hiredis_pipelined = HiredisPipelined(config.redis_address, 100, absl::Seconds(2));
  report.Add({"baseline", "redis-benchmark SET / GET, 1 KB, 50 clients",
              absl::StrFormat("%.0f / %.0f ops/s", base.redis_set, base.redis_get), "", "", "",
              ""});
  report.Add({"baseline", "redis-benchmark SET, 1 KB, pipeline 32",
              absl::StrFormat("%.0f ops/s", base.redis_set_pipelined), "", "", "", ""});
  report.Add({"baseline", "hiredis HSET+HGET 1 KB, one connection, pipeline 100",
              absl::StrFormat("%.0f ops/s", base.hiredis_pipelined), "", "", "", ""});

  RunAllScenarios(config, &report);
  report.Write(out, MachineDescription(),
               config.full ? "full run"
                           : "quick run (`make bench`; `stp-bench --full` runs the long version)");
  std::printf("%s", report.Text().c_str());
  return 0;
}

}  // namespace stp::bench

int main(int argc, char** argv) { return stp::bench::Main(argc, argv); }
