#include "services/ingestion/import/csv_row_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace stp::ingestion {
namespace {
constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";
}  // namespace

CsvRowReader::CsvRowReader(RowSink sink, size_t max_row_bytes)
    : sink_(std::move(sink)), max_row_bytes_(max_row_bytes) {}

void CsvRowReader::Feed(absl::string_view chunk) {
  if (!bom_checked_) {
    // Hold back the first bytes until they either are the BOM or cannot become it.
    while (!chunk.empty() && bom_probe_.size() < kUtf8Bom.size() &&
           chunk[0] == kUtf8Bom[bom_probe_.size()]) {
      bom_probe_.push_back(chunk[0]);
      chunk.remove_prefix(1);
    }
    if (bom_probe_.size() == kUtf8Bom.size()) {
      bom_checked_ = true;  // dropped
    } else if (!chunk.empty()) {
      bom_checked_ = true;
      std::string held = std::move(bom_probe_);
      for (char c : held) Consume(c);
    } else {
      return;  // all bytes so far are a BOM prefix
    }
  }
  for (char c : chunk) Consume(c);
}

void CsvRowReader::Finish() {
  if (!bom_checked_) {
    bom_checked_ = true;
    if (bom_probe_.size() != kUtf8Bom.size()) {
      for (char c : bom_probe_) Consume(c);
    }
  }
  if (state_ == State::kQuoted) {
    row_.error = absl::StrCat("unterminated quoted field (opened on line ", quote_line_, ")");
    EndRow();
  } else if (row_started_) {
    EndRow();
  }
}

void CsvRowReader::Append(char c) {
  row_started_ = true;
  if (!row_too_long_) field_.push_back(c);
}

void CsvRowReader::EndField() {
  row_started_ = true;
  if (!row_too_long_) row_.fields.push_back(std::move(field_));
  field_.clear();
}

void CsvRowReader::Note(absl::string_view note) {
  for (const std::string& known : row_.notes) {
    if (known == note) return;
  }
  row_.notes.emplace_back(note);
}

void CsvRowReader::EndRow() {
  if (row_started_) {
    EndField();
    if (row_too_long_) {
      row_.fields.clear();
      row_.error = absl::StrCat("row longer than ", max_row_bytes_, " bytes");
    }
    sink_(std::move(row_));
  }
  row_ = CsvRow();
  row_.line = line_;
  field_.clear();
  row_bytes_ = 0;
  row_started_ = false;
  row_too_long_ = false;
  state_ = State::kFieldStart;
}

void CsvRowReader::Consume(char c) {
  if (row_.line == 0) row_.line = line_;
  if (after_cr_) {
    after_cr_ = false;
    if (c == '\n') return;  // the LF of a CRLF already ended the row
  }
  // Every byte counts, separators too: a line of a million commas is a million fields.
  if (++row_bytes_ > max_row_bytes_ && !row_too_long_) {
    row_too_long_ = true;
    row_.fields.clear();
    field_.clear();
  }
  bool line_break = c == '\n' || c == '\r';
  if (line_break && state_ != State::kQuoted) {
    ++line_;
    after_cr_ = c == '\r';
    EndRow();
    return;
  }
  switch (state_) {
    case State::kFieldStart:
      if (c == '"') {
        row_started_ = true;
        quote_line_ = line_;
        state_ = State::kQuoted;
        break;
      }
      [[fallthrough]];
    case State::kUnquoted:
      if (c == ',') {
        EndField();
        state_ = State::kFieldStart;
      } else {
        if (c == '"') Note("a double quote inside an unquoted field was read as text");
        Append(c);
        state_ = State::kUnquoted;
      }
      break;
    case State::kQuoted:
      if (c == '"') {
        state_ = State::kQuoteInQuoted;
      } else {
        if (c == '\n') ++line_;
        Append(c);
      }
      break;
    case State::kQuoteInQuoted:
      if (c == '"') {
        Append('"');  // an escaped quote
        state_ = State::kQuoted;
      } else if (c == ',') {
        EndField();
        state_ = State::kFieldStart;
      } else {
        Note("text after a closing double quote was read as part of the field");
        Append(c);
        state_ = State::kUnquoted;
      }
      break;
  }
}

}  // namespace stp::ingestion
