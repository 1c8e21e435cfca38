#include "services/notification/cursor.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/common/status.h"

namespace stp::notification {
namespace {

bool IsStreamId(absl::string_view id) {
  std::vector<absl::string_view> parts = absl::StrSplit(id, '-');
  uint64_t a, b;
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], &a) && absl::SimpleAtoi(parts[1], &b);
}

}  // namespace

std::string EncodeCursor(const std::vector<std::string>& positions) {
  return absl::WebSafeBase64Escape(absl::StrCat("v1:", absl::StrJoin(positions, ",")));
}

absl::StatusOr<std::vector<std::string>> DecodeCursor(const std::string& cursor, int partitions) {
  std::string raw;
  auto bad = [] {
    return WithErrorInfo(
        InvalidField("cursor",
                     "is not a cursor this service returned; subscribe without one "
                     "to start from now"),
        "BAD_CURSOR");
  };
  if (!absl::WebSafeBase64Unescape(cursor, &raw) || !absl::StartsWith(raw, "v1:")) return bad();
  std::vector<std::string> positions = absl::StrSplit(raw.substr(3), ',');
  if (static_cast<int>(positions.size()) != partitions) {
    return WithErrorInfo(
        InvalidField("cursor",
                     "was issued for a different partition count; resync with the List "
                     "methods, then subscribe without a cursor"),
        "BAD_CURSOR");
  }
  for (const auto& p : positions) {
    if (!IsStreamId(p)) return bad();
  }
  return positions;
}

}  // namespace stp::notification
