#include "services/ingestion/import/record_remarks.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stp::ingestion {

RecordRemarks::~RecordRemarks() {
  if (dropped_ > 0) {
    record_->warnings.push_back(absl::StrCat(dropped_, " more warnings not shown"));
  }
}

void RecordRemarks::Warn(std::string message) {
  if (record_->warnings.size() < kMaxWarnings) {
    record_->warnings.push_back(std::move(message));
  } else {
    ++dropped_;
  }
}

void RecordRemarks::Reject(std::string reason, std::string field) {
  if (!record_->rejection.empty()) record_->rejection += "; ";
  record_->rejection += reason;
  std::vector<std::string>& fields = record_->rejected_fields;
  if (!field.empty() && std::find(fields.begin(), fields.end(), field) == fields.end()) {
    fields.push_back(std::move(field));
  }
}

}  // namespace stp::ingestion
