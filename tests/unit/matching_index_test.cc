#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/runtime/allocator.h"
#include "services/matching/core/matcher.h"
#include "services/matching/core/organization_index.h"
#include "services/matching/core/synthetic_registry.h"

namespace stp::matching {
namespace {

using stp::ingestion::v1::Organization;
using stp::ingestion::v1::Project;

Organization MakeOrganization(const std::string& id, const std::string& country) {
  Organization org;
  org.set_name("organizations/" + id);
  org.set_display_name(id);
  org.set_country(country);
  org.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  org.add_dac_sectors(23210);
  org.add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  return org;
}

Project MakeProject(const std::string& id, const std::string& host,
                    const std::vector<std::string>& participants,
                    stp::ingestion::v1::ProjectStage stage) {
  Project project;
  project.set_name("projects/" + id);
  project.set_host_country(host);
  project.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  project.set_stage(stage);
  for (const std::string& p : participants) {
    auto* participant = project.add_participants();
    participant->set_organization("organizations/" + p);
    participant->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  }
  return project;
}

// The track-record fields of one organisation, read under the index's lock.
struct Record {
  uint32_t projects = 0, scored = 0, active = 0;
  int64_t score_milli = 0;
  bool present = false;
  bool operator==(const Record&) const = default;
};
Record RecordOf(const OrganizationIndex& index, const std::string& id) {
  return index.Read([&](const IndexData& data) {
    auto it = data.organization_slots.find("organizations/" + id);
    if (it == data.organization_slots.end()) return Record{};
    const OrganizationHot& e = data.hot[it->second];
    return Record{e.project_count, e.scored_count, e.active_count, e.score_milli_sum, e.present};
  });
}

Need GreenNeed() {
  Need need;
  need.host_country = "countries/EG";
  need.avenues = {stp::common::v1::AVENUE_GREEN_GROWTH};
  need.roles = {stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER};
  return need;
}

TEST(OrganizationIndexTest, CountsOnlyUpsertedOrganizations) {
  OrganizationIndex index;
  index.UpsertOrganization(MakeOrganization("a", "countries/CN"));
  index.UpsertOrganization(MakeOrganization("b", "countries/CN"));
  index.UpsertOrganization(MakeOrganization("a", "countries/CN"));  // an update, not a third
  // Named by a project but never upserted: a track record, not a candidate.
  index.UpsertProject(MakeProject("p", "countries/EG", {"a", "ghost"},
                                  stp::ingestion::v1::PROJECT_STAGE_COMPLETED));
  EXPECT_EQ(index.organization_count(), 2u);
  EXPECT_FALSE(RecordOf(index, "ghost").present);
  EXPECT_EQ(RecordOf(index, "ghost").projects, 1u);

  index.RemoveOrganization("organizations/b");
  index.RemoveOrganization("organizations/b");  // idempotent
  EXPECT_EQ(index.organization_count(), 1u);

  Matcher matcher(&index, MatchingConfig::Default());
  auto found = matcher.FindPartners(GreenNeed(), 10);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->candidates_size(), 1);
  EXPECT_EQ(found->candidates(0).organization(), "organizations/a");
}

TEST(OrganizationIndexTest, KeepsTrackRecordsInStepWithProjectsAndScores) {
  OrganizationIndex index;
  index.UpsertOrganization(MakeOrganization("a", "countries/CN"));
  // A score may arrive before its project.
  index.SetProjectScore("projects/p1", 80);
  index.UpsertProject(MakeProject("p1", "countries/EG", {"a", "a"},
                                  stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION));
  EXPECT_EQ(RecordOf(index, "a"), (Record{1, 1, 1, 80000, true}));

  index.UpsertProject(
      MakeProject("p2", "countries/EG", {"a"}, stp::ingestion::v1::PROJECT_STAGE_PROPOSED));
  index.SetProjectScore("projects/p2", 60.5);
  index.SetProjectScore("projects/p1", 70);  // rescored
  EXPECT_EQ(RecordOf(index, "a"), (Record{2, 2, 1, 130500, true}));

  // Stage moves out of the active set; the project stays on the record.
  index.UpsertProject(
      MakeProject("p1", "countries/EG", {"a"}, stp::ingestion::v1::PROJECT_STAGE_COMPLETED));
  EXPECT_EQ(RecordOf(index, "a"), (Record{2, 2, 0, 130500, true}));

  index.RemoveProject("projects/p2");
  EXPECT_EQ(RecordOf(index, "a"), (Record{1, 1, 0, 70000, true}));

  // Removed and re-added: the history comes back with it.
  index.RemoveOrganization("organizations/a");
  EXPECT_EQ(RecordOf(index, "a"), (Record{1, 1, 0, 70000, false}));
  index.UpsertOrganization(MakeOrganization("a", "countries/CN"));
  EXPECT_EQ(RecordOf(index, "a"), (Record{1, 1, 0, 70000, true}));
}

TEST(OrganizationIndexTest, HiddenProjectsNeverChangeATrackRecord) {
  SyntheticRegistryOptions options;
  options.organizations = 800;
  options.seed = 7;
  const SyntheticRegistry registry = GenerateRegistry(options);
  OrganizationIndex index;
  LoadRegistry(registry, index);
  Matcher matcher(&index, MatchingConfig::Default());
  SeededRandom random(11);
  std::vector<Need> needs;
  std::vector<std::string> before;
  for (int i = 0; i < 5; ++i) {
    needs.push_back(GenerateNeed(random, 3));
    auto found = matcher.FindPartners(needs.back(), 100);
    ASSERT_TRUE(found.ok());
    before.push_back(found->SerializeAsString());
  }

  // Every shown organisation takes part in a hidden, top-scored, active project in the host.
  std::vector<std::string> ids;
  for (const Need& need : needs) {
    auto found = matcher.FindPartners(need, 100);
    Project hidden;
    hidden.set_name("projects/hidden-" + need.host_country.substr(10));
    hidden.set_host_country(need.host_country);
    hidden.set_stage(stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION);
    hidden.set_visibility(stp::ingestion::v1::VISIBILITY_PARTICIPANTS);
    for (const auto& c : found->candidates()) {
      hidden.add_participants()->set_organization(c.organization());
    }
    index.SetProjectScore(hidden.name(), 100);  // before and after the project
    index.UpsertProject(hidden);
    index.SetProjectScore(hidden.name(), 100);
  }
  // A public project that turns hidden leaves the records too.
  const Project& first_public = [&]() -> const Project& {
    for (const Project& p : registry.projects) {
      if (p.visibility() != stp::ingestion::v1::VISIBILITY_PARTICIPANTS) return p;
    }
    return registry.projects.front();
  }();
  const std::string participant = first_public.participants(0).organization().substr(14);
  const Record with_public = RecordOf(index, participant);
  Project turned_hidden = first_public;
  turned_hidden.set_visibility(stp::ingestion::v1::VISIBILITY_PARTICIPANTS);
  index.UpsertProject(turned_hidden);
  EXPECT_EQ(RecordOf(index, participant).projects, with_public.projects - 1);
  index.UpsertProject(first_public);
  EXPECT_EQ(RecordOf(index, participant), with_public);

  for (size_t i = 0; i < needs.size(); ++i) {
    auto found = matcher.FindPartners(needs[i], 100);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->SerializeAsString(), before[i]) << "need " << i;
  }
}

// The value and reason of host experience for `org` against a need hosted in `host`.
std::pair<double, std::string> HostExperience(const OrganizationIndex& index,
                                              const std::string& host, const std::string& org) {
  const Matcher matcher(&index, MatchingConfig::Default());
  Need need = GreenNeed();
  need.host_country = host;
  auto found = matcher.FindPartners(need, 100);
  EXPECT_TRUE(found.ok()) << found.status();
  if (!found.ok()) return {};
  for (const auto& candidate : found->candidates()) {
    if (candidate.organization() != "organizations/" + org) continue;
    for (const auto& criterion : candidate.criteria()) {
      if (criterion.criterion() == stp::matching::v1::CRITERION_HOST_EXPERIENCE) {
        return {criterion.value(), criterion.reason()};
      }
    }
  }
  ADD_FAILURE() << org << " not found for host " << host;
  return {};
}

stp::ingestion::v1::Country MakeCountry(const std::string& code, const std::string& region,
                                        const std::string& sub_region) {
  stp::ingestion::v1::Country country;
  country.set_name("countries/" + code);
  country.set_display_name(code);
  country.set_income_group(stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  country.set_region(region);
  country.set_sub_region(sub_region);
  return country;
}

// Host experience by region follows the host country's region, including when a country's
// region is learnt after its projects or changes.
TEST(OrganizationIndexTest, HostExperienceFollowsRegionChanges) {
  OrganizationIndex index;
  index.UpsertCountry(MakeCountry("MA", "Africa", "Northern Africa"));
  index.UpsertCountry(MakeCountry("KE", "Africa", "Eastern Africa"));
  index.UpsertCountry(MakeCountry("SA", "Asia", "Western Asia"));
  index.UpsertOrganization(MakeOrganization("solar", "countries/CN"));
  // Two projects in Egypt before Egypt itself is known: no region yet.
  index.UpsertProject(MakeProject("p1", "countries/EG", {"solar"}, {}));
  index.UpsertProject(MakeProject("p2", "countries/EG", {"solar"}, {}));
  EXPECT_EQ(HostExperience(index, "countries/MA", "solar").second,
            "no projects in MA or its region");
  EXPECT_EQ(HostExperience(index, "countries/EG", "solar").second, "2 projects in countries/EG");

  index.UpsertCountry(MakeCountry("EG", "Africa", "Northern Africa"));
  EXPECT_EQ(HostExperience(index, "countries/MA", "solar").second,
            "0 projects in MA, 2 elsewhere in Northern Africa");
  EXPECT_EQ(HostExperience(index, "countries/KE", "solar").second,
            "0 projects in KE, 2 elsewhere in Africa");
  EXPECT_EQ(HostExperience(index, "countries/EG", "solar").second, "2 projects in EG");

  index.UpsertCountry(MakeCountry("EG", "Asia", "Western Asia"));
  EXPECT_EQ(HostExperience(index, "countries/MA", "solar").first, 0);
  EXPECT_EQ(HostExperience(index, "countries/SA", "solar").second,
            "0 projects in SA, 2 elsewhere in Western Asia");
  index.RemoveProject("projects/p1");
  EXPECT_EQ(HostExperience(index, "countries/SA", "solar").second,
            "0 projects in SA, 1 elsewhere in Western Asia");
  EXPECT_EQ(HostExperience(index, "countries/EG", "solar").second, "1 project in EG");
}

TEST(OrganizationIndexTest, MemoryEstimateTracksTheHeap) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc: mallinfo2() does not see its heap";
#endif
  SyntheticRegistryOptions options;
  options.organizations = 5000;
  options.seed = 3;
  const SyntheticRegistry registry = GenerateRegistry(options);
  const size_t heap_before = HeapBytesInUse();
  auto index = std::make_unique<OrganizationIndex>();
  LoadRegistry(registry, *index);
  const size_t heap_after = HeapBytesInUse();
  const double measured = static_cast<double>(heap_after - heap_before);
  const double estimated = static_cast<double>(index->ApproximateMemoryBytes());
  RecordProperty("measured_heap_bytes", std::to_string(heap_after - heap_before));
  RecordProperty("estimated_bytes", std::to_string(index->ApproximateMemoryBytes()));
  // The estimate counts what the index holds; the heap also holds what it freed but malloc
  // keeps in use for fragments. Within a tenth either way is an estimate worth exporting.
  EXPECT_GT(estimated, 0.9 * measured) << "measured " << measured;
  EXPECT_LT(estimated, 1.1 * measured) << "measured " << measured;
  EXPECT_EQ(index->ApproximateBytesPerOrganization(),
            index->ApproximateMemoryBytes() / index->organization_count());
  // And it grows with the index.
  const size_t at_5000 = index->ApproximateMemoryBytes();
  Organization extra = registry.organizations.front();
  for (int i = 0; i < 100; ++i) {
    extra.set_name("organizations/extra" + std::to_string(i));
    index->UpsertOrganization(extra);
  }
  EXPECT_GT(index->ApproximateMemoryBytes(), at_5000);
}

TEST(OrganizationIndexTest, ConcurrentQueriesAndWrites) {
  SyntheticRegistryOptions options;
  options.organizations = 2000;
  const SyntheticRegistry registry = GenerateRegistry(options);
  OrganizationIndex index;
  LoadRegistry(registry, index);
  Matcher matcher(&index, MatchingConfig::Default());

  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    SeededRandom random(5);
    for (int i = 0; i < 3000; ++i) {
      Organization org = registry.organizations[random.Below(registry.organizations.size())];
      switch (i % 4) {
        case 0:
          org.add_avenues(stp::common::v1::AVENUE_PUBLIC_HEALTH);
          index.UpsertOrganization(org);
          break;
        case 1:
          index.RemoveOrganization(org.name());
          break;
        case 2:
          index.UpsertProject(registry.projects[random.Below(registry.projects.size())]);
          break;
        default:
          index.SetProjectScore(registry.projects[random.Below(registry.projects.size())].name(),
                                100 * random.Fraction());
      }
    }
    writing = false;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      SeededRandom random(100 + t);
      int rounds = 0;
      while (writing || rounds < 20) {
        Need need = GenerateNeed(random, 1 + static_cast<int>(random.Below(3)));
        auto found = matcher.FindPartners(need, 20);
        auto teams = matcher.ProposeConsortia(need, 3);
        if (!found.ok() || !teams.ok()) ++failures;
        for (int i = 1; found.ok() && i < found->candidates_size(); ++i) {
          if (found->candidates(i - 1).score() < found->candidates(i).score()) ++failures;
        }
        ++rounds;
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(index.organization_count(), 0u);
}

}  // namespace
}  // namespace stp::matching
