// The numbers of the partner-matching model: criterion weights and the tunables of each
// criterion and of the consortium search. They live in JSON so that they can be changed
// without a rebuild; the shipped default (default_matching.json) is embedded in the binary.
#pragma once

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stp/matching/v1/matching_service.pb.h"

namespace stp::matching {

// Criterion enum values run 1..8; index 0 (CRITERION_UNSPECIFIED) is unused.
inline constexpr int kCriterionSlots = stp::matching::v1::Criterion_ARRAYSIZE;

struct MatchingConfig {
  // The shipped default, parsed once from the embedded default_matching.json.
  static const MatchingConfig& Default();
  // Parses a configuration. Keys that are present replace the default's values, so an operator
  // file may hold only what it changes. Unknown keys, wrong types and out-of-range values are
  // INVALID_ARGUMENT naming the key, for example "weights.role_fit".
  static absl::StatusOr<MatchingConfig> FromJson(absl::string_view json);

  double weight(stp::matching::v1::Criterion criterion) const { return weights[criterion]; }

  // Identifies the model in logs and reports.
  std::string version;
  // Weight per criterion, indexed by the Criterion enum value. At least one is positive.
  std::array<double, kCriterionSlots> weights{};

  // Capability overlap: the avenue part's share when the need names avenues and sectors.
  double avenue_share = 0;
  // Value of a wanted sector matched only at the 3-digit group level (an exact match is 1).
  double sector_group_match = 0;

  // Role fit of a role the organisation does not declare but its type usually plays (a
  // multilateral body as triangular partner, a university as research partner, ...).
  double implied_role_fit = 0;

  // Track record: the value an organisation with no scored history gets (the ~25 % base rate
  // of park success), and how many pseudo-projects at that rate its real history is mixed with.
  double base_rate = 0;
  double prior_projects = 0;

  // Host experience: a project in the host country counts 1, elsewhere in the host's
  // sub-region and region these much; the sum saturates at `host_experience_saturation`.
  double sub_region_experience = 0;
  double region_experience = 0;
  double host_experience_saturation = 0;

  // Development-gap fit by income-group steps of the organisation's country above the host's,
  // -3..+3 (index = steps + 3), and the value when a side's income group is unknown or the
  // organisation belongs to no country.
  std::array<double, 7> development_gap_fit{};
  double development_gap_neutral = 0;

  // Financing capacity value when the capacity is unknown or in another currency than the
  // budget.
  double unknown_capacity = 0;

  // Current load: value = half / (half + active projects), so `load_half` active projects
  // halve it.
  double load_half = 0;

  // Language value when the organisation records no working language.
  double unknown_language = 0;

  // Consortium search: best candidates kept per role (K) and partial teams kept per step of
  // the beam (B); bonuses and penalty in score points.
  int candidates_per_role = 0;
  int beam_width = 0;
  double bridge_bonus = 0;
  double dfi_bonus = 0;
  double same_country_penalty = 0;
};

}  // namespace stp::matching
