// Pieces shared by the commands that create and update resources from flags.
#pragma once

#include <google/protobuf/field_mask.pb.h>
#include <google/protobuf/message.h>

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::stpctl {

// True when `--flag`, `--flag=...` or `--no-flag` is among `args`: an update changes only the
// fields whose flags were given, even when given an empty or false value.
bool Given(const std::vector<std::string>& args, absl::string_view flag);

// "23210,31120" -> sectors.
absl::StatusOr<std::vector<int>> ParseIntList(absl::string_view text);
// "source:value,..." -> external ids.
absl::StatusOr<std::vector<stp::common::v1::ExternalId>> ParseExternalIds(absl::string_view text);
// "org:role[:lead],..." -> participants ("org" is an id or "organizations/{id}").
absl::StatusOr<std::vector<stp::ingestion::v1::Participant>> ParseParticipants(
    absl::string_view text);

// The top-level fields of `message` that are set (for an update from a file without --mask),
// less `output_only`.
std::vector<std::string> SetFields(const google::protobuf::Message& message,
                                   const std::set<std::string>& output_only);

// "EG, ZA" for lists of countries; "green growth, agriculture" for avenues.
std::string AvenueList(const google::protobuf::RepeatedField<int>& avenues);
std::string RoleList(const google::protobuf::RepeatedField<int>& roles);

}  // namespace stp::stpctl
