// Which cooperation avenues an OECD DAC sector code stands for (SPEC §5.1): a default table of
// 5-digit purpose codes, replaceable by an operator's text file, with fallbacks for codes the
// table does not list and for the coarser 3-digit categories and CRS groups.
#pragma once

#include <map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stp/common/v1/common.pb.h"

namespace stp::ingestion {

using stp::common::v1::Avenue;

class SectorAvenueTable {
 public:
  // Exactly the SPEC §5.1 codes.
  static SectorAvenueTable Default();

  // Text config, one line per avenue: "green_growth: 23182 23183 ...". Codes are 5-digit DAC
  // purpose codes separated by spaces, tabs or commas; '#' starts a comment. Avenue keys:
  // e_commerce, e_manufacturing, public_health, green_growth, agriculture; each at most once.
  // A code may be listed under several avenues.
  static absl::StatusOr<SectorAvenueTable> FromText(absl::string_view text);

  // A 5-digit DAC purpose code. An exact match wins. Otherwise the table codes sharing its
  // 3-digit category vote (one vote per code and avenue) and the avenue with most votes wins;
  // a tie gives none. When no table code shares the category, its 2-digit group votes the
  // same way, but a group vote needs at least kMinGroupVotes codes behind the winner: one
  // listed code says little about a whole group (11430, advanced technical training, must not
  // turn all of education, group 11, into e-manufacturing). Returns sorted unique avenues,
  // possibly empty.
  std::vector<Avenue> ForPurposeCode(int code) const;

  // A 3-digit DAC category (IATI sector vocabulary 2, e.g. 231), voted on as above; a code
  // ending in 0 is an AidData CRS group (120, 310) and votes as its 2-digit group ("12").
  std::vector<Avenue> ForCategory(int code) const;

  // The listed 5-digit codes and their avenues.
  const std::map<int, std::vector<Avenue>>& codes() const { return avenues_by_code_; }

  static constexpr int kMinGroupVotes = 2;

 private:
  // Majority avenue of the table codes in [low, high]; `found` tells whether any code is in
  // the range (so the caller knows whether to fall back to a coarser level).
  std::vector<Avenue> Vote(int low, int high, int min_votes, bool* found) const;
  // The codes of a 3-digit category vote, else its 2-digit group.
  std::vector<Avenue> ForCategoryRange(int category) const;
  std::vector<Avenue> ForGroup(int two_digit_group) const;

  std::map<int, std::vector<Avenue>> avenues_by_code_;  // sorted unique avenues per code
};

}  // namespace stp::ingestion
