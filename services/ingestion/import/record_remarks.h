// Collects the warnings and rejection reasons of one import record.
#pragma once

#include <string>

#include "services/ingestion/import/import_record.h"

namespace stp::ingestion {

class RecordRemarks {
 public:
  // A record keeps its first warnings; a broken file must not make each summary line huge.
  static constexpr size_t kMaxWarnings = 20;

  explicit RecordRemarks(ImportRecord* record) : record_(record) {}
  // Appends how many warnings were left out, if any.
  ~RecordRemarks();
  RecordRemarks(const RecordRemarks&) = delete;
  RecordRemarks& operator=(const RecordRemarks&) = delete;

  void Warn(std::string message);
  // Rejects the record; several reasons are joined with "; ". `field` is a project field path,
  // or "" when the fault is not one field's.
  void Reject(std::string reason, std::string field);

 private:
  ImportRecord* record_;
  int dropped_ = 0;
};

}  // namespace stp::ingestion
