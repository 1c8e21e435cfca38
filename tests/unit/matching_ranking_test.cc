// Properties of FindPartners over generated registries: the ranking moves the right way when
// an organisation changes, never shows what it must not, and is a pure function of the index.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/matching/core/matcher.h"
#include "services/matching/core/synthetic_registry.h"

namespace stp::matching {
namespace {

using stp::matching::v1::Candidate;
using stp::matching::v1::FindPartnersResponse;

class RankingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SyntheticRegistryOptions options;
    options.seed = 20240601;
    options.organizations = 3000;
    options.projects_per_organization = 1.5;
    registry_ = new SyntheticRegistry(GenerateRegistry(options));
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override { LoadRegistry(*registry_, index_); }

  static std::vector<Need> Needs(uint64_t seed, int count) {
    SeededRandom random(seed);
    std::vector<Need> needs;
    for (int i = 0; i < count; ++i) needs.push_back(GenerateNeed(random, 1 + i % 3));
    return needs;
  }

  FindPartnersResponse Find(const Need& need, int page_size = 100) const {
    auto found = matcher_.FindPartners(need, page_size);
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() ? *found : FindPartnersResponse{};
  }

  static int RankOf(const FindPartnersResponse& response, const std::string& name) {
    for (int i = 0; i < response.candidates_size(); ++i) {
      if (response.candidates(i).organization() == name) return i;
    }
    return -1;
  }

  static SyntheticRegistry* registry_;
  OrganizationIndex index_;
  Matcher matcher_{&index_, MatchingConfig::Default()};
};
SyntheticRegistry* RankingTest::registry_ = nullptr;

TEST_F(RankingTest, ResultsAreOrderedExplainedAndConsistent) {
  for (const Need& need : Needs(1, 20)) {
    const FindPartnersResponse response = Find(need);
    ASSERT_GT(response.candidates_size(), 0);
    for (int i = 0; i < response.candidates_size(); ++i) {
      const Candidate& c = response.candidates(i);
      EXPECT_GE(c.score(), 0);
      EXPECT_LE(c.score(), 100);
      if (i > 0) {
        const Candidate& previous = response.candidates(i - 1);
        ASSERT_GE(previous.score(), c.score());
        if (previous.score() == c.score()) {
          EXPECT_LT(previous.organization(), c.organization());
        }
      }
      // Every criterion is reported with a reason, and the score is exactly their weighted
      // mean over the criteria that count.
      ASSERT_EQ(c.criteria_size(), 8);
      double weighted = 0, weights = 0;
      for (const auto& criterion : c.criteria()) {
        EXPECT_GE(criterion.value(), 0);
        EXPECT_LE(criterion.value(), 1);
        EXPECT_FALSE(criterion.reason().empty()) << c.organization();
        weighted += criterion.weight() * criterion.value();
        weights += criterion.weight();
      }
      EXPECT_NEAR(c.score(), 100 * weighted / weights, 1e-9);
      // The role shown is a wanted one the organisation fits, or none at all.
      if (c.role() != stp::common::v1::PARTNER_ROLE_UNSPECIFIED) {
        EXPECT_NE(std::find(need.roles.begin(), need.roles.end(), c.role()), need.roles.end());
        EXPECT_GT(c.criteria(v1::CRITERION_ROLE_FIT - 1).value(), 0);
      }
    }
  }
}

TEST_F(RankingTest, ScoresOnlyOrganizationsSharingSomethingWithTheNeed) {
  for (const Need& need : Needs(2, 20)) {
    // Brute force over the registry: avenue, sector (exact or 3-digit category) or role
    // (declared, DFI as financier, or implied by type; host government only at home).
    int expected = 0;
    for (const auto& org : registry_->organizations) {
      bool shares = false;
      for (int a : org.avenues()) {
        shares |= std::find(need.avenues.begin(), need.avenues.end(), a) != need.avenues.end();
      }
      for (int s : org.dac_sectors()) {
        for (int wanted : need.dac_sectors) shares |= s / 100 == wanted / 100;
      }
      for (auto role : need.roles) {
        bool plays = std::find(org.roles().begin(), org.roles().end(), role) != org.roles().end();
        const auto type = org.type();
        if (role == stp::common::v1::PARTNER_ROLE_FINANCIER) {
          plays |= type == stp::ingestion::v1::ORGANIZATION_TYPE_DFI;
        }
        if (role == stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER) {
          plays |= type == stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL ||
                   type == stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL;
        }
        if (role == stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER) {
          plays |= type == stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC;
        }
        if (role == stp::common::v1::PARTNER_ROLE_OPERATOR) {
          plays |= type == stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR;
        }
        if (role == stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT) {
          plays = (plays || type == stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT ||
                   type == stp::ingestion::v1::ORGANIZATION_TYPE_LOCAL_GOVERNMENT) &&
                  org.country() == need.host_country;
        }
        shares |= plays;
      }
      expected += shares;
    }
    const FindPartnersResponse response = Find(need);
    EXPECT_EQ(response.considered(), expected);
    EXPECT_LT(response.considered(), static_cast<int>(index_.organization_count()));
  }
}

TEST_F(RankingTest, GainingTheWantedAvenueNeverLowersTheRank) {
  absl::flat_hash_map<std::string, const stp::ingestion::v1::Organization*> by_name;
  for (const auto& org : registry_->organizations) by_name[org.name()] = &org;
  int checked = 0;
  for (Need need : Needs(3, 12)) {
    // Two wanted avenues, so that many shown organisations work in only one of them.
    for (int a = 1; need.avenues.size() < 2; ++a) {
      const auto avenue = static_cast<stp::common::v1::Avenue>(a);
      if (need.avenues.front() != avenue) need.avenues.push_back(avenue);
    }
    const FindPartnersResponse before = Find(need);
    int checked_for_need = 0;
    for (int rank_before = 0; rank_before < before.candidates_size() && checked_for_need < 4;
         ++rank_before) {
      const Candidate& c = before.candidates(rank_before);
      const stp::ingestion::v1::Organization& original = *by_name.at(c.organization());
      stp::ingestion::v1::Organization org = original;
      for (auto wanted : need.avenues) {
        if (std::find(org.avenues().begin(), org.avenues().end(), wanted) == org.avenues().end()) {
          org.add_avenues(wanted);
          break;
        }
      }
      if (org.avenues_size() == original.avenues_size()) continue;  // already has them all
      index_.UpsertOrganization(org);
      const FindPartnersResponse after = Find(need);
      const int rank_after = RankOf(after, org.name());
      ASSERT_GE(rank_after, 0) << org.name();
      EXPECT_LE(rank_after, rank_before) << org.name();
      EXPECT_GT(after.candidates(rank_after).score(), c.score()) << org.name();
      // Nobody else moved: the others keep their order and scores.
      std::vector<std::string> others_before, others_after;
      for (const Candidate& x : before.candidates()) {
        if (x.organization() != org.name()) others_before.push_back(x.organization());
      }
      for (const Candidate& x : after.candidates()) {
        if (x.organization() != org.name()) others_after.push_back(x.organization());
      }
      others_before.resize(others_after.size());
      EXPECT_EQ(others_after, others_before);
      index_.UpsertOrganization(original);  // put it back
      ++checked;
      ++checked_for_need;
    }
  }
  EXPECT_GE(checked, 20);
}

TEST_F(RankingTest, ExcludedOrganizationsNeverAppear) {
  for (Need need : Needs(4, 15)) {
    const FindPartnersResponse open = Find(need);
    // Exclude the top five and every third of the rest of the page.
    for (int i = 0; i < open.candidates_size(); ++i) {
      if (i < 5 || i % 3 == 0) need.excluded.insert(open.candidates(i).organization());
    }
    const FindPartnersResponse closed = Find(need);
    for (const Candidate& c : closed.candidates()) {
      EXPECT_FALSE(need.excluded.contains(c.organization())) << c.organization();
    }
    EXPECT_EQ(closed.considered(), open.considered() - static_cast<int>(need.excluded.size()));
    auto teams = matcher_.ProposeConsortia(need, 5);
    ASSERT_TRUE(teams.ok());
    for (const auto& team : teams->consortia()) {
      for (const auto& member : team.members()) {
        EXPECT_FALSE(need.excluded.contains(member.candidate().organization()));
      }
    }
  }
}

TEST_F(RankingTest, EqualInputsGiveIdenticalResults) {
  // A second index fed the same registry in the reverse order gets other slots; the answers
  // must not notice.
  OrganizationIndex reversed;
  for (const auto& country : registry_->countries) reversed.UpsertCountry(country);
  for (auto it = registry_->scores.rbegin(); it != registry_->scores.rend(); ++it) {
    reversed.SetProjectScore(it->first, it->second);
  }
  for (auto it = registry_->projects.rbegin(); it != registry_->projects.rend(); ++it) {
    reversed.UpsertProject(*it);
  }
  for (auto it = registry_->organizations.rbegin(); it != registry_->organizations.rend(); ++it) {
    reversed.UpsertOrganization(*it);
  }
  Matcher other(&reversed, MatchingConfig::Default());
  for (const Need& need : Needs(5, 10)) {
    const std::string first = Find(need).SerializeAsString();
    EXPECT_EQ(Find(need).SerializeAsString(), first);
    EXPECT_EQ(other.FindPartners(need, 100)->SerializeAsString(), first);
    EXPECT_EQ(matcher_.ProposeConsortia(need, 5)->SerializeAsString(),
              other.ProposeConsortia(need, 5)->SerializeAsString());
  }
}

TEST_F(RankingTest, ShortBrilliantHistoryRanksBelowLongGoodOne) {
  stp::ingestion::v1::Organization one_hit;
  one_hit.set_name("organizations/zz-one-hit");
  one_hit.set_country("countries/MY");
  one_hit.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  one_hit.add_dac_sectors(23210);
  one_hit.add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  one_hit.add_languages("en");
  stp::ingestion::v1::Organization steady = one_hit;
  steady.set_name("organizations/zz-steady");
  index_.UpsertOrganization(one_hit);
  index_.UpsertOrganization(steady);
  // Completed projects far from the host (no load, no host experience to tell them apart).
  auto add_project = [&](const std::string& name, const std::string& org, double score) {
    stp::ingestion::v1::Project project;
    project.set_name(name);
    project.set_host_country("countries/PE");
    project.set_stage(stp::ingestion::v1::PROJECT_STAGE_COMPLETED);
    project.add_participants()->set_organization(org);
    index_.UpsertProject(project);
    index_.SetProjectScore(name, score);
  };
  add_project("projects/one-hit", one_hit.name(), 100);
  for (int i = 0; i < 20; ++i)
    add_project("projects/steady-" + std::to_string(i), steady.name(), 80);

  Need need;
  need.host_country = "countries/EG";
  need.avenues = {stp::common::v1::AVENUE_GREEN_GROWTH};
  need.dac_sectors = {23210};
  need.roles = {stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER};
  need.languages = {"en"};
  const FindPartnersResponse response = Find(need);
  const int one_hit_rank = RankOf(response, one_hit.name());
  const int steady_rank = RankOf(response, steady.name());
  ASSERT_GE(steady_rank, 0);
  ASSERT_GE(one_hit_rank, 0);
  EXPECT_LT(steady_rank, one_hit_rank);
  const auto& a = response.candidates(one_hit_rank);
  const auto& b = response.candidates(steady_rank);
  // (3 × 0.25 + 1.0) / 4 and (3 × 0.25 + 20 × 0.8) / 23 with the shipped prior of 3.
  const auto track = v1::CRITERION_TRACK_RECORD - 1;
  EXPECT_NEAR(a.criteria(track).value(), 1.75 / 4, 1e-12);
  EXPECT_NEAR(b.criteria(track).value(), 16.75 / 23, 1e-12);
  // Nothing else tells them apart.
  for (int c = 0; c < 8; ++c) {
    if (c != track) {
      EXPECT_DOUBLE_EQ(a.criteria(c).value(), b.criteria(c).value()) << c;
    }
  }
}

// Candidates whose score bound cannot reach the page are skipped unscored; that must never
// change what is shown. Smaller pages and exclusions move the bound, so compare them.
TEST_F(RankingTest, SkippingByBoundNeverChangesTheRanking) {
  auto names = [](const FindPartnersResponse& r, int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to && i < r.candidates_size(); ++i) {
      out.push_back(r.candidates(i).organization());
    }
    return out;
  };
  for (Need need : Needs(8, 15)) {
    const FindPartnersResponse full = Find(need, 100);
    ASSERT_EQ(full.candidates_size(), 100);
    EXPECT_EQ(names(Find(need, 20), 0, 20), names(full, 0, 20));
    EXPECT_EQ(names(Find(need, 1), 0, 1), names(full, 0, 1));
    for (int i = 0; i < 20; ++i) need.excluded.insert(full.candidates(i).organization());
    EXPECT_EQ(names(Find(need, 20), 0, 20), names(full, 20, 40));
  }
}

// Host experience is summed per query from per-zone tables kept by the index; it must equal
// counting every visible project of every shown candidate by hand.
TEST_F(RankingTest, HostExperienceCountsEveryProjectInTheRegionOnce) {
  struct Place {
    std::string region, sub_region;
  };
  absl::flat_hash_map<std::string, Place> places;
  for (const auto& country : registry_->countries) {
    places[country.name()] = {country.region(), country.sub_region()};
  }
  const MatchingConfig config = MatchingConfig::Default();
  int checked = 0, with_experience = 0;
  for (const Need& need : Needs(12, 20)) {
    const Place& host = places.at(need.host_country);
    const FindPartnersResponse found = Find(need, 100);
    for (const Candidate& candidate : found.candidates()) {
      double in_host = 0, in_sub_region = 0, in_region = 0;
      for (const auto& project : registry_->projects) {
        if (project.visibility() == stp::ingestion::v1::VISIBILITY_PARTICIPANTS) continue;
        const bool takes_part = std::any_of(
            project.participants().begin(), project.participants().end(),
            [&](const auto& p) { return p.organization() == candidate.organization(); });
        if (!takes_part) continue;
        const Place& place = places.at(project.host_country());
        if (project.host_country() == need.host_country) {
          ++in_host;
        } else if (!host.sub_region.empty() && place.sub_region == host.sub_region) {
          ++in_sub_region;
        } else if (!host.region.empty() && place.region == host.region) {
          ++in_region;
        }
      }
      const double expected =
          std::min(1.0, (in_host + config.sub_region_experience * in_sub_region +
                         config.region_experience * in_region) /
                            config.host_experience_saturation);
      for (const auto& criterion : candidate.criteria()) {
        if (criterion.criterion() != stp::matching::v1::CRITERION_HOST_EXPERIENCE) continue;
        EXPECT_DOUBLE_EQ(criterion.value(), expected)
            << candidate.organization() << " for host " << need.host_country << ": "
            << criterion.reason();
        ++checked;
        if (expected > 0) ++with_experience;
      }
    }
  }
  EXPECT_EQ(checked, 2000);
  EXPECT_GT(with_experience, 200);  // the check is not only of zeros
}

TEST_F(RankingTest, PageSizeIsBounded) {
  const Need need = Needs(6, 1).front();
  EXPECT_EQ(Find(need, 0).candidates_size(), 20);
  EXPECT_EQ(Find(need, 7).candidates_size(), 7);
  EXPECT_EQ(matcher_.FindPartners(need, 101).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(matcher_.FindPartners(need, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stp::matching
