// Rankings and portfolio summaries over stored scores: filtering (including what the caller
// may see), ordering, paging and grouping. Pure functions over a snapshot of scores.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/common/principal.h"
#include "stp/scoring/v1/scoring_service.pb.h"

namespace stp::scoring {

// True when the caller may see the project the score belongs to.
bool ScoreVisible(const Principal& principal, const v1::Score& score);
// ScoreVisible from a serialized Score, reading only its visibility and participants (no
// parse of the whole message); nullopt when the bytes are not a Score.
std::optional<bool> SerializedScoreVisible(const Principal& principal,
                                           absl::string_view serialized);
// INVALID_ARGUMENT naming each bad field of a filter.
absl::Status ValidateFilter(const v1::ScoreFilter& filter, const std::string& path);
bool Matches(const v1::ScoreFilter& filter, const v1::Score& score);

// One page of scores in rank order (total descending, or ascending; ties by project name).
absl::StatusOr<v1::RankProjectsResponse> RankPage(std::vector<v1::Score> scores,
                                                  const v1::RankProjectsRequest& req);

// Group labels: country and park display names by resource name.
using LabelOf = std::function<std::string(const std::string& key)>;
v1::PortfolioSummary Summarize(const std::vector<v1::Score>& scores, v1::GroupBy group_by,
                               double base_rate, const std::string& model_version,
                               const LabelOf& label);

}  // namespace stp::scoring
