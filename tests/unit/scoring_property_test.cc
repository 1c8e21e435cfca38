// Property tests of the scoring model over thousands of generated projects, organisations and
// countries (a seeded generator: every run sees the same cases, and a failure names its seed).
//
// The properties pin the model's direction (SPEC §5.2): adding a DFI financier, a bridging
// partner or any participant that does not take the technology lead never lowers the total;
// an overdue milestone never raises it; more money disbursed never lowers financing health;
// identical inputs give identical bytes. They hold by construction, so they are checked exactly
// (no tolerance), and for random valid configs as well as the default one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "services/scoring/core/prefetched_records.h"
#include "services/scoring/core/scoring_model.h"

namespace stp::scoring {
namespace {

using stp::common::v1::IncomeGroup;
using stp::common::v1::PartnerRole;
using stp::ingestion::v1::Country;
using stp::ingestion::v1::Organization;
using stp::ingestion::v1::Project;
using stp::scoring::v1::Component;
using stp::scoring::v1::Score;

constexpr absl::CivilDay kToday(2026, 3, 1);
constexpr int kCountries = 8;
constexpr int kOrganizations = 14;
// Per property and model; three models make a few thousand cases per property.
constexpr int kScenariosPerModel = 1200;

google::type::Date DateOf(absl::CivilDay day) {
  google::type::Date date;
  date.set_year(static_cast<int>(day.year()));
  date.set_month(day.month());
  date.set_day(day.day());
  return date;
}

std::string CountryName(int index) { return absl::StrCat("countries/C", index); }
std::string OrganizationName(int index) { return absl::StrCat("organizations/o", index); }

// A registry and one project in it.
struct Scenario {
  PrefetchedRecords records;
  Project project;
};

// Seeded source of varied scenarios. Uses its own mappings from the engine's output rather
// than std distributions, whose results differ between standard libraries.
class ScenarioGenerator {
 public:
  explicit ScenarioGenerator(uint64_t seed) : engine_(seed) {}

  int Int(int low, int high) {  // inclusive
    return low + static_cast<int>(engine_() % static_cast<uint64_t>(high - low + 1));
  }
  bool Chance(double probability) { return Real(0, 1) < probability; }
  double Real(double low, double high) {
    return low + (high - low) * static_cast<double>(engine_() >> 11) * 0x1.0p-53;
  }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(Int(0, static_cast<int>(items.size()) - 1))];
  }

  IncomeGroup AnyIncomeGroup() {
    // Mostly known: an unknown income group is a case, not the rule; now and then a value
    // from a newer enum that this build does not know.
    if (Chance(0.02)) return static_cast<IncomeGroup>(Int(5, 9));
    return Chance(0.1) ? stp::common::v1::INCOME_GROUP_UNSPECIFIED
                       : static_cast<IncomeGroup>(Int(1, 4));
  }

  google::type::Date AnyDate(int days_before_today, int days_after_today) {
    google::type::Date date = DateOf(kToday + Int(-days_before_today, days_after_today));
    if (Chance(0.05)) date.set_day(0);                     // year and month only
    if (Chance(0.03)) date.set_month(0), date.set_day(0);  // year only
    return date;
  }

  Country AnyCountry(const std::string& name) {
    Country country;
    country.set_name(name);
    country.set_display_name(absl::StrCat("Country ", name.substr(name.size() - 2)));
    country.set_income_group(AnyIncomeGroup());
    static const std::vector<std::pair<std::string, double>> kIndicators = {
        {"internet_users_pct", 100},      {"agriculture_va_pct_gdp", 50},
        {"manufacturing_va_pct_gdp", 40}, {"rd_expenditure_pct_gdp", 4},
        {"gdp_per_capita_usd", 80000},
    };
    for (const auto& [indicator_name, max] : kIndicators) {
      int readings = Chance(0.3) ? 0 : Int(1, 3);
      for (int i = 0; i < readings; ++i) {
        auto* indicator = country.add_indicators();
        indicator->set_name(indicator_name);
        indicator->set_value(Chance(0.02) ? 0 : Real(0, max));
        indicator->mutable_as_of()->set_year(Int(2015, 2025));
        indicator->mutable_as_of()->set_month(1);
        indicator->mutable_as_of()->set_day(1);
      }
    }
    return country;
  }

  Organization AnyOrganization(const std::string& name) {
    static const std::vector<stp::ingestion::v1::OrganizationType> kTypes = {
        stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED,
        stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT,
        stp::ingestion::v1::ORGANIZATION_TYPE_LOCAL_GOVERNMENT,
        stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL,
        stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
        stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER,
        stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC,
        stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR,
        stp::ingestion::v1::ORGANIZATION_TYPE_DFI,
        stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL,
    };
    Organization organization;
    organization.set_name(name);
    organization.set_display_name(absl::StrCat("Org ", name));
    organization.set_type(Pick(kTypes));
    int where = Int(0, 9);
    if (where < 8) {
      organization.set_country(CountryName(Int(0, kCountries - 1)));
    } else if (where == 8) {
      organization.set_country("countries/ZZ");  // not in the registry
    }                                            // else: no country, like a multilateral body
    organization.set_iasp_member(Chance(0.2));
    return organization;
  }

  PartnerRole AnyRole() { return static_cast<PartnerRole>(Int(1, 9)); }

  std::string AnyOrganizationReference() {
    if (Chance(0.08)) return absl::StrCat("organizations/unknown", Int(0, 3));
    return OrganizationName(Int(0, kOrganizations - 1));
  }

  void AddFlow(stp::ingestion::v1::FinancialFlow* flow, const std::string& budget_currency) {
    if (!Chance(0.1)) flow->set_source_organization(AnyOrganizationReference());
    double amount = Chance(0.05) ? 0 : Real(0, 5e7);
    flow->mutable_amount()->set_units(static_cast<int64_t>(amount));
    flow->mutable_amount()->set_nanos(Int(0, 999'999'999));
    flow->mutable_amount()->set_currency_code(Chance(0.8) ? budget_currency
                                                          : (Chance(0.5) ? "EUR" : "CNY"));
    flow->set_instrument(static_cast<stp::ingestion::v1::FinanceInstrument>(Int(0, 4)));
  }

  Scenario Next() {
    Scenario scenario;
    for (int i = 0; i < kCountries; ++i) scenario.records.AddCountry(AnyCountry(CountryName(i)));
    for (int i = 0; i < kOrganizations; ++i) {
      scenario.records.AddOrganization(AnyOrganization(OrganizationName(i)));
    }

    Project& project = scenario.project;
    project.set_name(absl::StrCat("projects/p", Int(0, 1'000'000)));
    project.set_title("generated");
    project.set_revision(Int(1, 50));
    project.set_host_country(Chance(0.05) ? "countries/ZZ" : CountryName(Int(0, kCountries - 1)));
    int avenues = Int(Chance(0.03) ? 0 : 1, 3);
    for (int i = 0; i < avenues; ++i) {
      project.add_avenues(static_cast<stp::common::v1::Avenue>(Int(0, 6)));  // 6: unknown value
    }
    project.set_cooperation_model(static_cast<stp::ingestion::v1::CooperationModel>(Int(0, 4)));
    project.set_stage(static_cast<stp::ingestion::v1::ProjectStage>(Int(0, 8)));  // 8: unknown
    project.set_triangular(Chance(0.3));
    project.set_visibility(static_cast<stp::ingestion::v1::Visibility>(Int(0, 2)));

    int participants = Int(0, 7);
    for (int i = 0; i < participants; ++i) {
      auto* participant = project.add_participants();
      participant->set_organization(AnyOrganizationReference());
      // Technology partners often, so that the development gap is usually measurable.
      participant->set_role(Chance(0.35) ? stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER
                                         : AnyRole());
      participant->set_lead(Chance(0.3));
      if (Chance(0.5)) participant->set_display_name(absl::StrCat("Partner ", i));
    }

    std::string budget_currency = Chance(0.85) ? "USD" : "EUR";
    if (Chance(0.7)) {
      auto* budget = project.mutable_financing()->mutable_budget();
      budget->set_units(Chance(0.05) ? 0 : static_cast<int64_t>(Real(1e5, 1e8)));
      budget->set_currency_code(budget_currency);
    }
    for (int i = Int(0, 4); i > 0; --i) {
      AddFlow(project.mutable_financing()->add_commitments(), budget_currency);
    }
    for (int i = Int(0, 4); i > 0; --i) {
      AddFlow(project.mutable_financing()->add_disbursements(), budget_currency);
    }

    for (int i = Int(0, 6); i > 0; --i) {
      auto* milestone = project.add_milestones();
      milestone->set_name(absl::StrCat("milestone ", i));
      if (!Chance(0.1)) *milestone->mutable_due_date() = AnyDate(700, 700);
      milestone->set_done(Chance(0.4));
      if (milestone->done() && Chance(0.8)) *milestone->mutable_done_date() = AnyDate(900, 0);
    }
    for (int i = Int(0, 4); i > 0; --i) {
      auto* result = project.add_results();
      result->set_indicator(absl::StrCat("result ", i));
      result->set_baseline(Real(0, 50));
      result->set_target(Chance(0.1) ? result->baseline() : Real(0, 200));
      result->set_actual(Real(-10, 250));
      result->set_has_actual(Chance(0.7));
      if (Chance(0.5)) result->set_unit("firms");
    }
    // Text a registry holds that the model has no use for.
    project.set_description(std::string(static_cast<size_t>(Int(0, 600)), 'd'));
    if (Chance(0.5)) {
      project.add_sources()->set_reference("activities.xml");
      auto* id = project.add_external_ids();
      id->set_source("iati");
      id->set_value(absl::StrCat("XM-", Int(0, 99)));
      project.add_possible_duplicates("projects/p0");
    }
    project.set_etag("etag");
    project.set_updated_by("user:someone");
    return scenario;
  }

 private:
  std::mt19937_64 engine_;
};

double ValueOf(const Score& score, Component component) {
  for (const auto& c : score.components()) {
    if (c.component() == component) return c.value();
  }
  ADD_FAILURE() << "missing component " << Component_Name(component);
  return NAN;
}

bool IsTechnologyPartnerPresent(const Project& project) {
  for (const auto& participant : project.participants()) {
    if (participant.role() == stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER) return true;
  }
  return false;
}

// A role for a participant that joins without displacing the lead technology partner: a
// technology partner may join (not as lead) only when one is already there.
PartnerRole NonLeadingRole(ScenarioGenerator& generator, const Project& project) {
  while (true) {
    PartnerRole role = generator.AnyRole();
    if (role != stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER ||
        IsTechnologyPartnerPresent(project)) {
      return role;
    }
  }
}

// The income groups of the host and the lead technology partner, when both are known (the
// test's own reading of the lead rule: lead flag first, else first technology partner).
bool KnownGap(const Scenario& scenario, IncomeGroup* host, IncomeGroup* partner) {
  const Country* host_country = scenario.records.FindCountry(scenario.project.host_country());
  const stp::ingestion::v1::Participant* lead = nullptr;
  for (const auto& participant : scenario.project.participants()) {
    if (participant.role() != stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER) continue;
    if (participant.lead()) {
      lead = &participant;
      break;
    }
    if (lead == nullptr) lead = &participant;
  }
  if (host_country == nullptr || lead == nullptr) return false;
  const Organization* organization = scenario.records.FindOrganization(lead->organization());
  if (organization == nullptr) return false;
  const Country* partner_country = scenario.records.FindCountry(organization->country());
  if (partner_country == nullptr) return false;
  *host = host_country->income_group();
  *partner = partner_country->income_group();
  return *host != stp::common::v1::INCOME_GROUP_UNSPECIFIED &&
         *partner != stp::common::v1::INCOME_GROUP_UNSPECIFIED;
}

// Tallies how often a mutation actually moved the score, so that a property cannot pass
// vacuously because the generator never exercises it.
struct Tally {
  int cases = 0;
  int moved = 0;
};

class ScoringPropertyTest : public ::testing::TestWithParam<int> {
 protected:
  // Parameter 0 is the shipped model; the others are random valid configs, since the
  // properties must follow from the formulas, not from lucky numbers.
  void SetUp() override {
    if (GetParam() == 0) {
      model_ = ScoringModel::Default();
      return;
    }
    ScenarioGenerator random(1000 + static_cast<uint64_t>(GetParam()));
    nlohmann::json config = nlohmann::json::parse(ScoringModel::DefaultJson());
    config["version"] = absl::StrCat("random.", GetParam());
    for (const char* component :
         {"absorptive_fit", "comparative_advantage", "partnership_structure", "financing_health",
          "execution", "digital_readiness"}) {
      config[component]["weight"] = random.Real(0.01, 1);
    }
    for (auto& value : config["absorptive_fit"]["value_by_gap"]) value = random.Real(0, 100);
    config["absorptive_fit"]["bridge_restores"] = random.Real(0, 1);
    config["absorptive_fit"]["bridge_min_gap"] = random.Int(2, 3);
    config["neutral_value"] = random.Real(0, 100);
    for (const char* component : {"partnership_structure", "financing_health", "execution"}) {
      for (auto& share : config[component]["parts"]) share = random.Real(0, 1);
    }
    config["partnership_structure"]["declared_triangular_credit"] = random.Real(0, 1);
    config["partnership_structure"]["iasp_non_operator_credit"] = random.Real(0, 1);
    config["financing_health"]["coverage_without_budget"] = random.Real(0, 1);
    config["financing_health"]["sources_for_full_credit"] = random.Int(1, 5);
    config["execution"]["late_milestone_credit"] = random.Real(0, 1);
    for (auto& progress : config["execution"]["stage_progress"]) progress = random.Real(0, 1);
    for (auto& multiplier : config["execution"]["stage_multiplier"]) {
      multiplier = random.Real(0, 1);
    }
    config["comparative_advantage"]["indicator_share"] = random.Real(0, 1);
    config["digital_readiness"]["indicator_share"] = random.Real(0, 1);
    absl::StatusOr<ScoringModel> model = ScoringModel::FromJson(config.dump());
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
  }

  Score Compute(const Scenario& scenario) const {
    return model_->Compute(scenario.project, scenario.records.Context(kToday));
  }

  std::optional<ScoringModel> model_;
};

TEST_P(ScoringPropertyTest, TotalsConfidenceAndContributionsAreConsistent) {
  ScenarioGenerator generator(7);
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario scenario = generator.Next();
    Score score = Compute(scenario);
    // The seed and the index regenerate the scenario; printing it on every case would cost
    // more than scoring it.
    SCOPED_TRACE(absl::StrCat("scenario ", i));
    ASSERT_GE(score.total(), 0);
    ASSERT_LE(score.total(), 100);
    ASSERT_GE(score.confidence(), 0);
    ASSERT_LE(score.confidence(), 1);
    ASSERT_EQ(score.tier(), model_->TierFor(score.total()));
    ASSERT_EQ(score.components_size(), 6);
    double contributions = 0;
    double applicable_share = 0;
    for (const auto& component : score.components()) {
      ASSERT_GE(component.value(), 0) << Component_Name(component.component());
      ASSERT_LE(component.value(), 100) << Component_Name(component.component());
      ASSERT_GE(component.confidence(), 0);
      ASSERT_LE(component.confidence(), 1);
      ASSERT_FALSE(component.reasons().empty()) << Component_Name(component.component());
      if (!component.applicable()) {
        ASSERT_EQ(component.contribution(), 0);
      }
      if (component.applicable() && component.value() > 0) {
        applicable_share += component.contribution() / component.value();
      }
      contributions += component.contribution();
    }
    ASSERT_NEAR(contributions, score.total(), 1e-9);
    ASSERT_LE(applicable_share, 1 + 1e-9);
  }
}

TEST_P(ScoringPropertyTest, IdenticalInputsGiveIdenticalBytes) {
  ScenarioGenerator generator(11);
  ScenarioGenerator replay(11);
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario scenario = generator.Next();
    Scenario same = replay.Next();  // built again from the same seed, separately
    std::string first = Compute(scenario).SerializeAsString();
    ASSERT_EQ(first, Compute(scenario).SerializeAsString()) << "scenario " << i;
    ASSERT_EQ(first, Compute(same).SerializeAsString()) << "scenario " << i;
  }
}

// The read model keeps projects with only the model's inputs (KeepInputsOnly): the score of
// what it keeps must be the score of the whole project.
TEST_P(ScoringPropertyTest, KeepingOnlyTheInputsChangesNoScore) {
  ScenarioGenerator generator(17);
  size_t whole_bytes = 0, kept_bytes = 0;
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario scenario = generator.Next();
    Scenario kept = scenario;
    ScoringModel::KeepInputsOnly(&kept.project);
    whole_bytes += scenario.project.ByteSizeLong();
    kept_bytes += kept.project.ByteSizeLong();
    ASSERT_EQ(Compute(scenario).SerializeAsString(), Compute(kept).SerializeAsString())
        << "scenario " << i;
    std::vector<std::string> orgs, countries, kept_orgs, kept_countries;
    ScoringModel::Dependencies(scenario.project, &orgs, &countries);
    ScoringModel::Dependencies(kept.project, &kept_orgs, &kept_countries);
    ASSERT_EQ(orgs, kept_orgs) << "scenario " << i;
    ASSERT_EQ(countries, kept_countries) << "scenario " << i;
  }
  EXPECT_LT(kept_bytes * 3, whole_bytes * 2);  // it does drop the text
}

// A new DFI, known to the registry, joins the scenario's project as financier; its name.
std::string AddDfiFinancier(ScenarioGenerator* generator, Scenario* scenario) {
  Organization dfi = generator->AnyOrganization("organizations/new-dfi");
  dfi.set_type(stp::ingestion::v1::ORGANIZATION_TYPE_DFI);
  auto* participant = scenario->project.add_participants();
  participant->set_organization(dfi.name());
  participant->set_role(stp::common::v1::PARTNER_ROLE_FINANCIER);
  scenario->records.AddOrganization(std::move(dfi));
  return participant->organization();
}

TEST_P(ScoringPropertyTest, AddingADfiFinancierNeverLowersTheTotal) {
  ScenarioGenerator generator(23);
  Tally tally;
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario before = generator.Next();
    Scenario after = before;
    const std::string dfi = AddDfiFinancier(&generator, &after);

    Score old_score = Compute(before);
    Score new_score = Compute(after);
    ASSERT_GE(new_score.total(), old_score.total())
        << "scenario " << i << ": " << after.project.ShortDebugString();
    ++tally.cases;
    tally.moved += new_score.total() > old_score.total();
  }
  // Most generated projects have no DFI yet, so the new one usually adds credit.
  EXPECT_GT(tally.moved, tally.cases / 2);
}

// A DFI that commits money (within the budget or beyond it) to a project with a budget never
// lowers its score: more committed never dilutes what was paid out.
TEST_P(ScoringPropertyTest, AddingADfiCommitmentToABudgetedProjectNeverLowersTheTotal) {
  ScenarioGenerator generator(31);
  Tally tally;
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario before = generator.Next();
    const auto& budget = before.project.financing().budget();
    if (budget.units() <= 0 || budget.currency_code().empty()) continue;
    Scenario after = before;
    const std::string dfi = AddDfiFinancier(&generator, &after);
    auto* commitment = after.project.mutable_financing()->add_commitments();
    commitment->set_source_organization(dfi);
    commitment->mutable_amount()->set_currency_code(budget.currency_code());
    commitment->mutable_amount()->set_units(
        static_cast<int64_t>(generator.Real(1, 2.0 * static_cast<double>(budget.units()))));

    Score old_score = Compute(before);
    Score new_score = Compute(after);
    ASSERT_GE(ValueOf(new_score, stp::scoring::v1::COMPONENT_FINANCING_HEALTH),
              ValueOf(old_score, stp::scoring::v1::COMPONENT_FINANCING_HEALTH))
        << "scenario " << i << ": " << after.project.ShortDebugString();
    ASSERT_GE(new_score.total(), old_score.total())
        << "scenario " << i << ": " << after.project.ShortDebugString();
    ++tally.cases;
    tally.moved += new_score.total() > old_score.total();
  }
  EXPECT_GT(tally.cases, kScenariosPerModel / 5);
  EXPECT_GT(tally.moved, tally.cases / 2);
}

TEST_P(ScoringPropertyTest, AddingABridgingPartnerNeverLowersTheTotal) {
  ScenarioGenerator generator(29);
  Tally tally;
  int attempts = 0;
  while (tally.cases < kScenariosPerModel / 3 && attempts < 20 * kScenariosPerModel) {
    ++attempts;
    Scenario before = generator.Next();
    IncomeGroup host;
    IncomeGroup partner;
    if (!KnownGap(before, &host, &partner) || partner - host < 2) continue;
    // A country strictly between the two, and an organisation there.
    Scenario after = before;
    Country middle = generator.AnyCountry("countries/BRIDGE");
    middle.set_income_group(static_cast<IncomeGroup>(generator.Int(host + 1, partner - 1)));
    after.records.AddCountry(middle);
    Organization bridge = generator.AnyOrganization("organizations/bridge");
    bridge.set_country(middle.name());
    after.records.AddOrganization(bridge);
    auto* participant = after.project.add_participants();
    participant->set_organization(bridge.name());
    participant->set_role(NonLeadingRole(generator, before.project));

    Score old_score = Compute(before);
    Score new_score = Compute(after);
    ASSERT_GE(new_score.total(), old_score.total())
        << "attempt " << attempts << ": " << after.project.ShortDebugString();
    ASSERT_GE(ValueOf(new_score, stp::scoring::v1::COMPONENT_ABSORPTIVE_FIT),
              ValueOf(old_score, stp::scoring::v1::COMPONENT_ABSORPTIVE_FIT));
    ++tally.cases;
    tally.moved += new_score.total() > old_score.total();
  }
  EXPECT_EQ(tally.cases, kScenariosPerModel / 3) << "too few projects with a wide gap";
  EXPECT_GT(tally.moved, tally.cases / 10);
}

TEST_P(ScoringPropertyTest, AddingAParticipantThatDoesNotTakeTheLeadNeverLowersTheTotal) {
  ScenarioGenerator generator(31);
  Tally tally;
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario before = generator.Next();
    Scenario after = before;
    auto* participant = after.project.add_participants();
    participant->set_organization(generator.AnyOrganizationReference());
    participant->set_role(NonLeadingRole(generator, before.project));

    Score old_score = Compute(before);
    Score new_score = Compute(after);
    ASSERT_GE(new_score.total(), old_score.total())
        << "scenario " << i << ": " << after.project.ShortDebugString();
    ++tally.cases;
    tally.moved += new_score.total() > old_score.total();
  }
  EXPECT_GT(tally.moved, tally.cases / 10);
}

TEST_P(ScoringPropertyTest, MarkingAMilestoneOverdueNeverRaisesTheTotal) {
  ScenarioGenerator generator(37);
  Tally tally;
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario before = generator.Next();
    Scenario after = before;
    std::vector<int> open;
    for (int m = 0; m < after.project.milestones_size(); ++m) {
      if (!after.project.milestones(m).done()) open.push_back(m);
    }
    stp::ingestion::v1::Milestone* milestone;
    if (open.empty()) {
      milestone = after.project.add_milestones();  // a new, overdue milestone
      milestone->set_name("late");
    } else {
      milestone = after.project.mutable_milestones(generator.Pick(open));
    }
    *milestone->mutable_due_date() = DateOf(kToday - generator.Int(1, 700));

    Score old_score = Compute(before);
    Score new_score = Compute(after);
    ASSERT_LE(new_score.total(), old_score.total())
        << "scenario " << i << ": " << after.project.ShortDebugString();
    ASSERT_LE(ValueOf(new_score, stp::scoring::v1::COMPONENT_EXECUTION),
              ValueOf(old_score, stp::scoring::v1::COMPONENT_EXECUTION));
    ++tally.cases;
    tally.moved += new_score.total() < old_score.total();
  }
  EXPECT_GT(tally.moved, tally.cases / 4);
}

TEST_P(ScoringPropertyTest, MoreDisbursedNeverLowersFinancingHealth) {
  ScenarioGenerator generator(41);
  Tally tally;
  for (int i = 0; i < kScenariosPerModel; ++i) {
    Scenario before = generator.Next();
    Scenario after = before;
    auto* financing = after.project.mutable_financing();
    auto extra = static_cast<int64_t>(generator.Real(1, 3e7));
    if (financing->disbursements_size() > 0 && generator.Chance(0.5)) {
      // More paid out on an existing disbursement.
      auto* amount =
          financing->mutable_disbursements(generator.Int(0, financing->disbursements_size() - 1))
              ->mutable_amount();
      amount->set_units(amount->units() + extra);
    } else {
      // A new disbursement, in the currency of the money already recorded, from an existing
      // source (or none), so that only the amount disbursed changes.
      std::string currency = "USD";
      std::string source;
      if (financing->has_budget()) currency = financing->budget().currency_code();
      if (financing->commitments_size() > 0) {
        const auto& commitment = financing->commitments(0);
        if (!financing->has_budget()) currency = commitment.amount().currency_code();
        source = commitment.source_organization();
      }
      auto* disbursement = financing->add_disbursements();
      disbursement->set_source_organization(source);
      disbursement->mutable_amount()->set_units(extra);
      disbursement->mutable_amount()->set_currency_code(currency);
    }

    Score old_score = Compute(before);
    Score new_score = Compute(after);
    double old_health = ValueOf(old_score, stp::scoring::v1::COMPONENT_FINANCING_HEALTH);
    double new_health = ValueOf(new_score, stp::scoring::v1::COMPONENT_FINANCING_HEALTH);
    ASSERT_GE(new_health, old_health)
        << "scenario " << i << ": " << after.project.ShortDebugString();
    ASSERT_GE(new_score.total(), old_score.total());
    ++tally.cases;
    tally.moved += new_health > old_health;
  }
  EXPECT_GT(tally.moved, tally.cases / 4);
}

INSTANTIATE_TEST_SUITE_P(DefaultAndRandomConfigs, ScoringPropertyTest, ::testing::Values(0, 1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("DefaultModel")
                                                  : absl::StrCat("RandomModel", info.param);
                         });

}  // namespace
}  // namespace stp::scoring
