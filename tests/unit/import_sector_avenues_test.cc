// SectorAvenueTable: the SPEC §5.1 default, the category and group fallbacks, and FromText.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/ingestion/import/sector_avenues.h"

namespace stp::ingestion {
namespace {

using stp::common::v1::AVENUE_AGRICULTURE;
using stp::common::v1::AVENUE_E_COMMERCE;
using stp::common::v1::AVENUE_E_MANUFACTURING;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::common::v1::AVENUE_PUBLIC_HEALTH;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SectorAvenueTableTest, DefaultHoldsExactlyTheSpecCodes) {
  const std::map<Avenue, std::vector<int>> spec = {
      {AVENUE_E_COMMERCE, {22040, 22020, 33110, 33120, 25010, 25030, 24030}},
      {AVENUE_E_MANUFACTURING, {32110, 32120, 32130, 32182, 32171, 32172, 32163, 43082, 11430}},
      {AVENUE_PUBLIC_HEALTH, {12182, 12191, 12250, 12264}},
      {AVENUE_GREEN_GROWTH, {23182, 23183, 23210, 23230, 23240, 41010, 41082, 32173, 32174}},
      {AVENUE_AGRICULTURE, {31110, 31120, 31161, 31166, 31182, 31191, 32161, 43073}},
  };
  SectorAvenueTable table = SectorAvenueTable::Default();
  size_t listed = 0;
  for (const auto& [avenue, codes] : spec) {
    for (int code : codes) {
      EXPECT_THAT(table.ForPurposeCode(code), ElementsAre(avenue)) << code;
      ++listed;
    }
  }
  EXPECT_EQ(table.codes().size(), listed);
}

TEST(SectorAvenueTableTest, PurposeCodeFallsBackToItsCategoryMajority) {
  SectorAvenueTable table = SectorAvenueTable::Default();
  // 31130 is not listed; category 311 holds only agriculture codes.
  EXPECT_THAT(table.ForPurposeCode(31130), ElementsAre(AVENUE_AGRICULTURE));
  // Category 321: seven e-manufacturing codes, two green, one agriculture.
  EXPECT_THAT(table.ForPurposeCode(32140), ElementsAre(AVENUE_E_MANUFACTURING));
  // Category 121 (12110 health policy) holds 12182 and 12191.
  EXPECT_THAT(table.ForPurposeCode(12110), ElementsAre(AVENUE_PUBLIC_HEALTH));
  // A single code speaks for its own category: 24010 -> 24030's e-commerce.
  EXPECT_THAT(table.ForPurposeCode(24010), ElementsAre(AVENUE_E_COMMERCE));
}

TEST(SectorAvenueTableTest, CategoryTieGivesNoneAndDoesNotFallFurther) {
  SectorAvenueTable table = SectorAvenueTable::Default();
  // Category 430: 43082 e-manufacturing against 43073 agriculture.
  EXPECT_THAT(table.ForPurposeCode(43010), IsEmpty());
  EXPECT_THAT(table.ForCategory(430), IsEmpty());
}

TEST(SectorAvenueTableTest, PurposeCodeFallsBackToItsGroupWhenTheCategoryIsEmpty) {
  SectorAvenueTable table = SectorAvenueTable::Default();
  // Category 232 holds 23210..23240, so 23250 stays in its category; 23510 (category 235,
  // empty) falls back to group 23, all green.
  EXPECT_THAT(table.ForPurposeCode(23510), ElementsAre(AVENUE_GREEN_GROWTH));
  // Category 122 covers 12250/12264; 12310 (category 123) falls back to group 12.
  EXPECT_THAT(table.ForPurposeCode(12310), ElementsAre(AVENUE_PUBLIC_HEALTH));
  // Group 16 has no listed code at all.
  EXPECT_THAT(table.ForPurposeCode(16010), IsEmpty());
  // Group 11 has one listed code (11430): too thin to speak for all of education.
  EXPECT_THAT(table.ForPurposeCode(11110), IsEmpty());
}

TEST(SectorAvenueTableTest, CategoryCodes) {
  SectorAvenueTable table = SectorAvenueTable::Default();
  EXPECT_THAT(table.ForCategory(231), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_THAT(table.ForCategory(311), ElementsAre(AVENUE_AGRICULTURE));
  EXPECT_THAT(table.ForCategory(114), ElementsAre(AVENUE_E_MANUFACTURING));
  EXPECT_THAT(table.ForCategory(111), IsEmpty());  // empty category, group 11 too thin
  EXPECT_THAT(table.ForCategory(999), IsEmpty());
  EXPECT_THAT(table.ForCategory(42), IsEmpty());  // not 3 digits
  EXPECT_THAT(table.ForPurposeCode(2304), IsEmpty());
}

TEST(SectorAvenueTableTest, CrsGroupCodesVoteAsTheirGroup) {
  SectorAvenueTable table = SectorAvenueTable::Default();
  EXPECT_THAT(table.ForCategory(120), ElementsAre(AVENUE_PUBLIC_HEALTH));
  EXPECT_THAT(table.ForCategory(310), ElementsAre(AVENUE_AGRICULTURE));
  EXPECT_THAT(table.ForCategory(320), ElementsAre(AVENUE_E_MANUFACTURING));
  EXPECT_THAT(table.ForCategory(230), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_THAT(table.ForCategory(220), ElementsAre(AVENUE_E_COMMERCE));
  EXPECT_THAT(table.ForCategory(410), ElementsAre(AVENUE_GREEN_GROWTH));
  // Education: 11430 alone does not make a group majority.
  EXPECT_THAT(table.ForCategory(110), IsEmpty());
  EXPECT_THAT(table.ForCategory(150), IsEmpty());
  EXPECT_THAT(table.ForCategory(160), IsEmpty());
  EXPECT_THAT(table.ForCategory(998), IsEmpty());
}

TEST(SectorAvenueTableTest, FromTextReadsCommentsSeparatorsAndMultipleAvenues) {
  absl::StatusOr<SectorAvenueTable> table = SectorAvenueTable::FromText(
      "# operator table\n"
      "green_growth: 23210, 23230\t23240  # renewables\n"
      "\n"
      "agriculture: 31110 23210\r\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->ForPurposeCode(23210), ElementsAre(AVENUE_GREEN_GROWTH, AVENUE_AGRICULTURE));
  EXPECT_THAT(table->ForPurposeCode(23240), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_THAT(table->ForPurposeCode(31110), ElementsAre(AVENUE_AGRICULTURE));
  EXPECT_THAT(table->ForPurposeCode(22040), IsEmpty());  // not in this table
  // Category 232: green 3 votes, agriculture 1.
  EXPECT_THAT(table->ForPurposeCode(23220), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_EQ(table->codes().size(), 4u);
}

TEST(SectorAvenueTableTest, FromTextGroupNeedsTwoVotesAndTiesGiveNone) {
  absl::StatusOr<SectorAvenueTable> table = SectorAvenueTable::FromText(
      "e_commerce: 22010\n"
      "public_health: 22020\n"
      "green_growth: 41010 41020\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->ForPurposeCode(22030), IsEmpty());  // category tie 1:1
  EXPECT_THAT(table->ForCategory(220), IsEmpty());       // group tie
  EXPECT_THAT(table->ForCategory(410), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_THAT(table->ForPurposeCode(41510), ElementsAre(AVENUE_GREEN_GROWTH));
}

TEST(SectorAvenueTableTest, FromTextErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  for (const Case& c : {
           Case{"blue_economy: 14010\n", "line 1: unknown avenue \"blue_economy\""},
           Case{"# x\ngreen_growth 23210\n", "line 2: expected"},
           Case{"agriculture: 3111\n", "\"3111\" is not a 5-digit"},
           Case{"agriculture: 31110 abcde\n", "\"abcde\" is not a 5-digit"},
           Case{"agriculture: 311100\n", "\"311100\" is not a 5-digit"},
           Case{"agriculture: 31110\nagriculture: 31120\n",
                "line 2: avenue \"agriculture\" is "
                "already listed on line 1"},
           Case{"# nothing\n\n", "lists no codes"},
       }) {
    absl::StatusOr<SectorAvenueTable> table = SectorAvenueTable::FromText(c.text);
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(table.status().message()), ::testing::HasSubstr(c.message_part));
  }
}

}  // namespace
}  // namespace stp::ingestion
