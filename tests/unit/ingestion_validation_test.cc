// Unit tests of the ingestion service's validation helpers.

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace stp::ingestion
