// Rankings and portfolio summaries on hand-made scores: each RankProjects filter, both orders
// with ties and pages, and every grouping with counts, means, medians and tier shares a reader
// can check by hand. Pure functions: no Redis, no server.
#include "services/scoring/portfolio.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "libs/common/status.h"

namespace stp::scoring {
namespace {

using stp::common::v1::AVENUE_AGRICULTURE;
using stp::common::v1::AVENUE_E_COMMERCE;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::ingestion::v1::COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH;
using stp::ingestion::v1::COOPERATION_MODEL_TRIANGULAR_MNC;
using stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION;
using stp::ingestion::v1::PROJECT_STAGE_PROPOSED;
using ::testing::ElementsAre;

v1::Score MakeScore(const std::string& id, double total, v1::Tier tier, const std::string& host,
                    std::vector<stp::common::v1::Avenue> avenues,
                    stp::ingestion::v1::CooperationModel model,
                    stp::ingestion::v1::ProjectStage stage, const std::string& park = "") {
  v1::Score s;
  s.set_project("projects/" + id);
  s.set_total(total);
  s.set_tier(tier);
  s.set_host_country(host);
  for (auto a : avenues) s.add_avenues(a);
  s.set_cooperation_model(model);
  s.set_stage(stage);
  s.set_park(park);
  return s;
}

// Six projects: three in Egypt (two in one park), two in Kenya, one in South Africa.
std::vector<v1::Score> Portfolio() {
  return {
      MakeScore("eg1", 80, v1::TIER_A, "countries/EG", {AVENUE_GREEN_GROWTH},
                COOPERATION_MODEL_TRIANGULAR_MNC, PROJECT_STAGE_IMPLEMENTATION, "parks/sv"),
      MakeScore("eg2", 60, v1::TIER_B, "countries/EG", {AVENUE_E_COMMERCE, AVENUE_GREEN_GROWTH},
                COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH, PROJECT_STAGE_PROPOSED, "parks/sv"),
      MakeScore("eg3", 40, v1::TIER_C, "countries/EG", {AVENUE_AGRICULTURE},
                COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH, PROJECT_STAGE_PROPOSED),
      MakeScore("ke1", 90, v1::TIER_A, "countries/KE", {AVENUE_E_COMMERCE},
                COOPERATION_MODEL_TRIANGULAR_MNC, PROJECT_STAGE_IMPLEMENTATION, "parks/kt"),
      MakeScore("ke2", 20, v1::TIER_D, "countries/KE", {AVENUE_AGRICULTURE},
                COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH, PROJECT_STAGE_PROPOSED),
      MakeScore("za1", 60, v1::TIER_B, "countries/ZA", {AVENUE_GREEN_GROWTH},
                COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH, PROJECT_STAGE_IMPLEMENTATION),
  };
}

std::vector<std::string> Matching(const v1::ScoreFilter& filter) {
  std::vector<std::string> ids;
  for (const auto& s : Portfolio()) {
    if (Matches(filter, s)) ids.push_back(s.project().substr(9));
  }
  return ids;
}

TEST(PortfolioTest, EachFilterSelectsItsProjectsAndTheyCombine) {
  v1::ScoreFilter f;
  EXPECT_EQ(Matching(f).size(), 6u);
  f.set_host_country("countries/EG");
  EXPECT_THAT(Matching(f), ElementsAre("eg1", "eg2", "eg3"));
  f.Clear();
  f.set_avenue(AVENUE_E_COMMERCE);  // any of a project's avenues
  EXPECT_THAT(Matching(f), ElementsAre("eg2", "ke1"));
  f.Clear();
  f.set_cooperation_model(COOPERATION_MODEL_TRIANGULAR_MNC);
  EXPECT_THAT(Matching(f), ElementsAre("eg1", "ke1"));
  f.Clear();
  f.set_stage(PROJECT_STAGE_IMPLEMENTATION);
  EXPECT_THAT(Matching(f), ElementsAre("eg1", "ke1", "za1"));
  f.Clear();
  f.set_tier(v1::TIER_B);
  EXPECT_THAT(Matching(f), ElementsAre("eg2", "za1"));
  f.Clear();
  f.set_park("parks/sv");
  EXPECT_THAT(Matching(f), ElementsAre("eg1", "eg2"));
  // Together: every condition holds.
  f.set_avenue(AVENUE_GREEN_GROWTH);
  f.set_stage(PROJECT_STAGE_PROPOSED);
  EXPECT_THAT(Matching(f), ElementsAre("eg2"));
  f.set_tier(v1::TIER_A);
  EXPECT_TRUE(Matching(f).empty());
}

TEST(PortfolioTest, BadFilterValuesAreNamed) {
  v1::ScoreFilter f;
  f.set_host_country("Egypt");
  f.set_park("sv");
  f.set_avenue(static_cast<stp::common::v1::Avenue>(99));
  f.set_tier(static_cast<v1::Tier>(9));
  std::vector<std::string> fields;
  for (const auto& v : GetFieldViolations(ValidateFilter(f, "filter"))) fields.push_back(v.field);
  EXPECT_THAT(fields,
              ElementsAre("filter.host_country", "filter.park", "filter.avenue", "filter.tier"));
}

std::vector<std::string> Ids(const v1::RankProjectsResponse& page) {
  std::vector<std::string> ids;
  for (const auto& s : page.scores()) ids.push_back(s.project().substr(9));
  return ids;
}

TEST(PortfolioTest, RankingPagesBestOrWorstFirstWithTiesByName) {
  v1::RankProjectsRequest req;
  req.set_page_size(4);
  auto first = RankPage(Portfolio(), req);
  ASSERT_TRUE(first.ok()) << first.status();
  // eg2 and za1 tie at 60: by project name.
  EXPECT_THAT(Ids(*first), ElementsAre("ke1", "eg1", "eg2", "za1"));
  EXPECT_EQ(first->total_size(), 6);
  ASSERT_FALSE(first->next_page_token().empty());
  req.set_page_token(first->next_page_token());
  auto second = RankPage(Portfolio(), req);
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Ids(*second), ElementsAre("eg3", "ke2"));
  EXPECT_TRUE(second->next_page_token().empty());

  // The at-risk view; a token of the other order is refused.
  v1::RankProjectsRequest worst;
  worst.set_ascending(true);
  worst.set_page_size(3);
  auto at_risk = RankPage(Portfolio(), worst);
  ASSERT_TRUE(at_risk.ok());
  EXPECT_THAT(Ids(*at_risk), ElementsAre("ke2", "eg3", "eg2"));
  worst.set_page_token(first->next_page_token());
  EXPECT_EQ(RankPage(Portfolio(), worst).status().code(), absl::StatusCode::kInvalidArgument);
  // So is a token of another filter, and one RankProjects never issued.
  v1::RankProjectsRequest other_filter = req;
  other_filter.mutable_filter()->set_host_country("countries/EG");
  EXPECT_EQ(RankPage(Portfolio(), other_filter).status().code(),
            absl::StatusCode::kInvalidArgument);
  other_filter.clear_filter();
  other_filter.set_page_token(absl::WebSafeBase64Escape("d|0|60|projects/za1"));
  EXPECT_EQ(RankPage(Portfolio(), other_filter).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A token of the version before, which named the order only, still pages.
  other_filter.set_page_token(absl::WebSafeBase64Escape("d|60|projects/za1"));
  auto legacy = RankPage(Portfolio(), other_filter);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_THAT(Ids(*legacy), ElementsAre("eg3", "ke2"));
  // A score that changes between pages moves without skipping or repeating the others.
  worst.set_page_token(at_risk->next_page_token());
  auto scores = Portfolio();
  scores[0].set_total(10);  // eg1 falls below the page already read
  auto rest = RankPage(scores, worst);
  ASSERT_TRUE(rest.ok());
  EXPECT_THAT(Ids(*rest), ElementsAre("za1", "ke1"));
}

TEST(PortfolioTest, SummariesGroupCountAverageAndCompareTierAWithTheBaseRate) {
  auto label = [](const std::string& key) { return "label of " + key; };
  v1::PortfolioSummary by_country =
      Summarize(Portfolio(), v1::GROUP_BY_COUNTRY, 0.25, "2026.2", label);
  EXPECT_EQ(by_country.base_rate(), 0.25);
  EXPECT_EQ(by_country.model_version(), "2026.2");  // the scores carry none: the running one
  auto mixed = Portfolio();
  for (size_t i = 0; i < mixed.size(); ++i) mixed[i].set_model_version(i < 2 ? "2026.2" : "2026.1");
  EXPECT_EQ(Summarize(mixed, v1::GROUP_BY_COUNTRY, 0.25, "2026.2", label).model_version(),
            "2026.1, 2026.2");
  ASSERT_EQ(by_country.groups_size(), 3);
  // Largest first, then by key.
  const auto& eg = by_country.groups(0);
  EXPECT_EQ(eg.key(), "countries/EG");
  EXPECT_EQ(eg.label(), "label of countries/EG");
  EXPECT_EQ(eg.project_count(), 3);
  EXPECT_DOUBLE_EQ(eg.mean_score(), 60);    // (80 + 60 + 40) / 3
  EXPECT_DOUBLE_EQ(eg.median_score(), 60);  // odd count: the middle one
  EXPECT_EQ(eg.tiers().a(), 1);
  EXPECT_EQ(eg.tiers().b(), 1);
  EXPECT_EQ(eg.tiers().c(), 1);
  EXPECT_DOUBLE_EQ(eg.tier_a_share(), 1.0 / 3);
  const auto& ke = by_country.groups(1);
  EXPECT_EQ(ke.key(), "countries/KE");
  EXPECT_DOUBLE_EQ(ke.median_score(), 55);  // even count: the mean of the middle two
  EXPECT_DOUBLE_EQ(ke.tier_a_share(), 0.5);
  EXPECT_EQ(ke.tiers().d(), 1);
  EXPECT_EQ(by_country.groups(2).key(), "countries/ZA");
  const auto& overall = by_country.overall();
  EXPECT_EQ(overall.project_count(), 6);
  EXPECT_DOUBLE_EQ(overall.mean_score(), 350.0 / 6);
  EXPECT_DOUBLE_EQ(overall.median_score(), 60);
  EXPECT_DOUBLE_EQ(overall.tier_a_share(), 2.0 / 6);

  // A project counts in each of its avenues.
  v1::PortfolioSummary by_avenue = Summarize(Portfolio(), v1::GROUP_BY_AVENUE, 0.25, "", label);
  ASSERT_EQ(by_avenue.groups_size(), 3);
  EXPECT_EQ(by_avenue.groups(0).key(), "AVENUE_GREEN_GROWTH");
  EXPECT_EQ(by_avenue.groups(0).project_count(), 3);
  EXPECT_DOUBLE_EQ(by_avenue.groups(0).median_score(), 60);
  EXPECT_EQ(by_avenue.overall().project_count(), 6);

  v1::PortfolioSummary by_model =
      Summarize(Portfolio(), v1::GROUP_BY_COOPERATION_MODEL, 0.25, "", label);
  ASSERT_EQ(by_model.groups_size(), 2);
  EXPECT_EQ(by_model.groups(0).key(), "COOPERATION_MODEL_BILATERAL_SOUTH_SOUTH");
  EXPECT_EQ(by_model.groups(0).project_count(), 4);
  EXPECT_DOUBLE_EQ(by_model.groups(0).median_score(), 50);  // 20, 40, 60, 60
  EXPECT_DOUBLE_EQ(by_model.groups(0).tier_a_share(), 0);
  EXPECT_DOUBLE_EQ(by_model.groups(1).tier_a_share(), 1);

  // Projects outside any park form a group of their own.
  v1::PortfolioSummary by_park = Summarize(Portfolio(), v1::GROUP_BY_PARK, 0.25, "", label);
  ASSERT_EQ(by_park.groups_size(), 3);
  EXPECT_EQ(by_park.groups(0).key(), "");
  EXPECT_EQ(by_park.groups(0).label(), "(no park)");
  EXPECT_EQ(by_park.groups(0).project_count(), 3);
  EXPECT_EQ(by_park.groups(1).key(), "parks/sv");
  EXPECT_EQ(by_park.groups(1).label(), "label of parks/sv");
  EXPECT_DOUBLE_EQ(by_park.groups(1).mean_score(), 70);
}

}  // namespace
}  // namespace stp::scoring
