#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/common/status.h"
#include "services/matching/core/need.h"
#include "services/matching/core/organization_index.h"

namespace stp::matching {
namespace {

using stp::matching::v1::PartnerNeed;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const auto& v : GetFieldViolations(status)) fields.push_back(v.field);
  return fields;
}

class ValidateNeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stp::ingestion::v1::Country egypt;
    egypt.set_name("countries/EG");
    egypt.set_income_group(stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
    index_.UpsertCountry(egypt);
  }

  static PartnerNeed GoodNeed() {
    PartnerNeed need;
    need.set_host_country("countries/EG");
    need.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    need.add_dac_sectors(23210);
    need.add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    need.add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
    need.mutable_budget()->set_currency_code("USD");
    need.mutable_budget()->set_units(20'000'000);
    need.mutable_budget()->set_nanos(500'000'000);
    need.add_languages("ar");
    need.add_excluded_organizations("organizations/abc");
    return need;
  }

  OrganizationIndex index_;
};

TEST_F(ValidateNeedTest, AcceptsAGoodNeedAndConvertsIt) {
  auto need = ValidateNeed(GoodNeed(), 10, index_);
  ASSERT_TRUE(need.ok()) << need.status();
  EXPECT_EQ(need->host_country, "countries/EG");
  EXPECT_THAT(need->avenues, ElementsAre(stp::common::v1::AVENUE_GREEN_GROWTH));
  EXPECT_THAT(need->dac_sectors, ElementsAre(23210));
  EXPECT_THAT(need->roles, ElementsAre(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER,
                                       stp::common::v1::PARTNER_ROLE_FINANCIER));
  EXPECT_DOUBLE_EQ(need->budget, 20'000'000.5);
  EXPECT_EQ(need->budget_currency, "USD");
  EXPECT_THAT(need->languages, ElementsAre("ar"));
  EXPECT_TRUE(need->excluded.contains("organizations/abc"));
}

TEST_F(ValidateNeedTest, ListsEveryBadField) {
  PartnerNeed need;
  need.set_host_country("countries/XX");  // well-formed but unknown
  need.add_avenues(stp::common::v1::AVENUE_UNSPECIFIED);
  need.add_avenues(static_cast<stp::common::v1::Avenue>(42));
  need.add_avenues(stp::common::v1::AVENUE_AGRICULTURE);
  need.add_dac_sectors(231);
  need.add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  need.add_roles(stp::common::v1::PARTNER_ROLE_UNSPECIFIED);
  need.add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  need.add_roles(static_cast<stp::common::v1::PartnerRole>(99));
  need.mutable_budget()->set_units(-5);
  need.add_languages("ar");
  need.add_languages("EN");
  need.add_languages("eng");
  need.add_excluded_organizations("organizations/ok");
  need.add_excluded_organizations("parks/not-an-org");
  need.set_park("gardens/1");

  auto result = ValidateNeed(need, 101, index_);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      ViolatedFields(result.status()),
      UnorderedElementsAre("need.host_country", "need.park", "need.avenues[0]", "need.avenues[1]",
                           "need.dac_sectors[0]", "need.roles[1]", "need.roles[2]", "need.roles[3]",
                           "need.budget", "need.languages[1]", "need.languages[2]",
                           "need.excluded_organizations[1]", "page_size"));
  // The description says what is wrong.
  for (const auto& v : GetFieldViolations(result.status())) {
    EXPECT_FALSE(v.description.empty()) << v.field;
    if (v.field == "need.roles[2]") {
      EXPECT_THAT(v.description, ::testing::HasSubstr("roles[0]"));
    }
  }
}

TEST_F(ValidateNeedTest, RolesAreRequiredAndBounded) {
  PartnerNeed need = GoodNeed();
  need.clear_roles();
  EXPECT_THAT(ViolatedFields(ValidateNeed(need, 0, index_).status()), ElementsAre("need.roles"));
  for (int role = 1; role <= 9; ++role)
    need.add_roles(static_cast<stp::common::v1::PartnerRole>(role));
  EXPECT_THAT(ViolatedFields(ValidateNeed(need, 0, index_).status()), ElementsAre("need.roles"));
}

TEST_F(ValidateNeedTest, HostAndAvenuesMayComeFromAProject) {
  PartnerNeed need = GoodNeed();
  need.clear_host_country();
  need.clear_avenues();
  EXPECT_THAT(ViolatedFields(ValidateNeed(need, 0, index_).status()),
              UnorderedElementsAre("need.host_country", "need.avenues"));
  need.set_project("projects/p1");
  auto resolved_later = ValidateNeed(need, 0, index_);
  ASSERT_TRUE(resolved_later.ok()) << resolved_later.status();
  EXPECT_THAT(resolved_later->host_country, IsEmpty());
}

TEST_F(ValidateNeedTest, BoundsExclusionsAndBudgetCurrency) {
  PartnerNeed need = GoodNeed();
  for (int i = 0; i < 1001; ++i)
    need.add_excluded_organizations("organizations/x" + std::to_string(i));
  need.mutable_budget()->set_currency_code("dollars");
  EXPECT_THAT(ViolatedFields(ValidateNeed(need, 0, index_).status()),
              UnorderedElementsAre("need.excluded_organizations", "need.budget.currency_code"));
}

TEST_F(ValidateNeedTest, ConsortiaRequestsCheckTheirOwnFields) {
  stp::matching::v1::ProposeConsortiaRequest request;
  *request.mutable_need() = GoodNeed();
  request.mutable_constraints()->set_distinct_countries(true);
  request.set_max_consortia(3);
  auto need = ValidateProposeConsortiaRequest(request, index_);
  ASSERT_TRUE(need.ok()) << need.status();
  EXPECT_TRUE(need->constraints.distinct_countries());

  request.set_max_consortia(21);
  request.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
  EXPECT_THAT(ViolatedFields(ValidateProposeConsortiaRequest(request, index_).status()),
              UnorderedElementsAre("max_consortia", "need.roles[2]"));
}

}  // namespace
}  // namespace stp::matching
