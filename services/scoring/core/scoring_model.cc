#include "services/scoring/core/scoring_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "services/scoring/core/components.h"
#include "services/scoring/core/default_model_json.h"
#include "services/scoring/core/project_facts.h"

namespace stp::scoring {
namespace {

using stp::scoring::v1::Component;

struct ComponentDescription {
  Component component;
  const char* text;
};

// What each component measures, as GetScoringModel shows it. docs/scoring.md has the detail.
constexpr ComponentDescription kDescriptions[] = {
    {stp::scoring::v1::COMPONENT_ABSORPTIVE_FIT,
     "Development gap between the lead technology partner's country and the host, in World "
     "Bank income-group steps (New Structural Economics): one step above the host is best, "
     "the same level good, two steps weaker; three steps absorb poorly unless a partner from "
     "an intermediate income level bridges the gap; a partner below the host is weak."},
    {stp::scoring::v1::COMPONENT_COMPARATIVE_ADVANTAGE,
     "How each of the project's avenues suits the host's endowment: its income group and the "
     "newest value of the indicators that matter for the avenue (agriculture share of GDP, "
     "internet use, manufacturing share, R&D spending, GDP per head); the mean over avenues."},
    {stp::scoring::v1::COMPONENT_PARTNERSHIP_STRUCTURE,
     "A triangular partner (Northern country, multilateral body or multinational), a "
     "development finance institution as co-financier, the host government's participation "
     "and IASP membership of the park or its operator."},
    {stp::scoring::v1::COMPONENT_FINANCING_HEALTH,
     "Money committed against the budget, disbursed against committed, and the number of "
     "distinct sources; amounts are compared in the budget's currency only."},
    {stp::scoring::v1::COMPONENT_EXECUTION,
     "Milestones on time against overdue, results reached against their targets, and the "
     "project's stage; suspension and cancellation scale the whole component down."},
    {stp::scoring::v1::COMPONENT_DIGITAL_READINESS,
     "Internet use and income group of the host; applies only to projects with the "
     "e-commerce or e-manufacturing avenue."},
};

double WeightOf(const ModelConfig& config, Component component) {
  switch (component) {
    case stp::scoring::v1::COMPONENT_ABSORPTIVE_FIT:
      return config.absorptive_fit.weight;
    case stp::scoring::v1::COMPONENT_COMPARATIVE_ADVANTAGE:
      return config.comparative_advantage.weight;
    case stp::scoring::v1::COMPONENT_PARTNERSHIP_STRUCTURE:
      return config.partnership_structure.weight;
    case stp::scoring::v1::COMPONENT_FINANCING_HEALTH:
      return config.financing_health.weight;
    case stp::scoring::v1::COMPONENT_EXECUTION:
      return config.execution.weight;
    case stp::scoring::v1::COMPONENT_DIGITAL_READINESS:
      return config.digital_readiness.weight;
    default:
      return 0;
  }
}

void SortUnique(std::vector<std::string>* names) {
  names->erase(std::remove(names->begin(), names->end(), std::string()), names->end());
  std::sort(names->begin(), names->end());
  names->erase(std::unique(names->begin(), names->end()), names->end());
}

}  // namespace

const ScoringModel& ScoringModel::Default() {
  // Built once and never changed; the embedded JSON is checked by the unit tests, so a
  // failure here is a build defect, not a runtime condition.
  static const ScoringModel* const kDefault = [] {
    absl::StatusOr<ScoringModel> model = FromJson(internal::kDefaultModelJson);
    if (!model.ok()) {
      std::fprintf(stderr, "the embedded default_model.json is invalid: %s\n",
                   model.status().ToString().c_str());
      std::abort();
    }
    return new ScoringModel(*std::move(model));
  }();
  return *kDefault;
}

absl::string_view ScoringModel::DefaultJson() { return internal::kDefaultModelJson; }

absl::StatusOr<ScoringModel> ScoringModel::FromJson(absl::string_view json) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(json);
  if (!config.ok()) return config.status();
  return ScoringModel(*std::move(config));
}

stp::scoring::v1::Tier ScoringModel::TierFor(double total) const {
  if (total >= config_.tier_a_min) return stp::scoring::v1::TIER_A;
  if (total >= config_.tier_b_min) return stp::scoring::v1::TIER_B;
  if (total >= config_.tier_c_min) return stp::scoring::v1::TIER_C;
  return stp::scoring::v1::TIER_D;
}

stp::scoring::v1::Score ScoringModel::Compute(const stp::ingestion::v1::Project& project,
                                              const ScoringContext& context) const {
  ProjectFacts facts(project, context);
  stp::scoring::v1::Score score;
  *score.add_components() = ScoreAbsorptiveFit(facts, config_);
  *score.add_components() = ScoreComparativeAdvantage(facts, config_);
  *score.add_components() = ScorePartnershipStructure(facts, config_);
  *score.add_components() = ScoreFinancingHealth(facts, config_);
  *score.add_components() = ScoreExecution(facts, config_);
  *score.add_components() = ScoreDigitalReadiness(facts, config_);

  double applicable_weight = 0;
  for (auto& component : *score.mutable_components()) {
    component.set_weight(WeightOf(config_, component.component()));
    if (component.applicable()) applicable_weight += component.weight();
  }
  // The config guarantees the always-applicable weights are not all zero.
  double total = 0;
  double confidence = 0;
  for (auto& component : *score.mutable_components()) {
    double share = component.applicable() ? component.weight() / applicable_weight : 0.0;
    component.set_contribution(component.value() * share);
    total += component.contribution();
    confidence += component.confidence() * share;
  }
  score.set_total(std::clamp(total, 0.0, 100.0));
  score.set_tier(TierFor(score.total()));
  score.set_confidence(std::clamp(confidence, 0.0, 1.0));
  score.set_model_version(config_.version);

  score.set_project(project.name());
  score.set_project_revision(project.revision());
  score.set_title(project.title());
  score.set_host_country(project.host_country());
  *score.mutable_avenues() = project.avenues();
  score.set_cooperation_model(project.cooperation_model());
  score.set_stage(project.stage());
  score.set_park(project.park());
  score.set_visibility(project.visibility());
  for (const auto& participant : project.participants()) {
    const std::string& name = participant.organization();
    const auto& listed = score.participant_organizations();
    if (!name.empty() && std::find(listed.begin(), listed.end(), name) == listed.end()) {
      score.add_participant_organizations(name);
    }
  }
  return score;
}

stp::scoring::v1::ScoringModel ScoringModel::Describe() const {
  stp::scoring::v1::ScoringModel model;
  model.set_version(config_.version);
  for (const auto& description : kDescriptions) {
    auto* definition = model.add_components();
    definition->set_component(description.component);
    definition->set_weight(WeightOf(config_, description.component));
    definition->set_description(description.text);
  }
  model.set_tier_a_min(config_.tier_a_min);
  model.set_tier_b_min(config_.tier_b_min);
  model.set_tier_c_min(config_.tier_c_min);
  model.set_base_rate(config_.base_rate);
  return model;
}

void ScoringModel::KeepInputsOnly(stp::ingestion::v1::Project* project) {
  project->clear_description();
  project->clear_sources();
  project->clear_external_ids();
  project->clear_possible_duplicates();
  project->clear_etag();
  project->clear_updated_by();
  for (auto& milestone : *project->mutable_milestones()) milestone.clear_name();
  for (auto& result : *project->mutable_results()) {
    result.clear_indicator();
    result.clear_unit();
  }
}

void ScoringModel::Dependencies(const stp::ingestion::v1::Project& project,
                                std::vector<std::string>* organizations,
                                std::vector<std::string>* countries) {
  Dependencies(project, nullptr, organizations, countries);
}

void ScoringModel::Dependencies(
    const stp::ingestion::v1::Project& project,
    const std::function<const stp::ingestion::v1::Organization*(absl::string_view)>& organization,
    std::vector<std::string>* organizations, std::vector<std::string>* countries) {
  organizations->clear();
  countries->clear();
  for (const auto& participant : project.participants()) {
    organizations->push_back(participant.organization());
  }
  for (const auto& flow : project.financing().commitments()) {
    organizations->push_back(flow.source_organization());
  }
  for (const auto& flow : project.financing().disbursements()) {
    organizations->push_back(flow.source_organization());
  }
  SortUnique(organizations);
  countries->push_back(project.host_country());
  if (organization) {
    for (const auto& name : *organizations) {
      if (const auto* found = organization(name)) countries->push_back(found->country());
    }
  }
  SortUnique(countries);
}

}  // namespace stp::scoring
