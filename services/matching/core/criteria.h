// The criteria of the partner-matching model (SPEC §5.3), each a value in [0, 1] with a
// plain-language reason, and the weighted score built from them. One code path computes the
// numbers for every candidate and, for the few that are shown, the reasons too, so a shown
// score is always the score that ranked it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "services/matching/core/index_data.h"
#include "services/matching/core/matching_config.h"
#include "services/matching/core/need.h"
#include "stp/matching/v1/matching_service.pb.h"

namespace stp::matching {

// A need translated into the index's terms, once per query, under the reader lock.
struct NeedProfile {
  uint8_t avenue_mask = 0;
  int avenue_count = 0;
  std::vector<int32_t> sectors;                     // sorted, unique
  std::vector<stp::common::v1::PartnerRole> roles;  // wanted, in the need's order
  uint16_t host_id = kNoId;
  const CountryEntry* host = nullptr;  // nullptr when the host is not a known country
  double budget = 0;
  std::string budget_currency;
  uint32_t budget_currency_packed = 0;
  std::vector<uint16_t> languages;  // packed ISO 639-1, sorted, unique
};

NeedProfile MakeNeedProfile(const Need& need, const IndexData& data);

// An organisation's scores against one need, per wanted role.
struct Evaluation {
  // By index into NeedProfile::roles.
  std::array<double, kMaxRoles> role_fit{};
  std::array<double, kMaxRoles> role_score{};
  // The wanted role with the highest score among those it fits (fit > 0), ties to the earlier
  // role; -1 when it fits none, and then best_score is its score with no role fit.
  int best_role = -1;
  double best_score = 0;
};

// Scores organisations (by slot) against one need. Construction sums, from the sector and
// host-country postings, how each organisation matches the wanted sectors and how many of its
// projects were in the host's country, sub-region and region, so that bounding a candidate's
// score reads only its OrganizationHot record and two counters; the full score is computed
// only for candidates whose bound can still reach the result.
//
// Every number comes from the *Value functions, used alike by Evaluate (every candidate) and
// Explain (the few shown), so a shown score is bit for bit the score that ranked it.
class CandidateEvaluator {
 public:
  // All three must outlive the evaluator; `data` must stay read-locked meanwhile.
  CandidateEvaluator(const IndexData& data, const NeedProfile& need, const MatchingConfig& config);

  // The hot path: scores, no words.
  void Evaluate(uint32_t slot, Evaluation& out) const;

  // An upper bound on the candidate's score for any wanted role, from the cheap criteria
  // (language, role fit and financing taken at their best), so that a candidate that cannot
  // reach a page is skipped for about half the price of scoring it.
  // ScoreBoundWithoutCapability bounds every candidate sharing no avenue or sector (all
  // criteria but capability at their best), and so a whole group of them at once.
  double ScoreBound(uint32_t slot) const;
  double ScoreBoundWithoutCapability() const;

  // The organisation as the API shows it, scored for the wanted role at `role_index` (-1: no
  // role), with every criterion's value, counted weight (0 when not counted) and reason.
  stp::matching::v1::Candidate Explain(uint32_t slot, int role_index) const;

 private:
  ABSL_ATTRIBUTE_ALWAYS_INLINE double CapabilityValue(uint32_t slot) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double TrackRecordValue(const OrganizationHot& org) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double HostExperienceValue(uint32_t slot) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double DevelopmentGapValue(const OrganizationHot& org) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double CurrentLoadValue(const OrganizationHot& org) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double LanguageValue(uint32_t slot) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double RoleFitValue(const OrganizationHot& org,
                                                   stp::common::v1::PartnerRole role) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool FinancingApplies(const OrganizationHot& org) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE double FinancingValue(const OrganizationHot& org) const;
  // Σ w·v over the counted role-independent criteria, always in the same order.
  ABSL_ATTRIBUTE_ALWAYS_INLINE double SharedWeightedSum(uint32_t slot) const;
  // 100 × Σ w·v / Σ w for one role.
  ABSL_ATTRIBUTE_ALWAYS_INLINE double Score(double shared_weighted_sum, double role_fit,
                                            bool with_financing, double financing) const;

  // Fills host_hits_ for a need with a host country.
  void BuildHostHits(size_t slots);

  std::string CapabilityReason(uint32_t slot) const;
  std::string TrackRecordReason(const OrganizationHot& org) const;
  std::string HostExperienceReason(uint32_t slot) const;
  std::string DevelopmentGapReason(const OrganizationHot& org) const;
  std::string CurrentLoadReason(const OrganizationHot& org) const;
  std::string LanguageReason(uint32_t slot) const;
  std::string RoleFitReason(uint32_t slot, stp::common::v1::PartnerRole role) const;
  std::string FinancingReason(uint32_t slot) const;
  std::string CountryLabel(uint16_t id) const;

  const IndexData& data_;
  const NeedProfile& need_;
  const MatchingConfig& config_;
  // Whether each criterion counts for this need (capability needs avenues or sectors, host
  // experience a host, language languages), and the sum of the counted shared weights.
  std::array<bool, kCriterionSlots> counted_{};
  double shared_weight_ = 0;
  // Reciprocals of the per-need denominators, so the hot path multiplies instead of divides:
  // 100 / Σ w without and with financing, 1 / wanted avenues, 1 / wanted sectors, and
  // 1 / host-experience saturation.
  double score_scale_ = 0;
  double score_scale_with_financing_ = 0;
  double per_avenue_ = 0;
  double per_sector_ = 0;
  double per_experience_ = 0;
  // Per-need tables for the usual small counts, so the hot path does not divide:
  // 1 / (k + projects) for the track record and the load value by active projects.
  static constexpr uint32_t kSmallCounts = 64;
  std::array<double, kSmallCounts> track_record_scale_{};
  std::array<double, kSmallCounts> load_value_{};
  // w(capability) / the largest Σ w any role can have, for ScoreBoundWithoutCapability.
  double capability_share_of_best_ = 0;
  uint16_t wanted_roles_ = 0;  // RoleBit of every wanted role
  bool financier_wanted_ = false;
  // The host's income group as 1 (low) to 4 (high); 0 when unknown.
  int host_income_ = 0;
  // Development-gap value per country id, for this host.
  std::vector<double> gap_by_country_;
  // Per slot: wanted sectors matched exactly (low 16 bits) and by 3-digit category, exact
  // ones included (high 16 bits). Empty when the need names no sector.
  std::vector<uint32_t> sector_hits_;
  // Per slot: visible projects in the host country (bits 0-20), elsewhere in its sub-region
  // (21-41) and elsewhere in its region (42-62), read back saturating at 1,023 (host
  // experience saturates long before). Integers, so the sums cannot depend on the order the
  // postings are read in. Empty when the host is unknown.
  std::vector<uint64_t> host_hits_;
};

}  // namespace stp::matching
