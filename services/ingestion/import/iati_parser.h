// Streaming reader of IATI activity files (v2.0x, and 1.x with a warning per record): bytes
// arrive in chunks of any size, and each iati-activity becomes an ImportRecord as soon as its
// end tag is read, after which its memory is freed, so a 100 MB file is read in flat memory.
// libxml2's push parser does the XML; its SAX2 callbacks build a small tree of only the current
// activity, and only of the elements the mapping reads (locations, documents, contacts... are
// skipped as they stream past).
//
// Hostile input: documents with a DOCTYPE are refused outright (so no entity can be declared,
// expanded or fetched, and no DTD is loaded), the network is never used, libxml2's default
// size and depth limits apply (never XML_PARSE_HUGE), and an activity larger than
// kMaxActivityBytes becomes a rejected record without being kept in memory.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/ingestion/import/import_record.h"
#include "services/ingestion/import/sector_avenues.h"

namespace stp::ingestion {

class IatiParser {
 public:
  // The largest iati-activity accepted, in bytes of (UTF-8) source.
  static constexpr int64_t kMaxActivityBytes = 4 << 20;

  // `table` is copied. `sink` receives every record, accepted or rejected, in file order.
  IatiParser(const SectorAvenueTable& table, RecordSink sink);
  ~IatiParser();
  IatiParser(const IatiParser&) = delete;
  IatiParser& operator=(const IatiParser&) = delete;

  // Parses the next bytes. INVALID_ARGUMENT (saying where) when the document is not
  // well-formed XML, has a DOCTYPE, or is not an iati-activities document; that error is
  // final and repeated by later calls. Records completed before the error were delivered.
  absl::Status Feed(absl::string_view chunk);
  // End of input: INVALID_ARGUMENT when the document is incomplete or empty.
  absl::Status Finish();

  // Records delivered so far.
  int records() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stp::ingestion
