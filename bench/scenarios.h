// Benchmark scenarios, one group per service, and what they share.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "bench/loadgen.h"

namespace stp::bench {

struct Baselines {
  std::string echo_address;  // the bare echo service, up for the whole run
  pid_t echo_pid = 0;
  LoadResult echo_single;       // echo unary, one call at a time
  LoadResult echo_unary;        // echo unary, 64 in flight
  double echo_stream_rate = 0;  // echo server-streaming messages/s over 100 streams
  double redis_set = 0, redis_get = 0, redis_set_pipelined = 0, hiredis_pipelined = 0;
};

struct BenchConfig {
  std::string bin_dir = "build";
  std::string redis_address;
  int redis_port = 0;
  bool full = false;
  std::string only;
  int import_projects = 0;  // 0: 30,000 quick, 100,000 full
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(4);
  Baselines baselines;
  bool Wants(const std::string& group) const;
};

// The numeric fields of a section of Redis's INFO ("memory", "cpu"); empty when Redis does not
// answer.
std::map<std::string, double> RedisInfo(const std::string& address, const std::string& section);

// `n` channels to one address that do not share a connection.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& address, int n);
// Messages per second delivered by `streams` concurrent EchoStream calls.
double EchoStreamRate(const std::vector<std::shared_ptr<grpc::Channel>>& channels, int streams,
                      const BenchConfig& config);

// The bare echo's unary throughput with 1 KB payloads at `concurrency` calls in flight.
LoadResult EchoUnary(const BenchConfig& config, int concurrency);

// A unary scenario beside the echo at the same concurrency, measured just before and just
// after it. This VM's speed drifts by up to half from one minute to the next, so an echo
// measured once at the start of the run would put the drift into the ratio.
struct EchoComparison {
  LoadResult result;
  double echo_before = 0, echo_after = 0;
  double echo() const { return (echo_before + echo_after) / 2; }
  double ratio() const { return echo() > 0 ? result.throughput() / echo() : 0; }
  // "0.52 of echo (21000/s before, 22000/s after); 101.1 CPU-s per 1M calls"
  std::string Describe() const;
};
EchoComparison CompareWithEcho(const BenchConfig& config, int concurrency,
                               const std::function<LoadResult()>& scenario);

void RunIngestionScenarios(const BenchConfig& config, Report* report);
void RunScoringScenarios(const BenchConfig& config, Report* report);
void RunMatchingScenarios(const BenchConfig& config, Report* report);
void RunNotificationScenarios(const BenchConfig& config, Report* report);
void RunAllScenarios(const BenchConfig& config, Report* report);

}  // namespace stp::bench
