// The value readers and organisation-name helpers both import parsers share.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/ingestion/import/record_organizations.h"
#include "services/ingestion/import/value_parsing.h"

namespace stp::ingestion {
namespace {

using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;
using ::testing::ElementsAre;

google::type::Money Money(absl::string_view text) {
  absl::StatusOr<google::type::Money> money = ParseDecimalMoney(text, "USD");
  EXPECT_TRUE(money.ok()) << text << ": " << money.status();
  return money.ok() ? *money : google::type::Money();
}

TEST(ValueParsingTest, DecimalMoney) {
  EXPECT_EQ(Money("1234.5").units(), 1234);
  EXPECT_EQ(Money("1234.5").nanos(), 500'000'000);
  EXPECT_EQ(Money(" 7 ").units(), 7);
  EXPECT_EQ(Money(".25").nanos(), 250'000'000);
  EXPECT_EQ(Money("5.").units(), 5);
  EXPECT_EQ(Money("0.1234567891").nanos(), 123'456'789);  // beyond nanos: dropped
  EXPECT_EQ(Money("-3.5").units(), -3);
  EXPECT_EQ(Money("-3.5").nanos(), -500'000'000);
  EXPECT_TRUE(IsNegative(Money("-0.5")));
  EXPECT_FALSE(IsNegative(Money("0")));
  EXPECT_EQ(Money("9223372036854775807").units(), 9223372036854775807);
  EXPECT_EQ(Money("1").currency_code(), "USD");
  for (absl::string_view bad :
       {"", ".", "-", "1,000", "1e6", "12 34", "0x10", "1.2.3", "abc", "9223372036854775808"}) {
    EXPECT_FALSE(ParseDecimalMoney(bad, "USD").ok()) << bad;
  }
}

TEST(ValueParsingTest, AddMoneyCarriesNanosAndKeepsOneSign) {
  google::type::Money total = Money("0.75");
  ASSERT_TRUE(AddMoney(Money("0.5"), &total));
  EXPECT_EQ(total.units(), 1);
  EXPECT_EQ(total.nanos(), 250'000'000);
  ASSERT_TRUE(AddMoney(Money("-2"), &total));
  EXPECT_EQ(total.units(), 0);
  EXPECT_EQ(total.nanos(), -750'000'000);
  ASSERT_TRUE(AddMoney(Money("3.5"), &total));
  EXPECT_EQ(total.units(), 2);
  EXPECT_EQ(total.nanos(), 750'000'000);
  google::type::Money big = Money("9223372036854775807");
  EXPECT_FALSE(AddMoney(Money("1"), &big));
}

TEST(ValueParsingTest, IsoDates) {
  absl::StatusOr<google::type::Date> date = ParseIsoDate("2024-02-29T12:00:00+02:00");
  ASSERT_TRUE(date.ok());
  EXPECT_EQ(date->year(), 2024);
  EXPECT_EQ(date->month(), 2);
  EXPECT_EQ(date->day(), 29);
  EXPECT_TRUE(ParseIsoDate(" 2000-02-29 ").ok());
  EXPECT_TRUE(ParseIsoDate("2020-01-01Z").ok());
  for (absl::string_view bad :
       {"2023-02-29", "1900-02-29", "2020-04-31", "2020-00-10", "2020-13-01", "0000-01-01",
        "2020-1-1", "20200101", "2020-01-01x", "", "31/12/2020"}) {
    EXPECT_FALSE(ParseIsoDate(bad).ok()) << bad;
  }
}

TEST(ValueParsingTest, NumbersCodesAndText) {
  EXPECT_EQ(ParseNumber(" 12.5 ").value_or(0), 12.5);
  EXPECT_EQ(ParseNumber("-1e3").value_or(0), -1000);
  EXPECT_FALSE(ParseNumber("nan").has_value());
  EXPECT_FALSE(ParseNumber("inf").has_value());
  EXPECT_FALSE(ParseNumber("12 units").has_value());
  EXPECT_TRUE(IsCurrencyCode("XDR"));
  EXPECT_FALSE(IsCurrencyCode("usd"));
  EXPECT_FALSE(IsCurrencyCode("US"));
  EXPECT_TRUE(IsAssignedCountryCode("EG"));
  EXPECT_TRUE(IsAssignedCountryCode("XK"));
  for (absl::string_view code : {"XM", "XI", "AA", "QZ", "ZZ", "EU", "eg", "E", "EGY"}) {
    EXPECT_FALSE(IsAssignedCountryCode(code)) << code;
  }
  EXPECT_EQ(CollapseWhitespace("  a \t\n b  "), "a b");
  EXPECT_EQ(CollapseWhitespace(" \n "), "");
}

TEST(ValueParsingTest, RepairUtf8ReplacesOnlyInvalidSequences) {
  bool repaired = true;
  EXPECT_EQ(RepairUtf8("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80", &repaired),
            "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80");
  EXPECT_FALSE(repaired);
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(RepairUtf8("a\xE9z", &repaired), "a" + replacement + "z");
  EXPECT_TRUE(repaired);
  EXPECT_EQ(RepairUtf8("\xC0\xAF", &repaired), replacement + replacement);  // overlong
  EXPECT_EQ(RepairUtf8("\xED\xA0\x80", &repaired),
            replacement + replacement + replacement);                       // surrogate
  EXPECT_EQ(RepairUtf8("\xE4\xB8", &repaired), replacement + replacement);  // truncated
  EXPECT_EQ(RepairUtf8("\xF4\x90\x80\x80", &repaired),
            replacement + replacement + replacement + replacement);  // above U+10FFFF
}

TEST(RecordOrganizationsTest, NamesRefsAndMerging) {
  EXPECT_EQ(NormalizeOrganizationName("  Banque  Africaine de Développement (BAD). "),
            "banque africaine de developpement bad");
  EXPECT_EQ(NormalizeOrganizationName("中国 – Bank"), "中国 \xE2\x80\x93 bank");
  EXPECT_EQ(CountryFromOrganizationRef("GB-COH-123"), "countries/GB");
  EXPECT_EQ(CountryFromOrganizationRef(" cn-usc-1 "), "countries/CN");
  EXPECT_EQ(CountryFromOrganizationRef("XM-DAC-41114"), "");
  EXPECT_EQ(CountryFromOrganizationRef("41114"), "");
  EXPECT_EQ(CountryFromOrganizationRef("GB-"), "");
  EXPECT_EQ(PendingOrganization(3), "pending:3");

  RecordOrganizations organizations;
  int first = organizations.Add({"",
                                 "UNIDO",
                                 stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED,
                                 "",
                                 {PARTNER_ROLE_TECHNOLOGY_PARTNER}});
  int second = organizations.Add({"XM-DAC-41123",
                                  "unido",
                                  stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL,
                                  "",
                                  {PARTNER_ROLE_FINANCIER}});
  EXPECT_EQ(first, second);
  EXPECT_EQ(organizations.size(), 1);
  EXPECT_EQ(organizations.at(0).ref, "XM-DAC-41123");
  EXPECT_EQ(organizations.at(0).name, "UNIDO");
  EXPECT_EQ(organizations.at(0).type, stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL);
  EXPECT_THAT(organizations.at(0).roles,
              ElementsAre(PARTNER_ROLE_TECHNOLOGY_PARTNER, PARTNER_ROLE_FINANCIER));
  // The ref learnt by merging finds it too.
  EXPECT_EQ(organizations.Find("XM-DAC-41123", ""), 0);
  EXPECT_EQ(organizations.Find("", "U.N.I.D.O"), -1);
  EXPECT_EQ(organizations.Find("", ""), -1);
  EXPECT_EQ(
      organizations.Add({"GB-1", "", stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED, "", {}}),
      1);
  EXPECT_EQ(organizations.Add(
                {"GB-1", "Later name", stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED, "", {}}),
            1);
  EXPECT_EQ(organizations.Find("", "later name"), 1);
}

}  // namespace
}  // namespace stp::ingestion
