#include "services/matching/core/matcher.h"

#include <algorithm>
#include <bit>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/common/status.h"
#include "libs/common/vocabulary.h"
#include "services/matching/core/consortium_search.h"
#include "services/matching/core/criteria.h"

namespace stp::matching {
namespace {

using stp::common::v1::PartnerRole;

// A bitmap over organisation slots. Iterating it visits slots in ascending order, i.e. the
// organisation arrays front to back.
class SlotSet {
 public:
  explicit SlotSet(size_t slots) : words_((slots + 63) / 64, 0) {}
  void Add(uint32_t slot) { words_[slot >> 6] |= uint64_t{1} << (slot & 63); }
  void Remove(uint32_t slot) { words_[slot >> 6] &= ~(uint64_t{1} << (slot & 63)); }
  void AddAll(const Posting& posting) {
    for (uint32_t slot : posting) Add(slot);
  }
  void RemoveAll(const SlotSet& other) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] &= ~other.words_[i];
  }
  size_t Count() const {
    size_t count = 0;
    for (uint64_t w : words_) count += std::popcount(w);
    return count;
  }
  // Visits set slots in ascending order for as long as `visit` returns true.
  template <typename Visit>
  void ForEachWhile(Visit&& visit) const {
    for (size_t i = 0; i < words_.size(); ++i) {
      for (uint64_t w = words_[i]; w != 0; w &= w - 1) {
        if (!visit(static_cast<uint32_t>(i * 64 + std::countr_zero(w)))) return;
      }
    }
  }

 private:
  std::vector<uint64_t> words_;
};

// The organisations worth scoring, read from posting lists only (never the whole index):
// those sharing a wanted avenue or a wanted sector (exactly or by 3-digit category), and those
// sharing only a wanted role. The second group's capability overlap is 0, which caps its
// score, so it is often dismissed whole.
struct NarrowedField {
  SlotSet sharing_capability;
  SlotSet sharing_role_only;
  size_t size = 0;
};

NarrowedField NarrowCandidates(const IndexData& data, const NeedProfile& need,
                               const absl::flat_hash_set<std::string>& excluded) {
  NarrowedField field{SlotSet(data.hot.size()), SlotSet(data.hot.size())};
  SlotSet& capability = field.sharing_capability;
  SlotSet& role_only = field.sharing_role_only;
  for (int a = 1; a < kAvenueSlots; ++a) {
    if (need.avenue_mask & (1u << a)) capability.AddAll(data.by_avenue[a]);
  }
  for (int32_t sector : need.sectors) {
    // A category posting holds every exact match too.
    if (auto it = data.by_sector_group.find(sector / 100); it != data.by_sector_group.end()) {
      capability.AddAll(it->second);
    }
  }
  for (PartnerRole role : need.roles) {
    if (role == stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT) {
      // Only a government of the host country can be its host government: walk the (short)
      // host-country posting instead of every government in the index.
      if (need.host_id == kNoId) continue;
      const uint16_t bit = RoleBit(role);
      for (uint32_t slot : data.by_country[need.host_id]) {
        const OrganizationHot& org = data.hot[slot];
        if ((org.role_mask | org.implied_role_mask) & bit) role_only.Add(slot);
      }
      continue;
    }
    role_only.AddAll(data.by_role[role]);
  }
  role_only.RemoveAll(capability);
  for (const std::string& name : excluded) {
    if (auto it = data.organization_slots.find(name); it != data.organization_slots.end()) {
      capability.Remove(it->second);
      role_only.Remove(it->second);
    }
  }
  field.size = capability.Count() + role_only.Count();
  return field;
}

// A candidate is skipped without scoring only when its score bound is below the worst kept
// score by more than rounding could explain, so skipping never changes a result.
constexpr double kBoundMargin = 1e-9;

struct Ranked {
  double score;
  uint32_t slot;
  int role;  // index into NeedProfile::roles, -1 for none
};

// Best first; equal scores by organisation name, so the order never depends on slots.
struct RankOrder {
  const IndexData* data;
  bool operator()(const Ranked& a, const Ranked& b) const {
    if (a.score != b.score) return a.score > b.score;
    return data->organizations[a.slot].name < data->organizations[b.slot].name;
  }
};

// The best `k` of everything offered. Most candidates lose one comparison against the worst
// kept so far, so ranking n candidates costs O(n log k) and no per-candidate storage.
class TopRanked {
 public:
  TopRanked(size_t k, RankOrder order) : k_(k), order_(order) { kept_.reserve(k); }
  // Whether a candidate with a score of at most `bound` could still be kept.
  bool CouldKeep(double bound) const {
    if (kept_.size() < k_) return true;
    return k_ > 0 && bound >= kept_.front().score - kBoundMargin;
  }
  void Offer(const Ranked& candidate) {
    if (k_ == 0) return;
    if (kept_.size() < k_) {
      kept_.push_back(candidate);
      std::push_heap(kept_.begin(), kept_.end(), order_);  // front: the worst kept
    } else if (order_(candidate, kept_.front())) {
      std::pop_heap(kept_.begin(), kept_.end(), order_);
      kept_.back() = candidate;
      std::push_heap(kept_.begin(), kept_.end(), order_);
    }
  }
  // Best first.
  std::vector<Ranked> Take() && {
    std::sort_heap(kept_.begin(), kept_.end(), order_);
    return std::move(kept_);
  }

 private:
  size_t k_;
  RankOrder order_;
  std::vector<Ranked> kept_;
};

int IncomeLevelOf(const IndexData& data, uint16_t country_id) {
  const CountryEntry* country = data.country(country_id);
  if (country == nullptr) return 0;
  const int level = country->income_group;
  return level >= 1 && level <= 4 ? level : 0;
}

std::string CountryWords(const IndexData& data, uint16_t id) {
  const CountryEntry* country = data.country(id);
  if (country == nullptr) return "no single country";
  return absl::StrCat(country->display_name.empty() ? country->name : country->display_name, " (",
                      IncomeGroupLabel(country->income_group), ")");
}

std::string OrgWords(const OrganizationEntry& org) {
  return org.display_name.empty() ? org.name : org.display_name;
}

}  // namespace

Matcher::Matcher(const OrganizationIndex* index, MatchingConfig config)
    : index_(index), config_(std::move(config)) {}

absl::StatusOr<stp::matching::v1::FindPartnersResponse> Matcher::FindPartners(const Need& need,
                                                                              int page_size) const {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return InvalidField("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  return index_->Read([&](const IndexData& data) {
    const NeedProfile profile = MakeNeedProfile(need, data);
    const CandidateEvaluator evaluator(data, profile, config_);
    const NarrowedField field = NarrowCandidates(data, profile, need.excluded);

    // Score the organisations sharing capability first (they are likely to fill the page),
    // skipping any whose bound cannot reach the page; then those sharing only a role, for as
    // long as their common bound can.
    TopRanked top(static_cast<size_t>(page_size), RankOrder{&data});
    Evaluation evaluation;
    field.sharing_capability.ForEachWhile([&](uint32_t slot) {
      if (top.CouldKeep(evaluator.ScoreBound(slot))) {
        evaluator.Evaluate(slot, evaluation);
        top.Offer({evaluation.best_score, slot, evaluation.best_role});
      }
      return true;
    });
    const double role_only_bound = evaluator.ScoreBoundWithoutCapability();
    field.sharing_role_only.ForEachWhile([&](uint32_t slot) {
      if (!top.CouldKeep(role_only_bound)) return false;
      if (top.CouldKeep(evaluator.ScoreBound(slot))) {
        evaluator.Evaluate(slot, evaluation);
        top.Offer({evaluation.best_score, slot, evaluation.best_role});
      }
      return true;
    });

    stp::matching::v1::FindPartnersResponse response;
    response.set_considered(static_cast<int32_t>(field.size));
    for (const Ranked& shown : std::move(top).Take()) {
      *response.add_candidates() = evaluator.Explain(shown.slot, shown.role);
    }
    return response;
  });
}

absl::StatusOr<stp::matching::v1::ProposeConsortiaResponse> Matcher::ProposeConsortia(
    const Need& need, int max_consortia) const {
  if (max_consortia < 0 || max_consortia > kMaxConsortia) {
    return InvalidField("max_consortia", absl::StrCat("must be between 0 and ", kMaxConsortia));
  }
  if (max_consortia == 0) max_consortia = kDefaultConsortia;
  return index_->Read(
      [&](const IndexData& data) -> absl::StatusOr<stp::matching::v1::ProposeConsortiaResponse> {
        const NeedProfile profile = MakeNeedProfile(need, data);
        if (profile.roles.empty()) {
          return InvalidField("need.roles", "at least one wanted role is required");
        }
        const CandidateEvaluator evaluator(data, profile, config_);
        const NarrowedField field = NarrowCandidates(data, profile, need.excluded);
        const size_t roles = profile.roles.size();
        const bool southern_wanted = need.constraints.require_southern_partner();

        // The best K per role; when a southern member is required, also the best K southern
        // ones, so the beam is not filled with teams that can never qualify.
        const size_t k = static_cast<size_t>(config_.candidates_per_role);
        std::vector<TopRanked> best(roles, TopRanked(k, RankOrder{&data}));
        std::vector<TopRanked> best_southern(roles,
                                             TopRanked(southern_wanted ? k : 0, RankOrder{&data}));
        auto is_southern = [&](uint32_t slot) {
          const int level = IncomeLevelOf(data, data.hot[slot].country);
          return level >= 1 && level <= 3;
        };
        // Whether a candidate scoring at most `bound` could enter any role's list.
        auto could_keep = [&](double bound, bool southern) {
          for (size_t r = 0; r < roles; ++r) {
            if (best[r].CouldKeep(bound)) return true;
            if (southern_wanted && southern && best_southern[r].CouldKeep(bound)) return true;
          }
          return false;
        };
        Evaluation evaluation;
        auto offer = [&](uint32_t slot, bool southern) {
          evaluator.Evaluate(slot, evaluation);
          for (size_t r = 0; r < roles; ++r) {
            if (evaluation.role_fit[r] <= 0) continue;  // cannot fill this role
            const Ranked candidate{evaluation.role_score[r], slot, static_cast<int>(r)};
            best[r].Offer(candidate);
            if (southern) best_southern[r].Offer(candidate);
          }
        };
        field.sharing_capability.ForEachWhile([&](uint32_t slot) {
          const bool southern = southern_wanted && is_southern(slot);
          if (could_keep(evaluator.ScoreBound(slot), southern)) offer(slot, southern);
          return true;
        });
        const double role_only_bound = evaluator.ScoreBoundWithoutCapability();
        field.sharing_role_only.ForEachWhile([&](uint32_t slot) {
          if (!could_keep(role_only_bound, /*southern=*/true)) return false;
          const bool southern = southern_wanted && is_southern(slot);
          if (could_keep(evaluator.ScoreBound(slot), southern)) offer(slot, southern);
          return true;
        });

        std::vector<std::vector<MemberOption>> options(roles);
        for (size_t r = 0; r < roles; ++r) {
          std::vector<Ranked> kept = std::move(best[r]).Take();
          std::vector<Ranked> southern = std::move(best_southern[r]).Take();
          kept.insert(kept.end(), southern.begin(), southern.end());
          std::sort(kept.begin(), kept.end(), RankOrder{&data});
          kept.erase(std::unique(kept.begin(), kept.end(),
                                 [](const Ranked& a, const Ranked& b) { return a.slot == b.slot; }),
                     kept.end());
          for (const Ranked& entry : kept) {
            const OrganizationHot& org = data.hot[entry.slot];
            options[r].push_back({entry.slot, entry.score, org.country,
                                  IncomeLevelOf(data, org.country), org.dfi,
                                  &data.organizations[entry.slot].name});
          }
        }

        TeamSearchSettings settings;
        settings.beam_width = config_.beam_width;
        settings.bridge_bonus = config_.bridge_bonus;
        settings.dfi_bonus = config_.dfi_bonus;
        settings.same_country_penalty = config_.same_country_penalty;
        settings.host_income_level = IncomeLevelOf(data, profile.host_id);
        settings.require_southern_partner = southern_wanted;
        settings.distinct_countries = need.constraints.distinct_countries();
        const TeamSearchResult found = SearchTeams(options, settings, max_consortia);

        stp::matching::v1::ProposeConsortiaResponse response;
        response.set_evaluated(static_cast<int32_t>(found.evaluated));
        for (const Team& team : found.teams) {
          auto* consortium = response.add_consortia();
          auto member_slot = [&](int r) { return options[r][team.choice[r]].slot; };
          auto member_org = [&](int r) -> const OrganizationEntry& {
            return data.organizations[member_slot(r)];
          };
          auto member_country = [&](int r) { return data.hot[member_slot(r)].country; };
          for (size_t r = 0; r < roles; ++r) {
            auto* member = consortium->add_members();
            *member->mutable_candidate() =
                evaluator.Explain(member_slot(static_cast<int>(r)), static_cast<int>(r));
            member->set_role(profile.roles[r]);
          }
          consortium->set_score(team.score);
          consortium->set_triangular_bridge(team.bridge_member >= 0);
          consortium->set_dfi_participation(team.dfi_member >= 0);
          consortium->add_reasons(absl::StrFormat(
              "the members score %.1f on average for their roles", team.mean_score));
          if (team.bridge_member >= 0) {
            consortium->add_reasons(absl::StrFormat(
                "triangular bridge: %s from %s sits between %s from %s and the host %s: +%g",
                OrgWords(member_org(team.bridge_member)),
                CountryWords(data, member_country(team.bridge_member)),
                OrgWords(member_org(team.far_member)),
                CountryWords(data, member_country(team.far_member)),
                CountryWords(data, profile.host_id), config_.bridge_bonus));
          }
          if (team.dfi_member >= 0) {
            consortium->add_reasons(
                absl::StrFormat("a development finance institution takes part (%s): +%g",
                                OrgWords(member_org(team.dfi_member)), config_.dfi_bonus));
          }
          if (team.same_country_pairs > 0) {
            consortium->add_reasons(absl::StrFormat(
                "%d pair%s of members from the same country: -%g each", team.same_country_pairs,
                team.same_country_pairs == 1 ? "" : "s", config_.same_country_penalty));
          }
          if (southern_wanted && team.southern_member >= 0) {
            consortium->add_reasons(absl::StrFormat(
                "southern partner: %s from %s", OrgWords(member_org(team.southern_member)),
                CountryWords(data, member_country(team.southern_member))));
          }
          if (settings.distinct_countries) {
            consortium->add_reasons("every member comes from a different country");
          }
        }
        return response;
      });
}

}  // namespace stp::matching
