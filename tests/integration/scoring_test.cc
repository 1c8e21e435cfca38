// The scoring service with the ingestion service in one process on a private Redis: scores
// appear for ingested projects, follow country changes, survive a dead consumer, bootstrap on
// an existing data set, and the Egypt / South Africa subset scores end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "libs/common/event_header.h"
#include "libs/common/grpc_status.h"
#include "libs/common/ids.h"
#include "libs/common/phrase_codec.h"
#include "libs/common/proto_time.h"
#include "libs/common/status.h"
#include "libs/redis/streams.h"
#include "services/ingestion/ingestion_module.h"
#include "services/ingestion/reference_data.h"
#include "services/scoring/core/scoring_model.h"
#include "services/scoring/score_store.h"
#include "services/scoring/scoring_engine.h"
#include "services/scoring/scoring_module.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"
#include "tests/testing/test_stack.h"

namespace stp::scoring {
namespace {

namespace iv1 = stp::ingestion::v1;
using stp::events::v1::Event;
using testing::TestStack;
using testing::WaitFor;

// A project record named for `id`, at `revision`.
iv1::Project ProjectAt(const std::string& id, int64_t revision) {
  iv1::Project project;
  project.set_name("projects/" + id);
  project.set_revision(revision);
  return project;
}

// `project` applied to `store`'s read model, as its event would.
absl::Status ApplyProject(ScoreStore& store, const iv1::Project& project) {
  return store
      .Apply({{ModelKind::kProject, IdOfName(project.name()), project.revision(), false,
               project.SerializeAsString()}})
      .status();
}

// A write of a score of `total` for `project` (its id, name and revision).
ScoreWrite ScoreWriteFor(const iv1::Project& project, double total) {
  ScoreWrite w;
  w.project_id = IdOfName(project.name());
  w.score.set_project(project.name());
  w.score.set_project_revision(project.revision());
  w.score.set_total(total);
  return w;
}

// One score written through `store`; kNotWritten (and a test failure) when the write fails.
WriteOutcome WriteOne(ScoreStore& store, ScoreWrite w) {
  auto out = store.WriteScores({std::move(w)});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : WriteOutcome::kNotWritten;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ScoringTest : public ::testing::Test {
 protected:
  void StartStack(bool with_scoring = true, std::vector<std::string> flags = {}) {
    if (!redis_) {
      auto server = testing::RedisServer::Start();
      ASSERT_TRUE(server.ok());
      redis_ = std::move(*server);
    }
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(ingestion::NewIngestionModule());
    if (with_scoring) modules.push_back(NewScoringModule());
    stack_.reset();
    stack_ = TestStack::Start(std::move(modules), redis_.get(), nullptr, std::move(flags));
    ASSERT_NE(stack_, nullptr);
    ingestion_ = iv1::IngestionService::NewStub(stack_->channel());
    scoring_ = v1::ScoringService::NewStub(stack_->channel());
    if (with_scoring) {
      // A fresh deployment first builds its read model from the registry listing; what a test
      // writes meanwhile can be scored from the listing, without its event's trace. Tests are
      // about the event path, so they start once that build is done.
      auto client = Client();
      ASSERT_TRUE(WaitFor([&] {
        auto done = client->Command({"EXISTS", "stp:{g}:scoring:bootstrapped"});
        return done.ok() && redis::Int(done->get()) == 1;
      })) << "the scoring read model was never built";
    }
  }

  template <typename Fn>
  grpc::Status Call(Fn fn) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(30));
    return fn(&ctx);
  }

  void Country(const std::string& cc, stp::common::v1::IncomeGroup income, double internet = 50) {
    iv1::UpsertCountryRequest req;
    req.mutable_country()->set_alpha2(cc);
    req.mutable_country()->set_display_name("Country " + cc);
    req.mutable_country()->set_income_group(income);
    auto* ind = req.mutable_country()->add_indicators();
    ind->set_name("internet_users_pct");
    ind->set_value(internet);
    iv1::Country out;
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->UpsertCountry(c, req, &out); }).ok());
  }

  std::string Org(const std::string& name, const std::string& country, iv1::OrganizationType type) {
    iv1::CreateOrganizationRequest req;
    req.mutable_organization()->set_display_name(name);
    req.mutable_organization()->set_country(country);
    req.mutable_organization()->set_type(type);
    iv1::Organization out;
    EXPECT_TRUE(Call([&](auto* c) { return ingestion_->CreateOrganization(c, req, &out); }).ok());
    return out.name();
  }

  iv1::Project Project(const std::string& title, const std::string& host, const std::string& tech,
                       const std::string& description = "") {
    iv1::CreateProjectRequest req;
    auto* p = req.mutable_project();
    p->set_title(title);
    p->set_description(description);
    p->set_host_country(host);
    p->add_avenues(stp::common::v1::AVENUE_E_COMMERCE);
    p->set_stage(iv1::PROJECT_STAGE_IMPLEMENTATION);
    auto* part = p->add_participants();
    part->set_organization(tech);
    part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    part->set_lead(true);
    iv1::Project out;
    EXPECT_TRUE(Call([&](auto* c) { return ingestion_->CreateProject(c, req, &out); }).ok());
    return out;
  }

  std::optional<v1::Score> ScoreOf(const std::string& project) {
    v1::GetProjectScoreRequest req;
    req.set_project(project);
    v1::Score s;
    if (!Call([&](auto* c) { return scoring_->GetProjectScore(c, req, &s); }).ok())
      return std::nullopt;
    return s;
  }

  // A Kenyan e-commerce hub with a Chinese technology partner, once its score has appeared.
  iv1::Project ScoredHub() {
    Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
    Country("CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
    std::string tech =
        Org("Shenzhen Payments", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
    iv1::Project p = Project("Nairobi e-commerce hub", "countries/KE", tech);
    WaitFor([&] { return ScoreOf(p.name()).has_value(); });
    return p;
  }

  std::vector<Event> ScoreEvents() {
    auto client = Client();
    auto entries = redis::Range(*client, "stp:{p0}:events", "-", "+", 1000000);
    std::vector<Event> out;
    for (const auto& e : *entries) {
      Event ev;
      std::string unpacked;
      const std::string* payload = common::EventPayload(e.Field("e"), &unpacked);
      EXPECT_TRUE(payload != nullptr && ev.ParseFromString(*payload)) << e.id;
      if (ev.type() == stp::events::v1::EVENT_TYPE_SCORE_CHANGED) out.push_back(ev);
    }
    return out;
  }

  // The stream payloads (as Redis holds them) of the SCORE_CHANGED events, oldest first.
  std::vector<std::string> ScoreEventPayloads() {
    auto client = Client();
    auto entries = redis::Range(*client, "stp:{p0}:events", "-", "+", 1000000);
    std::vector<std::string> out;
    for (const auto& e : *entries) {
      std::string unpacked;
      const std::string* payload = common::EventPayload(e.Field("e"), &unpacked);
      auto header = payload ? common::ReadEventHeader(*payload) : std::nullopt;
      if (header && header->type == stp::events::v1::EVENT_TYPE_SCORE_CHANGED)
        out.push_back(*e.Field("e"));
    }
    return out;
  }

  // Kenya and China, a Shenzhen technology partner, and `n` Kenyan hubs it takes part in.
  std::vector<iv1::Project> KenyanHubsWithAChinesePartner(int n) {
    Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
    Country("CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
    std::string tech =
        Org("Shenzhen Payments", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
    std::vector<iv1::Project> hubs;
    for (int i = 0; i < n; ++i)
      hubs.push_back(Project("Hub " + std::to_string(i), "countries/KE", tech));
    return hubs;
  }

  // A client of the test's Redis, for tests that drive the store or an engine directly.
  std::unique_ptr<redis::RedisClient> Client() {
    redis::RedisOptions o;
    o.address = redis_->address();
    return std::make_unique<redis::RedisClient>(o);
  }

  // A client, a store on the default keyspace and an engine over them, for tests that drive
  // the engine's steps one by one.
  struct DirectEngine {
    explicit DirectEngine(std::unique_ptr<redis::RedisClient> redis_client)
        : client(std::move(redis_client)),
          store(client.get(), redis::Keyspace(), 100000),
          engine(&store, &ScoringModel::Default(), client.get(), EngineOptions(),
                 [] { return absl::Now(); }) {}
    std::unique_ptr<redis::RedisClient> client;
    ScoreStore store;
    ScoringEngine engine;
  };

  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<TestStack> stack_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::ScoringService::Stub> scoring_;
};

TEST_F(ScoringTest, AnIngestedProjectGetsAScoreWithReasonsAndAnEvent) {
  StartStack();
  iv1::Project p = ScoredHub();
  ASSERT_TRUE(ScoreOf(p.name()).has_value()) << "no score appeared";
  v1::Score s = *ScoreOf(p.name());
  EXPECT_GE(s.total(), 0);
  EXPECT_LE(s.total(), 100);
  EXPECT_NE(s.tier(), v1::TIER_UNSPECIFIED);
  EXPECT_EQ(s.components_size(), 6);
  EXPECT_EQ(s.host_country(), "countries/KE");
  EXPECT_EQ(s.project_revision(), 1);
  bool reasons = false;
  for (const auto& c : s.components()) reasons |= c.reasons_size() > 0;
  EXPECT_TRUE(reasons);
  auto events = ScoreEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].resource(), p.name());
  EXPECT_FALSE(events[0].score_change().has_previous());
  EXPECT_EQ(events[0].score_change().current().total(), s.total());
  // The trace of the write that caused it carries over.
  EXPECT_FALSE(events[0].traceparent().empty());
  // What-if scoring stores nothing.
  v1::ScoreProjectRequest what_if;
  *what_if.mutable_project() = p;
  what_if.mutable_project()->clear_name();
  v1::Score draft;
  ASSERT_TRUE(Call([&](auto* c) { return scoring_->ScoreProject(c, what_if, &draft); }).ok());
  EXPECT_NEAR(draft.total(), s.total(), 1e-9);
  what_if.mutable_project()->set_host_country("countries/ZZ");
  grpc::Status bad = Call([&](auto* c) { return scoring_->ScoreProject(c, what_if, &draft); });
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A financier that does not exist is named where the draft names it, as CreateProject does,
  // rather than scored as no financier at all.
  what_if.mutable_project()->set_host_country(p.host_country());
  auto* commitment = what_if.mutable_project()->mutable_financing()->add_commitments();
  commitment->set_source_organization("organizations/0000000000000000");
  commitment->mutable_amount()->set_currency_code("USD");
  commitment->mutable_amount()->set_units(1000000);
  bad = Call([&](auto* c) { return scoring_->ScoreProject(c, what_if, &draft); });
  ASSERT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.error_message();
  const auto violations = GetFieldViolations(FromGrpcStatus(bad));
  ASSERT_EQ(violations.size(), 1u) << bad.error_message();
  const int last = what_if.project().financing().commitments_size() - 1;
  EXPECT_EQ(violations[0].field,
            absl::StrCat("project.financing.commitments[", last, "].source_organization"));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(ScoreEvents().size(), 1u);
  v1::GetScoringModelRequest mreq;
  v1::ScoringModel model;
  ASSERT_TRUE(Call([&](auto* c) { return scoring_->GetScoringModel(c, mreq, &model); }).ok());
  EXPECT_EQ(model.components_size(), 6);
  EXPECT_EQ(model.version(), s.model_version());
}

// A score as Redis keeps it: packed (libs/common/phrase_codec.h) to a fraction of its size, and
// read back whether packed, plain (as stored before scores were packed) or damaged (answered as
// none).
TEST_F(ScoringTest, AStoredScoreIsPackedAndReadBackPackedOrPlain) {
  StartStack();
  iv1::Project p = ScoredHub();
  ASSERT_TRUE(ScoreOf(p.name()).has_value()) << "no score appeared";
  const v1::Score served = *ScoreOf(p.name());
  const std::string plain = served.SerializeAsString();
  auto client = Client();
  const std::string id = IdOfName(p.name());
  redis::Keyspace keyspace;
  const std::string key = keyspace.Key(keyspace.PartitionOf(id), "scoring", "score", id);
  auto stored = client->Command({"HGET", key, "pb"});
  ASSERT_TRUE(stored.ok()) << stored.status();
  const std::string packed = redis::StrCopy(stored->get());
  ASSERT_FALSE(packed.empty());
  EXPECT_EQ(packed[0], '\x01') << "the stored score is not packed";
  EXPECT_LT(packed.size() * 2, plain.size())
      << "packed " << packed.size() << " of " << plain.size();
  auto unpacked = common::UnpackPhrases(packed);
  ASSERT_TRUE(unpacked.ok()) << unpacked.status();
  EXPECT_EQ(*unpacked, plain);

  ScoreStore store(client.get(), keyspace, 100000);
  auto read_back = [&]() -> std::optional<v1::Score> {
    auto loaded = store.LoadStoredScores({id});
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() && (*loaded)[0].has_value() && !(*loaded)[0]->unreadable
               ? std::optional((*loaded)[0]->score)
               : std::nullopt;
  };
  ASSERT_TRUE(read_back().has_value());
  EXPECT_EQ(read_back()->SerializeAsString(), plain);
  // A score stored plain, by a build from before scores were packed, reads as it is.
  ASSERT_TRUE(client->Command({"HSET", key, "pb", plain}).ok());
  ASSERT_TRUE(ScoreOf(p.name()).has_value());
  EXPECT_EQ(ScoreOf(p.name())->SerializeAsString(), plain);
  ASSERT_TRUE(read_back().has_value());
  EXPECT_EQ(read_back()->SerializeAsString(), plain);
  // A plain score whose bytes scan as fields but do not parse (here a project name that is not
  // UTF-8) is answered as none, not sent for the caller's parser to fail on, and computed again.
  std::string unparsable = plain;
  unparsable += static_cast<char>((v1::Score::kProjectFieldNumber << 3) | 2);
  unparsable += "\x02\xff\xfe";
  ASSERT_FALSE(v1::Score().ParseFromString(unparsable));
  ASSERT_TRUE(client->Command({"HSET", key, "pb", unparsable}).ok());
  {
    v1::GetProjectScoreRequest req;
    req.set_project(p.name());
    v1::Score s;
    grpc::Status st = Call([&](auto* c) { return scoring_->GetProjectScore(c, req, &s); });
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  }
  // Watched through the test's own store, whose reads report nothing: a read through the
  // service while the rescore runs would queue another, which could meet the value below.
  ASSERT_TRUE(WaitFor([&] { return read_back().has_value(); }, absl::Seconds(10)))
      << "the unparsable score was not computed again";
  ASSERT_TRUE(client->Command({"HSET", key, "pb", plain}).ok());
  // A damaged packed score is refused by its checksum and answered as none, never as another
  // score. The read has it computed again, although nothing changed and its digest is intact:
  // it comes back whole, with a SCORE_CHANGED (without a previous score, which was lost).
  std::string damaged = packed;
  damaged[damaged.size() / 2] ^= 0x20;
  EXPECT_EQ(common::UnpackPhrases(damaged).status().code(), absl::StatusCode::kDataLoss);
  const size_t events_before = ScoreEvents().size();
  ASSERT_TRUE(client->Command({"HSET", key, "pb", damaged}).ok());
  EXPECT_FALSE(read_back().has_value());
  auto loaded = store.LoadStoredScores({id});
  ASSERT_TRUE(loaded.ok() && (*loaded)[0].has_value());
  EXPECT_TRUE((*loaded)[0]->unreadable);
  EXPECT_FALSE(ScoreOf(p.name()).has_value());
  ASSERT_TRUE(WaitFor([&] { return ScoreOf(p.name()).has_value(); }, absl::Seconds(10)))
      << "the unreadable score was not computed again";
  v1::Score repaired = *ScoreOf(p.name());
  EXPECT_EQ(repaired.total(), served.total());
  EXPECT_EQ(repaired.components_size(), served.components_size());
  repaired.clear_compute_time();
  v1::Score before = served;
  before.clear_compute_time();
  EXPECT_EQ(repaired.SerializeAsString(), before.SerializeAsString());
  ASSERT_TRUE(read_back().has_value());
  auto events = ScoreEvents();
  ASSERT_EQ(events.size(), events_before + 1);
  EXPECT_EQ(events.back().resource(), p.name());
  EXPECT_FALSE(events.back().score_change().has_previous());
}

// Dictionary 1 is frozen: a score packed with it when it shipped unpacks, to the same bytes,
// in every later build.
TEST(ScoreCodecTest, AScorePackedWithDictionaryOneWhenItShippedStillUnpacks) {
  v1::Score score;
  score.set_project("projects/0000000000000001");
  score.set_total(61.5);
  auto* c = score.add_components();
  c->set_value(84);
  c->add_reasons("no financier has committed funds yet");
  c->add_reasons(
      "the host government does not take part: parks depend on its land, permits "
      "and policy support");
  const std::string shipped = std::string(
      "\x01\x28\xb5\x2f\xfd\x24\xb4\xa5\x01\x00\xe0\x0a\x19\x73\x2f\x30\x31\x11\x00\xc0\x4e\x40"
      "\x2a\x8d\x01\x00\x55\x40\x3a\x24\x3a\x5c\x73\x75\x70\x70\x6f\x72\x74\x07\x00\x57\x80\x23"
      "\x01\x5d\x72\x82\x1f\x14\x12\xfd\x82\x05\x58\x03\x27\x07\x48\x57\x60\x01\xbf\x4e\xc8\x51",
      66);
  auto unpacked = common::UnpackPhrases(shipped);
  ASSERT_TRUE(unpacked.ok()) << unpacked.status();
  EXPECT_EQ(*unpacked, score.SerializeAsString());
  // Packing today gives a value that unpacks to the same score (its bytes may differ with the
  // zstd version).
  const std::string packed = common::PackPhrases(score.SerializeAsString());
  ASSERT_FALSE(packed.empty());
  EXPECT_EQ(packed[0], '\x01') << "not packed";
  EXPECT_LT(packed.size(), score.ByteSizeLong());
  auto again = common::UnpackPhrases(packed);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, score.SerializeAsString());
  EXPECT_EQ(common::UnpackPhrases(std::string("\x01", 1)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(common::UnpackPhrases(shipped.substr(0, shipped.size() - 3)).status().code(),
            absl::StatusCode::kDataLoss);
  // Any edit of the dictionary, even one the golden value does not notice.
  EXPECT_EQ(common::PhraseDictionaryV1().size(), 6120u);
  EXPECT_EQ(StableHash(common::PhraseDictionaryV1()), 13052433026845928631ULL);
}

TEST_F(ScoringTest, ACountryIncomeChangeRescoresEveryProjectOfThatCountry) {
  StartStack();
  Country("ET", stp::common::v1::INCOME_GROUP_LOW, 20);
  Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE, 40);
  Country("DE", stp::common::v1::INCOME_GROUP_HIGH);
  std::string tech = Org("Berlin Robotics", "countries/DE", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  std::vector<std::string> ethiopian, kenyan;
  for (int i = 0; i < 20; ++i)
    ethiopian.push_back(Project("Addis hub " + std::to_string(i), "countries/ET", tech).name());
  for (int i = 0; i < 5; ++i)
    kenyan.push_back(Project("Nairobi hub " + std::to_string(i), "countries/KE", tech).name());
  ASSERT_TRUE(WaitFor([&] { return ScoreEvents().size() == 25u; }));
  std::map<std::string, double> before;
  for (const auto& n : ethiopian) before[n] = ScoreOf(n)->total();
  double kenya_before = ScoreOf(kenyan[0])->total();
  // Ethiopia moves up a group: the partner's gap shrinks from three steps to two.
  Country("ET", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE, 20);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& n : ethiopian) {
      if (ScoreOf(n)->total() == before[n]) return false;
    }
    return true;
  })) << "not every Ethiopian project was rescored";
  EXPECT_EQ(ScoreEvents().size(), 45u);
  EXPECT_EQ(ScoreOf(kenyan[0])->total(), kenya_before);
  // History keeps both.
  v1::ListScoreHistoryRequest hist;
  hist.set_project(ethiopian[0]);
  v1::ListScoreHistoryResponse h;
  ASSERT_TRUE(Call([&](auto* c) { return scoring_->ListScoreHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.scores_size(), 2);
  EXPECT_EQ(h.scores(1).total(), before[ethiopian[0]]);
  // Pages of one entry give every entry once, even when the newest was written by a replica
  // whose clock is behind (its compute time earlier than the entries it follows).
  {
    v1::Score behind = h.scores(1);
    behind.mutable_compute_time()->set_seconds(behind.compute_time().seconds() - 60);
    behind.set_project_revision(behind.project_revision() + 1);
    auto client = Client();
    ASSERT_TRUE(client
                    ->Command({"LPUSH", "stp:{p0}:scoring:hist:" + IdOfName(ethiopian[0]),
                               behind.SerializeAsString()})
                    .ok());
    std::vector<double> paged;
    hist.set_page_size(1);
    for (int page = 0; page < 5; ++page) {
      ASSERT_TRUE(Call([&](auto* c) { return scoring_->ListScoreHistory(c, hist, &h); }).ok());
      for (const auto& s : h.scores()) paged.push_back(s.compute_time().seconds());
      if (h.next_page_token().empty()) break;
      hist.set_page_token(h.next_page_token());
    }
    EXPECT_EQ(paged.size(), 3u);
    // A token of one project is refused for another.
    hist.set_project(ethiopian[1]);
    EXPECT_EQ(Call([&](auto* c) { return scoring_->ListScoreHistory(c, hist, &h); }).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    // A malformed request is named as such before the project is looked up.
    v1::ListScoreHistoryRequest bad;
    bad.set_project("projects/0000000000000000");  // well formed, no such project
    bad.set_page_size(-1);
    EXPECT_EQ(Call([&](auto* c) { return scoring_->ListScoreHistory(c, bad, &h); }).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    bad.set_page_size(0);
    bad.set_page_token("not-a-token");
    EXPECT_EQ(Call([&](auto* c) { return scoring_->ListScoreHistory(c, bad, &h); }).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  // The partner's country moves down a group: every project the partner takes part in reads
  // that country (the income gap), wherever it is hosted, and is rescored.
  std::map<std::string, double> partner_before;
  for (const auto& n : ethiopian) partner_before[n] = ScoreOf(n)->total();
  for (const auto& n : kenyan) partner_before[n] = ScoreOf(n)->total();
  Country("DE", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& [n, total] : partner_before) {
      if (ScoreOf(n)->total() == total) return false;
    }
    return true;
  })) << "not every project of the German partner was rescored";
}

// The park's own IASP membership counts, and a change to the park rescores its projects.
TEST_F(ScoringTest, AParksIaspMembershipCountsAndItsChangeRescoresItsProjects) {
  StartStack();
  Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  Country("CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  std::string tech =
      Org("Shenzhen Payments", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  iv1::CreateParkRequest create;
  create.mutable_park()->set_display_name("Konza Technopolis");
  create.mutable_park()->set_host_country("countries/KE");
  iv1::Park park;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->CreatePark(c, create, &park); }).ok());
  iv1::CreateProjectRequest req;
  auto* p = req.mutable_project();
  p->set_title("Konza payments hub");
  p->set_host_country("countries/KE");
  p->set_park(park.name());
  p->add_avenues(stp::common::v1::AVENUE_E_COMMERCE);
  auto* part = p->add_participants();
  part->set_organization(tech);
  part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  iv1::Project project;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->CreateProject(c, req, &project); }).ok());
  auto reasons = [&]() -> std::vector<std::string> {
    auto score = ScoreOf(project.name());
    if (!score.has_value()) return {};
    for (const auto& c : score->components()) {
      if (c.component() == v1::COMPONENT_PARTNERSHIP_STRUCTURE)
        return {c.reasons().begin(), c.reasons().end()};
    }
    return {};
  };
  auto has = [](const std::vector<std::string>& all, const std::string& part) {
    return std::any_of(all.begin(), all.end(),
                       [&](const std::string& r) { return absl::StrContains(r, part); });
  };
  ASSERT_TRUE(WaitFor([&] { return has(reasons(), "neither the park nor any participant"); }));
  const double before = ScoreOf(project.name())->total();

  iv1::UpdateParkRequest update;
  update.mutable_park()->set_name(park.name());
  update.mutable_park()->set_iasp_member(true);
  update.mutable_update_mask()->add_paths("iasp_member");
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->UpdatePark(c, update, &park); }).ok());
  ASSERT_TRUE(WaitFor([&] {
    return has(reasons(), "the park Konza Technopolis is a member of IASP");
  })) << "the park's change did not rescore its project";
  EXPECT_GT(ScoreOf(project.name())->total(), before);

  // ScoreProject reads the park too.
  v1::ScoreProjectRequest what_if;
  *what_if.mutable_project() = project;
  what_if.mutable_project()->clear_name();
  v1::Score drafted;
  ASSERT_TRUE(Call([&](auto* c) { return scoring_->ScoreProject(c, what_if, &drafted); }).ok());
  EXPECT_DOUBLE_EQ(drafted.total(), ScoreOf(project.name())->total());
}

// More projects than one rescore chunk (500): the chunks run on two threads, and every
// project is still rescored exactly once, with one event each. The process runs two consumers,
// both members of the group.
// SCORE_CHANGED events go into the stream packed, a fraction of their size, and read back as
// the full event; with packing off (while readers of an earlier build run) they go plain.
TEST_F(ScoringTest, ScoreEventsArePackedUnlessPackingIsTurnedOff) {
  StartStack();
  iv1::Project first = ScoredHub();
  std::vector<std::string> payloads = ScoreEventPayloads();
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_TRUE(common::IsPackedEvent(payloads[0]));
  std::vector<Event> events = ScoreEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].score_change().current().components_size(), 6);
  EXPECT_LT(payloads[0].size() * 2, events[0].ByteSizeLong());

  StartStack(true, {"--scoring-pack-events=false"});
  iv1::Project second =
      Project("Mombasa logistics hub", "countries/KE", first.participants(0).organization());
  ASSERT_TRUE(WaitFor([&] { return ScoreOf(second.name()).has_value(); }));
  payloads = ScoreEventPayloads();
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_FALSE(common::IsPackedEvent(payloads[1]));
  events = ScoreEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].resource(), second.name());
  Event plain;  // what a reader of an earlier build does
  ASSERT_TRUE(plain.ParseFromString(payloads[1]));
  EXPECT_EQ(plain.resource(), second.name());
  EXPECT_EQ(events[1].score_change().current().components_size(), 6);
}

TEST_F(ScoringTest, ALargeRescoreRunsInParallelChunksAndScoresEachProjectOnce) {
  StartStack();
  Country("ET", stp::common::v1::INCOME_GROUP_LOW, 20);
  Country("DE", stp::common::v1::INCOME_GROUP_HIGH);
  std::string tech = Org("Berlin Robotics", "countries/DE", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  constexpr int kProjects = 1150;
  std::vector<std::string> names;
  for (int i = 0; i < kProjects; ++i) {
    names.push_back(Project("Addis hub " + std::to_string(i), "countries/ET", tech).name());
  }
  ASSERT_TRUE(
      WaitFor([&] { return ScoreEvents().size() == size_t{kProjects}; }, absl::Seconds(60)));
  std::map<std::string, double> before;
  for (const auto& n : names) before[n] = ScoreOf(n)->total();

  Country("ET", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE, 20);
  ASSERT_TRUE(
      WaitFor([&] { return ScoreEvents().size() >= size_t{2 * kProjects}; }, absl::Seconds(60)));
  absl::SleepFor(absl::Milliseconds(300));  // nothing more may come
  const std::vector<Event> events = ScoreEvents();
  ASSERT_EQ(events.size(), size_t{2 * kProjects});
  std::map<std::string, int> rescored;
  for (size_t i = kProjects; i < events.size(); ++i) {
    ++rescored[events[i].resource()];
    const auto& change = events[i].score_change();
    EXPECT_TRUE(change.has_previous());
    // The previous score comes without its components; the one before the change.
    EXPECT_EQ(change.previous().components_size(), 0);
    EXPECT_EQ(change.previous().total(), before[events[i].resource()]);
    EXPECT_EQ(change.current().components_size(), 6);
  }
  EXPECT_EQ(rescored.size(), size_t{kProjects});
  for (const auto& n : names) {
    EXPECT_EQ(rescored[n], 1) << n;
    EXPECT_NE(ScoreOf(n)->total(), before[n]) << n;
  }

  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  auto consumers = client.Command({"XINFO", "CONSUMERS", "stp:{p0}:events", "scoring"});
  ASSERT_TRUE(consumers.ok()) << consumers.status();
  std::vector<std::string> consumer_names;
  for (size_t i = 0; i < redis::Size(consumers->get()); ++i) {
    const redisReply* c = redis::At(consumers->get(), i);
    for (size_t k = 0; k + 1 < redis::Size(c); k += 2) {
      if (redis::Str(redis::At(c, k)) == "name") {
        consumer_names.push_back(redis::StrCopy(redis::At(c, k + 1)));
      }
      if (redis::Str(redis::At(c, k)) == "pending") {
        EXPECT_EQ(redis::Int(redis::At(c, k + 1)), 0);
      }
    }
  }
  ASSERT_EQ(consumer_names.size(), 2u);
  std::sort(consumer_names.begin(), consumer_names.end());
  EXPECT_EQ(consumer_names[1], consumer_names[0] + "-1");
}

TEST_F(ScoringTest, ScoreHistoryKeepsTheLastHundredChangesNewestFirst) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace(), 100000);
  std::vector<ScoreWrite> writes;
  for (int rev = 1; rev <= 130; ++rev) {
    ScoreWrite w;
    w.project_id = "history-cap";
    w.score.set_project("projects/history-cap");
    w.score.set_project_revision(rev);
    w.score.set_total(rev % 100);
    w.emit = true;
    w.event = "event";
    writes.push_back(std::move(w));
  }
  ASSERT_TRUE(store.WriteScores(std::move(writes)).ok());
  auto history = store.History("history-cap", 0, 1000, absl::InfiniteFuture());
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 100u);
  EXPECT_EQ(history->front().project_revision(), 130);
  EXPECT_EQ(history->back().project_revision(), 31);
}

// A batch's dependency changes go to Redis one SADD and one SREM per set; a project changed
// twice in one batch ends as its last change says.
TEST_F(ScoringTest, DependencySetsEndAsTheBatchsChangesInOrderSay) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace("stp", 4), 100000);
  auto change = [](const std::string& project, std::vector<std::string> added,
                   std::vector<std::string> removed) {
    ScoreStore::DependencyChange c;
    c.project_id = project;
    c.orgs_added = std::move(added);
    c.orgs_removed = std::move(removed);
    c.countries_added = {"countries/EG"};
    return c;
  };
  const std::string a = "organizations/a", b = "organizations/b";
  ASSERT_TRUE(store.UpdateDependents({change("p1", {a, b}, {}), change("p2", {a}, {})}).ok());
  ASSERT_TRUE(store
                  .UpdateDependents({change("p1", {}, {a}),      // leaves a
                                     change("p3", {a}, {}),      // joins a, then
                                     change("p3", {}, {a}),      // leaves it again
                                     change("p4", {}, {a}),      // leaves (was not in), then
                                     change("p4", {a, b}, {})})  // joins a and b
                  .ok());
  auto members = [&](const std::string& name) {
    auto got = store.Dependents(name);
    EXPECT_TRUE(got.ok()) << got.status();
    std::set<std::string> out;
    if (got.ok()) out.insert(got->begin(), got->end());
    return out;
  };
  EXPECT_EQ(members(a), (std::set<std::string>{"p2", "p4"}));
  EXPECT_EQ(members(b), (std::set<std::string>{"p1", "p4"}));
  EXPECT_EQ(members("countries/EG"), (std::set<std::string>{"p1", "p2", "p3", "p4"}));
}

// A project moves from Kenya to Egypt (revision 5, one consumer) and back (revision 6,
// another), and the first consumer's dependency changes land last: Kenya's set lost the
// project. The first consumer sees the later revision and adds its dependencies back.
TEST_F(ScoringTest, DependenciesOvertakenByALaterRevisionAreAddedBack) {
  StartStack(/*with_scoring=*/false);
  DirectEngine direct(Client());
  ScoreStore& store = direct.store;
  ScoringEngine& engine = direct.engine;
  iv1::Project back_in_kenya;
  back_in_kenya.set_name("projects/p1");
  back_in_kenya.set_host_country("countries/KE");
  back_in_kenya.set_revision(6);
  ASSERT_TRUE(
      store.Apply({{ModelKind::kProject, "p1", 6, false, back_in_kenya.SerializeAsString()}}).ok());
  ScoreStore::DependencyChange to_egypt, to_kenya;
  to_egypt.project_id = to_kenya.project_id = "p1";
  to_egypt.countries_removed = to_kenya.countries_added = {"countries/KE"};
  to_egypt.countries_added = to_kenya.countries_removed = {"countries/EG"};
  ASSERT_TRUE(store.UpdateDependents({to_kenya}).ok());  // the later revision's, first
  ASSERT_TRUE(store.UpdateDependents({to_egypt}).ok());
  EXPECT_TRUE(store.Dependents("countries/KE")->empty());
  ReadModelChange revision5{ModelKind::kProject, "p1", 5, false, ""};
  ASSERT_TRUE(engine.RestoreOvertakenDependencies({to_egypt}, {revision5}).ok());
  EXPECT_EQ(*store.Dependents("countries/KE"), std::vector<std::string>{"p1"});
  // A change that is still the latest needs nothing added back.
  ASSERT_TRUE(store.UpdateDependents({to_egypt}).ok());
  ReadModelChange revision6{ModelKind::kProject, "p1", 6, false, ""};
  ASSERT_TRUE(engine.RestoreOvertakenDependencies({to_egypt}, {revision6}).ok());
  EXPECT_TRUE(store.Dependents("countries/KE")->empty());
}

// The same for an organisation: it moves from Kenya to Egypt (one consumer) and back (another),
// and the first consumer's set changes land last. Kenya's organisations lost it, so a change to
// Kenya would not rescore its project. The first consumer adds it back where the read model
// holds it now.
TEST_F(ScoringTest, AnOrganisationsOvertakenMoveIsAddedBack) {
  StartStack(/*with_scoring=*/false);
  DirectEngine direct(Client());
  ScoreStore& store = direct.store;
  ScoringEngine& engine = direct.engine;
  const std::string org = "organizations/o1";
  ScoreStore::DependencyChange reads_org;
  reads_org.project_id = "p1";
  reads_org.orgs_added = {org};
  ASSERT_TRUE(store.UpdateDependents({reads_org}).ok());
  iv1::Organization back_in_kenya;
  back_in_kenya.set_name(org);
  back_in_kenya.set_country("countries/KE");
  ASSERT_TRUE(
      store.Apply({{ModelKind::kOrganization, "o1", 3, false, back_in_kenya.SerializeAsString()}})
          .ok());
  const ScoreStore::OrganizationCountryChange to_egypt{org, "countries/KE", "countries/EG"};
  const ScoreStore::OrganizationCountryChange to_kenya{org, "countries/EG", "countries/KE"};
  ASSERT_TRUE(store.UpdateDependents({}, {to_kenya}).ok());  // the later move's, first
  ASSERT_TRUE(store.UpdateDependents({}, {to_egypt}).ok());
  EXPECT_TRUE(store.Dependents("countries/KE")->empty());
  ASSERT_TRUE(engine.RestoreMovedOrganizations({to_egypt}).ok());
  EXPECT_EQ(*store.Dependents("countries/KE"), std::vector<std::string>{"p1"});
  // A move that is still the latest is left as it is.
  ASSERT_TRUE(engine.RestoreMovedOrganizations({to_kenya}).ok());
  EXPECT_EQ(*store.Dependents("countries/KE"), std::vector<std::string>{"p1"});
}

TEST_F(ScoringTest, ADeadConsumersPendingEventsAreReclaimedAndReplayChangesNothing) {
  StartStack(/*with_scoring=*/false);
  Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  Country("CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  redis::Keyspace ks;
  ScoreStore store(&client, ks, 100000);
  EngineOptions dead_opts;
  dead_opts.consumer = "replica-that-dies";
  ScoringEngine dead(&store, &ScoringModel::Default(), &client, dead_opts,
                     [] { return absl::Now(); });
  ASSERT_TRUE(dead.EnsureGroups().ok());
  std::string tech =
      Org("Shenzhen Payments", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i)
    names.push_back(Project("Hub " + std::to_string(i), "countries/KE", tech).name());
  // The dying replica takes the batch and is killed before it handles or acknowledges it.
  auto conn = client.OpenDedicated();
  ASSERT_TRUE(conn.ok());
  auto taken = redis::ReadGroup(**conn, "scoring", "replica-that-dies", {ks.Events(0)}, {">"}, 1000,
                                absl::ZeroDuration(), absl::Seconds(1));
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ((*taken)[0].entries.size(), 11u);  // the organisation and the ten projects
  // The surviving replica reclaims after the idle time and scores everything.
  EngineOptions live_opts;
  live_opts.consumer = "replica-that-lives";
  live_opts.reclaim_idle = absl::Milliseconds(200);
  live_opts.reclaim_every = absl::Milliseconds(100);
  ScoringEngine live(&store, &ScoringModel::Default(), &client, live_opts,
                     [] { return absl::Now(); });
  live.Start(nullptr, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    auto scores = store.LoadScores({IdOfName(names.back())});
    return scores.ok() && (*scores)[0].has_value();
  }));
  ASSERT_TRUE(WaitFor([&] { return ScoreEvents().size() == 10u; }));
  auto pending = client.Command({"XPENDING", ks.Events(0), "scoring"});
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE(WaitFor([&] {
    return redis::Int(redis::At(client.Command({"XPENDING", ks.Events(0), "scoring"})->get(), 0)) ==
           0;
  }));
  // Handling the same events again changes nothing and emits nothing.
  ASSERT_TRUE(live.Handle((*taken)[0].entries).ok());
  EXPECT_EQ(ScoreEvents().size(), 10u);
  live.Stop();
}

TEST_F(ScoringTest, AFreshReplicaOnAnExistingDataSetScoresEverything) {
  StartStack(/*with_scoring=*/false);
  const std::vector<iv1::Project> hubs = KenyanHubsWithAChinesePartner(30);
  const std::string tech = hubs[0].participants(0).organization();
  std::vector<std::string> names;
  for (const auto& hub : hubs) names.push_back(hub.name());
  // Now scoring starts on the data already there (its events happened before it existed).
  StartStack(/*with_scoring=*/true);
  iv1::Project late = Project("Hub added during bootstrap", "countries/KE", tech);
  names.push_back(late.name());
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& n : names) {
      if (!ScoreOf(n).has_value()) return false;
    }
    return true;
  })) << "not every project was scored";
  v1::RankProjectsRequest rank;
  rank.set_page_size(10);
  v1::RankProjectsResponse page;
  ASSERT_TRUE(WaitFor([&] {
    return Call([&](auto* c) { return scoring_->RankProjects(c, rank, &page); }).ok() &&
           page.total_size() == 31;
  }));
  EXPECT_EQ(page.scores_size(), 10);
  for (int i = 1; i < page.scores_size(); ++i)
    EXPECT_GE(page.scores(i - 1).total(), page.scores(i).total());
  int seen = page.scores_size();
  while (!page.next_page_token().empty()) {
    rank.set_page_token(page.next_page_token());
    ASSERT_TRUE(Call([&](auto* c) { return scoring_->RankProjects(c, rank, &page); }).ok());
    seen += page.scores_size();
  }
  EXPECT_EQ(seen, 31);
}

// The read model keeps a project's scoring inputs, not its description: whether the project
// came from the bootstrap's listing or from an event.
TEST_F(ScoringTest, TheReadModelKeepsTheInputsNotTheDescription) {
  StartStack(/*with_scoring=*/false);
  Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  Country("CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  const std::string tech =
      Org("Shenzhen Payments", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  const std::string description(2000, 'd');
  iv1::Project listed = Project("Listed hub", "countries/KE", tech, description);
  StartStack(/*with_scoring=*/true);
  iv1::Project followed = Project("Followed hub", "countries/KE", tech, description);
  auto owned_client = Client();
  for (const iv1::Project& p : {listed, followed}) {
    ASSERT_TRUE(WaitFor([&] { return ScoreOf(p.name()).has_value(); })) << p.name();
    EXPECT_EQ(p.description(), description);  // the registry keeps it
    const std::string id = p.name().substr(p.name().find('/') + 1);
    auto kept = owned_client->Command({"HGET", "stp:{p0}:scoring:rm:project:" + id, "pb"});
    ASSERT_TRUE(kept.ok()) << kept.status();
    iv1::Project in_model;
    ASSERT_TRUE(in_model.ParseFromString(redis::StrCopy(kept->get()))) << p.name();
    EXPECT_EQ(in_model.title(), p.title());
    EXPECT_EQ(in_model.participants_size(), 1);
    EXPECT_EQ(in_model.description(), "") << p.name();
    EXPECT_EQ(ScoreOf(p.name())->title(), p.title());
  }
}

// A build that fails (here: the registry cannot be reached) lets go of its lock, so that the
// next attempt, by this replica or another, builds the read model; a replica that finds the
// lock taken is told so, and checks again later.
TEST_F(ScoringTest, ABootstrapThatFailsLetsGoOfItsLockAndTheNextOneBuildsEverything) {
  StartStack(/*with_scoring=*/false);
  std::vector<std::string> ids;
  for (const auto& hub : KenyanHubsWithAChinesePartner(5)) ids.push_back(IdOfName(hub.name()));
  DirectEngine direct(Client());
  redis::RedisClient& client = *direct.client;
  ScoreStore& store = direct.store;
  ScoringEngine& engine = direct.engine;
  ASSERT_TRUE(engine.EnsureGroups().ok());
  const std::string lock = "stp:{g}:scoring:bootstrap-lock";

  auto unreachable = iv1::IngestionService::NewStub(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  EXPECT_FALSE(engine.Bootstrap(unreachable.get(), nullptr).ok());
  EXPECT_EQ(redis::Int(client.Command({"EXISTS", lock})->get()), 0) << "the lock was kept";

  ASSERT_TRUE(client.Command({"SET", lock, "another-replica", "EX", "60"}).ok());
  auto held = engine.Bootstrap(ingestion_.get(), nullptr);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_FALSE(*held);
  ASSERT_TRUE(client.Command({"DEL", lock}).ok());

  auto built = engine.Bootstrap(ingestion_.get(), nullptr);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_TRUE(*built);
  auto scores = store.LoadScores(ids);
  ASSERT_TRUE(scores.ok());
  for (const auto& s : *scores) EXPECT_TRUE(s.has_value());
  // The partner's country was read through the organisation, which the build recorded.
  auto readers = store.Dependents("countries/CN");
  ASSERT_TRUE(readers.ok());
  EXPECT_EQ(std::set<std::string>(readers->begin(), readers->end()),
            std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(redis::Int(client.Command({"EXISTS", lock})->get()), 0);

  // A replica told to stop ends its build at the next page, lets go of the lock and leaves the
  // read model to be built again (a build takes longer than a pod's grace period).
  {
    ASSERT_TRUE(client.Command({"SET", "stp:{g}:scoring:bootstrapped", "1"}).ok());
    DirectEngine stopping(Client());
    stopping.engine.Stop();
    auto stopped = stopping.engine.Bootstrap(ingestion_.get(), nullptr);
    EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
    EXPECT_EQ(redis::Int(client.Command({"EXISTS", lock})->get()), 0) << "the lock was kept";
    EXPECT_EQ(redis::Str(client.Command({"GET", "stp:{g}:scoring:bootstrapped"})->get()), "1");
  }

  // A builder whose lock lapsed mid-build, and was taken by another replica, finishes its
  // build but neither renews nor deletes the other replica's lock.
  {
    ASSERT_TRUE(client.Command({"SET", "stp:{g}:scoring:bootstrapped", "1"}).ok());
    DirectEngine slow(Client());
    auto taken = slow.engine.Bootstrap(ingestion_.get(), [&](grpc::ClientContext*) {
      (void)client.Command({"SET", lock, "another-replica", "EX", "60"});
    });
    ASSERT_TRUE(taken.ok()) << taken.status();
    EXPECT_TRUE(*taken);
    EXPECT_EQ(redis::Str(client.Command({"GET", lock})->get()), "another-replica");
    EXPECT_LE(redis::Int(client.Command({"TTL", lock})->get()), 60) << "renewed another's lock";
    ASSERT_TRUE(client.Command({"DEL", lock}).ok());
  }

  // A loss of events recorded while a build runs (by any consumer, as CheckForLostEvents does)
  // leaves that build unfinished: its listings may predate the lost changes. The next one
  // replaces, and finishes.
  {
    ASSERT_TRUE(client.Command({"SET", "stp:{g}:scoring:bootstrapped", "1"}).ok());
    DirectEngine building(Client());
    bool recorded = false;
    auto overtaken = building.engine.Bootstrap(ingestion_.get(), [&](grpc::ClientContext*) {
      if (recorded) return;
      recorded = true;
      (void)client.Command({"INCR", "stp:{g}:scoring:rebuild"});
      (void)client.Command({"DEL", "stp:{g}:scoring:bootstrapped"});
    });
    ASSERT_TRUE(overtaken.ok()) << overtaken.status();
    EXPECT_FALSE(*overtaken);
    EXPECT_EQ(redis::Int(client.Command({"EXISTS", "stp:{g}:scoring:bootstrapped"})->get()), 0);
    EXPECT_EQ(redis::Int(client.Command({"EXISTS", lock})->get()), 0) << "the lock was kept";
    auto again = building.engine.Bootstrap(ingestion_.get(), nullptr);
    ASSERT_TRUE(again.ok() && *again) << again.status();
    EXPECT_EQ(redis::Int(client.Command({"EXISTS", "stp:{g}:scoring:rebuild"})->get()), 0);
    EXPECT_EQ(redis::Str(client.Command({"GET", "stp:{g}:scoring:bootstrapped"})->get()),
              ScoringEngine::kReadModelVersion);
  }

  // A read model an older version built (flag "1", no organisations kept per country) is
  // built again once, over what it holds.
  ASSERT_TRUE(client.Command({"SET", "stp:{g}:scoring:bootstrapped", "1"}).ok());
  ASSERT_TRUE(client.Command({"DEL", "stp:{p0}:scoring:dep:orgs:CN"}).ok());
  ASSERT_TRUE(store.Dependents("countries/CN")->empty());
  auto upgraded = engine.Bootstrap(ingestion_.get(), nullptr);
  ASSERT_TRUE(upgraded.ok() && *upgraded) << upgraded.status();
  EXPECT_EQ(store.Dependents("countries/CN")->size(), ids.size());
  EXPECT_EQ(redis::Str(client.Command({"GET", "stp:{g}:scoring:bootstrapped"})->get()),
            ScoringEngine::kReadModelVersion);
}

// Events trimmed from a stream before scoring read them (it lagged behind the stream's
// retention) are noticed, and the read model is built again from the registry: the projects
// whose events were lost get scores all the same.
TEST_F(ScoringTest, EventsTrimmedBeforeScoringReadThemAreNoticedAndTheReadModelRebuilt) {
  StartStack(/*with_scoring=*/false);
  Country("KE", stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  redis::Keyspace ks;
  ScoreStore store(&client, ks, 100000);
  EngineOptions opts;
  opts.consumer = "lagging";
  opts.reclaim_every = absl::Milliseconds(100);
  ScoringEngine engine(&store, &ScoringModel::Default(), &client, opts, [] { return absl::Now(); });
  ASSERT_TRUE(engine.EnsureGroups().ok());
  ASSERT_TRUE(
      client.Command({"SET", "stp:{g}:scoring:bootstrapped", ScoringEngine::kReadModelVersion})
          .ok());
  // The read model knew Kenya as it was before a change whose event is lost too.
  iv1::Country stale_kenya;
  stale_kenya.set_alpha2("KE");
  stale_kenya.set_income_group(stp::common::v1::INCOME_GROUP_LOW);
  ASSERT_TRUE(
      store.Apply({{ModelKind::kCountry, "KE", 3, false, stale_kenya.SerializeAsString()}}).ok());
  // And a project, with its score, whose deletion is lost.
  iv1::Project gone;
  gone.set_name("projects/0000000000000009");
  gone.set_host_country("countries/KE");
  gone.mutable_create_time()->set_seconds(1600000000);
  ASSERT_TRUE(
      store.Apply({{ModelKind::kProject, "0000000000000009", 2, false, gone.SerializeAsString()}})
          .ok());
  // And one the listing cannot show: created (by a pod whose clock is 10 s behind this one's)
  // after the listing began. Within the clock margin, the rebuild keeps it.
  iv1::Project recent;
  recent.set_name("projects/0000000000000008");
  recent.set_host_country("countries/KE");
  *recent.mutable_create_time() = common::ToTimestamp(absl::Now() - absl::Seconds(10));
  ASSERT_TRUE(
      store.Apply({{ModelKind::kProject, "0000000000000008", 1, false, recent.SerializeAsString()}})
          .ok());
  ScoreWrite gone_score;
  gone_score.project_id = "0000000000000009";
  gone_score.score.set_project(gone.name());
  gone_score.score.set_project_revision(2);
  ASSERT_TRUE(store.WriteScores({gone_score}).ok());
  // The group reads (and acknowledges) one event, then falls behind: the next ones are
  // trimmed before it reads them.
  Country("CN", stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  auto conn = client.OpenDedicated();
  ASSERT_TRUE(conn.ok());
  auto read = redis::ReadGroup(**conn, "scoring", "lagging", {ks.Events(0)}, {">"}, 10,
                               absl::ZeroDuration(), absl::Seconds(1));
  ASSERT_TRUE(read.ok() && (*read)[0].entries.size() == 1u);
  ASSERT_TRUE(client.Command({"XACK", ks.Events(0), "scoring", (*read)[0].entries[0].id}).ok());
  std::string tech =
      Org("Shenzhen Payments", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(IdOfName(Project("Hub " + std::to_string(i), "countries/KE", tech).name()));
  // An organisation and a park a project names, which the read model holds (their creation
  // events were read) and whose deletions are lost.
  iv1::Organization gone_org;
  {
    iv1::GetOrganizationRequest get;
    get.set_name(Org("Departed Partner", "countries/CN", iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR));
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->GetOrganization(c, get, &gone_org); }).ok());
  }
  iv1::Park gone_park;
  {
    iv1::CreateParkRequest create;
    create.mutable_park()->set_display_name("Closed Park");
    create.mutable_park()->set_host_country("countries/KE");
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->CreatePark(c, create, &gone_park); }).ok());
  }
  {
    iv1::CreateProjectRequest req;
    req.mutable_project()->set_title("Hub in a closed park");
    req.mutable_project()->set_host_country("countries/KE");
    req.mutable_project()->set_park(gone_park.name());
    req.mutable_project()->add_avenues(stp::common::v1::AVENUE_E_COMMERCE);
    auto* part = req.mutable_project()->add_participants();
    part->set_organization(gone_org.name());
    part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    iv1::Project out;
    grpc::Status created = Call([&](auto* c) { return ingestion_->CreateProject(c, req, &out); });
    ASSERT_TRUE(created.ok()) << created.error_message();
  }
  // Created well before the rebuild (one created within the rebuild's clock margin is kept).
  gone_org.mutable_create_time()->set_seconds(1600000000);
  gone_park.mutable_create_time()->set_seconds(1600000000);
  ASSERT_TRUE(store
                  .Apply({{ModelKind::kOrganization, IdOfName(gone_org.name()), 1, false,
                           gone_org.SerializeAsString()},
                          {ModelKind::kPark, IdOfName(gone_park.name()), 1, false,
                           gone_park.SerializeAsString()}})
                  .ok());
  ASSERT_TRUE(store.UpdateDependents({}, {{gone_org.name(), "", "countries/CN"}}).ok());
  {
    iv1::DeleteOrganizationRequest del;
    del.set_name(gone_org.name());
    iv1::DeleteResponse out;
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->DeleteOrganization(c, del, &out); }).ok());
    iv1::DeleteParkRequest del_park;
    del_park.set_name(gone_park.name());
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->DeletePark(c, del_park, &out); }).ok());
  }
  ASSERT_TRUE(client.Command({"XTRIM", ks.Events(0), "MAXLEN", "0"}).ok());
  // A consumer without the registry's stub (each replica's second) notices the loss first; it
  // cannot rebuild, and must leave the loss to one that can. It reads on past the gap (the
  // score events of its day's rescore, 0000000000000008's among them, come after it), after
  // which the group's counters no longer show the loss: the loss is recorded in Redis.
  {
    EngineOptions sidecar_opts = opts;
    sidecar_opts.consumer = "sidecar";
    ScoringEngine sidecar(&store, &ScoringModel::Default(), &client, sidecar_opts,
                          [] { return absl::Now(); });
    sidecar.Start(nullptr, nullptr);
    absl::SleepFor(absl::Milliseconds(500));  // five of its checks
    sidecar.Stop();
    EXPECT_EQ(redis::Int(client.Command({"EXISTS", "stp:{g}:scoring:bootstrapped"})->get()), 0);
    // Stopped with nothing pending, it leaves the group: consumer names do not pile up
    // across restarts.
    for (const auto& stream : ks.AllEventStreams()) {
      auto consumers = client.Command({"XINFO", "CONSUMERS", stream, "scoring"});
      ASSERT_TRUE(consumers.ok());
      for (size_t i = 0; i < redis::Size(consumers->get()); ++i) {
        const redisReply* c = redis::At(consumers->get(), i);
        for (size_t k = 0; k + 1 < redis::Size(c); k += 2) {
          if (redis::Str(redis::At(c, k)) == "name") {
            EXPECT_NE(redis::Str(redis::At(c, k + 1)), "sidecar") << stream;
          }
        }
      }
    }
  }

  engine.Start(std::shared_ptr<iv1::IngestionService::StubInterface>(
                   iv1::IngestionService::NewStub(stack_->channel())),
               nullptr);
  EXPECT_TRUE(WaitFor([&] {
    auto scores = store.LoadScores(ids);
    if (!scores.ok()) return false;
    for (const auto& s : *scores) {
      if (!s.has_value()) return false;
    }
    return true;
  })) << "the projects whose events were trimmed were never scored";
  auto kenya = store.LoadCountries({"countries/KE"});
  ASSERT_TRUE(kenya.ok() && (*kenya)[0].has_value());
  EXPECT_EQ((*kenya)[0]->income_group(), stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  auto held = store.AllProjectIds();
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(std::count(held->begin(), held->end(), "0000000000000009"), 0);
  EXPECT_EQ(std::count(held->begin(), held->end(), "0000000000000008"), 1)
      << "a project created within the clock margin of the listing was forgotten";
  EXPECT_FALSE((*store.LoadScores({"0000000000000009"}))[0].has_value());
  // The deleted organisation and park read as missing, as their events would have left them;
  // the organisation the registry still lists stays.
  auto orgs = store.LoadOrganizations({gone_org.name(), tech});
  ASSERT_TRUE(orgs.ok());
  EXPECT_FALSE((*orgs)[0].has_value()) << "a deleted organisation stayed in the read model";
  EXPECT_TRUE((*orgs)[1].has_value());
  auto parks = store.LoadParks({gone_park.name()});
  ASSERT_TRUE(parks.ok());
  EXPECT_FALSE((*parks)[0].has_value()) << "a deleted park stayed in the read model";
  engine.Stop();
}

// A consumer that reads a full batch is behind, and the retention may trim what it has not
// read before its next read, which would pass over the gap: the periodic check comes too late
// (here not at all), as the group is past the gap by then. The check runs before that read.
TEST_F(ScoringTest, AConsumerBehindLooksForTrimmedEventsBeforeItsNextRead) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  redis::Keyspace ks;
  ScoreStore store(&client, ks, 100000);
  std::atomic<bool> trimmed{false};
  EngineOptions opts;
  opts.consumer = "behind";
  opts.batch = 5;
  opts.reclaim_every = absl::Hours(1);
  opts.after_batch = [&] {
    if (trimmed.exchange(true)) return;
    for (const auto& stream : ks.AllEventStreams())
      ASSERT_TRUE(client.Command({"XTRIM", stream, "MAXLEN", "3"}).ok());
  };
  ScoringEngine engine(&store, &ScoringModel::Default(), &client, opts, [] { return absl::Now(); });
  ASSERT_TRUE(engine.EnsureGroups().ok());
  ASSERT_TRUE(
      client.Command({"SET", "stp:{g}:scoring:bootstrapped", ScoringEngine::kReadModelVersion})
          .ok());
  // Twenty events on one stream: the first read takes five, the trim leaves the last three.
  for (int i = 0; i < 20; ++i) {
    Country("KE", i % 2 == 0 ? stp::common::v1::INCOME_GROUP_LOW
                             : stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  }
  engine.Start(nullptr, nullptr);
  EXPECT_TRUE(WaitFor([&] {
    auto flag = client.Command({"EXISTS", "stp:{g}:scoring:bootstrapped"});
    return flag.ok() && redis::Int(flag->get()) == 0;
  })) << "the events trimmed between two reads were passed over in silence";
  EXPECT_TRUE(trimmed.load());
  engine.Stop();
}

// Events a consumer took and never acknowledged, trimmed by the retention before they were
// handled: found by the replica that reclaims them, or by the consumer itself when it reads its
// own pending entries after a restart. Either way the read model is built again.
TEST_F(ScoringTest, EventsTrimmedWhileTheyWerePendingAreRecordedAsLost) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  redis::Keyspace ks;
  ScoreStore store(&client, ks, 100000);
  for (const bool reclaimed : {true, false}) {
    SCOPED_TRACE(reclaimed ? "reclaimed from a consumer that died" : "the consumer's own");
    EngineOptions opts;
    opts.consumer = "heir";
    opts.reclaim_idle = reclaimed ? absl::Milliseconds(1) : absl::Hours(1);
    ScoringEngine engine(&store, &ScoringModel::Default(), &client, opts,
                         [] { return absl::Now(); });
    ASSERT_TRUE(engine.EnsureGroups().ok());
    ASSERT_TRUE(
        client.Command({"SET", "stp:{g}:scoring:bootstrapped", ScoringEngine::kReadModelVersion})
            .ok());
    for (int i = 0; i < 5; ++i) {
      Country("KE", i % 2 == 0 ? stp::common::v1::INCOME_GROUP_LOW
                               : stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
    }
    // Taken (by a consumer that died, or by this one before it restarted), then trimmed.
    ASSERT_TRUE(testing::TakeThenTrim(client, ks.AllEventStreams(), opts.group,
                                      reclaimed ? "gone" : opts.consumer)
                    .ok());
    absl::SleepFor(absl::Milliseconds(5));
    engine.Start(nullptr, nullptr);
    EXPECT_TRUE(WaitFor([&] {
      auto flag = client.Command({"EXISTS", "stp:{g}:scoring:bootstrapped"});
      return flag.ok() && redis::Int(flag->get()) == 0;
    })) << "the pending events trimmed before they were handled were acknowledged in silence";
    engine.Stop();
    auto pending = client.Command({"XPENDING", ks.AllEventStreams()[0], opts.group});
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(redis::Int(redis::At(pending->get(), 0)), 0) << "the lost entries stay pending";
  }
}

// A rebuild's listing of an organisation, read before an event about it that the read model
// applied since, must not put the older state back; one written later replaces it (keeping the
// stored revision, so that a replay of the event changes nothing).
TEST_F(ScoringTest, ARebuildListingOlderThanTheAppliedStateDoesNotReplaceIt) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  ScoreStore store(owned_client.get(), redis::Keyspace(), 100000);
  auto apply = [&](int64_t revision, const std::string& display_name, int64_t millis) {
    iv1::Organization org;
    org.set_name("organizations/o1");
    org.set_display_name(display_name);
    auto applied = store.Apply(
        {{ModelKind::kOrganization, "o1", revision, false, org.SerializeAsString(), millis}});
    EXPECT_TRUE(applied.ok()) << applied.status();
    return applied.ok() && (*applied)[0].applied;
  };
  auto stored_name = [&] {
    auto orgs = store.LoadOrganizations({"organizations/o1"});
    return orgs.ok() && (*orgs)[0].has_value() ? (*orgs)[0]->display_name() : std::string();
  };
  const int64_t kReplace = ReadModelChange::kReplace;
  EXPECT_TRUE(apply(7, "from the event", 2000));
  EXPECT_FALSE(apply(kReplace, "listed before the event", 1000));
  EXPECT_EQ(stored_name(), "from the event");
  EXPECT_TRUE(apply(kReplace, "listed after the event", 3000));
  EXPECT_EQ(stored_name(), "listed after the event");
  EXPECT_FALSE(apply(7, "the event again", 2000));  // the revision stayed 7
  EXPECT_TRUE(apply(8, "a later event", 4000));
  EXPECT_EQ(stored_name(), "a later event");
  // A listing whose time is unknown replaces, as before times were kept.
  EXPECT_TRUE(apply(kReplace, "listed, time unknown", 0));
  EXPECT_EQ(stored_name(), "listed, time unknown");
}

// A score computed from a project that another consumer deletes meanwhile is not written
// after the delete: the project stays without a score.
TEST_F(ScoringTest, AScoreWrittenAfterItsProjectWasDeletedIsDropped) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace(), 100000);
  iv1::Project project;
  project.set_name("projects/0000000000000001");
  project.set_revision(1);
  ReadModelChange created{ModelKind::kProject, "0000000000000001", 1, false,
                          project.SerializeAsString()};
  ASSERT_TRUE(store.Apply({created}).ok());
  ReadModelChange deleted{ModelKind::kProject, "0000000000000001", 2, true, ""};
  ASSERT_TRUE(store.Apply({deleted}).ok());
  ASSERT_TRUE(store.DeleteScore("0000000000000001").ok());
  ScoreWrite late;
  late.project_id = "0000000000000001";
  late.score.set_project(project.name());
  late.score.set_project_revision(1);
  late.score.set_total(50);
  late.emit = false;
  ASSERT_TRUE(store.WriteScores({late}).ok());
  auto scores = store.LoadScores({"0000000000000001"});
  ASSERT_TRUE(scores.ok());
  EXPECT_FALSE((*scores)[0].has_value());
}

// Two consumers score one project from inputs read at different moments: the score that saw
// less never lands over the one that saw more, and one that saw a change the stored one did
// not, but missed another, is to be computed again.
TEST_F(ScoringTest, AScoreFromOlderInputsNeverLandsOverAFresherOne) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace(), 100000);
  const std::string id = "0000000000000001";
  iv1::Project project;
  project.set_name("projects/" + id);
  ASSERT_TRUE(store.Apply({{ModelKind::kProject, id, 1, false, project.SerializeAsString()}}).ok());
  auto generations = [&] {
    auto g = store.InputGenerations();
    EXPECT_TRUE(g.ok());
    return g.ok() ? *g : std::string();
  };
  const std::string before_change = generations();
  EXPECT_EQ(before_change, "0");
  iv1::Country country;
  country.set_alpha2("KE");
  ASSERT_TRUE(
      store.Apply({{ModelKind::kCountry, "KE", 1, false, country.SerializeAsString()}}).ok());
  const std::string after_change = generations();
  EXPECT_EQ(after_change, "1");
  auto write = [&](int64_t revision, const std::string& inputs, double total) {
    ScoreWrite w;
    w.project_id = id;
    w.score.set_project(project.name());
    w.score.set_project_revision(revision);
    w.score.set_total(total);
    w.inputs = inputs;
    return WriteOne(store, std::move(w));
  };
  auto stored_total = [&] { return (*store.LoadScores({id}))[0]->total(); };
  EXPECT_EQ(write(1, after_change, 60), WriteOutcome::kWritten);
  // Read before the country changed, written after the fresher score: dropped.
  EXPECT_EQ(write(1, before_change, 40), WriteOutcome::kNotWritten);
  EXPECT_EQ(stored_total(), 60);
  // A newer project revision read with the older country: compute again.
  EXPECT_EQ(write(2, before_change, 45), WriteOutcome::kComputeAgain);
  EXPECT_EQ(stored_total(), 60);
  // Both newer: written.
  EXPECT_EQ(write(2, after_change, 65), WriteOutcome::kWritten);
  EXPECT_EQ(stored_total(), 65);
  // The same inputs and the same score again: nothing written.
  EXPECT_EQ(write(2, after_change, 65), WriteOutcome::kNotWritten);
}

// Two consumers score one project from the same stored score: one after the project changed,
// the other after an input it reads changed (so it saw more). The second to write must not
// announce the first one's change again, nor a change from a score no longer stored: it
// computes again, from the score now stored.
TEST_F(ScoringTest, AScoreDecidedAgainstAReplacedScoreIsComputedAgain) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace(), 100000);
  const std::string id = "0000000000000001";
  iv1::Project project = ProjectAt(id, 1);
  ASSERT_TRUE(ApplyProject(store, project).ok());
  auto stored = [&]() -> std::optional<StoredScore> {
    auto loaded = store.LoadStoredScores({id});
    EXPECT_TRUE(loaded.ok());
    return loaded.ok() ? (*loaded)[0] : std::nullopt;
  };
  auto scored = [&](double total, const std::string& inputs, const std::string& based_on) {
    ScoreWrite w = ScoreWriteFor(project, total);
    w.inputs = inputs;
    w.emit = true;
    Event e;
    e.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
    e.set_resource(project.name());
    w.event = e.SerializeAsString();
    w.based_on = based_on;
    return WriteOne(store, std::move(w));
  };
  auto count = [&](const std::vector<std::string>& command) {
    auto reply = client.Command(command);
    EXPECT_TRUE(reply.ok());
    return reply.ok() ? redis::Int(reply->get()) : -1;
  };
  const std::string events = redis::Keyspace().Events(0);
  const std::string history = "stp:{p0}:scoring:hist:" + id;
  ASSERT_EQ(scored(50, "0", BasedOn(nullptr)), WriteOutcome::kWritten);
  const std::optional<StoredScore> first = stored();
  ASSERT_TRUE(first.has_value());
  // Consumer A: the project changed; 50 -> 80.
  project = ProjectAt(id, 2);
  ASSERT_TRUE(ApplyProject(store, project).ok());
  ASSERT_EQ(scored(80, "0", BasedOn(&*first)), WriteOutcome::kWritten);
  // Consumer B loaded the stored 50 before A wrote, then a country changed (an input it
  // reads), and it computed 80 too, from inputs that saw more than A's.
  iv1::Country country;
  country.set_alpha2("KE");
  ASSERT_TRUE(
      store.Apply({{ModelKind::kCountry, "KE", 1, false, country.SerializeAsString()}}).ok());
  EXPECT_EQ(scored(80, "1", BasedOn(&*first)), WriteOutcome::kComputeAgain);
  EXPECT_EQ(count({"XLEN", events}), 2) << "50 -> 80 was announced twice";
  EXPECT_EQ(count({"LLEN", history}), 2);
  // Or 70: a change from 80, not from 50, and only once it is computed against the 80.
  EXPECT_EQ(scored(70, "1", BasedOn(&*first)), WriteOutcome::kComputeAgain);
  EXPECT_EQ(stored()->score.total(), 80);
  const std::optional<StoredScore> second = stored();
  EXPECT_EQ(scored(70, "1", BasedOn(&*second)), WriteOutcome::kWritten);
  EXPECT_EQ(count({"XLEN", events}), 3);
  EXPECT_EQ(stored()->score.total(), 70);
}

// An input changes and changes back. One consumer computes the stored score again from the
// inputs as they end (it writes nothing new, but records that it saw them); another, slower,
// computed a different score from the inputs in between and writes it last: it is dropped, not
// left as the final score.
TEST_F(ScoringTest, TheSameScoreFromFresherInputsKeepsAScoreFromOlderOnesOut) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  ScoreStore store(owned_client.get(), redis::Keyspace(), 100000);
  const std::string id = "0000000000000001";
  const iv1::Project project = ProjectAt(id, 1);
  ASSERT_TRUE(ApplyProject(store, project).ok());
  auto score = [&](double total, const std::string& inputs) {
    ScoreWrite w = ScoreWriteFor(project, total);
    w.digest = ScoreDigest(w.score);
    w.inputs = inputs;
    return w;
  };
  auto write = [&](ScoreWrite w) { return WriteOne(store, std::move(w)); };
  auto stored = [&] {
    auto loaded = store.LoadStoredScores({id});
    EXPECT_TRUE(loaded.ok() && (*loaded)[0].has_value());
    return loaded.ok() && (*loaded)[0].has_value() ? *(*loaded)[0] : StoredScore();
  };
  ASSERT_EQ(write(score(60, "0")), WriteOutcome::kWritten);
  const std::string same = ScoreDigest(score(60, "").score);
  StoredScore now = stored();
  EXPECT_EQ(WriteNeeded(nullptr, same, 1, "0"), ScoreWriteNeed::kScore);
  EXPECT_EQ(WriteNeeded(&now, ScoreDigest(score(40, "").score), 1, "0"), ScoreWriteNeed::kScore);
  EXPECT_EQ(WriteNeeded(&now, same, 1, "0"), ScoreWriteNeed::kNothing);
  // The input changes (generation 1) and back (generation 2); the score from the end is the
  // stored one again.
  ASSERT_EQ(WriteNeeded(&now, same, 1, "2"), ScoreWriteNeed::kTouch);
  ScoreWrite touch = score(60, "2");
  touch.touch = true;
  EXPECT_EQ(write(std::move(touch)), WriteOutcome::kWritten);
  now = stored();
  EXPECT_EQ(now.inputs, "2");
  EXPECT_EQ(WriteNeeded(&now, same, 1, "2"), ScoreWriteNeed::kNothing);
  // The slower consumer's score, from the inputs in between: dropped.
  EXPECT_EQ(write(score(40, "1")), WriteOutcome::kNotWritten);
  EXPECT_EQ(stored().score.total(), 60);
  // A touch whose score was replaced meanwhile by a different one is computed again.
  ASSERT_EQ(write(score(70, "3")), WriteOutcome::kWritten);
  ScoreWrite stale_touch = score(60, "4");
  stale_touch.touch = true;
  EXPECT_EQ(write(std::move(stale_touch)), WriteOutcome::kComputeAgain);
  EXPECT_EQ(stored().score.total(), 70);
}

// The engine hands the store the bytes it hashed for the digest, and the store appends the
// compute time to them instead of serializing the score again: what is stored is the whole
// score, and its digest is the one a reader computes from it.
TEST_F(ScoringTest, AScoreSerializedForItsDigestIsStoredWhole) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  ScoreStore store(owned_client.get(), redis::Keyspace(), 100000);
  const std::string id = "0000000000000002";
  const iv1::Project project = ProjectAt(id, 3);
  ASSERT_TRUE(ApplyProject(store, project).ok());
  ScoreWrite w = ScoreWriteFor(project, 71.5);
  w.score.set_title("Solar incubator");
  w.score.add_participant_organizations("organizations/a");
  auto* component = w.score.add_components();
  component->set_value(0.5);
  component->add_reasons("no financier has committed funds yet");
  w.digest = ScoreDigest(w.score, &w.serialized);
  ASSERT_FALSE(w.serialized.empty());
  *w.score.mutable_compute_time() = common::ToTimestamp(absl::FromUnixSeconds(1767225600));
  const v1::Score expected = w.score;
  w.emit = true;
  Event event;
  event.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  w.event = event.SerializeAsString();
  auto out = store.WriteScores({std::move(w)});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0], WriteOutcome::kWritten);
  auto loaded = store.LoadStoredScores({id});
  ASSERT_TRUE(loaded.ok() && (*loaded)[0].has_value());
  const StoredScore& stored = *(*loaded)[0];
  redis::Keyspace keyspace;
  auto raw = owned_client->Command(
      {"HGET", keyspace.Key(keyspace.PartitionOf(id), "scoring", "score", id), "pb"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  auto unpacked = common::UnpackPhrases(redis::StrCopy(raw->get()));
  ASSERT_TRUE(unpacked.ok()) << unpacked.status();
  EXPECT_EQ(*unpacked, expected.SerializeAsString()) << "the stored bytes are not canonical";
  EXPECT_EQ(stored.digest, ScoreDigest(stored.score));
  // A digest of another version (or none) asks for the score to be written again.
  StoredScore other = stored;
  other.digest = "0123456789abcdef";
  EXPECT_EQ(WriteNeeded(&other, stored.digest, 3, stored.inputs), ScoreWriteNeed::kScore);
}

// A damaged stored score is replaced even when its digest matches the new score's, but only
// once: two consumers that both read it damaged write one score and one event between them.
TEST_F(ScoringTest, AnUnreadableScoreIsReplacedOnceByConsumersThatBothSawIt) {
  StartStack(/*with_scoring=*/false);
  auto owned_client = Client();
  redis::Keyspace keyspace;
  ScoreStore store(owned_client.get(), keyspace, 100000);
  const std::string id = "0000000000000003";
  const iv1::Project project = ProjectAt(id, 1);
  ASSERT_TRUE(ApplyProject(store, project).ok());
  auto score = [&](const std::string& replace) {
    ScoreWrite w = ScoreWriteFor(project, 55);
    w.digest = ScoreDigest(w.score);
    w.inputs = "0";
    w.emit = true;
    Event event;
    event.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
    event.set_resource(project.name());
    w.event = event.SerializeAsString();
    w.replace_unreadable = replace;
    return w;
  };
  auto write = [&](ScoreWrite w) { return WriteOne(store, std::move(w)); };
  ASSERT_EQ(write(score("")), WriteOutcome::kWritten);
  const std::string key = keyspace.Key(keyspace.PartitionOf(id), "scoring", "score", id);
  // A packed score's format byte, then no compressed frame.
  const std::string garbage = std::string(1, '\x01') + "damaged";
  ASSERT_TRUE(owned_client->Command({"HSET", key, "pb", garbage}).ok());
  auto loaded = store.LoadStoredScores({id});
  ASSERT_TRUE(loaded.ok() && (*loaded)[0].has_value());
  const StoredScore& damaged = *(*loaded)[0];
  ASSERT_TRUE(damaged.unreadable);
  EXPECT_EQ(damaged.unreadable_sha1, redis::Sha1Hex(garbage));
  const size_t events_before = ScoreEvents().size();
  // The same score without the damaged value's name is taken for the stored one.
  EXPECT_EQ(write(score("")), WriteOutcome::kNotWritten);
  // Both consumers name it: the first replaces it, the second finds a readable score.
  EXPECT_EQ(write(score(damaged.unreadable_sha1)), WriteOutcome::kWritten);
  EXPECT_EQ(write(score(damaged.unreadable_sha1)), WriteOutcome::kNotWritten);
  auto repaired = store.LoadStoredScores({id});
  ASSERT_TRUE(repaired.ok() && (*repaired)[0].has_value());
  EXPECT_FALSE((*repaired)[0]->unreadable);
  EXPECT_EQ((*repaired)[0]->score.total(), 55);
  EXPECT_EQ(ScoreEvents().size(), events_before + 1);
}

// What the date alone changes shows once a day: a milestone that falls due lowers the score
// at the day's rescore, which one replica does per day.
TEST_F(ScoringTest, ADaysRescoreShowsAMilestoneThatFellDue) {
  StartStack(/*with_scoring=*/false);
  iv1::UpdateProjectRequest up;
  *up.mutable_project() = KenyanHubsWithAChinesePartner(1)[0];
  auto* milestone = up.mutable_project()->add_milestones();
  milestone->set_name("incubator opens");
  milestone->mutable_due_date()->set_year(2030);
  milestone->mutable_due_date()->set_month(6);
  milestone->mutable_due_date()->set_day(1);
  up.mutable_update_mask()->add_paths("milestones");
  iv1::Project project;
  ASSERT_TRUE(Call([&](auto* c) { return ingestion_->UpdateProject(c, up, &project); }).ok());

  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace(), 100000);
  std::atomic<int64_t> now_seconds{absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(2030, 5, 30, 12, 0, 0), absl::UTCTimeZone()))};
  auto clock = [&] { return absl::FromUnixSeconds(now_seconds.load()); };
  EngineOptions first_opts, second_opts;
  first_opts.consumer = "first";
  second_opts.consumer = "second";
  ScoringEngine first(&store, &ScoringModel::Default(), &client, first_opts, clock);
  ScoringEngine second(&store, &ScoringModel::Default(), &client, second_opts, clock);
  ASSERT_TRUE(first.EnsureGroups().ok());
  auto built = first.Bootstrap(ingestion_.get(), nullptr);
  ASSERT_TRUE(built.ok() && *built) << built.status();
  auto score = [&] {
    auto s = store.LoadScores({IdOfName(project.name())});
    EXPECT_TRUE(s.ok() && (*s)[0].has_value());
    return s.ok() && (*s)[0].has_value() ? (*s)[0]->total() : -1.0;
  };
  const double on_time = score();
  // The build was the day's rescore.
  EXPECT_FALSE(*first.RescoreForNewDay());
  EXPECT_FALSE(*second.RescoreForNewDay());

  now_seconds += 3 * 24 * 3600;  // 2 June: the milestone is overdue
  auto did = second.RescoreForNewDay();
  ASSERT_TRUE(did.ok()) << did.status();
  EXPECT_TRUE(*did);
  EXPECT_FALSE(*first.RescoreForNewDay()) << "the day was rescored twice";
  EXPECT_LT(score(), on_time);
}

// Replicas started with a changed model config rescore every project under it at once, not at
// the next day's rescore; one replica does it, whatever the number started.
TEST_F(ScoringTest, ANewModelConfigRescoresEveryProjectAtOnce) {
  StartStack(/*with_scoring=*/false);
  std::vector<iv1::Project> projects = KenyanHubsWithAChinesePartner(3);
  auto owned_client = Client();
  redis::RedisClient& client = *owned_client;
  ScoreStore store(&client, redis::Keyspace(), 100000);
  auto clock = [] { return absl::Now(); };
  EngineOptions opts;
  opts.consumer = "old-config";
  ScoringEngine old_config(&store, &ScoringModel::Default(), &client, opts, clock);
  ASSERT_TRUE(old_config.EnsureGroups().ok());
  auto built = old_config.Bootstrap(ingestion_.get(), nullptr);
  ASSERT_TRUE(built.ok() && *built) << built.status();
  EXPECT_FALSE(*old_config.RescoreForNewDay());  // the build was today's rescore

  std::string json(ScoringModel::DefaultJson());
  const std::string weight = "\"bridge_restores\": 0.8";
  ASSERT_NE(json.find(weight), std::string::npos);
  json.replace(json.find(weight), weight.size(), "\"bridge_restores\": 0.5");
  auto changed = ScoringModel::FromJson(json);
  ASSERT_TRUE(changed.ok()) << changed.status();
  // The same version string: the content names the config, not the label.
  ASSERT_EQ(changed->version(), ScoringModel::Default().version());
  ASSERT_NE(changed->config().fingerprint, ScoringModel::Default().config().fingerprint);
  opts.consumer = "new-config-1";
  ScoringEngine first(&store, &*changed, &client, opts, clock);
  opts.consumer = "new-config-2";
  ScoringEngine second(&store, &*changed, &client, opts, clock);
  auto did = first.RescoreForNewDay();
  ASSERT_TRUE(did.ok()) << did.status();
  EXPECT_TRUE(*did) << "a changed config waited for the next day";
  EXPECT_FALSE(*second.RescoreForNewDay()) << "the new config was applied twice";
  // A replica of the old config started now finds its own config's day done (the build).
  opts.consumer = "old-config-restarted";
  ScoringEngine restarted(&store, &ScoringModel::Default(), &client, opts, clock);
  EXPECT_FALSE(*restarted.RescoreForNewDay());
}

TEST_F(ScoringTest, EgyptAndSouthAfricaSubsetScoresEndToEnd) {
  const char* env = std::getenv("STP_SHARED_DATA");
  std::string d = env ? env : "/work/shared/data";
  if (!std::ifstream(d + "/countries/iso3166-countries-with-regional-codes.csv")) {
    GTEST_SKIP() << "no shared data at " << d << "; the real-data scoring test is skipped";
  }
  StartStack();
  auto countries = ingestion::JoinOfficialCountryFiles(
      ReadFile(d + "/countries/iso3166-countries-with-regional-codes.csv"),
      ReadFile(d + "/countries/worldbank-country-metadata-income-groups.csv"),
      ReadFile(d + "/bri/gfdc-bri-countries-2023-12.csv"));
  ASSERT_TRUE(countries.ok());
  for (const auto& c : *countries) {
    iv1::UpsertCountryRequest req;
    *req.mutable_country() = c;
    iv1::Country out;
    ASSERT_TRUE(Call([&](auto* ctx) { return ingestion_->UpsertCountry(ctx, req, &out); }).ok());
  }
  int imported = 0;
  for (auto [file, format] :
       {std::pair{d + "/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml",
                  iv1::IMPORT_FORMAT_IATI_XML},
        std::pair{d + "/chinese-finance/aiddata-gcof-v1.0-subset-stp-egypt-southafrica.csv",
                  iv1::IMPORT_FORMAT_AIDDATA_CSV}}) {
    std::string data = ReadFile(file);
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(60));
    iv1::ImportSummary summary;
    auto writer = ingestion_->ImportProjects(&ctx, &summary);
    iv1::ImportProjectsRequest first;
    first.set_format(format);
    writer->Write(first);
    for (size_t off = 0; off < data.size(); off += 65536) {
      iv1::ImportProjectsRequest m;
      m.set_chunk(data.substr(off, 65536));
      writer->Write(m);
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    imported += summary.created();
  }
  ASSERT_GT(imported, 100);
  v1::GetPortfolioSummaryRequest req;
  req.set_group_by(v1::GROUP_BY_COUNTRY);
  v1::PortfolioSummary summary;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Call([&](auto* c) {
                 return scoring_->GetPortfolioSummary(c, req, &summary);
               }).ok() &&
               summary.overall().project_count() == imported;
      },
      absl::Seconds(30)))
      << summary.overall().project_count() << " of " << imported << " scored";
  std::printf("scored %d projects; tiers A %d, B %d, C %d, D %d; mean %.1f\n",
              summary.overall().project_count(), summary.overall().tiers().a(),
              summary.overall().tiers().b(), summary.overall().tiers().c(),
              summary.overall().tiers().d(), summary.overall().mean_score());
  for (const auto& g : summary.groups()) {
    if (g.key() != "countries/EG" && g.key() != "countries/ZA") continue;
    std::printf(
        "  %-14s %3d projects, mean %.1f, median %.1f, A %d B %d C %d D %d, tier-A share %.2f "
        "(base %.2f)\n",
        g.label().c_str(), g.project_count(), g.mean_score(), g.median_score(), g.tiers().a(),
        g.tiers().b(), g.tiers().c(), g.tiers().d(), g.tier_a_share(), summary.base_rate());
    EXPECT_GT(g.project_count(), 10);
    EXPECT_EQ(g.tiers().a() + g.tiers().b() + g.tiers().c() + g.tiers().d(), g.project_count());
  }
  req.set_group_by(v1::GROUP_BY_AVENUE);
  ASSERT_TRUE(Call([&](auto* c) { return scoring_->GetPortfolioSummary(c, req, &summary); }).ok());
  EXPECT_GE(summary.groups_size(), 3);
}

}  // namespace
}  // namespace stp::scoring
