// The bounded search behind ProposeConsortia: a beam search over the best K candidates of
// each wanted role, one organisation per role, scored as a team.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "services/matching/core/index_data.h"
#include "services/matching/core/need.h"

namespace stp::matching {

// One organisation that may fill one role.
struct MemberOption {
  uint32_t slot = 0;
  double score = 0;  // its individual score for the role, 0..100
  uint16_t country = kNoId;
  int income_level = 0;  // 1 low .. 4 high, 0 unknown or no country
  bool dfi = false;
  const std::string* name = nullptr;  // for deterministic ties
};

struct TeamSearchSettings {
  int beam_width = 1;
  double bridge_bonus = 0;
  double dfi_bonus = 0;
  double same_country_penalty = 0;
  int host_income_level = 0;  // 0 when unknown: no bridge can be recognised
  bool require_southern_partner = false;
  bool distinct_countries = false;
};

// A complete team: members by role index, with what its score is made of.
struct Team {
  std::array<uint16_t, kMaxRoles> choice{};  // per role, index into that role's options
  double mean_score = 0;
  double score = 0;
  // Role indexes of the members behind each team bonus; -1 when there is none.
  int bridge_member = -1;
  int far_member = -1;
  int dfi_member = -1;
  int southern_member = -1;
  int same_country_pairs = 0;
};

struct TeamSearchResult {
  std::vector<Team> teams;  // best first, at most `max_teams`, no two with the same members
  int64_t evaluated = 0;    // partial and complete teams scored
};

// `options[i]` are the candidates for role i, best first. Worst case teams evaluated:
// K + (m - 1) * B * K for m roles, K options per role and beam width B.
TeamSearchResult SearchTeams(const std::vector<std::vector<MemberOption>>& options,
                             const TeamSearchSettings& settings, int max_teams);

}  // namespace stp::matching
