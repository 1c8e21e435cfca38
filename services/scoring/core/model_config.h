// The numbers of the scoring model, parsed and validated from a JSON config file (see
// default_model.json and docs/scoring.md for every key).
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::scoring {

// A value in [0, 1] per World Bank income group.
struct IncomeGroupFit {
  double low = 0;
  double lower_middle = 0;
  double upper_middle = 0;
  double high = 0;
  // The value for `group`; 0 for INCOME_GROUP_UNSPECIFIED (callers check for it first).
  double For(stp::common::v1::IncomeGroup group) const;
};

// Maps an indicator's value onto a suitability in [0, 1]: 0 at `poor`, 1 at `good`, linear (or
// linear in the logarithm) in between and clamped outside. `good` may be below `poor` for
// indicators where less is better.
struct IndicatorScale {
  std::string name;
  double poor = 0;
  double good = 1;
  bool logarithmic = false;
  double Suitability(double value) const;
};

// How one avenue suits a host's endowment.
struct AvenueFitConfig {
  IncomeGroupFit income_fit;
  std::vector<IndicatorScale> indicators;
};

struct AbsorptiveFitConfig {
  double weight = 0;
  // Value (0-100) by income-group steps from the host to the technology partner's country,
  // -3..3, stored at index gap + 3.
  std::array<double, 7> value_by_gap{};
  int bridge_min_gap = 2;
  // Share of the gap between the unbridged value and the one-step value that a bridging
  // partner restores.
  double bridge_restores = 0;
  double ValueForGap(int gap) const {
    return value_by_gap[static_cast<size_t>(std::clamp(gap, -3, 3) + 3)];
  }
};

struct ComparativeAdvantageConfig {
  double weight = 0;
  // Share of an avenue's fit taken from the indicators when both they and the income group
  // are known.
  double indicator_share = 0;
  // Indexed by stp::common::v1::Avenue (index 0, AVENUE_UNSPECIFIED, is unused).
  std::array<AvenueFitConfig, 6> avenues;
};

struct PartnershipStructureConfig {
  double weight = 0;
  // Shares of the component, normalised to sum to 1.
  double triangular_partner = 0;
  double dfi_cofinancier = 0;
  double host_government = 0;
  double iasp_member = 0;
  // Credit for a project declared triangular whose third party is not among its participants.
  double declared_triangular_credit = 0;
  // Credit for IASP membership of a participant that is not the park operator.
  double iasp_non_operator_credit = 0;
};

struct FinancingHealthConfig {
  double weight = 0;
  // Shares of the component, normalised to sum to 1.
  double commitment_coverage = 0;
  double disbursement = 0;
  double sources = 0;
  int sources_for_full_credit = 1;
  // Coverage assumed when money is committed but no budget is recorded.
  double coverage_without_budget = 0;
};

struct ExecutionConfig {
  double weight = 0;
  // Shares of the component, normalised to sum to 1.
  double milestones = 0;
  double results = 0;
  double stage = 0;
  // Credit for a milestone reached after its due date (an on-time one earns 1, an overdue 0).
  double late_milestone_credit = 0;
  // Indexed by stp::ingestion::v1::ProjectStage (0 = unspecified .. 7 = cancelled).
  std::array<double, 8> stage_progress{};
  // The whole execution value is multiplied by these for suspended and cancelled projects.
  double suspended_multiplier = 1;
  double cancelled_multiplier = 1;
  double StageProgress(stp::ingestion::v1::ProjectStage stage) const;
  double StageMultiplier(stp::ingestion::v1::ProjectStage stage) const;
};

struct DigitalReadinessConfig {
  double weight = 0;
  double indicator_share = 0;
  IncomeGroupFit income_fit;
  IndicatorScale indicator;
};

// Every weight, threshold and tunable of the model.
struct ModelConfig {
  std::string version;
  // Sixteen hex digits naming the config's content (every key and value, whatever the
  // layout of the file): a changed weight or threshold changes it even when `version` was not
  // bumped, so that replicas rescore everything under the new config.
  std::string fingerprint;
  double base_rate = 0;
  // Value (0-100) of a component or part whose inputs are unknown.
  double neutral_value = 50;
  double tier_a_min = 75;
  double tier_b_min = 55;
  double tier_c_min = 35;
  AbsorptiveFitConfig absorptive_fit;
  ComparativeAdvantageConfig comparative_advantage;
  PartnershipStructureConfig partnership_structure;
  FinancingHealthConfig financing_health;
  ExecutionConfig execution;
  DigitalReadinessConfig digital_readiness;
};

// Parses and validates a config file's text. Every key is required and unknown keys are
// rejected, so a typo cannot silently fall back to a default. Errors are INVALID_ARGUMENT
// with one BadRequest field violation per offending key, named by its dotted path (for
// example "financing_health.parts.sources").
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json);

}  // namespace stp::scoring
