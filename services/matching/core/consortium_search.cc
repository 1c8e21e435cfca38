#include "services/matching/core/consortium_search.h"

#include <algorithm>
#include <set>

namespace stp::matching {
namespace {

bool IsSouthern(int income_level) { return income_level >= 1 && income_level <= 3; }

struct PartialTeam {
  std::array<uint16_t, kMaxRoles> choice{};
  double score_sum = 0;
  double priority = 0;
};

class TeamScorer {
 public:
  TeamScorer(const std::vector<std::vector<MemberOption>>& options,
             const TeamSearchSettings& settings)
      : options_(options), settings_(settings) {}

  const MemberOption& member(const std::array<uint16_t, kMaxRoles>& choice, int role) const {
    return options_[role][choice[role]];
  }

  // Fills the bonus fields of `team` for its first `size` members and returns the bonuses
  // minus the penalty, in score points.
  double Adjustments(int size, Team& team) const {
    team.bridge_member = team.far_member = team.dfi_member = team.southern_member = -1;
    team.same_country_pairs = 0;
    const int host = settings_.host_income_level;
    // The triangular bridge: a member far ahead of the host (two or more income steps) and a
    // member strictly between the two. Taking the richest member as the far one finds a
    // bridge whenever any pair would do.
    int richest = -1;
    for (int i = 0; i < size; ++i) {
      const MemberOption& m = member(team.choice, i);
      if (m.income_level > 0 &&
          (richest < 0 || m.income_level > member(team.choice, richest).income_level)) {
        richest = i;
      }
      if (m.dfi && team.dfi_member < 0) team.dfi_member = i;
      if (IsSouthern(m.income_level) && team.southern_member < 0) team.southern_member = i;
      for (int j = 0; j < i; ++j) {
        if (m.country != kNoId && m.country == member(team.choice, j).country) {
          ++team.same_country_pairs;
        }
      }
    }
    if (host > 0 && richest >= 0) {
      const int far_level = member(team.choice, richest).income_level;
      if (far_level >= host + 2) {
        for (int i = 0; i < size && team.bridge_member < 0; ++i) {
          const int level = member(team.choice, i).income_level;
          if (level > host && level < far_level) {
            team.bridge_member = i;
            team.far_member = richest;
          }
        }
      }
    }
    double adjustment = 0;
    if (team.bridge_member >= 0) adjustment += settings_.bridge_bonus;
    if (team.dfi_member >= 0) adjustment += settings_.dfi_bonus;
    adjustment -= settings_.same_country_penalty * team.same_country_pairs;
    return adjustment;
  }

 private:
  const std::vector<std::vector<MemberOption>>& options_;
  const TeamSearchSettings& settings_;
};

}  // namespace

TeamSearchResult SearchTeams(const std::vector<std::vector<MemberOption>>& options,
                             const TeamSearchSettings& settings, int max_teams) {
  TeamSearchResult result;
  const int roles = static_cast<int>(options.size());
  if (roles == 0 || roles > kMaxRoles || max_teams <= 0) return result;
  for (const auto& role_options : options) {
    if (role_options.empty()) return result;  // a role nobody can fill: no team
  }
  const TeamScorer scorer(options, settings);

  // Optimistic completion: the best individual score still available for each later role.
  std::vector<double> best_after(roles + 1, 0.0);
  std::vector<bool> southern_after(roles + 1, false);
  for (int i = roles - 1; i >= 0; --i) {
    best_after[i] = best_after[i + 1] + options[i].front().score;
    bool southern = southern_after[i + 1];
    for (const MemberOption& o : options[i]) southern = southern || IsSouthern(o.income_level);
    southern_after[i] = southern;
  }

  std::vector<PartialTeam> beam(1);
  std::vector<PartialTeam> next;
  std::vector<Team> complete;
  Team scratch;
  for (int role = 0; role < roles; ++role) {
    next.clear();
    const bool last = role == roles - 1;
    for (const PartialTeam& partial : beam) {
      for (size_t c = 0; c < options[role].size(); ++c) {
        const MemberOption& candidate = options[role][c];
        bool conflict = false;
        for (int i = 0; i < role && !conflict; ++i) {
          const MemberOption& m = scorer.member(partial.choice, i);
          conflict = m.slot == candidate.slot ||
                     (settings.distinct_countries && candidate.country != kNoId &&
                      candidate.country == m.country);
        }
        if (conflict) continue;
        PartialTeam extended = partial;
        extended.choice[role] = static_cast<uint16_t>(c);
        extended.score_sum += candidate.score;
        ++result.evaluated;
        scratch.choice = extended.choice;
        const double adjustment = scorer.Adjustments(role + 1, scratch);
        const bool has_southern = scratch.southern_member >= 0;
        if (settings.require_southern_partner && !has_southern && !southern_after[role + 1]) {
          continue;  // no later role can bring the required southern member
        }
        if (last) {
          scratch.mean_score = extended.score_sum / roles;
          scratch.score = std::clamp(scratch.mean_score + adjustment, 0.0, 100.0);
          complete.push_back(scratch);
        } else {
          extended.priority = (extended.score_sum + best_after[role + 1]) / roles + adjustment;
          next.push_back(extended);
        }
      }
    }
    if (last) break;
    // Keep the B most promising partial teams; ties go to the individually better choices.
    auto better = [&](const PartialTeam& a, const PartialTeam& b) {
      if (a.priority != b.priority) return a.priority > b.priority;
      return std::lexicographical_compare(a.choice.begin(), a.choice.begin() + role + 1,
                                          b.choice.begin(), b.choice.begin() + role + 1);
    };
    if (next.size() > static_cast<size_t>(settings.beam_width)) {
      std::partial_sort(next.begin(), next.begin() + settings.beam_width, next.end(), better);
      next.resize(settings.beam_width);
    }
    beam.swap(next);
    if (beam.empty()) return result;
  }

  auto names_before = [&](const Team& a, const Team& b) {
    for (int i = 0; i < roles; ++i) {
      const std::string& x = *scorer.member(a.choice, i).name;
      const std::string& y = *scorer.member(b.choice, i).name;
      if (x != y) return x < y;
    }
    return false;
  };
  std::sort(complete.begin(), complete.end(), [&](const Team& a, const Team& b) {
    if (a.score != b.score) return a.score > b.score;
    return names_before(a, b);
  });
  // The same organisations in another role assignment are the same team to a reader: keep
  // the better-scoring assignment only.
  std::set<std::vector<uint32_t>> seen;
  for (const Team& team : complete) {
    std::vector<uint32_t> members;
    for (int i = 0; i < roles; ++i) members.push_back(scorer.member(team.choice, i).slot);
    std::sort(members.begin(), members.end());
    if (!seen.insert(std::move(members)).second) continue;
    result.teams.push_back(team);
    if (static_cast<int>(result.teams.size()) == max_teams) break;
  }
  return result;
}

}  // namespace stp::matching
