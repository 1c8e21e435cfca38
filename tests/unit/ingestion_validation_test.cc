// Unit tests of the ingestion service's validation helpers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "services/ingestion/validation.h"

namespace stp::ingestion {
namespace {

TEST(Utf8PrefixTest, NeverCutsACharacter) {
  EXPECT_EQ(Utf8Prefix("short", 300), "short");
  EXPECT_EQ(Utf8Prefix("abcdef", 3), "abc");
  const std::string cairo = "\xd8\xa7\xd9\x84\xd9\x82\xd8\xa7\xd9\x87\xd8\xb1\xd8\xa9";  // 2-byte
  for (size_t max = 0; max <= cairo.size(); ++max) {
    std::string prefix = Utf8Prefix(cairo, max);
    EXPECT_TRUE(IsValidUtf8(prefix)) << max;
    EXPECT_EQ(prefix.size(), max - max % 2) << max;
  }
  const std::string park = "\xe5\x9b\xad\xe5\x8c\xba";  // two 3-byte characters
  EXPECT_EQ(Utf8Prefix(park, 5), "\xe5\x9b\xad");
  EXPECT_EQ(Utf8Prefix(park, 2), "");
  EXPECT_EQ(Utf8Prefix("a\xf0\x9f\x8c\x8d", 4), "a");  // a 4-byte character
}

// Every code of the official ISO file is accepted (the real-data integration test upserts
// them all); these are the edges of the list and codes that are not in use.
TEST(CountryCodeTest, AcceptsCodesInUseAndRefusesTheRest) {
  for (const char* code : {"AD", "AX", "CN", "EG", "GB", "KE", "SS", "XK", "ZA", "ZW"})
    EXPECT_TRUE(IsCountryCode(code)) << code;
  // User-assigned (AA, QM, XA, ZZ), exceptionally reserved (EU, UK), withdrawn (YU, AN),
  // never assigned (OO), and not two capitals.
  for (const char* code : {"AA", "QM", "XA", "ZZ", "EU", "UK", "YU", "AN", "OO", "eg", "E", "EGY"})
    EXPECT_FALSE(IsCountryCode(code)) << code;
  stp::ingestion::v1::Country country;
  country.set_alpha2("UK");
  country.set_display_name("United Kingdom");
  FieldViolations v;
  ValidateCountry(country, "country", &v);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v.violations()[0].field, "country.alpha2");
  EXPECT_NE(v.violations()[0].description.find("not an ISO 3166-1 alpha-2 code in use"),
            std::string::npos);
}

TEST(CurrencyCodeTest, AcceptsIso4217CodesAndRefusesTheRest) {
  for (const char* code : {"AED", "CNY", "EGP", "EUR", "USD", "XOF", "ZAR", "ZWL", "ZMK", "VEF"})
    EXPECT_TRUE(IsKnownCurrency(code)) << code;
  for (const char* code : {"USB", "ZZZ", "AAA", "usd", "US", "USDX", ""})
    EXPECT_FALSE(IsKnownCurrency(code)) << code;
  // A project's money names the field of a code that does not exist.
  stp::ingestion::v1::Project p;
  p.set_title("Currency check");
  p.set_host_country("countries/EG");
  p.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  p.mutable_financing()->mutable_budget()->set_currency_code("USB");
  p.mutable_financing()->mutable_budget()->set_units(5);
  FieldViolations v;
  ValidateProject(p, "project", &v);
  bool named = false;
  for (const auto& violation : v.violations()) {
    named = named || violation.field == "project.financing.budget.currency_code";
  }
  EXPECT_TRUE(named);
}

std::vector<std::string> Fields(const FieldViolations& v) {
  std::vector<std::string> fields;
  for (const auto& violation : v.violations()) fields.push_back(violation.field);
  return fields;
}

// Every organisation rule, each named by its field path in one answer.
TEST(ResourceValidationTest, EveryOrganisationRuleIsNamed) {
  stp::ingestion::v1::Organization ok;
  ok.set_display_name("Kenya Industrial Research Institute");
  ok.set_type(stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC);
  ok.set_country("countries/KE");
  ok.set_website("https://www.kirdi.go.ke");
  ok.add_languages("en");
  FieldViolations clean;
  ValidateOrganization(ok, "organization", &clean);
  EXPECT_THAT(Fields(clean), ::testing::IsEmpty());

  stp::ingestion::v1::Organization bad = ok;
  bad.clear_display_name();
  bad.set_type(static_cast<stp::ingestion::v1::OrganizationType>(77));
  bad.set_country("Kenya");
  bad.add_avenues(static_cast<stp::common::v1::Avenue>(42));
  bad.add_dac_sectors(99);
  bad.add_roles(static_cast<stp::common::v1::PartnerRole>(42));
  bad.mutable_financing_capacity()->set_currency_code("USD");
  bad.mutable_financing_capacity()->set_units(-1);
  bad.set_languages(0, "EN");
  bad.set_website("www.kirdi.go.ke");
  bad.set_description(std::string(5001, 'd'));
  FieldViolations v;
  ValidateOrganization(bad, "organization", &v);
  EXPECT_THAT(Fields(v),
              ::testing::UnorderedElementsAre(
                  "organization.display_name", "organization.type", "organization.country",
                  "organization.avenues[0]", "organization.dac_sectors[0]", "organization.roles[0]",
                  "organization.financing_capacity", "organization.languages[0]",
                  "organization.website", "organization.description"));
  bad = ok;
  for (int i = 0; i < 21; ++i) bad.add_languages("fr");
  FieldViolations many;
  ValidateOrganization(bad, "organization", &many);
  EXPECT_THAT(Fields(many), ::testing::ElementsAre("organization.languages"));
}

// Every park rule.
TEST(ResourceValidationTest, EveryParkRuleIsNamed) {
  stp::ingestion::v1::Park ok;
  ok.set_display_name("Konza Technopolis");
  ok.set_host_country("countries/KE");
  ok.set_operator_("organizations/0000000000000001");
  ok.set_status(stp::ingestion::v1::Park::STATUS_PLANNED);
  ok.set_origin(stp::ingestion::v1::Park::ORIGIN_GREENFIELD);
  ok.set_established_year(2013);
  ok.set_tenant_count(40);
  ok.mutable_location()->set_latitude(-1.7);
  ok.mutable_location()->set_longitude(37.2);
  FieldViolations clean;
  ValidatePark(ok, "park", &clean);
  EXPECT_THAT(Fields(clean), ::testing::IsEmpty());

  stp::ingestion::v1::Park bad = ok;
  bad.set_display_name(std::string(301, 'p'));
  bad.clear_host_country();
  bad.set_operator_("konza");
  bad.set_status(static_cast<stp::ingestion::v1::Park::Status>(9));
  bad.set_origin(static_cast<stp::ingestion::v1::Park::Origin>(9));
  bad.set_established_year(1850);
  bad.add_focus_avenues(static_cast<stp::common::v1::Avenue>(42));
  bad.set_tenant_count(-3);
  bad.mutable_location()->set_latitude(91);
  bad.mutable_location()->set_longitude(-181);
  FieldViolations v;
  ValidatePark(bad, "park", &v);
  EXPECT_THAT(Fields(v),
              ::testing::UnorderedElementsAre(
                  "park.display_name", "park.host_country", "park.operator", "park.status",
                  "park.origin", "park.established_year", "park.focus_avenues[0]",
                  "park.tenant_count", "park.location.latitude", "park.location.longitude"));
}

// Every country rule.
TEST(ResourceValidationTest, EveryCountryRuleIsNamed) {
  stp::ingestion::v1::Country bad;
  bad.set_alpha2("KE");
  bad.set_name("countries/TZ");
  bad.set_alpha3("KE1");
  bad.set_income_group(static_cast<stp::common::v1::IncomeGroup>(9));
  bad.mutable_bri()->mutable_join_date()->set_year(2018);
  bad.mutable_bri()->mutable_join_date()->set_month(13);
  auto* indicator = bad.add_indicators();
  indicator->set_name("Internet Users");
  indicator->set_value(std::numeric_limits<double>::infinity());
  FieldViolations v;
  ValidateCountry(bad, "country", &v);
  EXPECT_THAT(Fields(v), ::testing::UnorderedElementsAre(
                             "country.name", "country.alpha3", "country.display_name",
                             "country.income_group", "country.bri.join_date",
                             "country.indicators[0].name", "country.indicators[0].value"));
}

}  // namespace
}  // namespace stp::ingestion
