// The results table of a benchmark run, written as markdown.
#pragma once

#include <string>
#include <vector>

namespace stp::bench {

struct Row {
  std::string area;  // baseline, ingestion, scoring, ...
  std::string scenario;
  std::string result;   // the absolute figures
  std::string ratio;    // against its ceiling, when there is one
  std::string target;   // the target
  std::string verdict;  // met / MISSED ...
  std::string note;
};

class Report {
 public:
  void Add(Row row) { rows_.push_back(std::move(row)); }
  std::string Text() const;
  void Write(const std::string& path, const std::string& machine, const std::string& mode) const;

 private:
  std::vector<Row> rows_;
};

// "met" or "MISSED by X%" for a value that must be at least (or at most) a target.
std::string AtLeast(double value, double target);
std::string AtMost(double value, double target);

}  // namespace stp::bench
