// Hand-made projects whose scores a reader can check with docs/scoring.md, plus the model's
// description, tiers, dependencies and the facts copied into a score.
//
// Every expected number below is worked out by hand from the default model (2026.3); the
// comments show the arithmetic, so that a change of formula or config shows up here.
#include "services/scoring/core/scoring_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "services/scoring/core/prefetched_records.h"

namespace stp::scoring {
namespace {

using stp::common::v1::Avenue;
using stp::common::v1::IncomeGroup;
using stp::common::v1::PartnerRole;
using stp::ingestion::v1::Country;
using stp::ingestion::v1::Organization;
using stp::ingestion::v1::OrganizationType;
using stp::ingestion::v1::Project;
using stp::ingestion::v1::ProjectStage;
using stp::scoring::v1::Component;
using stp::scoring::v1::ComponentScore;
using stp::scoring::v1::Score;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr absl::CivilDay kToday(2026, 3, 1);
// Hand arithmetic is rounded in the comments; values are compared to this precision.
constexpr double kTolerance = 1e-6;

struct Ymd {
  int year = 0;
  int month = 0;
  int day = 0;
};

google::type::Date DateOf(const Ymd& day) {
  google::type::Date date;
  date.set_year(day.year);
  date.set_month(day.month);
  date.set_day(day.day);
  return date;
}

struct IndicatorSpec {
  const char* name;
  double value;
  int year;
};

Country MakeCountry(const std::string& alpha2, const std::string& display_name,
                    IncomeGroup income_group, const std::vector<IndicatorSpec>& indicators) {
  Country country;
  country.set_name("countries/" + alpha2);
  country.set_alpha2(alpha2);
  country.set_display_name(display_name);
  country.set_income_group(income_group);
  for (const auto& spec : indicators) {
    auto* indicator = country.add_indicators();
    indicator->set_name(spec.name);
    indicator->set_value(spec.value);
    *indicator->mutable_as_of() = DateOf({spec.year, 1, 1});
  }
  return country;
}

Organization MakeOrganization(const std::string& id, const std::string& display_name,
                              OrganizationType type, const std::string& country_alpha2,
                              bool iasp_member = false) {
  Organization organization;
  organization.set_name("organizations/" + id);
  organization.set_display_name(display_name);
  organization.set_type(type);
  if (!country_alpha2.empty()) organization.set_country("countries/" + country_alpha2);
  organization.set_iasp_member(iasp_member);
  return organization;
}

// Builds projects tersely; every amount is in whole units.
class ProjectBuilder {
 public:
  ProjectBuilder(const std::string& id, const std::string& host_alpha2) {
    project_.set_name("projects/" + id);
    project_.set_title("project " + id);
    project_.set_host_country("countries/" + host_alpha2);
    project_.set_revision(3);
  }
  ProjectBuilder& WithAvenue(Avenue avenue) {
    project_.add_avenues(avenue);
    return *this;
  }
  ProjectBuilder& With(const std::string& organization_id, PartnerRole role, bool lead = false) {
    auto* participant = project_.add_participants();
    participant->set_organization("organizations/" + organization_id);
    participant->set_role(role);
    participant->set_lead(lead);
    return *this;
  }
  ProjectBuilder& Budget(int64_t units, const std::string& currency = "USD") {
    auto* budget = project_.mutable_financing()->mutable_budget();
    budget->set_units(units);
    budget->set_currency_code(currency);
    return *this;
  }
  ProjectBuilder& Commitment(const std::string& source_id, int64_t units,
                             const std::string& currency = "USD") {
    Flow(project_.mutable_financing()->add_commitments(), source_id, units, currency);
    return *this;
  }
  ProjectBuilder& Disbursement(const std::string& source_id, int64_t units,
                               const std::string& currency = "USD") {
    Flow(project_.mutable_financing()->add_disbursements(), source_id, units, currency);
    return *this;
  }
  // Dates as {year, month, day}.
  ProjectBuilder& Milestone(const std::string& name, const Ymd& due, bool done,
                            const Ymd& done_on = {}) {
    auto* milestone = project_.add_milestones();
    milestone->set_name(name);
    *milestone->mutable_due_date() = DateOf(due);
    milestone->set_done(done);
    if (done) *milestone->mutable_done_date() = DateOf(done_on);
    return *this;
  }
  ProjectBuilder& Result(const std::string& indicator, double baseline, double target,
                         double actual) {
    auto* result = project_.add_results();
    result->set_indicator(indicator);
    result->set_baseline(baseline);
    result->set_target(target);
    result->set_actual(actual);
    result->set_has_actual(true);
    return *this;
  }
  ProjectBuilder& Stage(ProjectStage stage) {
    project_.set_stage(stage);
    return *this;
  }
  Project Build() const { return project_; }

 private:
  static void Flow(stp::ingestion::v1::FinancialFlow* flow, const std::string& source_id,
                   int64_t units, const std::string& currency) {
    flow->set_source_organization("organizations/" + source_id);
    flow->mutable_amount()->set_units(units);
    flow->mutable_amount()->set_currency_code(currency);
  }

  Project project_;
};

const ComponentScore& ComponentOf(const Score& score, Component component) {
  for (const auto& c : score.components()) {
    if (c.component() == component) return c;
  }
  ADD_FAILURE() << "no component " << Component_Name(component);
  static const ComponentScore kEmpty;
  return kEmpty;
}

std::vector<std::string> ReasonsOf(const Score& score, Component component) {
  const auto& reasons = ComponentOf(score, component).reasons();
  return {reasons.begin(), reasons.end()};
}

constexpr auto kAbsorptive = stp::scoring::v1::COMPONENT_ABSORPTIVE_FIT;
constexpr auto kAdvantage = stp::scoring::v1::COMPONENT_COMPARATIVE_ADVANTAGE;
constexpr auto kPartnership = stp::scoring::v1::COMPONENT_PARTNERSHIP_STRUCTURE;
constexpr auto kFinancing = stp::scoring::v1::COMPONENT_FINANCING_HEALTH;
constexpr auto kExecution = stp::scoring::v1::COMPONENT_EXECUTION;
constexpr auto kDigital = stp::scoring::v1::COMPONENT_DIGITAL_READINESS;

class ScoringModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    using stp::common::v1::INCOME_GROUP_HIGH;
    using stp::common::v1::INCOME_GROUP_LOW;
    using stp::common::v1::INCOME_GROUP_LOWER_MIDDLE;
    using stp::common::v1::INCOME_GROUP_UPPER_MIDDLE;
    records_.AddCountry(
        MakeCountry("CN", "China", INCOME_GROUP_UPPER_MIDDLE, {{"internet_users_pct", 73, 2023}}));
    records_.AddCountry(MakeCountry("EG", "Egypt", INCOME_GROUP_LOWER_MIDDLE,
                                    {{"rd_expenditure_pct_gdp", 0.5, 2019},
                                     {"rd_expenditure_pct_gdp", 0.72, 2022},
                                     {"gdp_per_capita_usd", 3500, 2023},
                                     {"internet_users_pct", 72, 2023},
                                     {"agriculture_va_pct_gdp", 11.2, 2023}}));
    records_.AddCountry(
        MakeCountry("MW", "Malawi", INCOME_GROUP_LOW,
                    {{"internet_users_pct", 18, 2023}, {"manufacturing_va_pct_gdp", 9, 2023}}));
    records_.AddCountry(
        MakeCountry("ET", "Ethiopia", INCOME_GROUP_LOW, {{"agriculture_va_pct_gdp", 35, 2023}}));
    records_.AddCountry(
        MakeCountry("KE", "Kenya", INCOME_GROUP_LOWER_MIDDLE,
                    {{"rd_expenditure_pct_gdp", 0.8, 2022}, {"gdp_per_capita_usd", 2100, 2023}}));
    records_.AddCountry(
        MakeCountry("ZA", "South Africa", INCOME_GROUP_UPPER_MIDDLE,
                    {{"internet_users_pct", 75, 2023}, {"manufacturing_va_pct_gdp", 12.4, 2023}}));
    records_.AddCountry(
        MakeCountry("BR", "Brazil", INCOME_GROUP_UPPER_MIDDLE,
                    {{"rd_expenditure_pct_gdp", 1.2, 2021}, {"gdp_per_capita_usd", 9000, 2023}}));
    records_.AddCountry(MakeCountry("IN", "India", INCOME_GROUP_LOWER_MIDDLE, {}));
    records_.AddCountry(MakeCountry("DE", "Germany", INCOME_GROUP_HIGH, {}));

    using stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC;
    using stp::ingestion::v1::ORGANIZATION_TYPE_DFI;
    using stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT;
    using stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL;
    using stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL;
    using stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER;
    using stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR;
    for (auto organization : {
             MakeOrganization("cn-parkdev", "China Park Development Co.",
                              ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER, "CN"),
             MakeOrganization("cn-ecom", "Silk Road E-Commerce Ltd.",
                              ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER, "CN"),
             MakeOrganization("cn-robotics", "Shenzhen Robotics",
                              ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER, "CN"),
             MakeOrganization("cn-health", "China Medical Institute", ORGANIZATION_TYPE_ACADEMIC,
                              "CN"),
             MakeOrganization("unido", "UNIDO", ORGANIZATION_TYPE_MULTILATERAL, ""),
             MakeOrganization("undp", "UNDP", ORGANIZATION_TYPE_MULTILATERAL, ""),
             MakeOrganization("ifad", "IFAD", ORGANIZATION_TYPE_MULTILATERAL, ""),
             MakeOrganization("afdb", "African Development Bank", ORGANIZATION_TYPE_DFI, ""),
             MakeOrganization("eg-mhesr", "Egyptian Ministry of Higher Education",
                              ORGANIZATION_TYPE_GOVERNMENT, "EG"),
             MakeOrganization("eg-operator", "Egypt Science Parks Authority",
                              ORGANIZATION_TYPE_STP_OPERATOR, "EG", /*iasp_member=*/true),
             MakeOrganization("de-institute", "Institut für Angewandte Forschung",
                              ORGANIZATION_TYPE_ACADEMIC, "DE"),
             MakeOrganization("de-mnc", "Rhein Automation AG", ORGANIZATION_TYPE_MULTINATIONAL,
                              "DE"),
             MakeOrganization("mw-ministry", "Malawi Ministry of Industry",
                              ORGANIZATION_TYPE_GOVERNMENT, "MW"),
             MakeOrganization("et-ministry", "Ethiopian Ministry of Agriculture",
                              ORGANIZATION_TYPE_GOVERNMENT, "ET"),
             MakeOrganization("ke-university", "University of Nairobi", ORGANIZATION_TYPE_ACADEMIC,
                              "KE"),
             MakeOrganization("ke-ministry", "Kenya Ministry of Health",
                              ORGANIZATION_TYPE_GOVERNMENT, "KE"),
             MakeOrganization("ke-operator", "Konza Technopolis", ORGANIZATION_TYPE_STP_OPERATOR,
                              "KE", /*iasp_member=*/true),
             MakeOrganization("za-idc", "Industrial Development Corporation", ORGANIZATION_TYPE_DFI,
                              "ZA"),
             MakeOrganization("za-operator", "Gauteng Innovation Hub",
                              ORGANIZATION_TYPE_STP_OPERATOR, "ZA", /*iasp_member=*/true),
             MakeOrganization("in-pharma", "Hyderabad Pharma Labs",
                              ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER, "IN"),
             MakeOrganization("br-ministry", "Brazilian Ministry of Health",
                              ORGANIZATION_TYPE_GOVERNMENT, "BR"),
         }) {
      records_.AddOrganization(organization);
    }
  }

  Score Compute(const Project& project) const {
    return ScoringModel::Default().Compute(project, records_.Context(kToday));
  }

  PrefetchedRecords records_;
};

// Case 1. An Egyptian green-growth park: a Chinese technology partner one step above the host,
// UNIDO as triangular partner, the AfDB co-financing, the government and an IASP-member operator
// on board, milestones on time.
TEST_F(ScoringModelTest, EgyptianGreenGrowthParkWithTriangularSetUpIsTierA) {
  using stp::common::v1::PARTNER_ROLE_FINANCIER;
  Project project = ProjectBuilder("eg-green", "EG")
                        .WithAvenue(stp::common::v1::AVENUE_GREEN_GROWTH)
                        .With("cn-parkdev", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
                        .With("unido", stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER)
                        .With("afdb", PARTNER_ROLE_FINANCIER)
                        .With("eg-mhesr", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
                        .With("eg-operator", stp::common::v1::PARTNER_ROLE_OPERATOR)
                        .Budget(100'000'000)
                        .Commitment("afdb", 60'000'000)
                        .Commitment("cn-parkdev", 20'000'000)
                        .Disbursement("afdb", 30'000'000)
                        .Disbursement("cn-parkdev", 10'000'000)
                        .Milestone("site master plan", {2025, 6, 30}, true, {2025, 6, 20})
                        .Milestone("incubator building", {2026, 12, 31}, false)
                        .Milestone("first 20 tenants", {2027, 6, 30}, false)
                        .Result("firms incubated", 0, 50, 30)
                        .Stage(stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION)
                        .Build();
  Score score = Compute(project);

  // China upper-middle (3) − Egypt lower-middle (2) = one step.
  EXPECT_NEAR(ComponentOf(score, kAbsorptive).value(), 100, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kAbsorptive),
              Contains(HasSubstr("is one income group above the host (Egypt")));
  // Green growth: 0.4 × 0.70 (lower-middle) + 0.6 × mean(log-scaled R&D 0.72 → 0.72897,
  // GDP per head 3,500 → 0.46261) = 0.63747. The 2019 R&D value is older and ignored.
  EXPECT_NEAR(ComponentOf(score, kAdvantage).value(), 63.7474, 1e-3);
  EXPECT_THAT(ReasonsOf(score, kAdvantage),
              Contains(AllOf(HasSubstr("green growth suits Egypt moderately (64/100)"),
                             HasSubstr("rd_expenditure_pct_gdp is 0.72 (2022)"),
                             HasSubstr("gdp_per_capita_usd is 3,500 (2023)"))));
  // Every partnership feature present.
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 100, kTolerance);
  // 0.45 × 0.8 coverage + 0.35 × 0.8 × 0.5 disbursed + 0.2 × 2/3 sources = 0.63333.
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 63.3333, 1e-3);
  EXPECT_THAT(ReasonsOf(score, kFinancing),
              ElementsAre("80% of the budget (USD 100,000,000) is committed (USD 80,000,000)",
                          "50% of the committed funds have been disbursed",
                          "2 distinct sources fund the project: more sources would spread the "
                          "risk"));
  // 0.4 × 1 (milestones) + 0.3 × 0.6 (results) + 0.3 × 0.75 (implementation) = 0.805.
  EXPECT_NEAR(ComponentOf(score, kExecution).value(), 80.5, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kExecution),
              ElementsAre("all 3 milestones are done on time or on track",
                          "results have reached 60% of their targets on average (1 result with a "
                          "reported value)",
                          "the project is in implementation"));
  EXPECT_FALSE(ComponentOf(score, kDigital).applicable());
  EXPECT_EQ(ComponentOf(score, kDigital).contribution(), 0);
  // (0.2·100 + 0.15·63.747 + 0.2·100 + 0.2·63.333 + 0.15·80.5) / 0.9 = 82.56.
  EXPECT_NEAR(score.total(), 82.56, 0.01);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_A);
}

// Case 2. A low-income host, a high-income technology partner three steps above it and no
// bridge, a budget but no money, two of three milestones overdue.
TEST_F(ScoringModelTest, LowIncomeHostWithUnbridgedGapNoMoneyAndOverdueMilestonesIsTierD) {
  Project project =
      ProjectBuilder("mw-manufacturing", "MW")
          .WithAvenue(stp::common::v1::AVENUE_E_MANUFACTURING)
          .With("de-institute", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
          .With("mw-ministry", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
          .Budget(20'000'000)
          .Milestone("feasibility study", {2025, 3, 31}, false)
          .Milestone("land allocation", {2025, 9, 30}, false)
          .Milestone("groundbreaking", {2026, 9, 30}, false)
          .Stage(stp::ingestion::v1::PROJECT_STAGE_APPROVED)
          .Build();
  Score score = Compute(project);

  EXPECT_NEAR(ComponentOf(score, kAbsorptive).value(), 20, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kAbsorptive),
              ElementsAre(HasSubstr("is three income groups above the host (Malawi, low income) "
                                    "and no bridging partner takes part")));
  // 0.4 × 0.3 (low income) + 0.6 × (9 − 5) / 20 = 0.24.
  EXPECT_NEAR(ComponentOf(score, kAdvantage).value(), 24, kTolerance);
  // Only the host government: the German institute is the technology partner, not a third
  // party.
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 20, kTolerance);
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 0, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kFinancing), Contains("no financier has committed funds yet"));
  // 0.4 × 1/3 + 0.3 × 0.5 (no results: neutral) + 0.3 × 0.45 (approved) = 0.41833.
  EXPECT_NEAR(ComponentOf(score, kExecution).value(), 41.8333, 1e-3);
  EXPECT_THAT(ReasonsOf(score, kExecution), Contains("2 of 3 milestones are overdue"));
  // 0.4 × 0.2 + 0.6 × (18 − 10) / 80 = 0.14.
  EXPECT_TRUE(ComponentOf(score, kDigital).applicable());
  EXPECT_NEAR(ComponentOf(score, kDigital).value(), 14, kTolerance);
  // 0.2·20 + 0.15·24 + 0.2·20 + 0.2·0 + 0.15·41.833 + 0.1·14 = 19.28.
  EXPECT_NEAR(score.total(), 19.275, 0.01);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_D);
}

// The lead technology partner listed again in another role (IATI files often name one
// organisation as both funder and implementer) is still one side of the project: it is not
// its own third party, declared or recognised, and the score of case 2 stands.
TEST_F(ScoringModelTest, LeadPartnerInAnotherRoleIsNotItsOwnThirdParty) {
  for (auto role : {stp::common::v1::PARTNER_ROLE_FINANCIER,
                    stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER}) {
    SCOPED_TRACE(stp::common::v1::PartnerRole_Name(role));
    Project project =
        ProjectBuilder("mw-manufacturing", "MW")
            .WithAvenue(stp::common::v1::AVENUE_E_MANUFACTURING)
            .With("de-institute", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
            .With("mw-ministry", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
            .With("de-institute", role)
            .Budget(20'000'000)
            .Stage(stp::ingestion::v1::PROJECT_STAGE_APPROVED)
            .Build();
    Score score = Compute(project);
    EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 20, kTolerance);
    EXPECT_THAT(ReasonsOf(score, kPartnership),
                Contains(HasSubstr("no triangular partner (a Northern country")));
    EXPECT_NEAR(ComponentOf(score, kAbsorptive).value(), 20, kTolerance);
  }
}

// Case 3. An Ethiopian agriculture project with a German technology partner three steps above
// the host. A Kenyan university (lower-middle income) bridges the gap; without it the project
// drops a tier.
TEST_F(ScoringModelTest, BridgingPartnerLiftsEthiopianAgricultureProjectFromTierBToA) {
  ProjectBuilder builder("et-agri", "ET");
  builder.WithAvenue(stp::common::v1::AVENUE_AGRICULTURE)
      .With("de-institute", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
      .With("ifad", stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER)
      .With("afdb", stp::common::v1::PARTNER_ROLE_FINANCIER)
      .With("et-ministry", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
      .Budget(10'000'000)
      .Commitment("afdb", 5'000'000)
      .Commitment("ifad", 1'000'000)
      .Disbursement("afdb", 3'000'000)
      .Milestone("seed bank", {2025, 5, 1}, true, {2025, 4, 15})
      .Milestone("extension centre", {2025, 11, 1}, true, {2025, 10, 30})
      .Stage(stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION);
  Score without_bridge = Compute(builder.Build());
  builder.With("ke-university", stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER);
  Score with_bridge = Compute(builder.Build());

  EXPECT_NEAR(ComponentOf(without_bridge, kAbsorptive).value(), 20, kTolerance);
  // 20 + 0.8 × (100 − 20) = 84.
  EXPECT_NEAR(ComponentOf(with_bridge, kAbsorptive).value(), 84, kTolerance);
  EXPECT_THAT(ReasonsOf(with_bridge, kAbsorptive),
              ElementsAre(HasSubstr("and University of Nairobi from Kenya (lower-middle income) "
                                    "bridges the gap")));
  // 0.4 × 0.85 (low income) + 0.6 × 1 (agriculture is 35% of GDP, above 20) = 0.94.
  EXPECT_NEAR(ComponentOf(with_bridge, kAdvantage).value(), 94, kTolerance);
  // Triangular + DFI + host government, no IASP member: 0.35 + 0.30 + 0.20.
  EXPECT_NEAR(ComponentOf(with_bridge, kPartnership).value(), 85, kTolerance);
  // 0.45 × 0.6 + 0.35 × 0.6 × 0.5 + 0.2 × 2/3 = 0.50833.
  EXPECT_NEAR(ComponentOf(with_bridge, kFinancing).value(), 50.8333, 1e-3);
  // 0.4 × 1 + 0.3 × 0.5 + 0.3 × 0.75 = 0.775.
  EXPECT_NEAR(ComponentOf(with_bridge, kExecution).value(), 77.5, kTolerance);
  EXPECT_THAT(ReasonsOf(with_bridge, kExecution),
              Contains("both milestones are done on time or on track"));
  // (0.2·84 + 0.15·94 + 0.2·85 + 0.2·50.833 + 0.15·77.5) / 0.9 = 77.43, and with 20 for
  // absorptive fit 63.21.
  EXPECT_NEAR(with_bridge.total(), 77.43, 0.01);
  EXPECT_NEAR(without_bridge.total(), 63.21, 0.01);
  EXPECT_EQ(with_bridge.tier(), stp::scoring::v1::TIER_A);
  EXPECT_EQ(without_bridge.tier(), stp::scoring::v1::TIER_B);
}

// Case 4. Model 2 in South Africa: a Chinese partner at the host's level, a multinational as
// third party, the national DFI, an IASP-member operator; a flow in dollars against a rand
// budget is left out of the amounts.
TEST_F(ScoringModelTest, SouthAfricanManufacturingWithMultinationalIsTierB) {
  Project project = ProjectBuilder("za-mfg", "ZA")
                        .WithAvenue(stp::common::v1::AVENUE_E_MANUFACTURING)
                        .With("cn-robotics", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
                        .With("de-mnc", stp::common::v1::PARTNER_ROLE_ANCHOR_TENANT)
                        .With("za-idc", stp::common::v1::PARTNER_ROLE_FINANCIER)
                        .With("za-operator", stp::common::v1::PARTNER_ROLE_OPERATOR)
                        .Budget(500'000'000, "ZAR")
                        .Commitment("za-idc", 200'000'000, "ZAR")
                        .Commitment("de-mnc", 5'000'000, "USD")
                        .Disbursement("za-idc", 50'000'000, "ZAR")
                        .Milestone("automation lab", {2026, 6, 30}, false)
                        .Stage(stp::ingestion::v1::PROJECT_STAGE_FINANCED)
                        .Build();
  Score score = Compute(project);

  EXPECT_NEAR(ComponentOf(score, kAbsorptive).value(), 75, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kAbsorptive), ElementsAre(HasSubstr("is at the income level of")));
  // 0.4 × 0.85 + 0.6 × (12.4 − 5) / 20 = 0.562.
  EXPECT_NEAR(ComponentOf(score, kAdvantage).value(), 56.2, kTolerance);
  // Multinational as third party + DFI + IASP-member operator; no host government.
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 80, kTolerance);
  EXPECT_THAT(
      ReasonsOf(score, kPartnership),
      Contains("Rhein Automation AG, a multinational company, takes part as a third party"));
  // 0.45 × 0.4 + 0.35 × 0.4 × 0.25 + 0.2 × 2/3 = 0.34833 (the USD commitment still counts as
  // a source).
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 34.8333, 1e-3);
  EXPECT_THAT(ReasonsOf(score, kFinancing),
              Contains("1 flow in USD was left out of the amounts because the budget is in ZAR"));
  // 0.4 × 1 + 0.3 × 0.5 + 0.3 × 0.6 (financed) = 0.73.
  EXPECT_NEAR(ComponentOf(score, kExecution).value(), 73, kTolerance);
  // 0.4 × 0.7 + 0.6 × (75 − 10) / 80 = 0.7675.
  EXPECT_NEAR(ComponentOf(score, kDigital).value(), 76.75, kTolerance);
  // 0.2·75 + 0.15·56.2 + 0.2·80 + 0.2·34.833 + 0.15·73 + 0.1·76.75 = 65.02.
  EXPECT_NEAR(score.total(), 65.02, 0.01);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_B);
}

// Case 5. A cancelled e-commerce project: execution counts for nothing, the rest of its set-up
// still shows.
TEST_F(ScoringModelTest, CancelledProjectLosesItsExecutionValue) {
  Project project = ProjectBuilder("eg-ecom", "EG")
                        .WithAvenue(stp::common::v1::AVENUE_E_COMMERCE)
                        .With("cn-ecom", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
                        .With("eg-mhesr", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
                        .Budget(30'000'000)
                        .Commitment("cn-ecom", 10'000'000)
                        .Milestone("platform launch", {2025, 6, 1}, false)
                        .Milestone("1,000 merchants", {2025, 12, 1}, false)
                        .Stage(stp::ingestion::v1::PROJECT_STAGE_CANCELLED)
                        .Build();
  Score score = Compute(project);

  EXPECT_NEAR(ComponentOf(score, kExecution).value(), 0, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kExecution),
              Contains("the project is cancelled, so its execution counts at 0%"));
  // 0.4 × 0.55 + 0.6 × (72 − 15) / 60 = 0.79.
  EXPECT_NEAR(ComponentOf(score, kAdvantage).value(), 79, kTolerance);
  // 0.45 × 1/3 + 0 + 0.2 × 1/3 = 0.21667.
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 21.6667, 1e-3);
  EXPECT_THAT(ReasonsOf(score, kFinancing),
              Contains("nothing has been disbursed yet of the USD 10,000,000 committed"));
  // 0.2·100 + 0.15·79 + 0.2·20 + 0.2·21.667 + 0 + 0.1·64.5 = 46.63.
  EXPECT_NEAR(score.total(), 46.63, 0.01);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_C);

  // The same project in implementation scores higher by the whole execution contribution.
  project.set_stage(stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION);
  Score active = Compute(project);
  // 0.4 × 0 + 0.3 × 0.5 + 0.3 × 0.75 = 0.375.
  EXPECT_NEAR(ComponentOf(active, kExecution).value(), 37.5, kTolerance);
  EXPECT_NEAR(active.total() - score.total(), 0.15 * 37.5, 1e-9);
}

// Case 6. A draft that names nothing the registry knows: neutral values, zero confidence.
TEST_F(ScoringModelTest, DraftWithUnknownHostAndPartnerRestsOnNeutralValues) {
  Project project = ProjectBuilder("draft", "XX")
                        .WithAvenue(stp::common::v1::AVENUE_E_COMMERCE)
                        .With("ghost", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER)
                        .Build();
  Score score = Compute(project);

  for (auto component : {kAbsorptive, kAdvantage, kExecution, kDigital}) {
    EXPECT_NEAR(ComponentOf(score, component).value(), 50, kTolerance) << Component_Name(component);
  }
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 0, kTolerance);
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 0, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kAbsorptive),
              ElementsAre("the technology partner organizations/ghost is not in the registry, so "
                          "its country's income level is unknown",
                          "the income group of the host country (countries/XX) is not recorded"));
  EXPECT_THAT(ReasonsOf(score, kPartnership),
              Contains("1 of 1 participating organisation is not in the registry"));
  EXPECT_THAT(ReasonsOf(score, kFinancing), Contains(HasSubstr("no budget is recorded")));
  // 0.2·50 + 0.15·50 + 0 + 0 + 0.15·50 + 0.1·50 = 30.
  EXPECT_NEAR(score.total(), 30, kTolerance);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_D);
  EXPECT_EQ(score.confidence(), 0);
}

// Case 7. A technology partner below the host: little to transfer.
TEST_F(ScoringModelTest, PartnerBelowTheHostWeakensAbsorptiveFit) {
  Project project = ProjectBuilder("br-health", "BR")
                        .WithAvenue(stp::common::v1::AVENUE_PUBLIC_HEALTH)
                        .With("in-pharma", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
                        .With("br-ministry", stp::common::v1::PARTNER_ROLE_IMPLEMENTER)
                        .Budget(8'000'000)
                        .Commitment("in-pharma", 4'000'000)
                        .Commitment("br-ministry", 4'000'000)
                        .Disbursement("in-pharma", 3'000'000)
                        .Disbursement("br-ministry", 3'000'000)
                        .Milestone("lab certified", {2025, 2, 1}, true, {2025, 1, 20})
                        .Milestone("first trial", {2025, 6, 1}, true, {2025, 5, 30})
                        .Milestone("second trial", {2025, 9, 1}, true, {2025, 8, 30})
                        .Milestone("production line", {2026, 1, 15}, false)
                        .Result("vaccine doses (millions)", 0, 100, 80)
                        .Stage(stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION)
                        .Build();
  Score score = Compute(project);

  // India lower-middle (2) − Brazil upper-middle (3) = −1.
  EXPECT_NEAR(ComponentOf(score, kAbsorptive).value(), 35, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kAbsorptive),
              ElementsAre(HasSubstr("is one income group below the host (Brazil")));
  // 0.4 × 0.8 + 0.6 × mean(ln(12)/ln(15), ln(9)/ln(15)) = 0.32 + 0.6 × 0.86448 = 0.83869.
  EXPECT_NEAR(ComponentOf(score, kAdvantage).value(), 83.869, 1e-3);
  // A Brazilian government body on the host's project counts as host government.
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 20, kTolerance);
  // 0.45 × 1 + 0.35 × 0.75 + 0.2 × 2/3 = 0.84583.
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 84.5833, 1e-3);
  // 0.4 × 3/4 + 0.3 × 0.8 + 0.3 × 0.75 = 0.765.
  EXPECT_NEAR(ComponentOf(score, kExecution).value(), 76.5, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kExecution), Contains("1 of 4 milestones is overdue"));
  // (0.2·35 + 0.15·83.869 + 0.2·20 + 0.2·84.583 + 0.15·76.5) / 0.9 = 57.75.
  EXPECT_NEAR(score.total(), 57.75, 0.01);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_B);
}

// Case 8. A completed Kenyan public-health project that did everything right, one milestone
// late.
TEST_F(ScoringModelTest, CompletedWellFinancedKenyanHealthProjectIsTierA) {
  Project project = ProjectBuilder("ke-health", "KE")
                        .WithAvenue(stp::common::v1::AVENUE_PUBLIC_HEALTH)
                        .With("cn-health", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
                        .With("undp", stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER)
                        .With("afdb", stp::common::v1::PARTNER_ROLE_FINANCIER)
                        .With("ke-ministry", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
                        .With("ke-operator", stp::common::v1::PARTNER_ROLE_OPERATOR)
                        .Budget(40'000'000)
                        .Commitment("afdb", 25'000'000)
                        .Commitment("cn-health", 10'000'000)
                        .Commitment("undp", 5'000'000)
                        .Disbursement("afdb", 25'000'000)
                        .Disbursement("cn-health", 10'000'000)
                        .Disbursement("undp", 5'000'000)
                        .Milestone("diagnostics lab", {2024, 3, 1}, true, {2024, 2, 20})
                        .Milestone("training centre", {2024, 9, 1}, true, {2024, 8, 1})
                        .Milestone("regional hub", {2025, 3, 1}, true, {2025, 5, 1})
                        .Milestone("handover", {2025, 12, 1}, true, {2025, 11, 20})
                        .Result("clinicians trained", 0, 500, 500)
                        .Result("tests per year (thousands)", 10, 110, 100)
                        .Stage(stp::ingestion::v1::PROJECT_STAGE_COMPLETED)
                        .Build();
  Score score = Compute(project);

  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 100, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kFinancing), Contains("3 distinct sources fund the project"));
  // Milestones (3 + 0.5) / 4 = 0.875; results mean(1, 0.9) = 0.95; completed 1.
  // 0.4 × 0.875 + 0.3 × 0.95 + 0.3 × 1 = 0.935.
  EXPECT_NEAR(ComponentOf(score, kExecution).value(), 93.5, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kExecution),
              Contains("1 of 4 milestones was reached after the due date"));
  // 0.4 × 0.6 + 0.6 × mean(ln(8)/ln(15), ln(2.1)/ln(15)) = 0.24 + 0.6 × 0.52093 = 0.55256.
  EXPECT_NEAR(ComponentOf(score, kAdvantage).value(), 55.2555, 1e-3);
  // (0.2·100 + 0.15·55.256 + 0.2·100 + 0.2·100 + 0.15·93.5) / 0.9 = 91.46.
  EXPECT_NEAR(score.total(), 91.46, 0.01);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_A);
  EXPECT_GT(score.confidence(), 0.85);
}

TEST_F(ScoringModelTest, LeadFlagChoosesTheTechnologyPartnerOverOrder) {
  Project project = ProjectBuilder("lead", "EG")
                        .WithAvenue(stp::common::v1::AVENUE_GREEN_GROWTH)
                        .With("de-institute", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER)
                        .With("cn-parkdev", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, true)
                        .Build();
  // China, one step above Egypt, is the lead.
  EXPECT_NEAR(ComponentOf(Compute(project), kAbsorptive).value(), 100, kTolerance);
  // Without the flag the first technology partner leads: Germany, two steps above Egypt (60),
  // with China, in between, as the bridge: 60 + 0.8 × (100 − 60) = 92.
  project.mutable_participants(1)->set_lead(false);
  Score score = Compute(project);
  EXPECT_NEAR(ComponentOf(score, kAbsorptive).value(), 92, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kAbsorptive),
              ElementsAre(HasSubstr("(Germany, high income) is two income groups above the host "
                                    "(Egypt, lower-middle income), and China Park Development Co. "
                                    "from China (upper-middle income) bridges the gap")));
}

TEST_F(ScoringModelTest, YearOnlyDueDateIsOverdueOnlyAfterTheYearEnds) {
  Project project = ProjectBuilder("dates", "EG").Build();
  auto* past = project.add_milestones();
  past->set_name("last year");
  past->mutable_due_date()->set_year(2025);
  auto* current = project.add_milestones();
  current->set_name("this year");
  current->mutable_due_date()->set_year(2026);
  auto* undated = project.add_milestones();
  undated->set_name("someday");
  EXPECT_THAT(ReasonsOf(Compute(project), kExecution),
              AllOf(Contains("1 of 2 milestones is overdue"),
                    Contains("1 milestone has no due date and cannot be judged")));
}

TEST_F(ScoringModelTest, WithoutBudgetAmountsAreComparedInTheFirstFlowsCurrency) {
  Project project = ProjectBuilder("nobudget", "EG")
                        .Commitment("afdb", 4'000'000, "EUR")
                        .Commitment("cn-parkdev", 1'000'000, "CNY")
                        .Disbursement("afdb", 1'000'000, "EUR")
                        .Build();
  Score score = Compute(project);
  // Coverage 0.5 (no budget), disbursed 1/4, one DFI source + one other:
  // 0.45 × 0.5 + 0.35 × 0.5 × 0.25 + 0.2 × 2/3 = 0.40208.
  EXPECT_NEAR(ComponentOf(score, kFinancing).value(), 40.2083, 1e-3);
  EXPECT_NEAR(ComponentOf(score, kFinancing).confidence(), 0.5, kTolerance);
  EXPECT_THAT(ReasonsOf(score, kFinancing),
              AllOf(Contains("EUR 4,000,000 is committed; without a budget its coverage is taken "
                             "as 50%"),
                    Contains("1 flow in CNY was left out of the amounts because amounts are "
                             "compared in the first flow's currency, EUR")));
  // The AfDB as a commitment source counts as DFI co-financier.
  EXPECT_THAT(ReasonsOf(score, kPartnership),
              Contains("African Development Bank, a development finance institution, has "
                       "committed funds"));
}

// Money recorded only in currencies other than the budget's is not "no commitment": the
// reasons say so and ask for one currency.
TEST_F(ScoringModelTest, MoneyOnlyInAnotherCurrencyThanTheBudgetIsNamedAsSuch) {
  Project project = ProjectBuilder("zar-budget", "ZA")
                        .Budget(50'000'000, "ZAR")
                        .Commitment("afdb", 2'000'000, "USD")
                        .Build();
  auto reasons = ReasonsOf(Compute(project), kFinancing);
  EXPECT_THAT(reasons, Not(Contains("no financier has committed funds yet")));
  EXPECT_THAT(reasons,
              AllOf(Contains("no commitment is recorded in ZAR, the budget's currency: record the "
                             "flows in ZAR or the budget in theirs, so that they can be compared"),
                    Contains("1 flow in USD was left out of the amounts because the budget is in "
                             "ZAR")));
}

// A commitment beyond the budget does not dilute what was paid: the share paid is of the
// budget. Budget 100, committed 100 and paid 100, then 50 more committed: health stays.
TEST_F(ScoringModelTest, CommitmentsBeyondTheBudgetDoNotDiluteWhatWasPaid) {
  ProjectBuilder builder("over", "EG");
  builder.Budget(100'000'000).Commitment("afdb", 100'000'000).Disbursement("afdb", 100'000'000);
  double paid_in_full = ComponentOf(Compute(builder.Build()), kFinancing).value();
  builder.Commitment("cn-parkdev", 50'000'000);
  double over_committed = ComponentOf(Compute(builder.Build()), kFinancing).value();
  // 0.45 + 0.35 × 1 + 0.2 × 1/3, then one source more: 0.2 × 2/3.
  EXPECT_NEAR(paid_in_full, 86.6667, 1e-3);
  EXPECT_NEAR(over_committed, 93.3333, 1e-3);
}

// A flow of zero finances nothing: a DFI named as its source earns no DFI credit, which would
// contradict "no financier has committed funds yet" beside it.
TEST_F(ScoringModelTest, AZeroFlowFromADfiEarnsNoDfiCredit) {
  Score score = Compute(ProjectBuilder("zero", "EG").Commitment("afdb", 0).Build());
  EXPECT_THAT(ReasonsOf(score, kPartnership),
              Contains(HasSubstr("no development finance institution co-finances the project")));
  EXPECT_THAT(ReasonsOf(score, kFinancing), Contains("no financier has committed funds yet"));
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 0, kTolerance);
}

// Disbursements recorded only in another currency than the budget's are not "nothing has been
// disbursed yet".
TEST_F(ScoringModelTest, DisbursementsOnlyInAnotherCurrencyAreNamedAsSuch) {
  Project project = ProjectBuilder("eur-paid", "EG")
                        .Budget(10'000'000)
                        .Commitment("afdb", 6'000'000)
                        .Disbursement("afdb", 3'000'000, "EUR")
                        .Build();
  auto reasons = ReasonsOf(Compute(project), kFinancing);
  EXPECT_THAT(reasons, Not(Contains(HasSubstr("nothing has been disbursed yet"))));
  EXPECT_THAT(reasons, AllOf(Contains("no disbursement is recorded in USD, the currency of the "
                                      "USD 6,000,000 committed: record disbursements in USD so "
                                      "that they can be compared"),
                             Contains("1 flow in EUR was left out of the amounts because the "
                                      "budget is in USD")));
}

// One organisation in two roles is one organisation: "1 of 2", not "2 of 3".
TEST_F(ScoringModelTest, AnOrganisationInTwoRolesCountsOnceAsNotInTheRegistry) {
  Project project = ProjectBuilder("roles", "EG")
                        .With("ghost", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER)
                        .With("ghost", stp::common::v1::PARTNER_ROLE_FINANCIER)
                        .With("eg-mhesr", stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT)
                        .Build();
  Score score = Compute(project);
  EXPECT_THAT(ReasonsOf(score, kPartnership),
              Contains("1 of 2 participating organisations is not in the registry"));
  EXPECT_NEAR(ComponentOf(score, kPartnership).confidence(), 0.5, kTolerance);
}

// Results whose differences overflow a double still give a number (the ratio from halves):
// baseline -1e308, target 1e308, actual 1e308 is a result at its target.
TEST_F(ScoringModelTest, ResultsNearTheLimitsOfADoubleGiveANumber) {
  ProjectBuilder builder("huge", "EG");
  builder.Result("output", -1e308, 1e308, 1e308);
  Score score = Compute(builder.Build());
  EXPECT_FALSE(std::isnan(score.total()));
  EXPECT_THAT(ReasonsOf(score, kExecution),
              Contains("results have reached 100% of their targets on average (1 result with a "
                       "reported value)"));
  // Halfway from -1e308 to 1e308 is 0.
  builder.Result("outcome", -1e308, 1e308, 0);
  EXPECT_THAT(ReasonsOf(Compute(builder.Build()), kExecution),
              Contains("results have reached 75% of their targets on average (2 results with "
                       "reported values)"));
}

// Whether a multilateral body is a triangular third party depends on the host being in the
// South; with the host's income group unknown, it earns the neutral value, not nothing.
TEST_F(ScoringModelTest, UnknownHostIncomeMakesATriangularCandidateNeutral) {
  records_.AddCountry(
      MakeCountry("SS", "South Sudan", stp::common::v1::INCOME_GROUP_UNSPECIFIED, {}));
  Project project = ProjectBuilder("unclassified", "SS")
                        .With("unido", stp::common::v1::PARTNER_ROLE_IMPLEMENTER)
                        .Build();
  Score score = Compute(project);
  EXPECT_THAT(ReasonsOf(score, kPartnership),
              Contains("UNIDO, a multilateral organisation, takes part, but the income group of "
                       "the host country (South Sudan) is not recorded, so whether it is a "
                       "triangular third party cannot be judged"));
  // 0.35 × 0.5 (neutral).
  EXPECT_NEAR(ComponentOf(score, kPartnership).value(), 17.5, kTolerance);
  // Without the candidate, nothing to be neutral about.
  Score without = Compute(ProjectBuilder("unclassified", "SS").Build());
  EXPECT_NEAR(ComponentOf(without, kPartnership).value(), 0, kTolerance);
}

// Words and advice follow the number shown: a readiness shown as 45/100 is "moderately" and
// gets no connectivity advice.
TEST_F(ScoringModelTest, FitWordsFollowTheRoundedNumberShown) {
  records_.AddCountry(MakeCountry("LK", "Sri Lanka", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE,
                                  {{"internet_users_pct", 45.95, 2023}}));
  Project project =
      ProjectBuilder("edge", "LK").WithAvenue(stp::common::v1::AVENUE_E_COMMERCE).Build();
  auto reasons = ReasonsOf(Compute(project), kDigital);
  ASSERT_FALSE(reasons.empty());
  EXPECT_THAT(reasons[0], HasSubstr("is moderately prepared for the digital avenues (45/100)"));
  EXPECT_THAT(reasons, Not(Contains(HasSubstr("plan connectivity"))));
}

// The park's own IASP membership earns the full IASP part, as a member operator does.
TEST_F(ScoringModelTest, AnIaspMemberParkEarnsTheIaspCredit) {
  stp::ingestion::v1::Park park;
  park.set_name("parks/konza");
  park.set_display_name("Konza Technopolis");
  park.set_iasp_member(true);
  records_.AddPark(park);
  Project project = ProjectBuilder("in-park", "KE").Build();
  Score outside = Compute(project);
  project.set_park("parks/konza");
  Score inside = Compute(project);
  EXPECT_THAT(ReasonsOf(outside, kPartnership),
              Contains(HasSubstr("neither the park nor any participant is a member of IASP")));
  EXPECT_THAT(ReasonsOf(inside, kPartnership),
              Contains("the park Konza Technopolis is a member of IASP"));
  // 100 × 0.15 (the IASP part).
  EXPECT_NEAR(
      ComponentOf(inside, kPartnership).value() - ComponentOf(outside, kPartnership).value(), 15,
      kTolerance);
  // A park that is not a member earns nothing of its own.
  park.set_iasp_member(false);
  records_.AddPark(park);
  EXPECT_NEAR(ComponentOf(Compute(project), kPartnership).value(),
              ComponentOf(outside, kPartnership).value(), kTolerance);
}

TEST_F(ScoringModelTest, ScoreCarriesTheProjectsFactsAndNoComputeTime) {
  Project project = ProjectBuilder("facts", "EG")
                        .WithAvenue(stp::common::v1::AVENUE_AGRICULTURE)
                        .WithAvenue(stp::common::v1::AVENUE_E_COMMERCE)
                        .With("cn-ecom", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER)
                        .With("afdb", stp::common::v1::PARTNER_ROLE_FINANCIER)
                        .With("cn-ecom", stp::common::v1::PARTNER_ROLE_ANCHOR_TENANT)
                        .Stage(stp::ingestion::v1::PROJECT_STAGE_PROPOSED)
                        .Build();
  project.set_park("parks/p1");
  project.set_cooperation_model(stp::ingestion::v1::COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH);
  project.set_visibility(stp::ingestion::v1::VISIBILITY_PARTICIPANTS);
  Score score = Compute(project);
  EXPECT_EQ(score.project(), "projects/facts");
  EXPECT_EQ(score.project_revision(), 3);
  EXPECT_EQ(score.title(), "project facts");
  EXPECT_EQ(score.host_country(), "countries/EG");
  EXPECT_THAT(score.avenues(),
              ElementsAre(stp::common::v1::AVENUE_AGRICULTURE, stp::common::v1::AVENUE_E_COMMERCE));
  EXPECT_EQ(score.cooperation_model(), stp::ingestion::v1::COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH);
  EXPECT_EQ(score.stage(), stp::ingestion::v1::PROJECT_STAGE_PROPOSED);
  EXPECT_EQ(score.park(), "parks/p1");
  EXPECT_EQ(score.visibility(), stp::ingestion::v1::VISIBILITY_PARTICIPANTS);
  EXPECT_THAT(score.participant_organizations(),
              ElementsAre("organizations/cn-ecom", "organizations/afdb"));
  EXPECT_EQ(score.model_version(), "2026.3");
  EXPECT_FALSE(score.has_compute_time());
  ASSERT_EQ(score.components_size(), 6);
  // Two avenues: the comparative advantage is their mean, one reason each.
  EXPECT_EQ(ComponentOf(score, kAdvantage).reasons_size(), 2);
}

TEST_F(ScoringModelTest, ScoresWithAnEmptyContext) {
  Project project = ProjectBuilder("empty", "EG")
                        .WithAvenue(stp::common::v1::AVENUE_E_COMMERCE)
                        .With("cn-ecom", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER)
                        .Build();
  Score score = ScoringModel::Default().Compute(project, ScoringContext{});
  EXPECT_EQ(score.confidence(), 0);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_D);
}

TEST(ScoringModelDescribeTest, DescribesVersionComponentsWeightsAndThresholds) {
  const ScoringModel& model = ScoringModel::Default();
  EXPECT_EQ(model.version(), "2026.3");
  stp::scoring::v1::ScoringModel described = model.Describe();
  EXPECT_EQ(described.version(), "2026.3");
  EXPECT_EQ(described.tier_a_min(), 75);
  EXPECT_EQ(described.tier_b_min(), 55);
  EXPECT_EQ(described.tier_c_min(), 35);
  EXPECT_EQ(described.base_rate(), 0.25);
  ASSERT_EQ(described.components_size(), 6);
  std::vector<Component> components;
  std::vector<double> weights;
  for (const auto& definition : described.components()) {
    components.push_back(definition.component());
    weights.push_back(definition.weight());
    EXPECT_THAT(definition.description(), Not(IsEmpty()));
  }
  EXPECT_THAT(components,
              ElementsAre(kAbsorptive, kAdvantage, kPartnership, kFinancing, kExecution, kDigital));
  EXPECT_THAT(weights, ElementsAre(0.20, 0.15, 0.20, 0.20, 0.15, 0.10));
}

// The embedded model is the JSON file in the source tree, byte for byte.
TEST(ScoringModelDescribeTest, EmbeddedDefaultIsTheSourceFile) {
  const char* source_dir = std::getenv("STP_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "STP_SOURCE_DIR is not set (run through ctest)";
  std::ifstream file(std::string(source_dir) + "/services/scoring/core/default_model.json");
  ASSERT_TRUE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_EQ(ScoringModel::DefaultJson(), text.str());
}

TEST(ScoringModelTierTest, ThresholdsAreInclusiveLowerBounds) {
  const ScoringModel& model = ScoringModel::Default();
  EXPECT_EQ(model.TierFor(100), stp::scoring::v1::TIER_A);
  EXPECT_EQ(model.TierFor(75), stp::scoring::v1::TIER_A);
  EXPECT_EQ(model.TierFor(74.999), stp::scoring::v1::TIER_B);
  EXPECT_EQ(model.TierFor(55), stp::scoring::v1::TIER_B);
  EXPECT_EQ(model.TierFor(54.999), stp::scoring::v1::TIER_C);
  EXPECT_EQ(model.TierFor(35), stp::scoring::v1::TIER_C);
  EXPECT_EQ(model.TierFor(34.999), stp::scoring::v1::TIER_D);
  EXPECT_EQ(model.TierFor(0), stp::scoring::v1::TIER_D);
}

TEST(ScoringModelDependenciesTest, NamesParticipantsFlowSourcesAndCountries) {
  Project project = ProjectBuilder("deps", "EG")
                        .With("zeta", stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER)
                        .With("alpha", stp::common::v1::PARTNER_ROLE_FINANCIER)
                        .Commitment("alpha", 10)
                        .Disbursement("bank", 5)
                        .Build();
  project.mutable_financing()->add_commitments()->mutable_amount()->set_units(1);  // no source
  std::vector<std::string> organizations = {"stale"};
  std::vector<std::string> countries;
  ScoringModel::Dependencies(project, &organizations, &countries);
  EXPECT_THAT(organizations,
              ElementsAre("organizations/alpha", "organizations/bank", "organizations/zeta"));
  EXPECT_THAT(countries, ElementsAre("countries/EG"));

  Organization zeta = MakeOrganization("zeta", "Zeta", {}, "CN");
  Organization alpha = MakeOrganization("alpha", "Alpha", {}, "EG");
  ScoringModel::Dependencies(
      project,
      [&](absl::string_view name) -> const Organization* {
        if (name == zeta.name()) return &zeta;
        if (name == alpha.name()) return &alpha;
        return nullptr;
      },
      &organizations, &countries);
  EXPECT_THAT(countries, ElementsAre("countries/CN", "countries/EG"));
}

}  // namespace
}  // namespace stp::scoring
