// Subscription cursors: the last stream id seen in each event partition, as one opaque token.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stp::notification {

// "v1:" + partition ids joined with ',', base64url; positions.size() is the partition count.
std::string EncodeCursor(const std::vector<std::string>& positions);
// INVALID_ARGUMENT for a token that is not a cursor of a deployment with `partitions`.
absl::StatusOr<std::vector<std::string>> DecodeCursor(const std::string& cursor, int partitions);

}  // namespace stp::notification
