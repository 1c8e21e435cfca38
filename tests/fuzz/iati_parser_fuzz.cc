// libFuzzer target: IATI activity XML through IatiParser, fed in a few chunks whose sizes
// depend on the input, with the invariants every record must keep checked on the way.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "services/ingestion/import/iati_parser.h"
#include "services/ingestion/import/value_parsing.h"

namespace {

using stp::ingestion::ImportRecord;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool IsUtf8(const std::string& text) {
  bool repaired = false;
  stp::ingestion::RepairUtf8(text, &repaired);
  return !repaired;
}

// A placeholder names an existing entry of the record's organisations.
void CheckPlaceholder(const std::string& placeholder, const ImportRecord& record) {
  if (placeholder.empty()) return;
  Check(absl::StartsWith(placeholder, "pending:"));
  int index = -1;
  Check(absl::SimpleAtoi(placeholder.substr(8), &index));
  Check(index >= 0 && index < static_cast<int>(record.organizations.size()));
}

void CheckRecord(const ImportRecord& record, int expected_index) {
  const auto& project = record.project;
  Check(record.index == expected_index);
  Check(IsUtf8(record.external_id) && IsUtf8(project.title()) && IsUtf8(project.description()));
  for (const auto& participant : project.participants()) {
    CheckPlaceholder(participant.organization(), record);
  }
  for (const auto& flow : project.financing().commitments()) {
    CheckPlaceholder(flow.source_organization(), record);
    Check(!stp::ingestion::IsNegative(flow.amount()));
  }
  for (const auto& flow : project.financing().disbursements()) {
    CheckPlaceholder(flow.source_organization(), record);
    Check(!stp::ingestion::IsNegative(flow.amount()));
  }
  for (const auto& organization : record.organizations) {
    Check(!organization.ref.empty() || !organization.name.empty());
    Check(IsUtf8(organization.name) && IsUtf8(organization.ref));
  }
  if (record.rejection.empty()) {
    Check(!record.external_id.empty() && !project.title().empty());
    Check(!project.host_country().empty() && project.avenues_size() > 0);
  }
  Check(record.warnings.size() <= 21);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const stp::ingestion::SectorAvenueTable* table =
      new stp::ingestion::SectorAvenueTable(stp::ingestion::SectorAvenueTable::Default());
  int delivered = 0;
  stp::ingestion::IatiParser parser(*table, [&](ImportRecord record) {
    CheckRecord(record, delivered);
    ++delivered;
  });
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  // Chunk sizes from a small generator seeded by the input, so a crash replays exactly.
  uint32_t state = static_cast<uint32_t>(size) * 2654435761u + (size > 0 ? data[size - 1] : 0);
  absl::Status status;
  while (!input.empty() && status.ok()) {
    state = state * 1103515245u + 12345u;
    size_t chunk = 1 + (state >> 8) % (input.size() < 64 ? input.size() : input.size() / 3 + 1);
    status = parser.Feed(input.substr(0, chunk));
    input.remove_prefix(std::min(chunk, input.size()));
  }
  absl::Status finished = parser.Finish();
  // An error is final: Finish repeats it.
  Check(status.ok() || finished == status);
  Check(parser.records() == delivered);
  return 0;
}
