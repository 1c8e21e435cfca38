// libFuzzer target: CSV text through ParseCsv and ParseCountryTable (and, split at NUL bytes,
// the three official files through JoinOfficialCountryFiles). Checks that quoting every parsed
// field and parsing again gives the same rows, and that every country read is named after its
// alpha-2 code.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "services/ingestion/reference_data.h"
#include "tests/fuzz/fuzz_checks.h"

using stp::fuzz::Check;

namespace {

std::string Quoted(const std::vector<std::vector<std::string>>& rows) {
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      out += '"' + absl::StrReplaceAll(row[i], {{"\"", "\"\""}}) + '"';
    }
    out += '\n';
  }
  return out;
}

void CheckCountries(const absl::StatusOr<std::vector<stp::ingestion::v1::Country>>& countries) {
  if (!countries.ok()) return;
  for (const auto& c : *countries) Check(c.name() == "countries/" + c.alpha2());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto rows = stp::ingestion::ParseCsv(text);
  for (const auto& row : rows) Check(!row.empty());
  Check(stp::ingestion::ParseCsv(Quoted(rows)) == rows);
  CheckCountries(stp::ingestion::ParseCountryTable(text));
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('\0', 2));
  if (parts.size() == 3) {
    CheckCountries(stp::ingestion::JoinOfficialCountryFiles(parts[0], parts[1], parts[2]));
  }
  return 0;
}
