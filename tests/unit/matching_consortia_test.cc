// ProposeConsortia: the hand-checkable Egyptian green-growth case, the team bonuses and
// constraints, and the bounded search against brute force.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/matching/core/consortium_search.h"
#include "services/matching/core/matcher.h"
#include "services/matching/core/synthetic_registry.h"

namespace stp::matching {
namespace {

using stp::common::v1::PartnerRole;
using stp::ingestion::v1::Organization;
using stp::matching::v1::Candidate;
using stp::matching::v1::Consortium;

constexpr PartnerRole kTechnology = stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;
constexpr PartnerRole kTriangular = stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER;
constexpr PartnerRole kFinancier = stp::common::v1::PARTNER_ROLE_FINANCIER;

void AddCountry(OrganizationIndex& index, const std::string& code, const std::string& name,
                stp::common::v1::IncomeGroup income, const std::string& region,
                const std::string& sub_region) {
  stp::ingestion::v1::Country country;
  country.set_name("countries/" + code);
  country.set_display_name(name);
  country.set_income_group(income);
  country.set_region(region);
  country.set_sub_region(sub_region);
  index.UpsertCountry(country);
}

Organization MakeOrg(const std::string& id, const std::string& display_name,
                     const std::string& country, stp::ingestion::v1::OrganizationType type,
                     stp::common::v1::Avenue avenue, std::vector<int> sectors,
                     std::vector<PartnerRole> roles, std::vector<std::string> languages) {
  Organization org;
  org.set_name("organizations/" + id);
  org.set_display_name(display_name);
  org.set_country(country);
  org.set_type(type);
  org.add_avenues(avenue);
  for (int s : sectors) org.add_dac_sectors(s);
  for (PartnerRole r : roles) org.add_roles(r);
  for (const auto& l : languages) org.add_languages(l);
  return org;
}

class EgyptGreenParkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddCountry(index_, "EG", "Egypt", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE, "Africa",
               "Northern Africa");
    AddCountry(index_, "CN", "China", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE, "Asia",
               "Eastern Asia");
    AddCountry(index_, "DE", "Germany", stp::common::v1::INCOME_GROUP_HIGH, "Europe",
               "Western Europe");
    AddCountry(index_, "BR", "Brazil", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE, "Americas",
               "South America");
    AddCountry(index_, "KW", "Kuwait", stp::common::v1::INCOME_GROUP_HIGH, "Asia", "Western Asia");
    using stp::ingestion::v1::OrganizationType;
    const auto green = stp::common::v1::AVENUE_GREEN_GROWTH;
    // The three that fit.
    index_.UpsertOrganization(MakeOrg("solar", "Sino Solar", "countries/CN",
                                      stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR, green,
                                      {23210, 23230}, {kTechnology}, {"zh", "en"}));
    index_.UpsertOrganization(MakeOrg("unido", "UNIDO", "",
                                      stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL, green,
                                      {23210}, {kTriangular}, {"en", "fr", "ar"}));
    Organization afdb =
        MakeOrg("afdb", "African Development Bank", "", stp::ingestion::v1::ORGANIZATION_TYPE_DFI,
                green, {23210}, {}, {"en", "fr"});
    afdb.mutable_financing_capacity()->set_currency_code("USD");
    afdb.mutable_financing_capacity()->set_units(200'000'000);
    index_.UpsertOrganization(afdb);
    // Three that play the roles but lack the avenue.
    index_.UpsertOrganization(MakeOrg("agritech", "Brasil Agritech", "countries/BR",
                                      stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
                                      stp::common::v1::AVENUE_AGRICULTURE, {31110}, {kTechnology},
                                      {"pt", "en"}));
    index_.UpsertOrganization(MakeOrg("shopco", "Shop Multinational", "countries/DE",
                                      stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL,
                                      stp::common::v1::AVENUE_E_COMMERCE, {25010}, {kTriangular},
                                      {"de", "en"}));
    Organization fund = MakeOrg(
        "healthfund", "Gulf Health Fund", "countries/KW", stp::ingestion::v1::ORGANIZATION_TYPE_DFI,
        stp::common::v1::AVENUE_PUBLIC_HEALTH, {12191}, {kFinancier}, {"ar", "en"});
    fund.mutable_financing_capacity()->set_currency_code("USD");
    fund.mutable_financing_capacity()->set_units(500'000'000);
    index_.UpsertOrganization(fund);

    need_.host_country = "countries/EG";
    need_.avenues = {green};
    need_.dac_sectors = {23210, 23230};
    need_.roles = {kTechnology, kTriangular, kFinancier};
    need_.budget = 50'000'000;
    need_.budget_currency = "USD";
    need_.languages = {"ar", "en"};
  }

  OrganizationIndex index_;
  Matcher matcher_{&index_, MatchingConfig::Default()};
  Need need_;
};

TEST_F(EgyptGreenParkTest, FittingOrganizationsOutrankThoseLackingTheAvenue) {
  auto found = matcher_.FindPartners(need_, 20);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->candidates_size(), 6);
  EXPECT_EQ(found->considered(), 6);
  std::set<std::string> top3;
  for (int i = 0; i < 3; ++i) top3.insert(found->candidates(i).organization());
  EXPECT_THAT(top3, ::testing::UnorderedElementsAre("organizations/solar", "organizations/unido",
                                                    "organizations/afdb"));
  for (const Candidate& c : found->candidates()) {
    if (c.organization() == "organizations/solar") {
      EXPECT_EQ(c.role(), kTechnology);
      EXPECT_EQ(c.country(), "countries/CN");
      // By hand, with the shipped weights: capability 1 (green growth; both sectors exact),
      // role fit 1, track record 0.25 (no history: the base rate), host experience 0,
      // development gap 1 (China is one income step above Egypt), load 1, language 1 (en);
      // financing not counted for a technology partner.
      // (0.25 + 0.20 + 0.15 × 0.25 + 0 + 0.10 + 0.05 + 0.05) / 0.90
      EXPECT_NEAR(c.score(), 100 * 0.6875 / 0.90, 1e-9);
      EXPECT_THAT(c.criteria(v1::CRITERION_DEVELOPMENT_GAP_FIT - 1).reason(),
                  ::testing::HasSubstr("one income step above Egypt"));
    }
    if (c.organization() == "organizations/afdb") {
      EXPECT_EQ(c.role(), kFinancier);
      EXPECT_DOUBLE_EQ(c.criteria(v1::CRITERION_FINANCING_CAPACITY - 1).value(), 1.0);
      EXPECT_GT(c.criteria(v1::CRITERION_FINANCING_CAPACITY - 1).weight(), 0);
    }
    if (c.organization() == "organizations/unido") {
      EXPECT_EQ(c.role(), kTriangular);
    }
  }
}

TEST_F(EgyptGreenParkTest, TheFittingThreeFormTheTopConsortium) {
  auto teams = matcher_.ProposeConsortia(need_, 5);
  ASSERT_TRUE(teams.ok()) << teams.status();
  ASSERT_GT(teams->consortia_size(), 0);
  const Consortium& best = teams->consortia(0);
  ASSERT_EQ(best.members_size(), 3);
  EXPECT_EQ(best.members(0).candidate().organization(), "organizations/solar");
  EXPECT_EQ(best.members(1).candidate().organization(), "organizations/unido");
  EXPECT_EQ(best.members(2).candidate().organization(), "organizations/afdb");
  EXPECT_EQ(best.members(0).role(), kTechnology);
  EXPECT_EQ(best.members(1).role(), kTriangular);
  EXPECT_EQ(best.members(2).role(), kFinancier);
  EXPECT_TRUE(best.dfi_participation());
  EXPECT_FALSE(best.triangular_bridge());  // nobody is two income steps above Egypt
  double mean = 0;
  for (const auto& m : best.members()) mean += m.candidate().score() / 3;
  EXPECT_NEAR(best.score(), mean + MatchingConfig::Default().dfi_bonus, 1e-9);
  EXPECT_THAT(best.reasons(), ::testing::Contains(::testing::HasSubstr("development finance")));
  for (int i = 1; i < teams->consortia_size(); ++i) {
    EXPECT_LE(teams->consortia(i).score(), teams->consortia(i - 1).score());
  }
  // 2 technology partners × 2 triangular partners × 2 financiers, all distinct.
  EXPECT_EQ(teams->evaluated(), 2 + 2 * 2 + 2 * 2 * 2);
}

TEST_F(EgyptGreenParkTest, RewardsTheTriangularBridge) {
  // A German technology partner is two income steps above Egypt; China sits between.
  index_.UpsertOrganization(MakeOrg("siemens-like", "German Grid", "countries/DE",
                                    stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL,
                                    stp::common::v1::AVENUE_GREEN_GROWTH, {23210, 23230},
                                    {kTriangular}, {"de", "en"}));
  need_.roles = {kTechnology, kTriangular};
  auto teams = matcher_.ProposeConsortia(need_, 10);
  ASSERT_TRUE(teams.ok());
  bool saw_bridge = false, saw_plain = false;
  for (const Consortium& team : teams->consortia()) {
    // Germany is two steps above Egypt; China and Brazil (upper-middle) sit between.
    const bool far_ahead = team.members(1).candidate().country() == "countries/DE";
    const std::string& tech_country = team.members(0).candidate().country();
    const bool between = tech_country == "countries/CN" || tech_country == "countries/BR";
    EXPECT_EQ(team.triangular_bridge(), far_ahead && between)
        << team.members(0).candidate().organization() << " + "
        << team.members(1).candidate().organization();
    if (team.triangular_bridge()) {
      saw_bridge = true;
      const double mean =
          (team.members(0).candidate().score() + team.members(1).candidate().score()) / 2;
      EXPECT_NEAR(team.score(), mean + MatchingConfig::Default().bridge_bonus, 1e-9);
      EXPECT_THAT(team.reasons(), ::testing::Contains(::testing::HasSubstr("triangular bridge")));
    } else {
      saw_plain = true;
    }
  }
  EXPECT_TRUE(saw_bridge);
  EXPECT_TRUE(saw_plain);
}

TEST_F(EgyptGreenParkTest, ConstraintsAreHardFilters) {
  // A second Chinese organisation that can be the triangular partner.
  index_.UpsertOrganization(MakeOrg("cn-park", "China Parks Group", "countries/CN",
                                    stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL,
                                    stp::common::v1::AVENUE_GREEN_GROWTH, {23210, 23230},
                                    {kTriangular}, {"zh", "en", "ar"}));
  need_.constraints.set_distinct_countries(true);
  auto distinct = matcher_.ProposeConsortia(need_, 20);
  ASSERT_TRUE(distinct.ok());
  ASSERT_GT(distinct->consortia_size(), 0);
  for (const Consortium& team : distinct->consortia()) {
    std::set<std::string> countries;
    for (const auto& m : team.members()) {
      if (m.candidate().country().empty()) continue;
      EXPECT_TRUE(countries.insert(m.candidate().country()).second);
    }
  }
  // Without the constraint the same-country pair is allowed, at a penalty.
  need_.constraints.set_distinct_countries(false);
  auto open = matcher_.ProposeConsortia(need_, 20);
  ASSERT_TRUE(open.ok());
  bool saw_pair = false;
  for (const Consortium& team : open->consortia()) {
    if (team.members(0).candidate().organization() == "organizations/solar" &&
        team.members(1).candidate().organization() == "organizations/cn-park") {
      saw_pair = true;
      EXPECT_THAT(team.reasons(), ::testing::Contains(::testing::HasSubstr("same country")));
    }
  }
  EXPECT_TRUE(saw_pair);

  // Southern partner: only Germany (high income) and multilaterals may take part.
  need_.constraints = {};
  need_.constraints.set_require_southern_partner(true);
  need_.excluded = {"organizations/solar", "organizations/agritech", "organizations/cn-park"};
  need_.roles = {kTriangular, kFinancier};
  auto southern = matcher_.ProposeConsortia(need_, 20);
  ASSERT_TRUE(southern.ok());
  EXPECT_EQ(southern->consortia_size(), 0);  // nobody left is from a low/middle-income country
  need_.excluded.erase("organizations/cn-park");
  southern = matcher_.ProposeConsortia(need_, 20);
  ASSERT_TRUE(southern.ok());
  ASSERT_GT(southern->consortia_size(), 0);
  for (const Consortium& team : southern->consortia()) {
    EXPECT_EQ(team.members(0).candidate().organization(), "organizations/cn-park");
  }
}

TEST(ConsortiaOnGeneratedDataTest, TeamsAreWellFormedAndBounded) {
  SyntheticRegistryOptions options;
  options.organizations = 3000;
  options.seed = 99;
  const SyntheticRegistry registry = GenerateRegistry(options);
  OrganizationIndex index;
  LoadRegistry(registry, index);
  const MatchingConfig& config = MatchingConfig::Default();
  Matcher matcher(&index, config);
  SeededRandom random(17);
  for (int round = 0; round < 12; ++round) {
    Need need = GenerateNeed(random, 2 + round % 3);
    need.constraints.set_distinct_countries(round % 2 == 0);
    need.constraints.set_require_southern_partner(round % 3 == 0);
    auto teams = matcher.ProposeConsortia(need, 10);
    ASSERT_TRUE(teams.ok()) << teams.status();
    ASSERT_GT(teams->consortia_size(), 0);
    const int64_t m = static_cast<int64_t>(need.roles.size());
    // K doubles when southern members are reserved.
    const int64_t k =
        config.candidates_per_role * (need.constraints.require_southern_partner() ? 2 : 1);
    EXPECT_LE(teams->evaluated(), k + (m - 1) * config.beam_width * k);
    std::set<std::set<std::string>> seen;
    for (int t = 0; t < teams->consortia_size(); ++t) {
      const Consortium& team = teams->consortia(t);
      if (t > 0) {
        EXPECT_LE(team.score(), teams->consortia(t - 1).score());
      }
      ASSERT_EQ(team.members_size(), m);
      std::set<std::string> names;
      double mean = 0;
      for (int r = 0; r < m; ++r) {
        const auto& member = team.members(r);
        EXPECT_EQ(member.role(), need.roles[r]);
        EXPECT_EQ(member.candidate().role(), need.roles[r]);
        EXPECT_GT(member.candidate().criteria(v1::CRITERION_ROLE_FIT - 1).value(), 0);
        EXPECT_TRUE(names.insert(member.candidate().organization()).second) << "member twice";
        mean += member.candidate().score() / static_cast<double>(m);
      }
      EXPECT_TRUE(seen.insert(names).second) << "the same team twice";
      EXPECT_GE(team.score(), 0);
      EXPECT_LE(team.score(), 100);
      double expected = mean + (team.triangular_bridge() ? config.bridge_bonus : 0) +
                        (team.dfi_participation() ? config.dfi_bonus : 0);
      if (team.score() < 100 && !need.constraints.distinct_countries()) {
        EXPECT_LE(team.score(), expected + 1e-9);  // equal unless a same-country penalty
      } else if (team.score() < 100) {
        EXPECT_NEAR(team.score(), expected, 1e-9);
      }
      EXPECT_FALSE(team.reasons().empty());
    }
  }
}

// SearchTeams alone: with a beam as wide as every partial team, it is exhaustive, so its best
// team must equal brute force over the same options.
TEST(TeamSearchTest, WideBeamMatchesBruteForce) {
  SeededRandom random(123);
  for (int trial = 0; trial < 30; ++trial) {
    const int roles = 2 + static_cast<int>(random.Below(2));
    const int per_role = 3 + static_cast<int>(random.Below(4));
    std::vector<std::string> names;
    for (int i = 0; i < 12; ++i) names.push_back("org" + std::to_string(i));
    std::vector<std::vector<MemberOption>> options(roles);
    for (auto& role_options : options) {
      for (int c = 0; c < per_role; ++c) {
        MemberOption o;
        o.slot = static_cast<uint32_t>(random.Below(names.size()));  // may repeat across roles
        o.name = &names[o.slot];
        o.score = 40 + 50 * random.Fraction();
        o.country = static_cast<uint16_t>(o.slot % 4);
        o.income_level = 1 + static_cast<int>(o.slot % 4);
        o.dfi = o.slot % 5 == 0;
        role_options.push_back(o);
      }
      std::sort(role_options.begin(), role_options.end(),
                [](const MemberOption& a, const MemberOption& b) { return a.score > b.score; });
    }
    TeamSearchSettings settings;
    settings.beam_width = 1000;
    settings.bridge_bonus = 5;
    settings.dfi_bonus = 3;
    settings.same_country_penalty = 4;
    settings.host_income_level = 1;
    settings.distinct_countries = trial % 2 == 0;
    settings.require_southern_partner = trial % 3 == 0;
    const TeamSearchResult result = SearchTeams(options, settings, 1);

    // Brute force with the rules written out again.
    double best = -1;
    std::vector<int> pick(roles, 0);
    while (true) {
      std::vector<const MemberOption*> team;
      for (int r = 0; r < roles; ++r) team.push_back(&options[r][pick[r]]);
      bool valid = true, southern = false, dfi = false;
      int pairs = 0, richest = 0;
      for (int i = 0; i < roles; ++i) {
        southern |= team[i]->income_level <= 3;
        dfi |= team[i]->dfi;
        richest = std::max(richest, team[i]->income_level);
        for (int j = 0; j < i; ++j) {
          valid &= team[i]->slot != team[j]->slot;
          if (team[i]->country == team[j]->country) {
            ++pairs;
            valid &= !settings.distinct_countries;
          }
        }
      }
      valid &= southern || !settings.require_southern_partner;
      bool bridge = false;
      for (int i = 0; i < roles; ++i) {
        bridge |= richest >= settings.host_income_level + 2 &&
                  team[i]->income_level > settings.host_income_level &&
                  team[i]->income_level < richest;
      }
      if (valid) {
        double mean = 0;
        for (auto* m : team) mean += m->score / roles;
        const double score =
            std::clamp(mean + (bridge ? 5.0 : 0.0) + (dfi ? 3.0 : 0.0) - 4.0 * pairs, 0.0, 100.0);
        best = std::max(best, score);
      }
      int r = 0;
      while (r < roles && ++pick[r] == per_role) pick[r++] = 0;
      if (r == roles) break;
    }
    if (best < 0) {
      EXPECT_TRUE(result.teams.empty()) << "trial " << trial;
    } else {
      ASSERT_EQ(result.teams.size(), 1u) << "trial " << trial;
      EXPECT_NEAR(result.teams[0].score, best, 1e-9) << "trial " << trial;
    }
  }
}

TEST(TeamSearchTest, NarrowBeamStaysWithinItsBound) {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("org" + std::to_string(i));
  std::vector<std::vector<MemberOption>> options(4);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 10; ++c) {
      MemberOption o;
      o.slot = static_cast<uint32_t>(r * 10 + c);
      o.name = &names[o.slot];
      o.score = 90 - c;
      options[r].push_back(o);
    }
  }
  TeamSearchSettings settings;
  settings.beam_width = 5;
  const TeamSearchResult result = SearchTeams(options, settings, 3);
  EXPECT_EQ(result.evaluated, 10 + 3 * 5 * 10);
  ASSERT_EQ(result.teams.size(), 3u);
  EXPECT_DOUBLE_EQ(result.teams[0].score, 90);  // everyone's first choice
}

}  // namespace
}  // namespace stp::matching
