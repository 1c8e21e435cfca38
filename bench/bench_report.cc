#include "bench/bench_report.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace stp::bench {

std::string AtLeast(double value, double target) {
  if (value >= target) return "met";
  return absl::StrFormat("MISSED by %.0f%%", 100.0 * (target - value) / target);
}

std::string AtMost(double value, double target) {
  if (value <= target) return "met";
  return absl::StrFormat("MISSED by %.0f%%", 100.0 * (value - target) / target);
}

std::string Report::Text() const {
  std::string out =
      "| area | scenario | result | ratio to ceiling | target | verdict "
      "|\n|---|---|---|---|---|---|\n";
  for (const auto& r : rows_) {
    auto cell = [](const std::string& s) {
      return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}});
    };
    absl::StrAppend(&out, "| ", cell(r.area), " | ", cell(r.scenario), " | ", cell(r.result), " | ",
                    cell(r.ratio), " | ", cell(r.target), " | ", cell(r.verdict), " |\n");
  }
  std::string notes;
  for (const auto& r : rows_) {
    if (!r.note.empty()) absl::StrAppend(&notes, "- **", r.scenario, "**: ", r.note, "\n");
  }
  if (!notes.empty()) absl::StrAppend(&out, "\nNotes:\n\n", notes);
  return out;
}

void Report::Write(const std::string& path, const std::string& machine,
                   const std::string& mode) const {
  std::ofstream f(path);
  f << "# Benchmark results\n\n"
    << "Written by `stp-bench` (" << mode << ") on "
    << absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone()) << ".\n\n"
    << machine << "\n"
    << "Every ratio compares with a ceiling measured in the same run on the same machine: the bare "
       "echo "
       "service on the product's own runner (same worker pool, call handler and status mapping), "
       "redis-benchmark and a hiredis pipelined loop against the same Redis. Client and servers "
       "share the "
       "machine's cores. Latencies are exact percentiles of every measured call.\n\n"
    << Text();
}

}  // namespace stp::bench
