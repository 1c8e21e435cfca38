// Splits an RFC 4180 CSV byte stream into rows of fields as the bytes arrive, in chunks split
// anywhere (inside a quoted field, between CR and LF, inside a multi-byte character).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace stp::ingestion {

struct CsvRow {
  std::vector<std::string> fields;  // raw bytes; UTF-8 is the caller's business
  int line = 0;                     // 1-based line the row starts on
  // Non-empty when the row could not be read whole (an unterminated quote at the end of the
  // input, a row longer than the limit); `fields` is then incomplete.
  std::string error;
  // Deviations read leniently (a stray quote inside an unquoted field...).
  std::vector<std::string> notes;
};

class CsvRowReader {
 public:
  using RowSink = std::function<void(CsvRow)>;
  static constexpr size_t kDefaultMaxRowBytes = 1 << 20;

  // Rows longer than `max_row_bytes` are reported with an error and not kept, so one bad row
  // cannot take the memory. Blank lines are skipped. A UTF-8 byte order mark at the very
  // start is dropped.
  explicit CsvRowReader(RowSink sink, size_t max_row_bytes = kDefaultMaxRowBytes);

  void Feed(absl::string_view chunk);
  // End of input: emits the last row if it has no line break.
  void Finish();

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

  void Consume(char c);
  void Append(char c);
  void EndField();
  void EndRow();
  void Note(absl::string_view note);

  RowSink sink_;
  size_t max_row_bytes_;
  State state_ = State::kFieldStart;
  std::string bom_probe_;  // the first bytes, until it is clear whether they are a BOM
  bool bom_checked_ = false;
  bool after_cr_ = false;  // the previous byte ended a row with CR: swallow a following LF
  int line_ = 1;           // line of the next byte
  CsvRow row_;
  std::string field_;
  size_t row_bytes_ = 0;
  bool row_started_ = false;  // any byte of the current row seen (tells blank lines apart)
  bool row_too_long_ = false;
  int quote_line_ = 0;  // where the open quoted field began
};

}  // namespace stp::ingestion
