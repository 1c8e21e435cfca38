// A load generator on the gRPC callback API: many calls in flight over a few channels, closed
// loop (a fixed number outstanding) or open loop (a fixed rate, latency measured from each
// call's intended start so a slow server cannot hide queueing), with exact latency percentiles.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace stp::bench {

struct LoadOptions {
  int concurrency = 32;  // closed loop: calls outstanding at once
  double rate = 0;       // open loop: calls per second (0 = closed loop)
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration duration = absl::Seconds(3);
};

struct LoadResult {
  int64_t ok = 0;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<int64_t> latency_ns;  // one per measured call
  double server_cpu_seconds = 0;    // CPU of the server process during the measured window

  double throughput() const { return seconds > 0 ? ok / seconds : 0; }
  double PercentileMs(double p) const;  // p in [0, 100]
  double CpuSecondsPerMillion() const { return ok > 0 ? server_cpu_seconds * 1e6 / ok : 0; }
  std::string Summary() const;
};

// Starts one call; `slot` tells which of the concurrent slots (or open-loop sequence number)
// it is, so callers can pick a channel and data. The call must invoke `done(ok)` exactly once,
// from any thread.
using IssueFn = std::function<void(int64_t slot, std::function<void(bool ok)> done)>;

// Runs load until the duration passes; `server_pid` (0: none) is sampled for CPU time.
LoadResult RunLoad(const LoadOptions& options, const IssueFn& issue, pid_t server_pid = 0);

// CPU seconds (user + system) a process has used so far, from /proc.
double ProcessCpuSeconds(pid_t pid);
// Resident set size of a process in bytes, from /proc.
int64_t ProcessRssBytes(pid_t pid);

}  // namespace stp::bench
