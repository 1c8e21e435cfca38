// Aligned text tables for people: a header row, columns padded to their widest cell (counted
// in characters, not bytes, so that names in any script line up), long cells shortened.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace stp::stpctl {

class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
    size_t max_width = 0;  // 0: no limit; longer cells end in "…"
  };

  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void Print(FILE* out = stdout) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "label: value" lines with the values aligned; empty values are left out.
void PrintDetails(const std::vector<std::pair<std::string, std::string>>& fields,
                  FILE* out = stdout);

// Characters (UTF-8 code points) in `text`.
size_t DisplayWidth(const std::string& text);
// `text` cut to `width` characters, ending in "…" when cut.
std::string Shorten(const std::string& text, size_t width);

}  // namespace stp::stpctl
