// The matching service with ingestion and scoring in one process on a private Redis: the index
// follows events, needs resolve from projects, consortia form, feedback is kept, and a restart
// catches up from its snapshot's cursor without a full reload.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/common/grpc_status.h"
#include "services/ingestion/ingestion_module.h"
#include "services/matching/core/organization_index.h"
#include "services/matching/index_feed.h"
#include "services/matching/matching_module.h"
#include "services/scoring/scoring_module.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/matching/v1/matching_service.grpc.pb.h"
#include "tests/testing/test_stack.h"

namespace stp::matching {
namespace {

namespace iv1 = stp::ingestion::v1;
using stp::common::v1::AVENUE_AGRICULTURE;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;
using stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER;
using testing::TestStack;
using testing::WaitFor;

class MatchingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server.ok());
    redis_ = std::move(*server);
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(ingestion::NewIngestionModule());
    modules.push_back(scoring::NewScoringModule());
    stack_ = TestStack::Start(std::move(modules), redis_.get());
    ASSERT_NE(stack_, nullptr);
    ingestion_ = iv1::IngestionService::NewStub(stack_->channel());
    using stp::common::v1::IncomeGroup;
    for (auto [cc, income] : std::vector<std::pair<const char*, IncomeGroup>>{
             {"EG", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE},
             {"CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE},
             {"DE", stp::common::v1::INCOME_GROUP_HIGH},
             {"CI", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE}}) {
      iv1::UpsertCountryRequest req;
      req.mutable_country()->set_alpha2(cc);
      req.mutable_country()->set_display_name(cc);
      req.mutable_country()->set_income_group(income);
      req.mutable_country()->set_region(std::string(cc) == "CN"   ? "Asia"
                                        : std::string(cc) == "DE" ? "Europe"
                                                                  : "Africa");
      iv1::Country out;
      ASSERT_TRUE(Call([&](auto* c) { return ingestion_->UpsertCountry(c, req, &out); }).ok());
    }
    solar_ = Org("Sunrise Solar", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
                 {AVENUE_GREEN_GROWTH}, {23210, 23230}, {PARTNER_ROLE_TECHNOLOGY_PARTNER});
    unido_ = Org("UNIDO", "", iv1::ORGANIZATION_TYPE_MULTILATERAL, {AVENUE_GREEN_GROWTH}, {},
                 {PARTNER_ROLE_TRIANGULAR_PARTNER});
    afdb_ = Org("African Development Bank", "countries/CI", iv1::ORGANIZATION_TYPE_DFI,
                {AVENUE_GREEN_GROWTH}, {}, {PARTNER_ROLE_FINANCIER}, 500000000);
    for (int i = 0; i < 3; ++i) {
      others_.push_back(Org("Grain Co " + std::to_string(i), "countries/DE",
                            iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR, {AVENUE_AGRICULTURE}, {31120},
                            {PARTNER_ROLE_TECHNOLOGY_PARTNER, PARTNER_ROLE_FINANCIER,
                             PARTNER_ROLE_TRIANGULAR_PARTNER}));
    }
  }

  void StartMatching(std::vector<std::string> flags = {}) {
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(NewMatchingModule());
    flags.push_back("--matching-ingestion-address=127.0.0.1:" + std::to_string(stack_->port()));
    flags.push_back("--matching-ingestion-plaintext");
    flags.push_back("--matching-scoring-address=127.0.0.1:" + std::to_string(stack_->port()));
    flags.push_back("--matching-scoring-plaintext");
    matching_stack_ = TestStack::Start(std::move(modules), redis_.get(), nullptr, flags);
    ASSERT_NE(matching_stack_, nullptr);
    matching_ = v1::MatchingService::NewStub(matching_stack_->channel());
    ASSERT_TRUE(WaitFor([&] {
      v1::FindPartnersResponse r;
      return Find(EgyptGreenNeed(), &r).ok();
    })) << "the index never loaded";
  }

  template <typename Fn>
  grpc::Status Call(Fn fn) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(30));
    return fn(&ctx);
  }

  std::string Org(const std::string& name, const std::string& country, iv1::OrganizationType type,
                  std::vector<stp::common::v1::Avenue> avenues, std::vector<int> sectors,
                  std::vector<stp::common::v1::PartnerRole> roles, int64_t capacity = 0) {
    iv1::CreateOrganizationRequest req;
    auto* o = req.mutable_organization();
    o->set_display_name(name);
    o->set_country(country);
    o->set_type(type);
    for (auto a : avenues) o->add_avenues(a);
    for (int s : sectors) o->add_dac_sectors(s);
    for (auto r : roles) o->add_roles(r);
    if (capacity > 0) {
      o->mutable_financing_capacity()->set_currency_code("USD");
      o->mutable_financing_capacity()->set_units(capacity);
    }
    iv1::Organization out;
    EXPECT_TRUE(Call([&](auto* c) { return ingestion_->CreateOrganization(c, req, &out); }).ok());
    return out.name();
  }

  v1::PartnerNeed EgyptGreenNeed() {
    v1::PartnerNeed need;
    need.set_host_country("countries/EG");
    need.add_avenues(AVENUE_GREEN_GROWTH);
    need.add_roles(PARTNER_ROLE_TECHNOLOGY_PARTNER);
    need.add_roles(PARTNER_ROLE_TRIANGULAR_PARTNER);
    need.add_roles(PARTNER_ROLE_FINANCIER);
    need.mutable_budget()->set_currency_code("USD");
    need.mutable_budget()->set_units(50000000);
    return need;
  }

  grpc::Status Find(const v1::PartnerNeed& need, v1::FindPartnersResponse* out,
                    int page_size = 10) {
    v1::FindPartnersRequest req;
    *req.mutable_need() = need;
    req.set_page_size(page_size);
    return Call([&](auto* c) { return matching_->FindPartners(c, req, out); });
  }

  std::vector<std::string> Names(const v1::FindPartnersResponse& r) {
    std::vector<std::string> out;
    for (const auto& c : r.candidates()) out.push_back(c.organization());
    return out;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<TestStack> stack_;
  std::unique_ptr<TestStack> matching_stack_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::MatchingService::Stub> matching_;
  std::string solar_, unido_, afdb_;
  std::vector<std::string> others_;
};

TEST_F(MatchingTest, TheTriangularTeamForAnEgyptianGreenParkOutranksOrganisationsWithoutTheAvenue) {
  StartMatching();
  v1::FindPartnersResponse found;
  ASSERT_TRUE(Find(EgyptGreenNeed(), &found).ok());
  auto names = Names(found);
  ASSERT_GE(names.size(), 6u);
  std::set<std::string> top3(names.begin(), names.begin() + 3);
  EXPECT_EQ(top3, (std::set<std::string>{solar_, unido_, afdb_}));
  for (const auto& c : found.candidates()) {
    EXPECT_FALSE(c.criteria().empty());
    for (const auto& k : c.criteria()) EXPECT_FALSE(k.reason().empty());
  }
  v1::ProposeConsortiaRequest req;
  *req.mutable_need() = EgyptGreenNeed();
  v1::ProposeConsortiaResponse teams;
  ASSERT_TRUE(Call([&](auto* c) { return matching_->ProposeConsortia(c, req, &teams); }).ok());
  ASSERT_FALSE(teams.consortia().empty());
  const auto& best = teams.consortia(0);
  ASSERT_EQ(best.members_size(), 3);
  EXPECT_EQ(best.members(0).candidate().organization(), solar_);
  EXPECT_EQ(best.members(1).candidate().organization(), unido_);
  EXPECT_EQ(best.members(2).candidate().organization(), afdb_);
  EXPECT_TRUE(best.dfi_participation());
  EXPECT_GT(teams.evaluated(), 0);
}

TEST_F(MatchingTest, TheIndexFollowsEventsAndNeedsResolveFromProjects) {
  StartMatching();
  // A new organisation becomes matchable without a restart; a deleted one disappears.
  std::string wind =
      Org("Gale Wind Turbines", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
          {AVENUE_GREEN_GROWTH}, {23210}, {PARTNER_ROLE_TECHNOLOGY_PARTNER});
  v1::PartnerNeed need = EgyptGreenNeed();
  v1::FindPartnersResponse found;
  ASSERT_TRUE(WaitFor([&] {
    auto names = (Find(need, &found), Names(found));
    return std::count(names.begin(), names.end(), wind) == 1;
  }));
  iv1::DeleteOrganizationRequest del;
  del.set_name(wind);
  iv1::DeleteResponse dresp;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->DeleteOrganization(c, del, &dresp); }).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto names = (Find(need, &found), Names(found));
    return std::count(names.begin(), names.end(), wind) == 0;
  }));
  // A project's host, avenues and participants fill the need; its participants never return.
  iv1::CreateProjectRequest create;
  create.mutable_project()->set_title("Benban solar park extension");
  create.mutable_project()->set_host_country("countries/EG");
  create.mutable_project()->add_avenues(AVENUE_GREEN_GROWTH);
  auto* part = create.mutable_project()->add_participants();
  part->set_organization(solar_);
  part->set_role(PARTNER_ROLE_TECHNOLOGY_PARTNER);
  iv1::Project project;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->CreateProject(c, create, &project); }).ok());
  v1::PartnerNeed by_project;
  by_project.set_project(project.name());
  by_project.add_roles(PARTNER_ROLE_TECHNOLOGY_PARTNER);
  by_project.add_roles(PARTNER_ROLE_FINANCIER);
  ASSERT_TRUE(Find(by_project, &found).ok());
  auto names = Names(found);
  EXPECT_EQ(std::count(names.begin(), names.end(), solar_), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), afdb_), 1);
  by_project.set_project("projects/0000000000000000");
  grpc::Status missing = Find(by_project, &found);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MatchingTest, BadNeedsNameEveryBadField) {
  StartMatching();
  v1::PartnerNeed need;
  need.set_host_country("countries/XX");
  v1::FindPartnersResponse found;
  grpc::Status s = Find(need, &found, 1000);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::set<std::string> fields;
  for (const auto& v : GetFieldViolations(FromGrpcStatus(s))) fields.insert(v.field);
  EXPECT_TRUE(fields.count("need.roles")) << s.error_message();
  EXPECT_TRUE(fields.count("need.host_country"));
  EXPECT_TRUE(fields.count("page_size"));
}

TEST_F(MatchingTest, FeedbackIsRecordedAndListed) {
  StartMatching();
  v1::RecordMatchFeedbackRequest req;
  req.mutable_feedback()->set_organization(afdb_);
  req.mutable_feedback()->set_role(PARTNER_ROLE_FINANCIER);
  req.mutable_feedback()->set_decision(v1::FEEDBACK_DECISION_ACCEPTED);
  req.mutable_feedback()->set_comment("signed a term sheet");
  req.set_request_id("fb-1");
  v1::MatchFeedback f1, f2;
  ASSERT_TRUE(Call([&](auto* c) { return matching_->RecordMatchFeedback(c, req, &f1); }).ok());
  ASSERT_TRUE(Call([&](auto* c) { return matching_->RecordMatchFeedback(c, req, &f2); }).ok());
  EXPECT_EQ(f1.name(), f2.name());
  v1::ListMatchFeedbackRequest list;
  list.set_organization(afdb_);
  v1::ListMatchFeedbackResponse resp;
  ASSERT_TRUE(Call([&](auto* c) { return matching_->ListMatchFeedback(c, list, &resp); }).ok());
  ASSERT_EQ(resp.feedback_size(), 1);
  EXPECT_EQ(resp.feedback(0).comment(), "signed a term sheet");
  // A first attempt that claimed its request id and died before writing (here: its record is
  // removed): its retries write one record, under the claimed id.
  {
    redis::RedisOptions o;
    o.address = redis_->address();
    redis::RedisClient client(o);
    ASSERT_TRUE(client
                    .Command({"DEL", "stp:{g}:matching:feedback:" +
                                         f1.name().substr(f1.name().find('/') + 1)})
                    .ok());
    ASSERT_TRUE(Call([&](auto* c) { return matching_->RecordMatchFeedback(c, req, &f2); }).ok());
    EXPECT_EQ(f2.name(), f1.name());
    v1::MatchFeedback f3;
    ASSERT_TRUE(Call([&](auto* c) { return matching_->RecordMatchFeedback(c, req, &f3); }).ok());
    EXPECT_EQ(f3.name(), f1.name());
    ASSERT_TRUE(Call([&](auto* c) { return matching_->ListMatchFeedback(c, list, &resp); }).ok());
    EXPECT_EQ(resp.feedback_size(), 1);
  }
  req.mutable_feedback()->clear_decision();
  req.set_request_id("fb-2");
  EXPECT_EQ(Call([&](auto* c) { return matching_->RecordMatchFeedback(c, req, &f1); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A feed over an index of its own, outside any server, that keeps its snapshot in a file of
// the test's own; with the registry's stub it can reload in full, without it only from the
// snapshot.
class SnapshotTest : public MatchingTest {
 protected:
  struct Feed {
    OrganizationIndex index;
    std::unique_ptr<IndexFeed> feed;
  };

  void SetUp() override {
    MatchingTest::SetUp();
    redis::RedisOptions o;
    o.address = redis_->address();
    client_ = std::make_unique<redis::RedisClient>(o);
    file_ = std::filesystem::temp_directory_path() /
            ("stp-matching-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".snap");
  }
  void TearDown() override { std::filesystem::remove(file_); }

  std::unique_ptr<Feed> StartFeed(bool with_registry) {
    auto f = std::make_unique<Feed>();
    FeedOptions options;
    options.snapshot_file = file_;
    f->feed = std::make_unique<IndexFeed>(&f->index, client_.get(), redis::Keyspace(), options);
    f->feed->Start(with_registry ? iv1::IngestionService::NewStub(stack_->channel()) : nullptr,
                   nullptr, nullptr);
    EXPECT_TRUE(WaitFor([&] { return f->feed->loaded(); }));
    return f;
  }

  std::string SnapshotBytes() {
    std::ifstream in(file_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::unique_ptr<redis::RedisClient> client_;
  std::string file_;
};

TEST_F(SnapshotTest, ARestartCatchesUpFromItsSnapshotWithoutAFullReload) {
  {
    auto first = StartFeed(/*with_registry=*/true);
    EXPECT_EQ(first->feed->load_kind(), "full");
    EXPECT_EQ(first->index.organization_count(), 6u);
    first->feed->Stop();  // writes the snapshot
  }
  std::string late = Org("Added While Down", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
                         {AVENUE_GREEN_GROWTH}, {}, {PARTNER_ROLE_TECHNOLOGY_PARTNER});
  // No registry to reload from: only the snapshot can work.
  auto again = StartFeed(/*with_registry=*/false);
  EXPECT_EQ(again->feed->load_kind(), "snapshot");
  ASSERT_TRUE(WaitFor([&] { return again->index.organization_count() == 7u; }));
  again->feed->Stop();
}

// Each record of a snapshot is read on its own: a reused message would take the previous
// record's fields (a country for UNIDO, which has none; roles and avenues added up), and every
// restart would write a bigger snapshot than it read.
TEST_F(SnapshotTest, ASnapshotReadBackIsTheSnapshotThatWasWritten) {
  auto run_once = [&](bool with_registry) {
    auto f = StartFeed(with_registry);
    EXPECT_EQ(f->feed->load_kind(), with_registry ? "full" : "snapshot");
    f->feed->Stop();  // writes the snapshot
    return SnapshotBytes();
  };
  std::string written = run_once(true);
  ASSERT_FALSE(written.empty());
  for (int restart = 1; restart <= 2; ++restart) {
    std::string read_back = run_once(false);
    EXPECT_TRUE(read_back == written) << "restart " << restart << " wrote " << read_back.size()
                                      << " bytes from a snapshot of " << written.size();
  }
}

// A snapshot cut short (a crash or a full disk while it was written) is not applied at all:
// the full reload that replaces it must not build over what the cut file still held, such as
// an organisation deleted since.
TEST_F(SnapshotTest, ATruncatedSnapshotLeavesNothingForTheFullReloadToBuildOver) {
  {
    auto first = StartFeed(/*with_registry=*/true);
    ASSERT_EQ(first->index.organization_count(), 6u);
    first->feed->Stop();
  }
  // Not the snapshot's last record (records are in name order), which the cut removes.
  iv1::DeleteOrganizationRequest del;
  del.set_name(std::min({solar_, unido_, afdb_}));
  iv1::DeleteResponse deleted;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->DeleteOrganization(c, del, &deleted); }).ok());
  std::filesystem::resize_file(file_, std::filesystem::file_size(file_) - 1);

  auto again = StartFeed(/*with_registry=*/true);
  EXPECT_EQ(again->feed->load_kind(), "full");
  EXPECT_EQ(again->index.organization_count(), 5u)
      << "the deleted organisation came back from the cut snapshot";
  again->feed->Stop();
}

// A feed whose unread events were trimmed (it fell further behind than the streams keep) must
// not read on as if nothing were missing: it reloads the index in full, from nothing.
// A deleted project's score leaves the snapshot with the project; it came back on each
// restart.
TEST_F(SnapshotTest, ADeletedProjectsScoreLeavesTheSnapshotWithIt) {
  FeedOptions options;
  options.snapshot_file = file_;
  OrganizationIndex index;
  IndexFeed feed(&index, client_.get(), redis::Keyspace(),
                 options);  // not started: applied by hand
  stp::events::v1::Event created;
  created.set_type(stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
  created.set_resource("projects/ghost-park");
  created.mutable_project()->set_name("projects/ghost-park");
  created.mutable_project()->set_title("Ghost park");
  created.mutable_project()->set_host_country("countries/EG");
  stp::events::v1::Event scored;
  scored.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  scored.mutable_score_change()->mutable_current()->set_project("projects/ghost-park");
  scored.mutable_score_change()->mutable_current()->set_total(61);
  feed.Apply(created);
  feed.Apply(scored);
  ASSERT_TRUE(feed.WriteSnapshot().ok());
  ASSERT_TRUE(absl::StrContains(SnapshotBytes(), "projects/ghost-park"));
  stp::events::v1::Event deleted = created;
  deleted.set_type(stp::events::v1::EVENT_TYPE_PROJECT_DELETED);
  feed.Apply(deleted);
  ASSERT_TRUE(feed.WriteSnapshot().ok());
  EXPECT_FALSE(absl::StrContains(SnapshotBytes(), "projects/ghost-park"));
}

TEST_F(SnapshotTest, AFeedWhoseUnreadEventsWereTrimmedReloadsInFull) {
  auto f = StartFeed(/*with_registry=*/true);
  ASSERT_EQ(f->index.organization_count(), 6u);
  // The feed loses its connection (its blocking XREAD's); while it waits to reconnect, an
  // organisation is deleted and the event is trimmed away.
  auto clients = client_->Command({"CLIENT", "LIST"});
  ASSERT_TRUE(clients.ok());
  std::string reader_id;
  for (absl::string_view line : absl::StrSplit(redis::Str(clients->get()), '\n')) {
    if (!absl::StrContains(line, "cmd=xread")) continue;
    for (absl::string_view field : absl::StrSplit(line, ' ')) {
      if (absl::ConsumePrefix(&field, "id=")) reader_id = std::string(field);
    }
  }
  ASSERT_FALSE(reader_id.empty()) << "the feed's reader was not found";
  ASSERT_TRUE(client_->Command({"CLIENT", "KILL", "ID", reader_id}).ok());
  iv1::DeleteOrganizationRequest del;
  del.set_name(unido_);
  iv1::DeleteResponse deleted;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->DeleteOrganization(c, del, &deleted); }).ok());
  for (const auto& stream : redis::Keyspace().AllEventStreams())
    ASSERT_TRUE(client_->Command({"XTRIM", stream, "MAXLEN", "0"}).ok());
  // (The index fills again during the reload, and the feed is loaded once it is done.)
  EXPECT_TRUE(WaitFor([&] { return f->feed->loaded() && f->index.organization_count() == 5u; }))
      << "the deleted organisation stayed: the trimmed deletion event was skipped";
  f->feed->Stop();
}

}  // namespace
}  // namespace stp::matching
