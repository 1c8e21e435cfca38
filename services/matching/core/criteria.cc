#include "services/matching/core/criteria.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libs/common/vocabulary.h"

namespace stp::matching {
namespace {

using stp::common::v1::PartnerRole;
using stp::matching::v1::Criterion;

constexpr Criterion kSharedCriteria[] = {
    v1::CRITERION_CAPABILITY_OVERLAP,  v1::CRITERION_TRACK_RECORD, v1::CRITERION_HOST_EXPERIENCE,
    v1::CRITERION_DEVELOPMENT_GAP_FIT, v1::CRITERION_CURRENT_LOAD, v1::CRITERION_LANGUAGE};

// Set bits of an avenue mask (avenues are bits 1-5), without relying on a POPCNT instruction.
constexpr uint8_t kBitCount[64] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 1, 2, 2, 3, 2, 3,
                                   3, 4, 2, 3, 3, 4, 3, 4, 4, 5, 1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4,
                                   3, 4, 4, 5, 2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6};

// The three project counts packed into one host_hits_ word, 21 bits each, and read back
// saturating at 1,023 (host experience saturates long before).
constexpr int kHostBits = 21;
constexpr uint64_t kHostFieldMask = (uint64_t{1} << kHostBits) - 1;
constexpr uint32_t kHostMax = 1023;

uint32_t HostField(uint64_t hits, int field) {
  return static_cast<uint32_t>(
      std::min<uint64_t>((hits >> (field * kHostBits)) & kHostFieldMask, kHostMax));
}

uint64_t HostFieldValue(uint64_t projects, int field) {
  return std::min(projects, kHostFieldMask) << (field * kHostBits);
}

int IncomeLevel(stp::common::v1::IncomeGroup group) {
  return group >= stp::common::v1::INCOME_GROUP_LOW && group <= stp::common::v1::INCOME_GROUP_HIGH
             ? static_cast<int>(group)
             : 0;
}

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// "0.55" style for values shown inside reasons.
std::string Points(double score) { return absl::StrFormat("%.1f", score); }

}  // namespace

NeedProfile MakeNeedProfile(const Need& need, const IndexData& data) {
  NeedProfile profile;
  for (auto avenue : need.avenues) {
    if (avenue > 0 && avenue < kAvenueSlots) profile.avenue_mask |= AvenueBit(avenue);
  }
  profile.avenue_count = std::popcount(static_cast<unsigned>(profile.avenue_mask));
  profile.sectors.assign(need.dac_sectors.begin(), need.dac_sectors.end());
  std::sort(profile.sectors.begin(), profile.sectors.end());
  profile.sectors.erase(std::unique(profile.sectors.begin(), profile.sectors.end()),
                        profile.sectors.end());
  for (auto role : need.roles) {
    if (role <= 0 || role >= kRoleSlots) continue;
    if (std::find(profile.roles.begin(), profile.roles.end(), role) != profile.roles.end())
      continue;
    if (profile.roles.size() == static_cast<size_t>(kMaxRoles)) break;
    profile.roles.push_back(role);
  }
  profile.host_id = data.FindCountry(need.host_country);
  profile.host = data.country(profile.host_id);
  profile.budget = need.budget > 0 && std::isfinite(need.budget) ? need.budget : 0;
  profile.budget_currency = need.budget_currency.empty() ? "USD" : need.budget_currency;
  profile.budget_currency_packed = PackCurrency(profile.budget_currency);
  for (const std::string& language : need.languages) {
    const uint16_t packed = PackLanguage(language);
    if (packed != 0) profile.languages.push_back(packed);
  }
  std::sort(profile.languages.begin(), profile.languages.end());
  profile.languages.erase(std::unique(profile.languages.begin(), profile.languages.end()),
                          profile.languages.end());
  return profile;
}

CandidateEvaluator::CandidateEvaluator(const IndexData& data, const NeedProfile& need,
                                       const MatchingConfig& config)
    : data_(data), need_(need), config_(config) {
  counted_[v1::CRITERION_CAPABILITY_OVERLAP] = need_.avenue_count > 0 || !need_.sectors.empty();
  counted_[v1::CRITERION_TRACK_RECORD] = true;
  counted_[v1::CRITERION_HOST_EXPERIENCE] = need_.host_id != kNoId;
  counted_[v1::CRITERION_DEVELOPMENT_GAP_FIT] = true;
  counted_[v1::CRITERION_CURRENT_LOAD] = true;
  counted_[v1::CRITERION_LANGUAGE] = !need_.languages.empty();
  for (Criterion c : kSharedCriteria) {
    if (counted_[c]) shared_weight_ += config_.weight(c);
  }
  const double plain = shared_weight_ + config_.weight(v1::CRITERION_ROLE_FIT);
  const double with_financing = plain + config_.weight(v1::CRITERION_FINANCING_CAPACITY);
  score_scale_ = plain > 0 ? 100.0 / plain : 0.0;
  score_scale_with_financing_ = with_financing > 0 ? 100.0 / with_financing : 0.0;
  per_avenue_ = need_.avenue_count > 0 ? 1.0 / need_.avenue_count : 0.0;
  per_sector_ = need_.sectors.empty() ? 0.0 : 1.0 / static_cast<double>(need_.sectors.size());
  per_experience_ = 1.0 / config_.host_experience_saturation;
  for (uint32_t n = 0; n < kSmallCounts; ++n) {
    const double k_plus_n = config_.prior_projects + n;
    track_record_scale_[n] = k_plus_n > 0 ? 1.0 / k_plus_n : 0.0;
    load_value_[n] = config_.load_half / (config_.load_half + n);
  }
  // The bound 100 × (1 - w_cap × (1 - capability) / Σw) grows with Σw, so it takes the
  // largest Σw: with financing when a financier with a budget is wanted.
  for (PartnerRole role : need_.roles) wanted_roles_ |= RoleBit(role);
  financier_wanted_ = (wanted_roles_ & RoleBit(stp::common::v1::PARTNER_ROLE_FINANCIER)) != 0;
  const bool financing_possible = need_.budget > 0 && financier_wanted_;
  const double largest_weight = financing_possible ? with_financing : plain;
  if (counted_[v1::CRITERION_CAPABILITY_OVERLAP] && largest_weight > 0) {
    capability_share_of_best_ = config_.weight(v1::CRITERION_CAPABILITY_OVERLAP) / largest_weight;
  }

  host_income_ = need_.host != nullptr ? IncomeLevel(need_.host->income_group) : 0;
  gap_by_country_.resize(data_.countries.size(), config_.development_gap_neutral);
  if (host_income_ > 0) {
    for (size_t c = 0; c < data_.countries.size(); ++c) {
      const int level = IncomeLevel(data_.countries[c].income_group);
      if (level > 0) gap_by_country_[c] = config_.development_gap_fit[level - host_income_ + 3];
    }
  }

  const size_t slots = data_.hot.size();
  if (!need_.sectors.empty()) {
    sector_hits_.assign(slots, 0);
    for (int32_t sector : need_.sectors) {
      if (auto it = data_.by_sector.find(sector); it != data_.by_sector.end()) {
        for (uint32_t slot : it->second) sector_hits_[slot] += 1;
      }
      if (auto it = data_.by_sector_group.find(sector / 100); it != data_.by_sector_group.end()) {
        for (uint32_t slot : it->second) sector_hits_[slot] += 1u << 16;
      }
    }
  }
  if (need_.host_id != kNoId) BuildHostHits(slots);
}

void CandidateEvaluator::BuildHostHits(size_t slots) {
  // Elsewhere in the host's sub-region (field 1) and region (field 2), zone by zone in slot
  // order; then the host country's own postings (field 0), taken back out of the field its
  // zone was summed into.
  host_hits_.assign(slots, 0);
  const CountryEntry* host = need_.host;
  auto field_of = [&](uint16_t region, uint16_t sub_region) {
    if (host == nullptr) return -1;
    if (host->sub_region != kNoId && sub_region == host->sub_region) return 1;
    if (host->region != kNoId && region == host->region) return 2;
    return -1;
  };
  for (const HostZone& zone : data_.host_zones) {
    const int field = field_of(zone.region, zone.sub_region);
    if (field < 0) continue;
    const size_t n = std::min(slots, zone.projects.size());
    const int shift = field * kHostBits;
    for (size_t slot = 0; slot < n; ++slot) {
      host_hits_[slot] += static_cast<uint64_t>(zone.projects[slot]) << shift;
    }
  }
  // A field past 2^21 - 1 projects would carry into the next; no organisation comes near.
  const int own_zone_field = host == nullptr ? -1 : field_of(host->region, host->sub_region);
  for (const auto& [slot, projects] : data_.by_host_country[need_.host_id]) {
    host_hits_[slot] += HostFieldValue(projects, 0);
    if (own_zone_field > 0) host_hits_[slot] -= HostFieldValue(projects, own_zone_field);
  }
}

std::string CandidateEvaluator::CountryLabel(uint16_t id) const {
  const CountryEntry* country = data_.country(id);
  if (country == nullptr) return "an unknown country";
  return country->display_name.empty() ? country->name : country->display_name;
}

// ---- Values ---------------------------------------------------------------------------

inline double CandidateEvaluator::CapabilityValue(uint32_t slot) const {
  const bool has_avenues = need_.avenue_count > 0;
  const bool has_sectors = !need_.sectors.empty();
  double avenue_part = 0;
  if (has_avenues) {
    avenue_part = kBitCount[data_.hot[slot].avenue_mask & need_.avenue_mask] * per_avenue_;
  }
  double sector_part = 0;
  if (has_sectors) {
    const uint32_t exact = sector_hits_[slot] & 0xFFFF;
    const uint32_t by_category_only = (sector_hits_[slot] >> 16) - exact;
    sector_part = (exact + config_.sector_group_match * by_category_only) * per_sector_;
  }
  if (has_avenues && has_sectors) {
    return config_.avenue_share * avenue_part + (1 - config_.avenue_share) * sector_part;
  }
  return has_avenues ? avenue_part : sector_part;
}

inline double CandidateEvaluator::TrackRecordValue(const OrganizationHot& org) const {
  // Shrinkage toward the base rate: k pseudo-projects at the base rate plus the real ones, an
  // unscored project counting at the base rate too.
  const double k = config_.prior_projects;
  const double n = org.project_count;
  if (k + n <= 0) return config_.base_rate;
  const double unscored = static_cast<double>(org.project_count - org.scored_count);
  const double scored_sum = static_cast<double>(org.score_milli_sum) * 1e-5;  // in [0, n]
  const double per_project =
      org.project_count < kSmallCounts ? track_record_scale_[org.project_count] : 1.0 / (k + n);
  const double value =
      (k * config_.base_rate + scored_sum + unscored * config_.base_rate) * per_project;
  return std::clamp(value, 0.0, 1.0);
}

inline double CandidateEvaluator::HostExperienceValue(uint32_t slot) const {
  const uint64_t hits = host_hits_[slot];
  const double experience = HostField(hits, 0) +
                            config_.sub_region_experience * HostField(hits, 1) +
                            config_.region_experience * HostField(hits, 2);
  return std::min(1.0, experience * per_experience_);
}

inline double CandidateEvaluator::DevelopmentGapValue(const OrganizationHot& org) const {
  // A multilateral body (no country) and an unknown income group are neutral.
  return org.country == kNoId || org.country >= gap_by_country_.size()
             ? config_.development_gap_neutral
             : gap_by_country_[org.country];
}

inline double CandidateEvaluator::CurrentLoadValue(const OrganizationHot& org) const {
  return org.active_count < kSmallCounts
             ? load_value_[org.active_count]
             : config_.load_half / (config_.load_half + org.active_count);
}

inline double CandidateEvaluator::LanguageValue(uint32_t slot) const {
  const OrganizationHot& org = data_.hot[slot];
  if (org.language_count == 0) return config_.unknown_language;
  const size_t inline_count = std::min<size_t>(org.language_count, org.languages.size());
  for (size_t i = 0; i < inline_count; ++i) {
    if (std::binary_search(need_.languages.begin(), need_.languages.end(), org.languages[i])) {
      return 1.0;
    }
  }
  if (org.language_count > org.languages.size()) {
    // More than four working languages: the rest are in the organisation's full list.
    for (uint16_t language : data_.organizations[slot].languages) {
      if (std::binary_search(need_.languages.begin(), need_.languages.end(), language)) {
        return 1.0;
      }
    }
  }
  return 0.0;
}

inline double CandidateEvaluator::RoleFitValue(const OrganizationHot& org, PartnerRole role) const {
  const uint16_t bit = RoleBit(role);
  const bool declared = (org.role_mask & bit) != 0;
  const bool implied = (org.implied_role_mask & bit) != 0;
  // Only a government of the host country can be its host government.
  if (role == stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT &&
      (org.country == kNoId || org.country != need_.host_id)) {
    return 0;
  }
  if (declared) return 1;
  return implied ? config_.implied_role_fit : 0;
}

inline bool CandidateEvaluator::FinancingApplies(const OrganizationHot& org) const {
  return need_.budget > 0 && (org.role_mask & RoleBit(stp::common::v1::PARTNER_ROLE_FINANCIER));
}

inline double CandidateEvaluator::FinancingValue(const OrganizationHot& org) const {
  // There is no exchange rate here, so a capacity in another currency cannot be compared.
  if (org.financing_capacity <= 0 || org.capacity_currency != need_.budget_currency_packed) {
    return config_.unknown_capacity;
  }
  return std::min(1.0, org.financing_capacity / need_.budget);
}

inline double CandidateEvaluator::SharedWeightedSum(uint32_t slot) const {
  const OrganizationHot& org = data_.hot[slot];
  double sum = 0;
  if (counted_[v1::CRITERION_CAPABILITY_OVERLAP]) {
    sum += config_.weight(v1::CRITERION_CAPABILITY_OVERLAP) * CapabilityValue(slot);
  }
  sum += config_.weight(v1::CRITERION_TRACK_RECORD) * TrackRecordValue(org);
  if (counted_[v1::CRITERION_HOST_EXPERIENCE]) {
    sum += config_.weight(v1::CRITERION_HOST_EXPERIENCE) * HostExperienceValue(slot);
  }
  sum += config_.weight(v1::CRITERION_DEVELOPMENT_GAP_FIT) * DevelopmentGapValue(org);
  sum += config_.weight(v1::CRITERION_CURRENT_LOAD) * CurrentLoadValue(org);
  if (counted_[v1::CRITERION_LANGUAGE]) {
    sum += config_.weight(v1::CRITERION_LANGUAGE) * LanguageValue(slot);
  }
  return sum;
}

inline double CandidateEvaluator::Score(double shared_weighted_sum, double role_fit,
                                        bool with_financing, double financing) const {
  const double weighted = shared_weighted_sum + config_.weight(v1::CRITERION_ROLE_FIT) * role_fit;
  if (!with_financing) return weighted * score_scale_;
  return (weighted + config_.weight(v1::CRITERION_FINANCING_CAPACITY) * financing) *
         score_scale_with_financing_;
}

void CandidateEvaluator::Evaluate(uint32_t slot, Evaluation& out) const {
  const OrganizationHot& org = data_.hot[slot];
  const double shared = SharedWeightedSum(slot);
  const bool financing_applies = FinancingApplies(org);
  const double financing = financing_applies ? FinancingValue(org) : 0;
  out.best_role = -1;
  out.best_score = 0;
  for (size_t i = 0; i < need_.roles.size(); ++i) {
    const PartnerRole role = need_.roles[i];
    const double fit = RoleFitValue(org, role);
    out.role_fit[i] = fit;
    out.role_score[i] =
        Score(shared, fit, financing_applies && role == stp::common::v1::PARTNER_ROLE_FINANCIER,
              financing);
    if (fit > 0 && (out.best_role < 0 || out.role_score[i] > out.best_score)) {
      out.best_role = static_cast<int>(i);
      out.best_score = out.role_score[i];
    }
  }
  if (out.best_role < 0) out.best_score = Score(shared, 0, false, 0);
}

double CandidateEvaluator::ScoreBound(uint32_t slot) const {
  // The shared criteria exactly, except language (a search) taken at its best; role fit at
  // the best any wanted role could give; financing at its best where it can count. Every term
  // is at least the true one and the sums run in the same order, so the bound holds in
  // floating point too.
  const OrganizationHot& org = data_.hot[slot];
  double partial = 0;
  if (counted_[v1::CRITERION_CAPABILITY_OVERLAP]) {
    partial += config_.weight(v1::CRITERION_CAPABILITY_OVERLAP) * CapabilityValue(slot);
  }
  partial += config_.weight(v1::CRITERION_TRACK_RECORD) * TrackRecordValue(org);
  if (counted_[v1::CRITERION_HOST_EXPERIENCE]) {
    partial += config_.weight(v1::CRITERION_HOST_EXPERIENCE) * HostExperienceValue(slot);
  }
  partial += config_.weight(v1::CRITERION_DEVELOPMENT_GAP_FIT) * DevelopmentGapValue(org);
  partial += config_.weight(v1::CRITERION_CURRENT_LOAD) * CurrentLoadValue(org);
  if (counted_[v1::CRITERION_LANGUAGE]) partial += config_.weight(v1::CRITERION_LANGUAGE);
  const double fit = (org.role_mask & wanted_roles_)           ? 1.0
                     : (org.implied_role_mask & wanted_roles_) ? config_.implied_role_fit
                                                               : 0.0;
  double bound = Score(partial, fit, false, 0);
  if (financier_wanted_ && FinancingApplies(org)) {
    bound = std::max(bound, Score(partial, fit, true, 1.0));
  }
  return bound;
}

double CandidateEvaluator::ScoreBoundWithoutCapability() const {
  return 100.0 * (1.0 - capability_share_of_best_);
}

// ---- Reasons --------------------------------------------------------------------------

std::string CandidateEvaluator::CapabilityReason(uint32_t slot) const {
  if (!counted_[v1::CRITERION_CAPABILITY_OVERLAP]) {
    return "the need names no avenue or sector to compare";
  }
  std::vector<std::string> parts;
  if (need_.avenue_count > 0) {
    const unsigned shared = data_.hot[slot].avenue_mask & need_.avenue_mask;
    std::vector<std::string> names;
    for (int a = 1; a < kAvenueSlots; ++a) {
      if (shared & (1u << a)) names.push_back(AvenueLabel(static_cast<stp::common::v1::Avenue>(a)));
    }
    parts.push_back(
        names.empty() ? absl::StrCat("works in none of the ", need_.avenue_count, " wanted avenues")
                      : absl::StrCat("works in ", absl::StrJoin(names, ", "), " (", names.size(),
                                     " of ", need_.avenue_count, " wanted avenues)"));
  }
  if (!need_.sectors.empty()) {
    // Which sectors, from the organisation's own list (the counts that score it come from the
    // postings of the same list).
    const std::vector<int32_t>& own = data_.organizations[slot].sectors;
    std::vector<std::string> exact, by_group;
    for (int32_t sector : need_.sectors) {
      const int32_t group_start = sector / 100 * 100;
      auto it = std::lower_bound(own.begin(), own.end(), group_start);
      if (std::binary_search(own.begin(), own.end(), sector)) {
        exact.push_back(absl::StrCat(sector));
      } else if (it != own.end() && *it < group_start + 100) {
        by_group.push_back(absl::StrCat(sector, " (category ", sector / 100, ")"));
      }
    }
    std::string sectors = absl::StrCat("of ", need_.sectors.size(), " wanted sectors ");
    if (exact.empty() && by_group.empty()) {
      absl::StrAppend(&sectors, "it knows none, not even by category");
    } else {
      if (!exact.empty()) {
        absl::StrAppend(&sectors, "it knows ", absl::StrJoin(exact, ", "), " exactly");
      }
      if (!by_group.empty()) {
        absl::StrAppend(&sectors, exact.empty() ? "it knows " : ", and ",
                        absl::StrJoin(by_group, ", "), " by category only");
      }
    }
    parts.push_back(sectors);
  }
  return absl::StrJoin(parts, "; ");
}

std::string CandidateEvaluator::TrackRecordReason(const OrganizationHot& org) const {
  const std::string base = Points(config_.base_rate * 100);
  if (org.project_count == 0) {
    return absl::StrCat("no past projects on record; taken at the base rate of ", base);
  }
  const double scored_sum = static_cast<double>(org.score_milli_sum) / 1000.0;
  const std::string scored =
      org.scored_count == 0
          ? "none scored yet"
          : absl::StrCat(org.scored_count, " scored, mean ", Points(scored_sum / org.scored_count));
  return absl::StrCat(Plural(org.project_count, "past project", "past projects"), " (", scored,
                      "), weighed with ", absl::StrFormat("%g", config_.prior_projects),
                      " pseudo-projects at the base rate of ", base);
}

std::string CandidateEvaluator::HostExperienceReason(uint32_t slot) const {
  if (!counted_[v1::CRITERION_HOST_EXPERIENCE]) return "the need names no host country";
  const uint64_t hits = host_hits_[slot];
  const uint32_t in_host = HostField(hits, 0);
  const uint32_t in_sub_region = HostField(hits, 1);
  const uint32_t in_region = HostField(hits, 2);
  const std::string host = CountryLabel(need_.host_id);
  if (in_host + in_sub_region + in_region == 0) {
    return absl::StrCat("no projects in ", host, " or its region");
  }
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat(Plural(in_host, "project", "projects"), " in ", host));
  if (in_sub_region > 0) {
    parts.push_back(
        absl::StrCat(in_sub_region, " elsewhere in ", data_.regions[need_.host->sub_region]));
  }
  if (in_region > 0) {
    parts.push_back(absl::StrCat(in_region, " elsewhere in ", data_.regions[need_.host->region]));
  }
  return absl::StrJoin(parts, ", ");
}

std::string CandidateEvaluator::DevelopmentGapReason(const OrganizationHot& org) const {
  if (org.country == kNoId) {
    return "belongs to no single country (a multilateral body): neutral on the gap";
  }
  const CountryEntry* country = data_.country(org.country);
  const int level = country != nullptr ? IncomeLevel(country->income_group) : 0;
  if (level == 0 || host_income_ == 0) {
    return absl::StrCat("income group of ", level == 0 ? CountryLabel(org.country) : "the host",
                        " unknown: neutral on the gap");
  }
  const int steps = level - host_income_;
  const std::string org_side =
      absl::StrCat(CountryLabel(org.country), " (", IncomeGroupLabel(country->income_group), ")");
  const std::string host_side = absl::StrCat(CountryLabel(need_.host_id), " (",
                                             IncomeGroupLabel(need_.host->income_group), ")");
  if (steps == 0) {
    return absl::StrCat(org_side, " is at the level of ", host_side,
                        ": close enough to absorb what is transferred");
  }
  if (steps == 1) {
    return absl::StrCat(org_side, " is one income step above ", host_side,
                        ": the gap absorbed best");
  }
  if (steps > 1) {
    return absl::StrCat(org_side, " is ", steps, " income steps above ", host_side,
                        ": a wide gap absorbs poorly without a bridging partner");
  }
  return absl::StrCat(org_side, " is ", -steps, " income step", steps == -1 ? "" : "s", " below ",
                      host_side, ": little to transfer upward");
}

std::string CandidateEvaluator::CurrentLoadReason(const OrganizationHot& org) const {
  return org.active_count == 0
             ? "no projects approved, financed or in implementation: free to take this on"
             : absl::StrCat("already carries ", Plural(org.active_count, "project", "projects"),
                            " approved, financed or in implementation");
}

std::string CandidateEvaluator::LanguageReason(uint32_t slot) const {
  if (!counted_[v1::CRITERION_LANGUAGE]) return "the need names no language";
  const std::vector<uint16_t>& all = data_.organizations[slot].languages;
  if (all.empty()) return "no working language on record";
  std::vector<uint16_t> shared;
  std::set_intersection(all.begin(), all.end(), need_.languages.begin(), need_.languages.end(),
                        std::back_inserter(shared));
  auto codes = [](const std::vector<uint16_t>& packed) {
    std::vector<std::string> out;
    for (uint16_t p : packed) out.push_back(UnpackLanguage(p));
    return absl::StrJoin(out, ", ");
  };
  return shared.empty() ? absl::StrCat("shares none of the languages ", codes(need_.languages))
                        : absl::StrCat("works in ", codes(shared));
}

std::string CandidateEvaluator::RoleFitReason(uint32_t slot, PartnerRole role) const {
  const OrganizationHot& org = data_.hot[slot];
  const uint16_t bit = RoleBit(role);
  const bool declared = (org.role_mask & bit) != 0;
  const bool implied = (org.implied_role_mask & bit) != 0;
  if (role == stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT && (declared || implied) &&
      (org.country == kNoId || org.country != need_.host_id)) {
    return "a government, but not of the host country";
  }
  if (declared) {
    return role == stp::common::v1::PARTNER_ROLE_FINANCIER && org.dfi
               ? "a development finance institution: a financier"
               : absl::StrCat("plays the wanted role of ", RoleLabel(role));
  }
  if (implied) {
    return absl::StrCat("does not list ", RoleLabel(role), " among its roles, but a ",
                        OrganizationTypeLabel(data_.organizations[slot].type), " usually plays it");
  }
  return absl::StrCat("does not play the role of ", RoleLabel(role));
}

std::string CandidateEvaluator::FinancingReason(uint32_t slot) const {
  const OrganizationHot& org = data_.hot[slot];
  const std::string budget = FormatMoney(need_.budget, need_.budget_currency);
  if (org.financing_capacity <= 0) {
    return absl::StrCat("financing capacity not on record (budget ", budget, ")");
  }
  const std::string capacity =
      FormatMoney(org.financing_capacity, data_.organizations[slot].capacity_currency);
  if (org.capacity_currency != need_.budget_currency_packed) {
    return absl::StrCat("capacity of ", capacity, " cannot be compared with a budget of ", budget);
  }
  const double value = FinancingValue(org);
  return value >= 1.0
             ? absl::StrCat("can finance ", capacity, " per project, at least the budget of ",
                            budget)
             : absl::StrCat("can finance ", capacity, " per project, ",
                            absl::StrFormat("%.0f%%", value * 100), " of the budget of ", budget);
}

// ---- The candidate as shown -------------------------------------------------------------

stp::matching::v1::Candidate CandidateEvaluator::Explain(uint32_t slot, int role_index) const {
  const OrganizationHot& org = data_.hot[slot];
  const OrganizationEntry& entry = data_.organizations[slot];
  std::array<double, kCriterionSlots> value{};
  std::array<std::string, kCriterionSlots> reason;
  std::array<bool, kCriterionSlots> counted = counted_;

  value[v1::CRITERION_CAPABILITY_OVERLAP] =
      counted_[v1::CRITERION_CAPABILITY_OVERLAP] ? CapabilityValue(slot) : 0;
  reason[v1::CRITERION_CAPABILITY_OVERLAP] = CapabilityReason(slot);
  value[v1::CRITERION_TRACK_RECORD] = TrackRecordValue(org);
  reason[v1::CRITERION_TRACK_RECORD] = TrackRecordReason(org);
  value[v1::CRITERION_HOST_EXPERIENCE] =
      counted_[v1::CRITERION_HOST_EXPERIENCE] ? HostExperienceValue(slot) : 0;
  reason[v1::CRITERION_HOST_EXPERIENCE] = HostExperienceReason(slot);
  value[v1::CRITERION_DEVELOPMENT_GAP_FIT] = DevelopmentGapValue(org);
  reason[v1::CRITERION_DEVELOPMENT_GAP_FIT] = DevelopmentGapReason(org);
  value[v1::CRITERION_CURRENT_LOAD] = CurrentLoadValue(org);
  reason[v1::CRITERION_CURRENT_LOAD] = CurrentLoadReason(org);
  value[v1::CRITERION_LANGUAGE] = counted_[v1::CRITERION_LANGUAGE] ? LanguageValue(slot) : 0;
  reason[v1::CRITERION_LANGUAGE] = LanguageReason(slot);

  const PartnerRole role =
      role_index >= 0 ? need_.roles[role_index] : stp::common::v1::PARTNER_ROLE_UNSPECIFIED;
  counted[v1::CRITERION_ROLE_FIT] = true;
  if (role_index >= 0) {
    value[v1::CRITERION_ROLE_FIT] = RoleFitValue(org, role);
    reason[v1::CRITERION_ROLE_FIT] = RoleFitReason(slot, role);
  } else {
    std::vector<std::string> labels;
    for (PartnerRole r : need_.roles) labels.push_back(RoleLabel(r));
    reason[v1::CRITERION_ROLE_FIT] =
        absl::StrCat("plays none of the wanted roles (", absl::StrJoin(labels, ", "), ")");
  }

  const bool with_financing =
      role == stp::common::v1::PARTNER_ROLE_FINANCIER && FinancingApplies(org);
  counted[v1::CRITERION_FINANCING_CAPACITY] = with_financing;
  if (with_financing) {
    value[v1::CRITERION_FINANCING_CAPACITY] = FinancingValue(org);
    reason[v1::CRITERION_FINANCING_CAPACITY] = FinancingReason(slot);
  } else if (role != stp::common::v1::PARTNER_ROLE_FINANCIER) {
    reason[v1::CRITERION_FINANCING_CAPACITY] = "only judged for a financier";
  } else if (need_.budget <= 0) {
    reason[v1::CRITERION_FINANCING_CAPACITY] = "the need gives no budget";
  } else {
    reason[v1::CRITERION_FINANCING_CAPACITY] = "cannot act as a financier";
  }

  stp::matching::v1::Candidate candidate;
  candidate.set_organization(entry.name);
  candidate.set_display_name(entry.display_name);
  if (const CountryEntry* country = data_.country(org.country)) {
    candidate.set_country(country->name);
  }
  candidate.set_role(role);
  candidate.set_score(Score(SharedWeightedSum(slot), value[v1::CRITERION_ROLE_FIT], with_financing,
                            value[v1::CRITERION_FINANCING_CAPACITY]));
  for (int c = v1::CRITERION_CAPABILITY_OVERLAP; c < kCriterionSlots; ++c) {
    auto* criterion = candidate.add_criteria();
    criterion->set_criterion(static_cast<Criterion>(c));
    criterion->set_value(value[c]);
    criterion->set_weight(counted[c] ? config_.weight(static_cast<Criterion>(c)) : 0);
    criterion->set_reason(counted[c] ? std::move(reason[c])
                                     : absl::StrCat("not counted: ", reason[c]));
  }
  return candidate;
}

}  // namespace stp::matching
