#include "tools/stpctl/table.h"

#include <algorithm>

namespace stp::stpctl {

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;  // not a continuation byte
  }
  return width;
}

std::string Shorten(const std::string& text, size_t width) {
  if (width == 0 || DisplayWidth(text) <= width) return text;
  std::string out;
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80 && ++count > width - 1) break;
    out.push_back(text[i]);
  }
  return out + "…";
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    // One line per row: newlines in free text would break the columns.
    std::replace(cells[i].begin(), cells[i].end(), '\n', ' ');
    cells[i] = Shorten(cells[i], columns_[i].max_width);
  }
  rows_.push_back(std::move(cells));
}

void Table::Print(FILE* out) const {
  std::vector<size_t> widths;
  for (const auto& c : columns_) widths.push_back(DisplayWidth(c.header));
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string pad(widths[i] - DisplayWidth(cells[i]), ' ');
      bool last = i + 1 == cells.size();
      if (columns_[i].align == Align::kRight) {
        line += pad + cells[i];
      } else {
        line += cells[i];
        if (!last) line += pad;
      }
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::fprintf(out, "%s\n", line.c_str());
  };
  std::vector<std::string> headers;
  for (const auto& c : columns_) headers.push_back(c.header);
  print_row(headers);
  for (const auto& row : rows_) print_row(row);
}

void PrintDetails(const std::vector<std::pair<std::string, std::string>>& fields, FILE* out) {
  size_t width = 0;
  for (const auto& [label, value] : fields) {
    if (!value.empty()) width = std::max(width, DisplayWidth(label));
  }
  for (const auto& [label, value] : fields) {
    if (value.empty()) continue;
    std::string pad(width - DisplayWidth(label), ' ');
    std::fprintf(out, "%s:%s %s\n", label.c_str(), pad.c_str(), value.c_str());
  }
}

}  // namespace stp::stpctl
