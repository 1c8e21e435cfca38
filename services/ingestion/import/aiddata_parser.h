// Streaming reader of AidData's Global Chinese Official Finance CSV files (v1.0 columns:
// project_id, title, description, status, flow, usd_current, amount, currency,
// crs_sector_code, funding/implementing/cofinancing/recipient agencies, recipient_iso2,
// start/end dates...). Each data row becomes an ImportRecord; a bad row (wrong column count,
// an unreadable number, no single recipient country, no avenue) is a rejected record, never
// an error of the stream.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/ingestion/import/import_record.h"
#include "services/ingestion/import/sector_avenues.h"

namespace stp::ingestion {

class AidDataCsvParser {
 public:
  // `table` is copied. `sink` receives every data row's record, in file order.
  AidDataCsvParser(const SectorAvenueTable& table, RecordSink sink);
  ~AidDataCsvParser();
  AidDataCsvParser(const AidDataCsvParser&) = delete;
  AidDataCsvParser& operator=(const AidDataCsvParser&) = delete;

  // Parses the next bytes. INVALID_ARGUMENT only when the header row is unusable (missing
  // project_id, title or recipient_iso2): the file is then not an AidData export. That
  // error is final and repeated by later calls.
  absl::Status Feed(absl::string_view chunk);
  // End of input: INVALID_ARGUMENT when there was no header row.
  absl::Status Finish();

  // Records delivered so far.
  int records() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stp::ingestion
