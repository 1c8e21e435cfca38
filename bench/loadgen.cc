#include "bench/loadgen.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace stp::bench {

double LoadResult::PercentileMs(double p) const {
  if (latency_ns.empty()) return 0;
  std::vector<int64_t> sorted = latency_ns;
  size_t k =
      std::min(sorted.size() - 1, static_cast<size_t>(p / 100.0 * (sorted.size() - 1) + 0.5));
  std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
  return sorted[k] / 1e6;
}

std::string LoadResult::Summary() const {
  return absl::StrFormat("%.0f/s ok=%d err=%d p50=%.2fms p90=%.2fms p99=%.2fms p99.9=%.2fms",
                         throughput(), ok, errors, PercentileMs(50), PercentileMs(90),
                         PercentileMs(99), PercentileMs(99.9));
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

int64_t ProcessRssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

namespace {

// Shared state of one run; kept alive by the outstanding calls.
struct Run {
  absl::Time measure_start;
  absl::Time measure_end;
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> outstanding{0};
  absl::Mutex mu;
  std::vector<int64_t> latencies ABSL_GUARDED_BY(mu);

  void Record(absl::Time intended_start, absl::Time end, bool success) {
    if (intended_start < measure_start || end > measure_end) return;
    if (!success) {
      errors.fetch_add(1);
      return;
    }
    ok.fetch_add(1);
    absl::MutexLock lock(&mu);
    latencies.push_back(absl::ToInt64Nanoseconds(end - intended_start));
  }
};

void ClosedLoopNext(std::shared_ptr<Run> run, const IssueFn* issue, int64_t slot) {
  absl::Time start = absl::Now();
  if (start >= run->measure_end) {
    run->outstanding.fetch_sub(1);
    return;
  }
  (*issue)(slot, [run, issue, slot, start](bool success) {
    run->Record(start, absl::Now(), success);
    ClosedLoopNext(run, issue, slot);
  });
}

}  // namespace

LoadResult RunLoad(const LoadOptions& options, const IssueFn& issue, pid_t server_pid) {
  auto run = std::make_shared<Run>();
  absl::Time begin = absl::Now();
  run->measure_start = begin + options.warmup;
  run->measure_end = run->measure_start + options.duration;
  double cpu_start = 0;
  std::thread cpu_sampler;
  if (server_pid > 0) {
    cpu_sampler = std::thread([&] {
      absl::SleepFor(run->measure_start - absl::Now());
      cpu_start = ProcessCpuSeconds(server_pid);
    });
  }
  if (options.rate <= 0) {
    run->outstanding = options.concurrency;
    for (int i = 0; i < options.concurrency; ++i) ClosedLoopNext(run, &issue, i);
  } else {
    // Open loop: calls leave on schedule whatever the server does.
    absl::Duration interval = absl::Seconds(1) / options.rate;
    int64_t n = 0;
    for (absl::Time next = begin; next < run->measure_end; next += interval, ++n) {
      absl::Time now = absl::Now();
      if (next > now) absl::SleepFor(next - now);
      run->outstanding.fetch_add(1);
      issue(n, [run, next](bool success) {
        run->Record(next, absl::Now(), success);
        run->outstanding.fetch_sub(1);
      });
    }
  }
  absl::SleepFor(run->measure_end - absl::Now());
  double cpu_end = server_pid > 0 ? ProcessCpuSeconds(server_pid) : 0;
  if (cpu_sampler.joinable()) cpu_sampler.join();
  absl::Time drain_deadline = absl::Now() + absl::Seconds(30);
  while (run->outstanding.load() > 0 && absl::Now() < drain_deadline)
    absl::SleepFor(absl::Milliseconds(5));
  LoadResult result;
  result.ok = run->ok.load();
  result.errors = run->errors.load();
  result.seconds = absl::ToDoubleSeconds(options.duration);
  result.server_cpu_seconds = cpu_end - cpu_start;
  absl::MutexLock lock(&run->mu);
  result.latency_ns = run->latencies;
  return result;
}

}  // namespace stp::bench
