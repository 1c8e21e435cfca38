// Benchmark scenarios, one group per service, and what they share.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "bench/loadgen.h"

namespace stp::bench {

struct Baselines {
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

// `n` channels to one address that do not share a connection.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& address, int n);
// Messages per second delivered by `streams` concurrent EchoStream calls.
double EchoStreamRate(const std::vector<std::shared_ptr<grpc::Channel>>& channels, int streams,
                      const BenchConfig& config);

void RunIngestionScenarios(const BenchConfig& config, Report* report);
void RunScoringScenarios(const BenchConfig& config, Report* report);
void RunMatchingScenarios(const BenchConfig& config, Report* report);
void RunNotificationScenarios(const BenchConfig& config, Report* report);
void RunAllScenarios(const BenchConfig& config, Report* report);

}  // namespace stp::bench
