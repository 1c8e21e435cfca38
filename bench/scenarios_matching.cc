// Matching: FindPartners and ProposeConsortia over 100,000 organisations, from the matching
// core's own Google Benchmark (the index in memory, exactly what a replica queries), and the
// index memory per organisation.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "bench/scenarios.h"

namespace stp::bench {

void RunMatchingScenarios(const BenchConfig& config, Report* report) {
  std::string cmd = config.bin_dir +
                    "/services/matching/core/matching_core_benchmark --benchmark_format=json "
                    "--benchmark_min_time=" +
                    (config.full ? "5" : "2") + " 2>/dev/null";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  nlohmann::json doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("benchmarks")) {
    report->Add({"matching", "matching_core_benchmark",
                 "did not run (build it with STP_BUILD_BENCH)", "", "", "FAILED", ""});
    return;
  }
  for (const auto& b : doc["benchmarks"]) {
    std::string name = b.value("name", "");
    double p50 = b.value("p50_ms", 0.0), p99 = b.value("p99_ms", 0.0);
    int threads = b.value("threads", 1);
    double per_iteration_ns = b.value("real_time", 0.0);
    // Google Benchmark divides the wall time by the iterations of all threads together: with
    // UseRealTime, real_time is already the time per query of the whole process.
    double qps = per_iteration_ns > 0 ? 1e9 / per_iteration_ns : 0;
    if (name.rfind("BM_FindPartners/", 0) == 0) {
      bool saturated = threads > 1;
      report->Add({"matching",
                   absl::StrFormat("FindPartners over 100,000 organisations, %d caller%s", threads,
                                   threads > 1 ? "s" : ""),
                   absl::StrFormat("p50 %.2f ms, p99 %.2f ms, %.0f queries/s", p50, p99, qps), "",
                   saturated ? ">= 1,000 queries/s at saturation" : "p99 <= 5 ms",
                   saturated ? AtLeast(qps, 1000) : AtMost(p99, 5), ""});
    } else if (name.rfind("BM_ProposeConsortiaThreeRoles", 0) == 0) {
      report->Add({"matching", "ProposeConsortia, three roles, 100,000 organisations",
                   absl::StrFormat("p50 %.2f ms, p99 %.2f ms", p50, p99), "", "p99 <= 50 ms",
                   AtMost(p99, 50), ""});
    } else if (name.rfind("BM_FindPartnersThreeRoles/", 0) == 0 && threads == 1) {
      report->Add({"matching", "FindPartners, three roles, 1 caller",
                   absl::StrFormat("p50 %.2f ms, p99 %.2f ms, %.0f queries/s", p50, p99, qps), "",
                   "", "", ""});
    } else if (name.rfind("BM_IndexMemory", 0) == 0) {
      report->Add({"matching",
                   "index memory per organisation (100,000 organisations, 150,000 projects)",
                   absl::StrFormat("%.0f bytes (%.0f MB in all; loaded in %.2f s)",
                                   b.value("bytes_per_org", 0.0), b.value("total_MB", 0.0),
                                   b.value("load_s", 0.0)),
                   "", "", "", ""});
    }
  }
}

}  // namespace stp::bench
