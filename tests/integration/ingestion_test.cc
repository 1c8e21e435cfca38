// The ingestion service end to end: a real redis-server, the real module in a real gRPC server,
// called through a real channel.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "libs/common/event_header.h"
#include "libs/common/grpc_status.h"
#include "libs/redis/streams.h"
#include "services/ingestion/import_session.h"
#include "services/ingestion/ingestion_module.h"
#include "services/ingestion/redis_registry_store.h"
#include "services/ingestion/reference_data.h"
#include "services/ingestion/registry.h"
#include "services/ingestion/validation.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "tests/testing/test_stack.h"

namespace stp::ingestion {
namespace {

using stp::events::v1::Event;
using testing::TestStack;

std::string SharedData() {
  const char* env = std::getenv("STP_SHARED_DATA");
  return env != nullptr ? env : "/work/shared/data";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class IngestionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(NewIngestionModule());
    stack_ = TestStack::Start(std::move(modules));
    ASSERT_NE(stack_, nullptr);
    stub_ = v1::IngestionService::NewStub(stack_->channel());
    for (const char* cc : {"EG", "ZA", "CN", "NG", "DE", "KE"}) AddCountry(cc);
  }

  // Whether the service answers a read that needs Redis.
  static bool Serving(v1::IngestionService::Stub* stub) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(2));
    v1::GetCountryRequest g;
    g.set_name("countries/EG");
    v1::Country out;
    return stub->GetCountry(&ctx, g, &out).ok();
  }

  grpc::Status Call(std::function<grpc::Status(grpc::ClientContext*)> fn) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(30));
    return fn(&ctx);
  }

  void AddCountry(const std::string& cc,
                  stp::common::v1::IncomeGroup income = stp::common::v1::INCOME_GROUP_LOWER_MIDDLE,
                  bool bri = true) {
    v1::UpsertCountryRequest req;
    req.mutable_country()->set_alpha2(cc);
    req.mutable_country()->set_display_name("Country " + cc);
    req.mutable_country()->set_income_group(income);
    req.mutable_country()->mutable_bri()->set_member(bri);
    v1::Country resp;
    ASSERT_TRUE(Call([&](auto* c) { return stub_->UpsertCountry(c, req, &resp); }).ok());
  }

  v1::Organization AddOrg(const std::string& name, const std::string& country = "countries/CN") {
    v1::CreateOrganizationRequest req;
    req.mutable_organization()->set_display_name(name);
    req.mutable_organization()->set_country(country);
    req.mutable_organization()->set_type(v1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
    req.mutable_organization()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    v1::Organization resp;
    grpc::Status s = Call([&](auto* c) { return stub_->CreateOrganization(c, req, &resp); });
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::Project NewProject(const std::string& title, const std::string& org) {
    v1::Project p;
    p.set_title(title);
    p.set_host_country("countries/EG");
    p.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    p.set_stage(v1::PROJECT_STAGE_PROPOSED);
    auto* part = p.add_participants();
    part->set_organization(org);
    part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    return p;
  }

  // NewProject with one external id, which an import matches it by.
  v1::Project NewProjectWithId(const std::string& title, const std::string& org,
                               const std::string& source, const std::string& value) {
    v1::Project p = NewProject(title, org);
    auto* x = p.add_external_ids();
    x->set_source(source);
    x->set_value(value);
    return p;
  }

  std::vector<Event> Events() {
    redis::RedisOptions o;
    o.address = stack_->redis().address();
    redis::RedisClient client(o);
    auto entries = redis::Range(client, "stp:{p0}:events", "-", "+", 1000000);
    EXPECT_TRUE(entries.ok());
    std::vector<Event> out;
    for (const auto& e : *entries) {
      Event ev;
      std::string unpacked;
      const std::string* payload = common::EventPayload(e.Field("e"), &unpacked);
      EXPECT_TRUE(payload != nullptr && ev.ParseFromString(*payload));
      ev.set_id(e.id);
      out.push_back(ev);
    }
    return out;
  }

  std::vector<v1::Project> ListAll(v1::ListProjectsRequest req) {
    std::vector<v1::Project> all;
    req.set_page_size(req.page_size() ? req.page_size() : 100);
    for (int guard = 0; guard < 1000; ++guard) {
      v1::ListProjectsResponse resp;
      grpc::Status s = Call([&](auto* c) { return stub_->ListProjects(c, req, &resp); });
      EXPECT_TRUE(s.ok()) << s.error_message();
      for (const auto& p : resp.projects()) all.push_back(p);
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return all;
  }

  // A PROJECTS import of `projects`, in order.
  // An import stream of project messages, its first message sent.
  std::unique_ptr<grpc::ClientWriter<v1::ImportProjectsRequest>> OpenProjectImport(
      grpc::ClientContext* ctx, v1::ImportSummary* summary, const std::string& request_id,
      bool dry_run = false) {
    testing::SetDeadline(ctx, absl::Seconds(120));
    auto writer = stub_->ImportProjects(ctx, summary);
    v1::ImportProjectsRequest first;
    first.set_format(v1::IMPORT_FORMAT_PROJECTS);
    first.set_request_id(request_id);
    first.set_dry_run(dry_run);
    EXPECT_TRUE(writer->Write(first));
    return writer;
  }

  v1::ImportSummary ImportMessages(const std::vector<v1::Project>& projects,
                                   const std::string& request_id, bool dry_run = false) {
    grpc::ClientContext ctx;
    v1::ImportSummary summary;
    auto writer = OpenProjectImport(&ctx, &summary, request_id, dry_run);
    for (const auto& p : projects) {
      v1::ImportProjectsRequest msg;
      *msg.mutable_project() = p;
      if (!writer->Write(msg)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return summary;
  }

  v1::ImportSummary Import(v1::ImportFormat format, const std::string& data,
                           const std::string& request_id, grpc::Status* status_out = nullptr,
                           size_t chunk = 64 * 1024, bool dry_run = false) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(120));
    v1::ImportSummary summary;
    auto writer = stub_->ImportProjects(&ctx, &summary);
    v1::ImportProjectsRequest first;
    first.set_format(format);
    first.set_request_id(request_id);
    first.set_source_reference("test");
    first.set_dry_run(dry_run);
    writer->Write(first);
    for (size_t off = 0; off < data.size(); off += chunk) {
      v1::ImportProjectsRequest msg;
      msg.set_chunk(data.substr(off, chunk));
      if (!writer->Write(msg)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (status_out)
      *status_out = s;
    else
      EXPECT_TRUE(s.ok()) << s.error_message();
    return summary;
  }

  std::unique_ptr<TestStack> stack_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

TEST_F(IngestionTest, CountriesUpsertGetAndListWithFilters) {
  AddCountry("DE", stp::common::v1::INCOME_GROUP_HIGH, false);
  v1::Country c;
  v1::GetCountryRequest get;
  get.set_name("countries/DE");
  ASSERT_TRUE(Call([&](auto* ctx) { return stub_->GetCountry(ctx, get, &c); }).ok());
  EXPECT_EQ(c.income_group(), stp::common::v1::INCOME_GROUP_HIGH);
  EXPECT_FALSE(c.etag().empty());
  EXPECT_TRUE(c.has_create_time());
  v1::ListCountriesRequest list;
  list.set_bri_members_only(true);
  v1::ListCountriesResponse resp;
  ASSERT_TRUE(Call([&](auto* ctx) { return stub_->ListCountries(ctx, list, &resp); }).ok());
  std::set<std::string> names;
  for (const auto& x : resp.countries()) names.insert(x.alpha2());
  EXPECT_EQ(names, (std::set<std::string>{"CN", "EG", "KE", "NG", "ZA"}));
  get.set_name("countries/XX");
  EXPECT_EQ(Call([&](auto* ctx) { return stub_->GetCountry(ctx, get, &c); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
  get.set_name("Egypt");
  EXPECT_EQ(Call([&](auto* ctx) { return stub_->GetCountry(ctx, get, &c); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// An upsert with an update mask carries only the fields it names (an indicator refresh):
// the rest of the stored country stays, and what it becomes is validated whole.
TEST_F(IngestionTest, AMaskedCountryUpsertChangesOnlyTheFieldsItNames) {
  v1::UpsertCountryRequest req;
  req.mutable_country()->set_alpha2("KE");
  auto* ind = req.mutable_country()->add_indicators();
  ind->set_name("internet_users_pct");
  ind->set_value(30);
  req.mutable_update_mask()->add_paths("indicators");
  v1::Country out;
  grpc::Status s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &out); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.display_name(), "Country KE");
  EXPECT_EQ(out.income_group(), stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  ASSERT_EQ(out.indicators_size(), 1);
  EXPECT_EQ(out.indicators(0).value(), 30);
  // A masked field that would leave the country invalid is refused, named.
  req.mutable_country()->clear_indicators();
  req.mutable_update_mask()->set_paths(0, "display_name");
  s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &out); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "country.display_name");
  // A masked upsert of a country not stored yet creates it, so it must be whole.
  req.mutable_country()->set_alpha2("GH");
  req.mutable_update_mask()->set_paths(0, "income_group");
  req.mutable_country()->set_income_group(stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &out); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "country.display_name");
  // BRI dates in order.
  req.mutable_update_mask()->Clear();
  req.mutable_country()->set_display_name("Ghana");
  auto* bri = req.mutable_country()->mutable_bri();
  bri->set_member(true);
  bri->mutable_join_date()->set_year(2018);
  bri->mutable_join_date()->set_month(9);
  bri->mutable_join_date()->set_day(3);
  bri->mutable_exit_date()->set_year(2017);
  bri->mutable_exit_date()->set_month(1);
  bri->mutable_exit_date()->set_day(1);
  s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &out); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u) << s.error_message();
  EXPECT_EQ(violations[0].field, "country.bri.exit_date");
}

// Length limits count characters, as the contract states them, not bytes.
TEST_F(IngestionTest, LengthLimitsCountCharactersNotBytes) {
  std::string org = AddOrg("Length Org").name();
  std::string title;
  for (int i = 0; i < 500; ++i) title += "\xE5\x9B\xAD";  // 园: three bytes, one character
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject(title, org);
  v1::Project out;
  grpc::Status s = Call([&](auto* c) { return stub_->CreateProject(c, create, &out); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.title(), title);
  create.mutable_project()->set_title(title + "x");
  s = Call([&](auto* c) { return stub_->CreateProject(c, create, &out); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "project.title");
  EXPECT_EQ(violations[0].description, "at most 500 characters, got 501");
}

// A country stored under a code that is not (or no longer) in use, as a store written before
// the code check holds, can still be corrected; a new country under such a code cannot.
TEST_F(IngestionTest, AStoredCountryWhoseCodeIsNoLongerInUseCanStillBeCorrected) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  RedisRegistryStore store(&client, redis::Keyspace(), 1000);
  v1::Country old;
  old.set_name("countries/YU");
  old.set_alpha2("YU");
  old.set_display_name("Yugoslavia");
  old.set_income_group(stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  old.set_etag("e0");
  WriteOp op;
  op.kind = Kind::kCountry;
  op.id = "YU";
  op.etag = "e0";
  op.revision = 1;
  op.data = old.SerializeAsString();
  op.event = "e";
  auto written = store.Write({op}, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_EQ((*written)[0].code, WriteResult::Code::kOk);

  v1::UpsertCountryRequest req;
  *req.mutable_country() = old;
  req.mutable_country()->set_display_name("Yugoslavia (dissolved)");
  req.clear_etag();
  v1::Country corrected;
  grpc::Status s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &corrected); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(corrected.display_name(), "Yugoslavia (dissolved)");
  EXPECT_NE(corrected.etag(), "e0");

  req.mutable_country()->set_alpha2("QM");
  req.mutable_country()->set_name("countries/QM");
  s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &corrected); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "country.alpha2");
  req.mutable_country()->set_alpha2("Q1");  // not even the shape: refused before any read
  req.mutable_country()->set_name("countries/Q1");
  s = Call([&](auto* c) { return stub_->UpsertCountry(c, req, &corrected); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestionTest, ProjectRoundTripWithEventsHistoryEtagsAndRequestIds) {
  v1::Organization org = AddOrg("Huawei Technologies");
  size_t events_before = Events().size();
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Suez green hydrogen park", org.name());
  create.set_request_id("req-create-1");
  v1::Project p;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, create, &p); }).ok());
  EXPECT_TRUE(absl::StartsWith(p.name(), "projects/"));
  EXPECT_EQ(p.revision(), 1);
  EXPECT_EQ(p.participants(0).display_name(), "Huawei Technologies");
  // The same request again: the same project, no second record, no second event.
  v1::Project again;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, create, &again); }).ok());
  EXPECT_EQ(again.name(), p.name());
  auto events = Events();
  ASSERT_EQ(events.size(), events_before + 1);
  EXPECT_EQ(events.back().type(), stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
  EXPECT_EQ(events.back().project().name(), p.name());
  EXPECT_EQ(events.back().request_id(), "req-create-1");
  // The snapshot is the project as written and answered, whole.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(events.back().project(), p))
      << events.back().project().DebugString();
  // The same request id for a different request is refused.
  create.mutable_project()->set_title("Something else");
  grpc::Status reused = Call([&](auto* c) { return stub_->CreateProject(c, create, &again); });
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(reused)), "REQUEST_ID_REUSED");

  // Update one field with a mask: the stage changes, nothing else.
  v1::UpdateProjectRequest update;
  update.mutable_project()->set_name(p.name());
  update.mutable_project()->set_stage(v1::PROJECT_STAGE_APPROVED);
  update.mutable_project()->set_title("ignored because not in the mask");
  update.mutable_update_mask()->add_paths("stage");
  update.set_etag(p.etag());
  v1::Project updated;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateProject(c, update, &updated); }).ok());
  EXPECT_EQ(updated.stage(), v1::PROJECT_STAGE_APPROVED);
  EXPECT_EQ(updated.title(), "Suez green hydrogen park");
  EXPECT_EQ(updated.revision(), 2);
  EXPECT_NE(updated.etag(), p.etag());
  events = Events();
  EXPECT_EQ(events.back().type(), stp::events::v1::EVENT_TYPE_STAGE_CHANGED);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(events.back().project(), updated));
  EXPECT_EQ(events.back().revision(), 2);
  EXPECT_EQ(std::vector<std::string>(events.back().changed_fields().begin(),
                                     events.back().changed_fields().end()),
            std::vector<std::string>{"stage"});
  // A stale etag is ABORTED and writes nothing.
  grpc::Status stale = Call([&](auto* c) { return stub_->UpdateProject(c, update, &updated); });
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(Events().size(), events.size());
  // An update that changes nothing writes nothing.
  update.set_etag("");
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateProject(c, update, &updated); }).ok());
  EXPECT_EQ(Events().size(), events.size());
  // Title change: a second revision in history.
  update.clear_update_mask();
  update.mutable_update_mask()->add_paths("title");
  update.mutable_project()->set_title("Suez green hydrogen and solar park");
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateProject(c, update, &updated); }).ok());
  v1::GetProjectHistoryRequest hist;
  hist.set_name(p.name());
  hist.set_page_size(2);
  v1::GetProjectHistoryResponse h;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->GetProjectHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.revisions_size(), 2);
  EXPECT_EQ(h.revisions(0).revision(), 3);
  EXPECT_EQ(h.revisions(0).changed_fields(0), "title");
  EXPECT_EQ(h.revisions(1).changed_fields(0), "stage");
  EXPECT_EQ(h.revisions(1).source(), "api");
  EXPECT_FALSE(h.revisions(0).actor().empty());
  // Each revision's time is the project's update time as written by it.
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMilliseconds(h.revisions(0).time()),
            google::protobuf::util::TimeUtil::TimestampToMilliseconds(updated.update_time()));
  EXPECT_LT(google::protobuf::util::TimeUtil::TimestampToMilliseconds(h.revisions(1).time()),
            google::protobuf::util::TimeUtil::TimestampToMilliseconds(updated.update_time()));
  ASSERT_FALSE(h.next_page_token().empty());
  hist.set_page_token(h.next_page_token());
  ASSERT_TRUE(Call([&](auto* c) { return stub_->GetProjectHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.revisions_size(), 1);
  EXPECT_EQ(h.revisions(0).kind(), v1::ProjectRevision::KIND_CREATED);
  EXPECT_EQ(h.revisions(0).request_id(), "req-create-1");
  EXPECT_TRUE(h.next_page_token().empty());

  // Delete: an event, then NOT_FOUND.
  v1::DeleteProjectRequest del;
  del.set_name(p.name());
  del.set_request_id("req-del-1");
  v1::DeleteResponse dresp;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->DeleteProject(c, del, &dresp); }).ok());
  v1::DeleteResponse retried;  // a retry is fine, and gets the first answer
  ASSERT_TRUE(Call([&](auto* c) { return stub_->DeleteProject(c, del, &retried); }).ok());
  EXPECT_TRUE(dresp.has_delete_time());
  EXPECT_EQ(retried.SerializeAsString(), dresp.SerializeAsString());
  del.set_etag("another request under the same id");
  EXPECT_EQ(Call([&](auto* c) { return stub_->DeleteProject(c, del, &retried); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  del.clear_etag();
  EXPECT_EQ(Events().back().type(), stp::events::v1::EVENT_TYPE_PROJECT_DELETED);
  v1::GetProjectRequest get;
  get.set_name(p.name());
  EXPECT_EQ(Call([&](auto* c) { return stub_->GetProject(c, get, &again); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Its history, the deletion first, stays readable (by an operator, as here).
  hist.clear_page_token();
  hist.set_page_size(10);
  ASSERT_TRUE(Call([&](auto* c) { return stub_->GetProjectHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.revisions_size(), 4);
  EXPECT_EQ(h.revisions(0).kind(), v1::ProjectRevision::KIND_DELETED);
  EXPECT_EQ(h.revisions(0).revision(), 4);
  EXPECT_EQ(h.revisions(0).request_id(), "req-del-1");
  EXPECT_EQ(h.revisions(3).kind(), v1::ProjectRevision::KIND_CREATED);
  hist.set_name("projects/0000000000000000");
  EXPECT_EQ(Call([&](auto* c) { return stub_->GetProjectHistory(c, hist, &h); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(IngestionTest, EveryValidationProblemIsNamedInOneError) {
  v1::CreateProjectRequest create;
  v1::Project* p = create.mutable_project();
  p->set_host_country("countries/XX");              // unknown country
  p->set_stage(static_cast<v1::ProjectStage>(42));  // unknown enum value
  p->mutable_planned_start()->set_year(2024);
  p->mutable_planned_start()->set_month(6);
  p->mutable_planned_start()->set_day(1);
  p->mutable_planned_end()->set_year(2023);  // before the start
  p->mutable_planned_end()->set_month(1);
  p->mutable_planned_end()->set_day(1);
  auto* budget = p->mutable_financing()->mutable_budget();
  budget->set_currency_code("USD");
  budget->set_units(-5);  // negative money
  auto* part = p->add_participants();
  part->set_organization("organizations/0000000000000000");  // does not exist
  part->set_role(stp::common::v1::PARTNER_ROLE_FINANCIER);
  p->add_dac_sectors(123);  // not 5 digits
  v1::Project resp;
  grpc::Status s = Call([&](auto* c) { return stub_->CreateProject(c, create, &resp); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::set<std::string> fields;
  for (const auto& v : GetFieldViolations(FromGrpcStatus(s))) fields.insert(v.field);
  for (const char* f : {"project.title", "project.avenues", "project.stage", "project.planned_end",
                        "project.financing.budget", "project.dac_sectors[0]",
                        "project.host_country", "project.participants[0].organization"}) {
    EXPECT_TRUE(fields.count(f)) << f;
  }
  // Reference checks run once the shapes are right.
  create.mutable_project()->set_title("ok");
  create.mutable_project()->add_avenues(stp::common::v1::AVENUE_AGRICULTURE);
  create.mutable_project()->set_stage(v1::PROJECT_STAGE_PROPOSED);
  create.mutable_project()->clear_planned_end();
  create.mutable_project()->clear_financing();
  create.mutable_project()->clear_dac_sectors();
  // An existing organisation beside a missing one and a missing park: one lookup reads them
  // all, and each answer must land on its own field.
  create.mutable_project()->add_participants()->set_organization(AddOrg("Real Org").name());
  create.mutable_project()->mutable_participants(1)->set_role(
      stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  create.mutable_project()->set_park("parks/0000000000000000");
  s = Call([&](auto* c) { return stub_->CreateProject(c, create, &resp); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  fields.clear();
  for (const auto& v : GetFieldViolations(FromGrpcStatus(s))) fields.insert(v.field);
  EXPECT_TRUE(fields.count("project.host_country"));
  EXPECT_TRUE(fields.count("project.participants[0].organization"));
  EXPECT_FALSE(fields.count("project.participants[1].organization"));
  EXPECT_TRUE(fields.count("project.park"));
  // A request id is part of a key: bounded, on every method that takes one.
  v1::DeleteProjectRequest del;
  del.set_name("projects/0000000000000000");
  del.set_request_id(std::string(65, 'r'));
  v1::DeleteResponse deleted;
  s = Call([&](auto* c) { return stub_->DeleteProject(c, del, &deleted); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  ASSERT_EQ(GetFieldViolations(FromGrpcStatus(s)).size(), 1u);
  EXPECT_EQ(GetFieldViolations(FromGrpcStatus(s))[0].field, "request_id");
  // Only the six countries and the organisation: nothing written for bad input.
  EXPECT_EQ(Events().size(), 7u);
}

// An import under way when its process is told to stop is a call in progress: the stop waits
// for it (up to the shutdown timeout) and does not cut it when it closes idle connections.
TEST_F(IngestionTest, AnImportUnderWayWhenItsProcessStopsFinishesWhole) {
  v1::Organization org = AddOrg("Org at the stop");
  grpc::ClientContext ctx;
  v1::ImportSummary summary;
  auto writer = OpenProjectImport(&ctx, &summary, "import-at-stop");
  auto send = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      v1::ImportProjectsRequest msg;
      *msg.mutable_project() = NewProject("Sent around the stop " + std::to_string(i), org.name());
      ASSERT_TRUE(writer->Write(msg)) << "message " << i;
    }
  };
  send(0, 20);
  std::thread stopper([&] { stack_->process().Shutdown(); });
  // Well past the moment idle connections are closed (100 ms after no call is in progress).
  absl::SleepFor(absl::Milliseconds(500));
  send(20, 40);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  stopper.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.created(), 40);
  EXPECT_EQ(summary.rejected(), 0);
}

TEST_F(IngestionTest, PaginationOverThousandsWithFilters) {
  v1::Organization a = AddOrg("Org A");
  v1::Organization b = AddOrg("Org B", "countries/ZA");
  // 3,000 projects through a PROJECTS import.
  std::vector<v1::Project> projects(3000);
  std::map<std::string, int> expected;  // filter key -> count
  for (int i = 0; i < 3000; ++i) {
    v1::Project* p = &projects[i];
    *p = NewProject("Bulk project number " + std::to_string(i), i % 3 == 0 ? b.name() : a.name());
    p->set_host_country(i % 2 ? "countries/ZA" : "countries/EG");
    p->set_stage(i % 5 == 0 ? v1::PROJECT_STAGE_IMPLEMENTATION : v1::PROJECT_STAGE_PROPOSED);
    if (i % 7 == 0) p->add_avenues(stp::common::v1::AVENUE_AGRICULTURE);
    auto* x = p->add_external_ids();
    x->set_source("bulk");
    x->set_value(std::to_string(i));
    ++expected["all"];
    if (i % 2) ++expected["ZA"];
    if (i % 2 && i % 5 == 0) ++expected["ZA+impl"];
    if (i % 7 == 0 && i % 3 == 0) ++expected["agri+orgB"];
  }
  v1::ImportSummary summary = ImportMessages(projects, "bulk-1");
  EXPECT_EQ(summary.created(), 3000);
  EXPECT_EQ(summary.rejected(), 0);

  auto check = [&](v1::ListProjectsRequest req, int want, int page_size) {
    req.set_page_size(page_size);
    auto all = ListAll(req);
    std::set<std::string> names;
    for (const auto& p : all) names.insert(p.name());
    EXPECT_EQ(static_cast<int>(all.size()), want);
    EXPECT_EQ(names.size(), all.size()) << "a page repeated an entry";
    return all;
  };
  v1::ListProjectsRequest req;
  auto all = check(req, expected["all"], 250);
  for (size_t i = 1; i < all.size(); ++i)
    EXPECT_LT(all[i - 1].name(), all[i].name());  // creation order
  req.set_host_country("countries/ZA");
  check(req, expected["ZA"], 97);
  req.set_stage(v1::PROJECT_STAGE_IMPLEMENTATION);
  check(req, expected["ZA+impl"], 50);
  v1::ListProjectsRequest req2;
  req2.set_avenue(stp::common::v1::AVENUE_AGRICULTURE);
  req2.set_organization(b.name());
  check(req2, expected["agri+orgB"], 10);
  // A token belongs to its filter.
  v1::ListProjectsResponse page;
  req2.set_page_size(5);
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListProjects(c, req2, &page); }).ok());
  req.set_page_token(page.next_page_token());
  EXPECT_EQ(Call([&](auto* c) { return stub_->ListProjects(c, req, &page); }).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Updated since: only what changed after the mark.
  absl::Time mark = absl::Now();
  absl::SleepFor(absl::Milliseconds(5));
  v1::UpdateProjectRequest up;
  up.mutable_project()->set_name(all[10].name());
  up.mutable_project()->set_stage(v1::PROJECT_STAGE_COMPLETED);
  up.mutable_update_mask()->add_paths("stage");
  v1::Project out;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateProject(c, up, &out); }).ok());
  v1::ListProjectsRequest since;
  since.mutable_updated_since()->set_seconds(absl::ToUnixSeconds(mark));
  since.mutable_updated_since()->set_nanos(
      static_cast<int32_t>(absl::ToUnixNanos(mark) % 1000000000));
  auto changed = ListAll(since);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].name(), all[10].name());
  // Everything by update time, in pages whose tokens carry the exact position: the bulk write
  // of 3,000 within a few milliseconds, then the update, last.
  v1::ListProjectsRequest everything;
  everything.mutable_updated_since()->set_seconds(1);
  auto by_update = check(everything, expected["all"], 97);
  ASSERT_FALSE(by_update.empty());
  EXPECT_EQ(by_update.back().name(), all[10].name());
  // Re-importing the same records changes nothing.
  EXPECT_EQ(ImportMessages({all[0]}, "").unchanged(), 1);
}

// Listing by update time pages through a run of entries written within one millisecond that
// is longer than one read window (a bulk write), instead of ending the listing there.
TEST_F(IngestionTest, ListingByUpdateTimePagesThroughALongRunOfTies) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  RedisRegistryStore store(&client, redis::Keyspace(), 1000);
  const std::string key = "stp:{p0}:idx:project:updated";
  std::vector<std::string> zadd = {"ZADD", key};
  for (int i = 0; i < 400; ++i) {
    zadd.push_back("1700000000000");
    zadd.push_back(absl::StrCat("id", 1000 + i));
  }
  ASSERT_TRUE(client.Command(zadd).ok());
  ASSERT_TRUE(client.Command({"ZADD", key, "1700000000001", "later"}).ok());
  std::vector<std::string> seen;
  ListPosition after;
  for (int guard = 0; guard < 1000; ++guard) {
    auto page = store.ListIdsByUpdate(Kind::kProject, 0, after, 7, absl::InfiniteFuture());
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    for (const auto& p : *page) seen.push_back(p.id);
    after = page->back();
  }
  ASSERT_EQ(seen.size(), 401u);
  EXPECT_EQ(seen.front(), "id1000");
  EXPECT_EQ(seen[399], "id1399");
  EXPECT_EQ(seen.back(), "later");
}

// A store through which another replica takes the ids this one draws: before each of the
// next `collisions` creates (the first creates of a batch), a resource with the create's id is
// written first, as a replica that drew the same id in the same millisecond would.
class RacingReplicaStore final : public RegistryStore {
 public:
  explicit RacingReplicaStore(RegistryStore* real) : real_(real) {}
  int collisions = 0;
  std::vector<std::string> taken;

  absl::StatusOr<std::vector<WriteResult>> Write(const std::vector<WriteOp>& ops,
                                                 absl::Time deadline) override {
    TakeIds(ops, deadline);
    return real_->Write(ops, deadline);
  }
  void WriteAsync(const std::vector<WriteOp>& ops, absl::Time deadline, WriteDone done) override {
    TakeIds(ops, deadline);
    real_->WriteAsync(ops, deadline, std::move(done));
  }
  absl::StatusOr<std::vector<std::optional<StoredResource>>> GetMany(
      const std::vector<ResourceRef>& refs, absl::Time deadline) override {
    return real_->GetMany(refs, deadline);
  }
  void GetAsync(const ResourceRef& ref, absl::Time deadline, GetDone done) override {
    real_->GetAsync(ref, deadline, std::move(done));
  }
  void GetManyAsync(const std::vector<ResourceRef>& refs, absl::Time deadline,
                    GetManyDone done) override {
    real_->GetManyAsync(refs, deadline, std::move(done));
  }
  absl::StatusOr<std::vector<std::string>> FindExternalIds(Kind kind,
                                                           const std::vector<std::string>& ids,
                                                           absl::Time deadline) override {
    return real_->FindExternalIds(kind, ids, deadline);
  }
  absl::StatusOr<std::vector<std::string>> FindOrganizationNames(
      const std::vector<std::string>& names, absl::Time deadline) override {
    return real_->FindOrganizationNames(names, deadline);
  }
  absl::StatusOr<std::vector<std::optional<std::string>>> RememberRequests(
      const std::vector<WriteOp>& requests, absl::Time deadline) override {
    return real_->RememberRequests(requests, deadline);
  }
  absl::StatusOr<std::optional<std::string>> FindRequest(const std::string& key,
                                                         const std::string& scope,
                                                         const std::string& request_id,
                                                         absl::Time deadline) override {
    return real_->FindRequest(key, scope, request_id, deadline);
  }
  void FindRequestAsync(const std::string& key, const std::string& scope,
                        const std::string& request_id, absl::Time deadline,
                        FindRequestDone done) override {
    real_->FindRequestAsync(key, scope, request_id, deadline, std::move(done));
  }
  absl::StatusOr<std::vector<std::string>> ListIds(Kind kind, const std::string& term,
                                                   const std::string& after, int limit,
                                                   absl::Time deadline) override {
    return real_->ListIds(kind, term, after, limit, deadline);
  }
  absl::StatusOr<std::vector<ListPosition>> ListIdsByUpdate(Kind kind, int64_t since_millis,
                                                            const ListPosition& after, int limit,
                                                            absl::Time deadline) override {
    return real_->ListIdsByUpdate(kind, since_millis, after, limit, deadline);
  }
  void IdsOfTermsAsync(Kind kind, const std::vector<std::string>& terms, int limit,
                       absl::Time deadline, TermIdsDone done) override {
    real_->IdsOfTermsAsync(kind, terms, limit, deadline, std::move(done));
  }
  absl::StatusOr<std::vector<int64_t>> CountTerms(Kind kind, const std::vector<std::string>& terms,
                                                  absl::Time deadline) override {
    return real_->CountTerms(kind, terms, deadline);
  }
  absl::StatusOr<std::vector<std::string>> History(const std::string& project_id, int offset,
                                                   int limit, absl::Time deadline) override {
    return real_->History(project_id, offset, limit, deadline);
  }
  int PartitionOf(const std::string& id) const override { return real_->PartitionOf(id); }

 private:
  // The other replica's creates. Its writes go through a pooled connection (Write), which a
  // caller on a shared round-trip thread may use.
  void TakeIds(const std::vector<WriteOp>& ops, absl::Time deadline) {
    for (const WriteOp& op : ops) {
      if (collisions == 0) break;
      if (op.type != WriteOp::Type::kCreate) continue;
      --collisions;
      WriteOp other;
      other.kind = op.kind;
      other.type = WriteOp::Type::kCreate;
      other.id = op.id;
      other.etag = "other";
      other.data = op.data;
      other.update_millis = op.update_millis;
      other.event = "the other replica's create";
      auto done = real_->Write({other}, deadline);
      EXPECT_TRUE(done.ok() && (*done)[0].code == WriteResult::Code::kOk);
      taken.push_back(op.id);
    }
  }

  RegistryStore* real_;
};

// A registry on the test's Redis whose store races another replica for ids.
struct RacingRegistry {
  static redis::RedisOptions Options(const std::string& address) {
    redis::RedisOptions o;
    o.address = address;
    return o;
  }
  explicit RacingRegistry(const std::string& address)
      : client(Options(address)),
        real(&client, redis::Keyspace(), 1000),
        store(&real),
        registry(&store, [] { return absl::Now(); }) {
    rc.principal = Principal::Service("test");
    rc.deadline = absl::Now() + absl::Seconds(30);
  }
  redis::RedisClient client;
  RedisRegistryStore real;
  RacingReplicaStore store;
  Registry registry;
  RequestContext rc;
};

// Ids are unique within a process only. A create whose drawn id another replica took in the
// meantime draws another: the caller named no id, so ALREADY_EXISTS would be a false answer.
TEST_F(IngestionTest, CreateDrawsAnotherIdWhenAnotherReplicaTookTheOneItDrew) {
  AddCountry("EG");
  v1::Organization partner = AddOrg("Partner Org");
  RacingRegistry racing(stack_->redis().address());
  auto& [client, real, store, registry, rc] = racing;

  store.collisions = 2;
  v1::CreateProjectRequest preq;
  *preq.mutable_project() = NewProject("Solar irrigation pilot for Upper Egypt", partner.name());
  preq.set_request_id("racing-project");
  auto project = registry.CreateProject(rc, preq);
  ASSERT_TRUE(project.ok()) << project.status();
  ASSERT_EQ(store.taken.size(), 2u);
  for (const auto& id : store.taken) EXPECT_NE(project->name(), "projects/" + id);
  auto stored = registry.GetProject(rc, project->name());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->title(), "Solar irrigation pilot for Upper Egypt");
  // A retry of the request answers the project that was written, not a taken id.
  auto retried = registry.CreateProject(rc, preq);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->name(), project->name());

  store.collisions = 1;
  v1::CreateOrganizationRequest oreq;
  oreq.mutable_organization()->set_display_name("Racing Org");
  oreq.mutable_organization()->set_type(v1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  auto org = registry.CreateOrganization(rc, oreq);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_NE(org->name(), "organizations/" + store.taken.back());
  auto org_stored = registry.GetOrganization(rc, org->name());
  ASSERT_TRUE(org_stored.ok()) << org_stored.status();
  EXPECT_EQ(org_stored->display_name(), "Racing Org");

  store.collisions = 1;
  v1::CreateParkRequest kreq;
  kreq.mutable_park()->set_display_name("Racing Park");
  kreq.mutable_park()->set_host_country("countries/EG");
  auto park = registry.CreatePark(rc, kreq);
  ASSERT_TRUE(park.ok()) << park.status();
  EXPECT_NE(park->name(), "parks/" + store.taken.back());

  // Taken at every attempt: the caller is asked to retry, and nothing of the create was
  // written.
  store.collisions = 3;
  oreq.mutable_organization()->set_display_name("Unlucky Org");
  auto unlucky = registry.CreateOrganization(rc, oreq);
  EXPECT_EQ(unlucky.status().code(), absl::StatusCode::kAborted) << unlucky.status();
  EXPECT_EQ(GetErrorReason(unlucky.status()), "ID_TAKEN");
  auto named =
      real.FindOrganizationNames({Registry::NormalizeName("Unlucky Org")}, absl::InfiniteFuture());
  ASSERT_TRUE(named.ok());
  EXPECT_EQ((*named)[0], "");

  // The same for a project. Its request id was not recorded either: the retry creates it,
  // under none of the taken ids.
  store.collisions = 3;
  *preq.mutable_project() = NewProject("Unlucky desalination pilot", partner.name());
  preq.set_request_id("unlucky-project");
  auto unlucky_project = registry.CreateProject(rc, preq);
  EXPECT_EQ(unlucky_project.status().code(), absl::StatusCode::kAborted)
      << unlucky_project.status();
  EXPECT_EQ(GetErrorReason(unlucky_project.status()), "ID_TAKEN");
  const std::vector<std::string> taken(store.taken.end() - 3, store.taken.end());
  auto lucky = registry.CreateProject(rc, preq);
  ASSERT_TRUE(lucky.ok()) << lucky.status();
  EXPECT_EQ(lucky->title(), "Unlucky desalination pilot");
  for (const auto& id : taken) EXPECT_NE(lucky->name(), "projects/" + id);
}

// An import's creates, of projects and of the organisations its records name, draw another id
// when another replica took the one they drew, as a direct create does: nothing is rejected,
// and a retry of the import finds everything written.
TEST_F(IngestionTest, ImportDrawsAnotherIdWhenAnotherReplicaTookTheOneItDrew) {
  v1::Organization partner = AddOrg("Partner Org");
  RacingRegistry racing(stack_->redis().address());
  auto& [client, real, store, registry, rc] = racing;
  const SectorAvenueTable sectors = SectorAvenueTable::Default();
  auto import = [&](v1::ImportFormat format, const std::vector<v1::ImportProjectsRequest>& payload,
                    const std::string& request_id) {
    v1::ImportProjectsRequest first;
    first.set_format(format);
    first.set_request_id(request_id);
    auto session = ImportSession::Start(&registry, &sectors, rc, first);
    if (!session.ok()) {
      ADD_FAILURE() << session.status();
      return v1::ImportSummary();
    }
    EXPECT_TRUE((*session)->Add(first).ok());
    for (const auto& m : payload) EXPECT_TRUE((*session)->Add(m).ok());
    auto summary = (*session)->Finish();
    EXPECT_TRUE(summary.ok()) << summary.status();
    return summary.ok() ? *summary : v1::ImportSummary();
  };

  std::vector<v1::ImportProjectsRequest> projects(5);
  for (int i = 0; i < 5; ++i) {
    *projects[i].mutable_project() =
        NewProject(absl::StrCat("Racing import project ", i), partner.name());
    auto* x = projects[i].mutable_project()->add_external_ids();
    x->set_source("race");
    x->set_value(absl::StrCat("race-", i));
  }
  store.collisions = 2;
  v1::ImportSummary summary = import(v1::IMPORT_FORMAT_PROJECTS, projects, "racing-import");
  EXPECT_EQ(summary.created(), 5) << summary.DebugString();
  EXPECT_EQ(summary.rejected(), 0) << summary.DebugString();
  ASSERT_EQ(store.taken.size(), 2u);
  std::vector<std::string> xids;
  for (int i = 0; i < 5; ++i) xids.push_back(absl::StrCat("race:race-", i));
  auto ids = real.FindExternalIds(Kind::kProject, xids, absl::InfiniteFuture());
  ASSERT_TRUE(ids.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE((*ids)[i].empty()) << i;
    for (const auto& taken : store.taken) EXPECT_NE((*ids)[i], taken);
    auto p = registry.GetProject(rc, "projects/" + (*ids)[i]);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->title(), absl::StrCat("Racing import project ", i));
  }
  summary = import(v1::IMPORT_FORMAT_PROJECTS, projects, "racing-import");
  EXPECT_EQ(summary.unchanged(), 5) << summary.DebugString();
  EXPECT_EQ(summary.created(), 0) << summary.DebugString();

  // An IATI file's unknown organisation is created before its activity: its id is taken too.
  store.collisions = 1;
  v1::ImportProjectsRequest chunk;
  chunk.set_chunk(
      "<iati-activities version=\"2.03\"><iati-activity default-currency=\"USD\">"
      "<iati-identifier>XM-RACE-1</iati-identifier><title><narrative>Racing activity"
      "</narrative></title><participating-org ref=\"XM-RACE-ORG\" role=\"4\" type=\"70\">"
      "<narrative>Racing Implementer</narrative></participating-org><recipient-country "
      "code=\"EG\"/><sector vocabulary=\"1\" code=\"23210\"/></iati-activity>"
      "</iati-activities>");
  summary = import(v1::IMPORT_FORMAT_IATI_XML, {chunk}, "racing-iati");
  EXPECT_EQ(summary.created(), 1) << summary.DebugString();
  EXPECT_EQ(summary.organizations_created(), 1) << summary.DebugString();
  ASSERT_EQ(store.taken.size(), 3u);
  auto org =
      real.FindExternalIds(Kind::kOrganization, {"iati:XM-RACE-ORG"}, absl::InfiniteFuture());
  ASSERT_TRUE(org.ok());
  ASSERT_FALSE((*org)[0].empty());
  EXPECT_NE((*org)[0], store.taken.back());
  auto stored = registry.GetOrganization(rc, "organizations/" + (*org)[0]);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->display_name(), "Racing Implementer");

  // Taken at every draw: the record is rejected with the reason, and nothing of it is written.
  store.collisions = Registry::kCreateAttempts;
  std::vector<v1::ImportProjectsRequest> unlucky(1);
  *unlucky[0].mutable_project() = NewProject("Unlucky racing project", partner.name());
  unlucky[0].mutable_project()->add_external_ids()->set_value("race-unlucky");
  unlucky[0].mutable_project()->mutable_external_ids(0)->set_source("race");
  summary = import(v1::IMPORT_FORMAT_PROJECTS, unlucky, "racing-unlucky");
  EXPECT_EQ(summary.created(), 0) << summary.DebugString();
  ASSERT_EQ(summary.rejections_size(), 1) << summary.DebugString();
  EXPECT_TRUE(absl::StrContains(summary.rejections(0).reason(), "every id drawn"))
      << summary.rejections(0).reason();
  auto none = real.FindExternalIds(Kind::kProject, {"race:race-unlucky"}, absl::InfiniteFuture());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)[0], "");
}

// A resource's update_time never goes back, whatever the clock of the replica that writes:
// one whose clock is behind the last writer's stamps one millisecond after it, and so does the
// deletion's event. Readers that order a resource's states by time (the scoring read model's
// rebuild) see them in order.
TEST_F(IngestionTest, UpdateTimesOfAResourceNeverGoBackWhenAReplicasClockIsBehind) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  RedisRegistryStore store(&client, redis::Keyspace(), 1000);
  absl::Time clock = absl::FromUnixSeconds(1800000000);
  Registry registry(&store, [&] { return clock; });
  RequestContext rc;
  rc.principal = Principal::Service("test");
  auto millis = google::protobuf::util::TimeUtil::TimestampToMilliseconds;
  v1::CreateOrganizationRequest create;
  create.mutable_organization()->set_display_name("Clockwise Org");
  create.mutable_organization()->set_type(v1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  auto org = registry.CreateOrganization(rc, create);
  ASSERT_TRUE(org.ok()) << org.status();
  const int64_t created = millis(org->update_time());
  EXPECT_EQ(created, 1800000000000);

  clock -= absl::Seconds(10);  // the next writer's clock is behind
  v1::UpdateOrganizationRequest update;
  *update.mutable_organization() = *org;
  update.mutable_organization()->set_display_name("Clockwise Org, renamed");
  auto updated = registry.UpdateOrganization(rc, update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(millis(updated->update_time()), created + 1);

  clock += absl::Seconds(20);  // a clock ahead is taken as it is
  update.mutable_organization()->set_display_name("Clockwise Org, renamed again");
  update.set_etag(updated->etag());
  auto again = registry.UpdateOrganization(rc, update);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(millis(again->update_time()), 1800000010000);

  clock -= absl::Seconds(30);
  v1::DeleteOrganizationRequest del;
  del.set_name(org->name());
  ASSERT_TRUE(registry.DeleteOrganization(rc, del).ok());
  bool seen = false;
  for (const auto& e : Events()) {
    if (e.resource() != org->name() ||
        e.type() != stp::events::v1::EVENT_TYPE_ORGANIZATION_DELETED) {
      continue;
    }
    seen = true;
    EXPECT_EQ(millis(e.occur_time()), 1800000010001);
  }
  EXPECT_TRUE(seen);

  // A project's update time and its history follow the same rule.
  clock = absl::FromUnixSeconds(1800000100);
  v1::CreateProjectRequest pcreate;
  *pcreate.mutable_project() =
      NewProject("Clockwise incubator", AddOrg("Clockwise Partner").name());
  auto project = registry.CreateProject(rc, pcreate);
  ASSERT_TRUE(project.ok()) << project.status();
  EXPECT_EQ(millis(project->update_time()), 1800000100000);
  clock -= absl::Seconds(10);
  v1::UpdateProjectRequest pupdate;
  *pupdate.mutable_project() = *project;
  pupdate.mutable_project()->set_title("Clockwise incubator, second phase");
  pupdate.mutable_update_mask()->add_paths("title");
  auto moved = registry.UpdateProject(rc, pupdate);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(millis(moved->update_time()), 1800000100001);
  EXPECT_EQ(millis(moved->create_time()), 1800000100000);
  v1::GetProjectHistoryRequest hreq;
  hreq.set_name(project->name());
  auto history = registry.GetProjectHistory(rc, hreq);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->revisions_size(), 2);
  EXPECT_EQ(millis(history->revisions(0).time()), 1800000100001);
}

// Update scores follow the order of the writes within a partition: writes within one
// millisecond get distinct scores, and a write whose clock reads earlier than the latest score
// (a replica's clock behind another's, or a write that waited for Redis after reading the time)
// comes after it, also when the latest entry was deleted. A listing by update time that has
// reached the end therefore sees every later write when it goes on, whatever its id or clock.
TEST_F(IngestionTest, ListingByUpdateTimeSeesEveryLaterWrite) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  RedisRegistryStore store(&client, redis::Keyspace(), 1000);
  constexpr int64_t kMillis = 1700000000000;
  auto write = [&](WriteOp::Type type, const std::vector<std::string>& ids, int64_t millis) {
    std::vector<WriteOp> ops;
    for (const auto& id : ids) {
      WriteOp op;
      op.type = type;
      op.id = id;
      op.expected_etag = type == WriteOp::Type::kCreate ? "" : "e1";
      op.etag = "e1";
      op.data = "x";
      op.update_millis = millis;
      op.event = "e";
      ops.push_back(std::move(op));
    }
    auto results = store.Write(ops, absl::InfiniteFuture());
    ASSERT_TRUE(results.ok()) << results.status();
    for (const auto& r : *results) ASSERT_EQ(r.code, WriteResult::Code::kOk) << r.detail;
  };
  // Two script calls within one millisecond: the second continues after the first.
  std::vector<std::string> first, second;
  for (int i = 0; i < 100; ++i) (i < 50 ? first : second).push_back(absl::StrCat("id", 1000 + i));
  write(WriteOp::Type::kCreate, first, kMillis);
  write(WriteOp::Type::kCreate, second, kMillis);
  auto scores = client.Command({"ZRANGE", "stp:{p0}:idx:project:updated", "0", "-1", "WITHSCORES"});
  ASSERT_TRUE(scores.ok());
  ASSERT_EQ(redis::Size(scores->get()), 200u);
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(redis::Str(redis::At(scores->get(), 2 * i)), absl::StrCat("id", 1000 + i));
    EXPECT_EQ(redis::Str(redis::At(scores->get(), 2 * i + 1)), absl::StrCat(kMillis + i));
  }
  auto list_from = [&](ListPosition* after) {
    std::vector<std::string> seen;
    for (int page = 0; page < 100; ++page) {
      auto ids = store.ListIdsByUpdate(Kind::kProject, 0, *after, 7, absl::InfiniteFuture());
      EXPECT_TRUE(ids.ok()) << ids.status();
      if (!ids.ok() || ids->empty()) break;
      for (const auto& p : *ids) seen.push_back(p.id);
      *after = ids->back();
    }
    return seen;
  };
  ListPosition cursor;
  EXPECT_EQ(list_from(&cursor).size(), 100u);
  // After the listing reached the end: a write in the same millisecond with a smaller id, and
  // one whose clock is five milliseconds behind.
  write(WriteOp::Type::kCreate, {"id0999"}, kMillis);
  write(WriteOp::Type::kCreate, {"id0998"}, kMillis - 5);
  EXPECT_EQ(list_from(&cursor), (std::vector<std::string>{"id0999", "id0998"}));
  // The entry the cursor stands on is deleted; the next write still comes after it.
  write(WriteOp::Type::kDelete, {"id0998"}, kMillis);
  write(WriteOp::Type::kCreate, {"id0997"}, kMillis);
  EXPECT_EQ(list_from(&cursor), (std::vector<std::string>{"id0997"}));
}

TEST_F(IngestionTest, PossibleDuplicatesAcrossSourcesAreFlaggedNotMerged) {
  v1::Organization org = AddOrg("Org");
  v1::CreateProjectRequest a;
  *a.mutable_project() = NewProject("Egypt Suez Canal solar photovoltaic plant", org.name());
  auto* xa = a.mutable_project()->add_external_ids();
  xa->set_source("iati");
  xa->set_value("XM-1");
  v1::Project pa, pb, pc;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, a, &pa); }).ok());
  v1::CreateProjectRequest b;
  *b.mutable_project() = NewProject("Solar photovoltaic plant near the Suez Canal", org.name());
  auto* xb = b.mutable_project()->add_external_ids();
  xb->set_source("aiddata");
  xb->set_value("77");
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, b, &pb); }).ok());
  ASSERT_EQ(pb.possible_duplicates_size(), 1);
  EXPECT_EQ(pb.possible_duplicates(0), pa.name());
  // Same source: not a duplicate of itself. Other country: not a duplicate either.
  v1::CreateProjectRequest c;
  *c.mutable_project() = NewProject("Suez Canal solar photovoltaic plant extension", org.name());
  auto* xc = c.mutable_project()->add_external_ids();
  xc->set_source("iati");
  xc->set_value("XM-2");
  ASSERT_TRUE(Call([&](auto* ctx) { return stub_->CreateProject(ctx, c, &pc); }).ok());
  for (const auto& d : pc.possible_duplicates()) EXPECT_NE(d, pa.name());
  EXPECT_EQ(ListAll(v1::ListProjectsRequest()).size(), 3u);

  // A new title that looks like nothing else drops the flag its old title earned.
  v1::UpdateProjectRequest retitle;
  *retitle.mutable_project() = pb;
  retitle.mutable_project()->set_title("Aswan vaccine research consortium");
  retitle.mutable_update_mask()->add_paths("title");
  v1::Project retitled;
  ASSERT_TRUE(Call([&](auto* ctx) { return stub_->UpdateProject(ctx, retitle, &retitled); }).ok());
  EXPECT_EQ(retitled.possible_duplicates_size(), 0);
  // Flags a client sends are not taken, by an import as by CreateProject.
  v1::Project forged = NewProject("Alexandria biotech incubator", org.name());
  forged.add_possible_duplicates(pa.name());
  auto* xf = forged.add_external_ids();
  xf->set_source("iati");
  xf->set_value("XM-3");
  ASSERT_EQ(ImportMessages({forged}, "").created(), 1);
  for (const auto& p : ListAll(v1::ListProjectsRequest())) {
    if (p.title() == forged.title()) {
      EXPECT_EQ(p.possible_duplicates_size(), 0);
    }
  }

  // The dates are part of the rule: once they no longer overlap the flag goes.
  auto dated = [&](const std::string& title, const std::string& source, int from, int to) {
    v1::CreateProjectRequest req;
    *req.mutable_project() = NewProject(title, org.name());
    auto* x = req.mutable_project()->add_external_ids();
    x->set_source(source);
    x->set_value(title);
    for (auto [date, year] : {std::pair{req.mutable_project()->mutable_planned_start(), from},
                              std::pair{req.mutable_project()->mutable_planned_end(), to}}) {
      date->set_year(year);
      date->set_month(1);
      date->set_day(1);
    }
    v1::Project out;
    grpc::Status status = Call([&](auto* ctx) { return stub_->CreateProject(ctx, req, &out); });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  };
  v1::Project port = dated("Damietta port logistics hub", "aiddata", 2020, 2022);
  v1::Project like_port = dated("Logistics hub for Damietta port", "iati", 2021, 2023);
  ASSERT_EQ(like_port.possible_duplicates_size(), 1);
  EXPECT_EQ(like_port.possible_duplicates(0), port.name());
  v1::UpdateProjectRequest redate;
  redate.mutable_project()->set_name(like_port.name());
  *redate.mutable_project()->mutable_planned_start() = like_port.planned_start();
  *redate.mutable_project()->mutable_planned_end() = like_port.planned_end();
  redate.mutable_project()->mutable_planned_start()->set_year(2030);
  redate.mutable_project()->mutable_planned_end()->set_year(2032);
  redate.mutable_update_mask()->add_paths("planned_start");
  redate.mutable_update_mask()->add_paths("planned_end");
  v1::Project redated;
  ASSERT_TRUE(Call([&](auto* ctx) { return stub_->UpdateProject(ctx, redate, &redated); }).ok());
  EXPECT_EQ(redated.possible_duplicates_size(), 0) << "the dates no longer overlap";

  // An import's edited record looks again too: a new title loses the flag the old one earned.
  v1::Project imported = NewProject("Egypt Suez Canal solar photovoltaic farm", org.name());
  auto* xi = imported.add_external_ids();
  xi->set_source("projects-feed");
  xi->set_value("F-1");
  ASSERT_EQ(ImportMessages({imported}, "").created(), 1);
  auto flags_of = [&](const std::string& external) {
    for (const auto& p : ListAll(v1::ListProjectsRequest())) {
      for (const auto& x : p.external_ids()) {
        if (x.value() == external) return p.possible_duplicates_size();
      }
    }
    return -1;
  };
  EXPECT_GT(flags_of("F-1"), 0);  // the look-alikes from other sources
  imported.set_title("Luxor date palm cold chain");
  v1::ImportSummary edited = ImportMessages({imported}, "");
  EXPECT_EQ(edited.updated(), 1);
  EXPECT_EQ(flags_of("F-1"), 0);
}

// A title word that 48 or more projects of the country share says nothing about sameness: it
// is left out of the probe. Two such words are not enough to flag a project; below 48 they are.
TEST_F(IngestionTest, WordsTooCommonInTheCountryFlagNoDuplicates) {
  v1::Organization org = AddOrg("Org");
  auto titled = [&](const std::string& title, const std::string& source, int n) {
    v1::Project p = NewProject(title, org.name());
    auto* x = p.add_external_ids();
    x->set_source(source);
    x->set_value(absl::StrCat("X-", n));
    return p;
  };
  std::vector<v1::Project> portfolio;
  for (int i = 0; i < 47; ++i) {
    const std::string word{'w', 'x', static_cast<char>('a' + i / 26),
                           static_cast<char>('a' + i % 26)};
    portfolio.push_back(titled("Solar incubator " + word, "iati", i));
  }
  ASSERT_EQ(ImportMessages(portfolio, "").created(), 47);
  auto create = [&](const v1::Project& p) {
    v1::CreateProjectRequest req;
    *req.mutable_project() = p;
    v1::Project out;
    EXPECT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, req, &out); }).ok());
    return out;
  };
  // 47 projects share "solar" and "incubator" with this one, and each of them looks like it.
  EXPECT_EQ(create(titled("Solar incubator Limpopo", "aiddata", 1)).possible_duplicates_size(), 47);
  // That one makes 48 under both words: they no longer say anything.
  EXPECT_EQ(create(titled("Solar incubator Mpumalanga", "aiddata", 2)).possible_duplicates_size(),
            0);
}

// An import writes one batch while it reads and checks the next; a record that depends on the
// batch still being written must see it. Each batch below depends on the one before in one way
// only, so that each reason to wait is tested on its own.
TEST_F(IngestionTest, ARecordSeesTheBatchBeforeItsOwnWhileThatOneIsStillBeingWritten) {
  v1::Organization org = AddOrg("Org");
  std::vector<v1::Project> projects;
  auto add = [&](const std::string& title,
                 const std::vector<std::pair<std::string, std::string>>& ids) {
    projects.push_back(NewProject(title, org.name()));
    for (const auto& [source, value] : ids) {
      auto* x = projects.back().add_external_ids();
      x->set_source(source);
      x->set_value(value);
    }
  };
  const std::string aswan = "Aswan desert greenhouse irrigation cooperation pilot";
  // Batch size is 256: records 0-255 are the first batch, 256-511 the second, and so on.
  for (int i = 0; i < 800; ++i) {
    const std::string n = std::to_string(i);
    if (i == 20) {  // batch 1: two external ids
      add("Record twenty", {{"bulk", "20"}, {"alt", "20"}});
    } else if (i == 300) {  // batch 2: record 20 again, named by its second id
      add("Record twenty, renamed by its other id", {{"alt", "20"}, {"bulk", n}});
    } else if (i == 600) {  // batch 3: record 310 again, edited
      add("Record three hundred and ten, renamed", {{"bulk", "310"}});
    } else if (i == 610) {  // batch 3
      add(aswan, {{"bulk", n}});
    } else if (i == 790) {  // batch 4: another source's record of record 610's undertaking
      add("Greenhouse irrigation pilot in the Aswan desert", {{"aiddata", "A-1"}});
    } else {
      add(absl::StrCat("Bulk record ", i, " unique", i, "word"), {{"bulk", n}});
    }
  }
  v1::ImportSummary summary = ImportMessages(projects, "");
  EXPECT_EQ(summary.received(), 800);
  EXPECT_EQ(summary.created(), 798);
  EXPECT_EQ(summary.updated(), 2);
  EXPECT_EQ(summary.rejected(), 0) << summary.DebugString();
  auto all = ListAll(v1::ListProjectsRequest());
  ASSERT_EQ(all.size(), 798u);
  std::map<std::string, const v1::Project*> by_title;
  for (const auto& p : all) by_title[p.title()] = &p;
  EXPECT_EQ(by_title.count("Record twenty, renamed by its other id"), 1u);
  EXPECT_EQ(by_title.count("Record three hundred and ten, renamed"), 1u);
  ASSERT_EQ(by_title.count(aswan), 1u);
  ASSERT_EQ(by_title.count("Greenhouse irrigation pilot in the Aswan desert"), 1u);
  const v1::Project* lookalike = by_title["Greenhouse irrigation pilot in the Aswan desert"];
  ASSERT_EQ(lookalike->possible_duplicates_size(), 1);
  EXPECT_EQ(lookalike->possible_duplicates(0), by_title[aswan]->name());
}

// A project named again later in the same import is updated by the later record, whether
// that record falls in the same batch or a later one, and with or without a request id; a
// retry with the same request id changes nothing, however often the import names a project.
TEST_F(IngestionTest, AProjectsLaterRecordsInOneImportUpdateItAndARetryChangesNothing) {
  v1::Organization org = AddOrg("Org");
  auto import = [&](const std::string& source, const std::string& request_id,
                    bool dry_run = false) {
    std::vector<v1::Project> projects;
    auto add = [&](int id, const std::string& title) {
      projects.push_back(NewProject(title, org.name()));
      auto* x = projects.back().add_external_ids();
      x->set_source(source);
      x->set_value(std::to_string(id));
    };
    // Batches are 256 records: 5 comes again in its own batch and in the next; 7 comes again
    // unchanged.
    for (int i = 0; i < 300; ++i) {
      add(i, absl::StrCat(source, " record ", i, " unique", i, "word"));
      if (i == 10) add(5, "Record five, second version");
      if (i == 11) add(7, absl::StrCat(source, " record 7 unique7word"));
      if (i == 280) add(5, "Record five, third version");
    }
    return ImportMessages(projects, request_id, dry_run);
  };
  auto title_of_five = [&](const std::string& source) {
    for (const auto& p : ListAll(v1::ListProjectsRequest())) {
      if (p.external_ids(0).source() == source && p.external_ids(0).value() == "5") return p;
    }
    return v1::Project();
  };
  auto events_of = [&](const std::string& name) {
    int n = 0;
    for (const auto& e : Events()) n += e.resource() == name;
    return n;
  };

  auto expect_counts = [](const v1::ImportSummary& s) {
    EXPECT_EQ(s.received(), 303);
    EXPECT_EQ(s.created(), 300);
    EXPECT_EQ(s.updated(), 2);
    EXPECT_EQ(s.unchanged(), 1);
    EXPECT_EQ(s.rejected(), 0) << s.DebugString();
  };
  // A dry run checks each record against the data as stored before the import, and writes
  // nothing.
  v1::ImportSummary dry = import("dry", "", /*dry_run=*/true);
  EXPECT_EQ(dry.created(), 303);
  EXPECT_EQ(dry.rejected(), 0);
  EXPECT_TRUE(ListAll(v1::ListProjectsRequest()).empty());
  for (const std::string request_id : {"import-1", ""}) {
    SCOPED_TRACE(request_id.empty() ? "without a request id" : "with a request id");
    const std::string source = request_id.empty() ? "plain" : "keyed";
    expect_counts(import(source, request_id));
    v1::Project five = title_of_five(source);
    EXPECT_EQ(five.title(), "Record five, third version");
    EXPECT_EQ(five.revision(), 3);
    EXPECT_EQ(events_of(five.name()), 3);
  }
  // The same import again with its request id: every record was written before (or needed
  // no write), so nothing is written, and no record is mistaken for new content.
  v1::ImportSummary again = import("keyed", "import-1");
  EXPECT_EQ(again.received(), 303);
  EXPECT_EQ(again.unchanged(), 303) << again.DebugString();
  EXPECT_EQ(again.rejected(), 0);
  v1::Project five = title_of_five("keyed");
  EXPECT_EQ(five.title(), "Record five, third version");
  EXPECT_EQ(five.revision(), 3);
  EXPECT_EQ(events_of(five.name()), 3);

  // A project's first record changes nothing and a later one changes it: a retry must not
  // write the first record over the second.
  v1::Project stored_five = title_of_five("keyed");
  v1::Project changed = stored_five;
  changed.set_title("Record five, fourth version");
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::ImportSummary s = ImportMessages({stored_five, changed}, "import-2");
    EXPECT_EQ(s.unchanged(), attempt == 0 ? 1 : 2) << s.DebugString();
    EXPECT_EQ(s.updated(), attempt == 0 ? 1 : 0);
    EXPECT_EQ(title_of_five("keyed").title(), "Record five, fourth version");
    EXPECT_EQ(title_of_five("keyed").revision(), 4);
  }

  // An earlier record rejected for a reason the retry no longer has (its host country was
  // unknown, then loaded): the retry must not write it over the later record.
  v1::Project in_brazil = NewProject("Hosted where it was not yet known", org.name());
  in_brazil.set_host_country("countries/BR");
  auto* bx = in_brazil.add_external_ids();
  bx->set_source("moved");
  bx->set_value("1");
  v1::Project in_egypt = in_brazil;
  in_egypt.set_host_country("countries/EG");
  v1::ImportSummary moved = ImportMessages({in_brazil, in_egypt}, "moved-1");
  EXPECT_EQ(moved.rejected(), 1);
  EXPECT_EQ(moved.created(), 1);
  AddCountry("BR");
  moved = ImportMessages({in_brazil, in_egypt}, "moved-1");
  EXPECT_EQ(moved.unchanged(), 2) << moved.DebugString();
  auto moved_project = ListAll(v1::ListProjectsRequest());
  for (const auto& p : moved_project) {
    if (p.external_ids(0).source() == "moved") {
      EXPECT_EQ(p.host_country(), "countries/EG");
    }
  }

  // The same when the later record changes nothing (the project holds its content already):
  // the earlier one, valid on the retry, must not be written over it either.
  v1::Project in_argentina = NewProject("Hosted where it was not yet known, stored", org.name());
  in_argentina.set_host_country("countries/AR");
  auto* ax = in_argentina.add_external_ids();
  ax->set_source("moved");
  ax->set_value("2");
  v1::Project stored_in_egypt = in_argentina;
  stored_in_egypt.set_host_country("countries/EG");
  ASSERT_EQ(ImportMessages({stored_in_egypt}, "").created(), 1);
  v1::ImportSummary kept = ImportMessages({in_argentina, stored_in_egypt}, "moved-2");
  EXPECT_EQ(kept.rejected(), 1) << kept.DebugString();
  EXPECT_EQ(kept.unchanged(), 1);
  AddCountry("AR");
  kept = ImportMessages({in_argentina, stored_in_egypt}, "moved-2");
  EXPECT_EQ(kept.unchanged(), 2) << kept.DebugString();
  EXPECT_EQ(kept.updated(), 0);
  for (const auto& p : ListAll(v1::ListProjectsRequest())) {
    if (p.external_ids(0).source() == "moved" && p.external_ids(0).value() == "2") {
      EXPECT_EQ(p.host_country(), "countries/EG");
    }
  }

  // A record named by a project's second external id, in the batch of the project's first.
  v1::Project both = NewProject("Named by two ids", org.name());
  v1::Project by_second = NewProject("Named by two ids, renamed by its second", org.name());
  for (auto [source, value] : {std::pair{"first", "1"}, std::pair{"second", "1"}}) {
    auto* x = both.add_external_ids();
    x->set_source(source);
    x->set_value(value);
  }
  *by_second.add_external_ids() = both.external_ids(1);
  v1::ImportSummary second_id = ImportMessages({both, by_second}, "");
  EXPECT_EQ(second_id.created(), 1);
  EXPECT_EQ(second_id.updated(), 1);
  EXPECT_EQ(second_id.rejected(), 0) << second_id.DebugString();

  // Two records of one batch matched to one stored project by different ids: the second
  // sees the first's write (which let go of the id it is matched by, so it creates a project).
  v1::Project two_ids = NewProject("Stored with two ids", org.name());
  for (const char* source : {"qa", "qb"}) {
    auto* x = two_ids.add_external_ids();
    x->set_source(source);
    x->set_value("1");
  }
  ASSERT_EQ(ImportMessages({two_ids}, "").created(), 1);
  v1::Project by_qa = NewProject("Stored with two ids, by its first", org.name());
  *by_qa.add_external_ids() = two_ids.external_ids(0);
  v1::Project by_qb = NewProject("Stored with two ids, by its second", org.name());
  *by_qb.add_external_ids() = two_ids.external_ids(1);
  v1::ImportSummary both_ids = ImportMessages({by_qa, by_qb}, "");
  EXPECT_EQ(both_ids.updated(), 1);
  EXPECT_EQ(both_ids.created(), 1);
  EXPECT_EQ(both_ids.rejected(), 0) << both_ids.DebugString();

  // A record that names a stored project by its second external id only (a new id first) is
  // that project, updated; one whose ids name two projects is rejected, saying which.
  v1::Project known = NewProject("Known by one id", org.name());
  auto* kx = known.add_external_ids();
  kx->set_source("known");
  kx->set_value("1");
  ASSERT_EQ(ImportMessages({known}, "").created(), 1);
  v1::Project with_new_id_first = NewProject("Known by one id, and now by two", org.name());
  auto* nx = with_new_id_first.add_external_ids();
  nx->set_source("added");
  nx->set_value("1");
  *with_new_id_first.add_external_ids() = known.external_ids(0);
  v1::ImportSummary added = ImportMessages({with_new_id_first}, "");
  EXPECT_EQ(added.updated(), 1) << added.DebugString();
  EXPECT_EQ(added.created(), 0);
  EXPECT_EQ(added.rejected(), 0);
  int named_known = 0;
  for (const auto& p : ListAll(v1::ListProjectsRequest())) {
    for (const auto& x : p.external_ids()) named_known += x.source() == "known";
  }
  EXPECT_EQ(named_known, 1) << "the stored project was not found by its second id";
  v1::Project other = NewProject("Another known project", org.name());
  auto* ox = other.add_external_ids();
  ox->set_source("other");
  ox->set_value("1");
  ASSERT_EQ(ImportMessages({other}, "").created(), 1);
  v1::Project two_projects = NewProject("Naming two projects", org.name());
  *two_projects.add_external_ids() = known.external_ids(0);
  *two_projects.add_external_ids() = other.external_ids(0);
  v1::ImportSummary ambiguous = ImportMessages({two_projects}, "");
  EXPECT_EQ(ambiguous.rejected(), 1) << ambiguous.DebugString();
  ASSERT_EQ(ambiguous.rejections_size(), 1);
  EXPECT_THAT(ambiguous.rejections(0).reason(), ::testing::HasSubstr("name two projects"));

  // A project named more than 16 times: the later records are rejected.
  std::vector<v1::Project> many;
  for (int i = 0; i < 18; ++i) {
    many.push_back(NewProject(absl::StrCat("Often named, version ", i), org.name()));
    auto* x = many.back().add_external_ids();
    x->set_source("often");
    x->set_value("1");
  }
  v1::ImportSummary often = ImportMessages(many, "often-1");
  EXPECT_EQ(often.created(), 1);
  EXPECT_EQ(often.updated(), 15);
  EXPECT_EQ(often.rejected(), 2);
}

// A file that breaks after naming a project twice: both records are written before the
// import ends with the parse error.
// A request id names one content: reused for other content it is refused, as a write would
// refuse it, even when that content is what is stored already.
TEST_F(IngestionTest, ARequestIdReusedForOtherContentIsRefusedEvenWhenNothingWouldChange) {
  v1::Organization org = AddOrg("Org");
  v1::Project first =
      NewProjectWithId("Reused request id, first version", org.name(), "reuse", "1");
  v1::Project second = first;
  second.set_title("Reused request id, second version");
  EXPECT_EQ(ImportMessages({first}, "reuse-1").created(), 1);
  EXPECT_EQ(ImportMessages({second}, "").updated(), 1);
  v1::ImportSummary reused = ImportMessages({second}, "reuse-1");
  EXPECT_EQ(reused.unchanged(), 0) << reused.DebugString();
  ASSERT_EQ(reused.rejected(), 1);
  ASSERT_EQ(reused.rejections_size(), 1);
  EXPECT_EQ(reused.rejections(0).fields(0), "request_id");
  EXPECT_TRUE(absl::StrContains(reused.rejections(0).reason(), "used before for different content"))
      << reused.rejections(0).reason();
  // The record the id was first used for is still answered as a retry of it.
  EXPECT_EQ(ImportMessages({first}, "reuse-1").unchanged(), 1);
  // A new request id for the stored content changes nothing, and says so.
  EXPECT_EQ(ImportMessages({second}, "reuse-2").unchanged(), 1);
}

// AidData rows state each agency's country: two countries' "Ministry of Finance" are two
// organisations, within one import and across imports, and each host government is its own.
TEST_F(IngestionTest, AidDataAgenciesOfOneNameInTwoCountriesAreTwoOrganisations) {
  for (const char* cc : {"KE", "MW", "CN"}) AddCountry(cc);
  const std::string header =
      "project_id,title,description,status,flow,year,amount,currency,usd_current,"
      "crs_sector_code,crs_sector_name,funding_agency,implementing_agency,cofinancing_agency,"
      "recipient_agencies,recipient_iso2,start_actual,start_planned,end_actual,end_planned\r\n";
  auto row = [](const std::string& id, const std::string& iso2) {
    return absl::StrCat(id, ",Agricultural demonstration centre ", iso2,
                        ",China builds a centre.,Completion,Grant,2010,1000000,USD,1000000,310,"
                        "Agriculture,\"China Ministry of Commerce, Government Agency\",,,"
                        "\"Ministry of Finance, Government Agency\",",
                        iso2, ",,,,\r\n");
  };
  auto host_government = [&](const std::string& iso2) {
    for (const auto& p : ListAll(v1::ListProjectsRequest())) {
      if (p.title() != "Agricultural demonstration centre " + iso2) continue;
      for (const auto& part : p.participants()) {
        if (part.role() != stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT) continue;
        v1::GetOrganizationRequest get;
        get.set_name(part.organization());
        v1::Organization org;
        EXPECT_TRUE(Call([&](auto* c) { return stub_->GetOrganization(c, get, &org); }).ok());
        return org;
      }
    }
    return v1::Organization();
  };
  v1::ImportSummary s =
      Import(v1::IMPORT_FORMAT_AIDDATA_CSV, header + row("9001", "KE") + row("9002", "MW"), "");
  EXPECT_EQ(s.created(), 2) << s.DebugString();
  const v1::Organization kenya = host_government("KE"), malawi = host_government("MW");
  EXPECT_EQ(kenya.country(), "countries/KE");
  EXPECT_EQ(malawi.country(), "countries/MW");
  EXPECT_NE(kenya.name(), malawi.name());
  // A later file naming it for a third country creates that country's; one naming Kenya's
  // finds it.
  AddCountry("ZM");
  s = Import(v1::IMPORT_FORMAT_AIDDATA_CSV, header + row("9003", "ZM") + row("9004", "KE"), "");
  EXPECT_EQ(s.organizations_created(), 1) << s.DebugString();
  EXPECT_EQ(host_government("ZM").country(), "countries/ZM");
  EXPECT_EQ(host_government("KE").name(), kenya.name());
}

// A Project record's sources replace the stored ones when it gives any, as UpdateProject's
// would; a record that gives none leaves them.
TEST_F(IngestionTest, AnImportedProjectRecordsSourcesReplaceTheStoredOnes) {
  v1::Organization org = AddOrg("Sourced Ltd");
  v1::Project p = NewProjectWithId("Sourced project", org.name(), "sourced", "1");
  auto source = [](const std::string& reference) {
    v1::SourceRecord s;
    s.set_source("partner");
    s.set_reference(reference);
    return s;
  };
  *p.add_sources() = source("first listing");
  ASSERT_EQ(ImportMessages({p}, "").created(), 1);
  p.clear_sources();
  *p.add_sources() = source("second listing");
  EXPECT_EQ(ImportMessages({p}, "").updated(), 1);
  auto stored = [&] {
    for (const auto& q : ListAll(v1::ListProjectsRequest())) {
      if (q.title() == "Sourced project") return q;
    }
    return v1::Project();
  };
  ASSERT_EQ(stored().sources_size(), 1);
  EXPECT_EQ(stored().sources(0).reference(), "second listing");
  p.clear_sources();
  EXPECT_EQ(ImportMessages({p}, "").unchanged(), 1);
  ASSERT_EQ(stored().sources_size(), 1);
  EXPECT_EQ(stored().sources(0).reference(), "second listing");
}

// With several partitions an external id is still held by one resource: the write script sees
// only its own partition's hash, so the ids a write adds are looked up in the others first.
TEST_F(IngestionTest, AnExternalIdIsHeldByOneResourceAcrossPartitions) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  const redis::Keyspace keyspace("stpx", 4);  // apart from the running services' keys
  RedisRegistryStore store(&client, keyspace, 1000);
  Registry registry(&store, [] { return absl::Now(); });
  RequestContext rc;
  rc.principal = Principal::Service("test");
  auto create = [&](const std::string& name, const std::vector<std::string>& ids) {
    v1::CreateOrganizationRequest req;
    req.mutable_organization()->set_display_name(name);
    req.mutable_organization()->set_type(v1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
    for (const auto& id : ids) {
      auto* x = req.mutable_organization()->add_external_ids();
      x->set_source(id.substr(0, id.find(':')));
      x->set_value(id.substr(id.find(':') + 1));
    }
    return registry.CreateOrganization(rc, req);
  };
  // A new resource's partition is its first id's: one apart from the shared id's, and a third.
  const int shared = keyspace.PartitionOf("b:shared");
  auto apart = [&](const std::string& source, int not_this, int nor_this) {
    for (int i = 0;; ++i) {
      std::string id = absl::StrCat(source, ":", i);
      const int p = keyspace.PartitionOf(id);
      if (p != not_this && p != nor_this) return id;
    }
  };
  const std::string first = apart("a", shared, shared);
  auto holder = create("Holds the shared id", {first, "b:shared"});
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_NE(store.PartitionOf(IdOf(holder->name(), "organizations")), shared);
  auto second = create("Names it too", {"b:shared"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  EXPECT_EQ(GetErrorReason(second.status()), "EXTERNAL_ID_TAKEN");
  // An update adding it, in a third partition, likewise.
  auto other = create("Adds it later", {apart("c", shared, keyspace.PartitionOf(first))});
  ASSERT_TRUE(other.ok()) << other.status();
  v1::UpdateOrganizationRequest update;
  *update.mutable_organization() = *other;
  auto* x = update.mutable_organization()->add_external_ids();
  x->set_source("b");
  x->set_value("shared");
  auto updated = registry.UpdateOrganization(rc, update);
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kAlreadyExists) << updated.status();
  // The holder itself may keep it through an update.
  v1::UpdateOrganizationRequest rename;
  *rename.mutable_organization() = *holder;
  rename.mutable_organization()->set_display_name("Holds the shared id, renamed");
  EXPECT_TRUE(registry.UpdateOrganization(rc, rename).ok());
  // Projects, written without holding the calling thread, likewise.
  v1::UpsertCountryRequest egypt;
  egypt.mutable_country()->set_alpha2("EG");
  egypt.mutable_country()->set_display_name("Egypt");
  ASSERT_TRUE(registry.UpsertCountry(rc, egypt).ok());
  auto project = [&](const std::string& title, const std::vector<std::string>& ids) {
    v1::CreateProjectRequest req;
    *req.mutable_project() = NewProject(title, holder->name());
    for (const auto& id : ids) {
      auto* x = req.mutable_project()->add_external_ids();
      x->set_source(id.substr(0, id.find(':')));
      x->set_value(id.substr(id.find(':') + 1));
    }
    return registry.CreateProject(rc, req);
  };
  ASSERT_TRUE(project("Holds the shared project id", {first, "b:shared"}).ok());
  auto again = project("Names that project id too", {"b:shared"});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  store.StopProjectIndex();
}

// A create whose answer was lost is retried after an organisation it names was deleted: the
// retry answers with the project written first, not with the reference check's refusal that
// would tell the caller nothing was created.
TEST_F(IngestionTest, ARetriedCreateAnswersFromItsRequestIdBeforeCheckingReferencesAgain) {
  v1::Organization org = AddOrg("Deleted After The Create");
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Created before its partner left", org.name());
  create.set_request_id("create-then-partner-deleted");
  v1::Project first;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, create, &first); }).ok());
  v1::DeleteOrganizationRequest del;
  del.set_name(org.name());
  v1::DeleteResponse deleted;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->DeleteOrganization(c, del, &deleted); }).ok());
  const size_t events = Events().size();
  v1::Project retried;
  grpc::Status status = Call([&](auto* c) { return stub_->CreateProject(c, create, &retried); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retried.name(), first.name());
  EXPECT_EQ(Events().size(), events);
  // Without that request id the check stands.
  create.set_request_id("a-new-create");
  status = Call([&](auto* c) { return stub_->CreateProject(c, create, &retried); });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "does not exist"))
      << status.error_message();
}

// An update that changes nothing writes nothing, but keeps its request id: retried after
// another caller's change it answers, rather than undoing that change, and the id cannot be
// used again for other content. Organisations (the other resources' update) likewise.
TEST_F(IngestionTest, AnUpdateThatChangesNothingStillKeepsItsRequestId) {
  v1::Organization org = AddOrg("Unchanged Updates Ltd");
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Kept as it was", org.name());
  v1::Project p;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, create, &p); }).ok());
  auto update = [&](const std::string& title, const std::string& request_id) {
    v1::UpdateProjectRequest req;
    req.mutable_project()->set_name(p.name());
    req.mutable_project()->set_title(title);
    req.mutable_update_mask()->add_paths("title");
    req.set_request_id(request_id);
    v1::Project out;
    grpc::Status status = Call([&](auto* c) { return stub_->UpdateProject(c, req, &out); });
    return std::make_pair(status, out);
  };
  const size_t events = Events().size();
  ASSERT_TRUE(update("Kept as it was", "noop-1").first.ok());
  EXPECT_EQ(Events().size(), events);
  ASSERT_TRUE(update("Changed by another caller", "other-1").first.ok());
  auto [retried, answer] = update("Kept as it was", "noop-1");
  EXPECT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(answer.title(), "Changed by another caller");
  EXPECT_EQ(answer.revision(), 2);
  EXPECT_EQ(Events().size(), events + 1);
  grpc::Status reused = update("Something else", "noop-1").first;
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(reused)), "REQUEST_ID_REUSED");

  v1::UpdateOrganizationRequest same;
  same.mutable_organization()->set_name(org.name());
  same.mutable_organization()->set_display_name(org.display_name());
  same.mutable_update_mask()->add_paths("display_name");
  same.set_request_id("noop-org-1");
  v1::Organization out;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateOrganization(c, same, &out); }).ok());
  same.mutable_organization()->set_display_name("Renamed Under A Used Id");
  reused = Call([&](auto* c) { return stub_->UpdateOrganization(c, same, &out); });
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(reused)), "REQUEST_ID_REUSED");
}

// An imported record names organisations and parks that exist, as CreateProject asks, and
// its participants show the organisations' registered names.
TEST_F(IngestionTest, AnImportedRecordNamingAMissingOrganisationOrParkIsRejected) {
  v1::Organization org = AddOrg("Registered Name Ltd");
  auto record = [&](const std::string& value) {
    v1::Project p = NewProject("Imported with references " + value, org.name());
    p.mutable_participants(0)->set_display_name("A name the record gives");
    auto* x = p.add_external_ids();
    x->set_source("refs");
    x->set_value(value);
    return p;
  };
  v1::Project good = record("good");
  v1::Project no_org = record("no-org");
  no_org.mutable_participants(0)->set_organization("organizations/0000000000000000");
  v1::Project no_park = record("no-park");
  no_park.set_park("parks/0000000000000000");
  auto* flow = no_park.mutable_financing()->add_commitments();
  flow->set_source_organization("organizations/0000000000000001");
  flow->mutable_amount()->set_currency_code("USD");
  flow->mutable_amount()->set_units(5);
  v1::ImportSummary s = ImportMessages({good, no_org, no_park}, "");
  EXPECT_EQ(s.created(), 1);
  ASSERT_EQ(s.rejected(), 2) << s.DebugString();
  ASSERT_EQ(s.rejections_size(), 2);
  EXPECT_EQ(s.rejections(0).index(), 1);
  EXPECT_EQ(
      std::vector<std::string>(s.rejections(0).fields().begin(), s.rejections(0).fields().end()),
      std::vector<std::string>{"project.participants[0].organization"});
  EXPECT_TRUE(absl::StrContains(s.rejections(0).reason(), "does not exist"))
      << s.rejections(0).reason();
  EXPECT_EQ(std::set<std::string>(s.rejections(1).fields().begin(), s.rejections(1).fields().end()),
            (std::set<std::string>{"project.park",
                                   "project.financing.commitments[0].source_organization"}));
  auto all = ListAll(v1::ListProjectsRequest());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].participants(0).display_name(), "Registered Name Ltd");
}

// A record rejected for what does not depend on its organisations (here an unknown host
// country) creates none of them; the same organisation named by a good record is created.
TEST_F(IngestionTest, ARejectedRecordCreatesNoOrganisation) {
  AddCountry("EG");
  auto activity = [](const std::string& id, const std::string& country, const std::string& org) {
    return absl::StrCat("<iati-activity default-currency=\"USD\"><iati-identifier>", id,
                        "</iati-identifier><title><narrative>Activity ", id,
                        "</narrative></title><participating-org ref=\"", org,
                        "\" role=\"4\" type=\"70\"><narrative>Organisation ", org,
                        "</narrative></participating-org><recipient-country code=\"", country,
                        "\"/><sector vocabulary=\"1\" code=\"23210\"/></iati-activity>");
  };
  auto organizations = [&] {
    v1::ListOrganizationsRequest req;
    v1::ListOrganizationsResponse resp;
    EXPECT_TRUE(Call([&](auto* c) { return stub_->ListOrganizations(c, req, &resp); }).ok());
    std::set<std::string> names;
    for (const auto& o : resp.organizations()) names.insert(o.display_name());
    return names;
  };
  std::string file = absl::StrCat(
      "<iati-activities version=\"2.03\">", activity("XM-NOWHERE", "BR", "XM-ORG-ONLY-HERE"),
      activity("XM-SOMEWHERE", "EG", "XM-ORG-GOOD"), "</iati-activities>");
  v1::ImportSummary s = Import(v1::IMPORT_FORMAT_IATI_XML, file, "");
  EXPECT_EQ(s.created(), 1);
  ASSERT_EQ(s.rejected(), 1) << s.DebugString();
  EXPECT_EQ(s.rejections(0).fields(0), "project.host_country");
  EXPECT_EQ(s.organizations_created(), 1);
  EXPECT_EQ(organizations(), (std::set<std::string>{"Organisation XM-ORG-GOOD"}));
}

// An organisation the batch creates carries every role the batch's records give it: here
// implementing (IATI role 4) in one activity and funding (role 1) in another.
TEST_F(IngestionTest, AnImportedOrganisationCarriesEveryRoleItsBatchGivesIt) {
  auto activity = [](const std::string& id, const std::string& role) {
    return absl::StrCat("<iati-activity default-currency=\"USD\"><iati-identifier>", id,
                        "</iati-identifier><title><narrative>Activity ", id,
                        "</narrative></title><participating-org ref=\"XM-ORG-BOTH\" role=\"", role,
                        "\" type=\"70\"><narrative>Both Ways Ltd</narrative></participating-org>"
                        "<recipient-country code=\"EG\"/><sector vocabulary=\"1\" "
                        "code=\"23210\"/></iati-activity>");
  };
  std::string file = absl::StrCat("<iati-activities version=\"2.03\">", activity("XM-A", "4"),
                                  activity("XM-B", "1"), "</iati-activities>");
  v1::ImportSummary s = Import(v1::IMPORT_FORMAT_IATI_XML, file, "");
  ASSERT_EQ(s.created(), 2) << s.DebugString();
  ASSERT_EQ(s.organizations_created(), 1);
  v1::ListOrganizationsRequest req;
  v1::ListOrganizationsResponse resp;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListOrganizations(c, req, &resp); }).ok());
  std::set<int> roles;
  for (const auto& o : resp.organizations()) {
    if (o.display_name() == "Both Ways Ltd") roles.insert(o.roles().begin(), o.roles().end());
  }
  EXPECT_TRUE(roles.count(stp::common::v1::PARTNER_ROLE_FINANCIER)) << roles.size();
  EXPECT_EQ(roles.size(), 2u);
}

// One batch names an organisation by identifier in one activity and by name only in another:
// one organisation, with the roles of both.
TEST_F(IngestionTest, AnOrganisationNamedWithAndWithoutItsRefInOneBatchIsCreatedOnce) {
  auto activity = [](const std::string& id, const std::string& org) {
    return absl::StrCat("<iati-activity default-currency=\"USD\"><iati-identifier>", id,
                        "</iati-identifier><title><narrative>Activity ", id, "</narrative></title>",
                        org,
                        "<recipient-country code=\"EG\"/><sector vocabulary=\"1\" "
                        "code=\"23210\"/></iati-activity>");
  };
  std::string file =
      absl::StrCat("<iati-activities version=\"2.03\">",
                   activity("XM-REF",
                            "<participating-org ref=\"XM-ORG-NAMED\" role=\"1\"><narrative>Named "
                            "Twice Ltd</narrative></participating-org>"),
                   activity("XM-NAME",
                            "<participating-org role=\"4\"><narrative>NAMED TWICE LTD."
                            "</narrative></participating-org>"),
                   "</iati-activities>");
  v1::ImportSummary s = Import(v1::IMPORT_FORMAT_IATI_XML, file, "");
  ASSERT_EQ(s.created(), 2) << s.DebugString();
  EXPECT_EQ(s.organizations_created(), 1);
  std::set<std::string> participants;
  for (const auto& p : ListAll(v1::ListProjectsRequest())) {
    for (const auto& part : p.participants()) participants.insert(part.organization());
  }
  EXPECT_EQ(participants.size(), 1u);
  v1::ListOrganizationsResponse resp;
  ASSERT_TRUE(Call([&](auto* c) {
                return stub_->ListOrganizations(c, v1::ListOrganizationsRequest(), &resp);
              }).ok());
  std::vector<v1::Organization> named;
  for (const auto& o : resp.organizations()) {
    if (absl::AsciiStrToLower(o.display_name()).rfind("named twice ltd", 0) == 0)
      named.push_back(o);
  }
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].roles_size(), 2);  // financier and implementer
  EXPECT_EQ(named[0].external_ids_size(), 1);
}

// Organisations found by name and named with an identifier: the identifier is recorded on one
// that has none, so that a later file naming it by identifier alone finds it; unless the identifier
// places it in another country than the stored one, which makes it another organisation with that
// name (two countries' ministries of finance).
TEST_F(IngestionTest, AnImportedIdentifierJoinsTheOrganisationFoundByNameInItsCountry) {
  AddCountry("EG");
  AddCountry("KE");
  auto file = [](const std::string& id, const std::string& org) {
    return absl::StrCat(
        "<iati-activities version=\"2.03\"><iati-activity default-currency=\"USD\">"
        "<iati-identifier>",
        id, "</iati-identifier><title><narrative>Activity ", id, "</narrative></title>", org,
        "<recipient-country code=\"EG\"/><sector vocabulary=\"1\" "
        "code=\"23210\"/></iati-activity></iati-activities>");
  };
  auto org = [](const std::string& ref, const std::string& name) {
    return absl::StrCat("<participating-org", ref.empty() ? "" : " ref=\"" + ref + "\"",
                        " role=\"4\"><narrative>", name, "</narrative></participating-org>");
  };
  auto participant = [&](const std::string& iati_id) {
    for (const auto& p : ListAll(v1::ListProjectsRequest())) {
      if (p.title() == "Activity " + iati_id) {
        return p.participants_size() == 1 ? p.participants(0).organization() : std::string();
      }
    }
    return std::string();
  };
  auto identifiers = [&](const std::string& name) {
    v1::GetOrganizationRequest get;
    get.set_name(name);
    v1::Organization stored;
    EXPECT_TRUE(Call([&](auto* c) { return stub_->GetOrganization(c, get, &stored); }).ok());
    std::vector<std::string> out;
    for (const auto& x : stored.external_ids()) out.push_back(x.value());
    return out;
  };
  // Known by name only, then named with an identifier: the identifier is added.
  ASSERT_EQ(Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-1", org("", "Nile Works")), "")
                .organizations_created(),
            1);
  v1::ImportSummary s =
      Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-2", org("XM-NILE", "NILE WORKS")), "");
  EXPECT_EQ(s.organizations_created(), 0) << s.DebugString();
  const std::string nile = participant("XM-1");
  ASSERT_FALSE(nile.empty());
  EXPECT_EQ(participant("XM-2"), nile);
  EXPECT_EQ(identifiers(nile), std::vector<std::string>{"XM-NILE"});
  // A file naming it by that identifier under another name finds it.
  s = Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-3", org("XM-NILE", "Nile Works Egypt")), "");
  EXPECT_EQ(s.organizations_created(), 0) << s.DebugString();
  EXPECT_EQ(participant("XM-3"), nile);
  // A second identifier, with no country to tell them apart: the same organisation, which
  // keeps its first (one per source).
  s = Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-4", org("XM-NILE-2", "Nile Works")), "");
  EXPECT_EQ(s.organizations_created(), 0) << s.DebugString();
  EXPECT_EQ(participant("XM-4"), nile);
  EXPECT_EQ(identifiers(nile), std::vector<std::string>{"XM-NILE"});
  // The same name in two countries: two organisations, and a dry run counts the second.
  s = Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-5", org("KE-GOV-7", "Ministry of Finance")), "");
  EXPECT_EQ(s.organizations_created(), 1) << s.DebugString();
  const std::string kenyan = participant("XM-5");
  const std::string egypt_file = file("XM-6", org("EG-GOV-7", "Ministry of Finance"));
  EXPECT_EQ(Import(v1::IMPORT_FORMAT_IATI_XML, egypt_file, "", nullptr, 64 * 1024,
                   /*dry_run=*/true)
                .organizations_created(),
            1);
  s = Import(v1::IMPORT_FORMAT_IATI_XML, egypt_file, "");
  EXPECT_EQ(s.organizations_created(), 1) << s.DebugString();
  const std::string egyptian = participant("XM-6");
  EXPECT_FALSE(egyptian.empty());
  EXPECT_NE(egyptian, kenyan);
  EXPECT_EQ(identifiers(kenyan), std::vector<std::string>{"KE-GOV-7"});
  // Registered by name in two countries, then named with an identifier of one: it joins that
  // country's, not the one registered last.
  const v1::Organization egypt_planning = AddOrg("Ministry of Planning", "countries/EG");
  const v1::Organization kenya_planning = AddOrg("Ministry of Planning", "countries/KE");
  s = Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-7", org("EG-GOV-9", "Ministry of Planning")), "");
  EXPECT_EQ(s.organizations_created(), 0) << s.DebugString();
  EXPECT_EQ(participant("XM-7"), egypt_planning.name());
  EXPECT_EQ(identifiers(egypt_planning.name()), std::vector<std::string>{"EG-GOV-9"});
  EXPECT_TRUE(identifiers(kenya_planning.name()).empty());
  // Renamed, it leaves the old name's entries (its country's included) to none.
  v1::UpdateOrganizationRequest rename;
  rename.mutable_organization()->set_name(egypt_planning.name());
  rename.mutable_organization()->set_display_name("Ministry of Planning and Development");
  rename.mutable_update_mask()->add_paths("display_name");
  v1::Organization renamed;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateOrganization(c, rename, &renamed); }).ok());
  s = Import(v1::IMPORT_FORMAT_IATI_XML, file("XM-8", org("EG-GOV-10", "Ministry of Planning")),
             "");
  EXPECT_EQ(s.organizations_created(), 1) << s.DebugString();
  EXPECT_NE(participant("XM-8"), egypt_planning.name());
  EXPECT_NE(participant("XM-8"), kenya_planning.name());
}

// The same across the import's batches, and a dry run counts what the import will create.
TEST_F(IngestionTest, ADryRunCountsAnOrganisationNamedBothWaysInTwoBatchesOnce) {
  std::string file = "<iati-activities version=\"2.03\">";
  // Small chunks, so that a batch is written once it is full rather than at a chunk's end.
  const int activities = ImportSession::kBatchSize + 40;
  for (int i = 0; i < activities; ++i) {
    std::string org = i == 0 ? "<participating-org ref=\"XM-ACME\" role=\"1\"><narrative>Acme "
                               "Works</narrative></participating-org>"
                      : i == activities - 1 ? "<participating-org role=\"4\"><narrative>ACME "
                                              "WORKS</narrative></participating-org>"
                                            : "";
    absl::StrAppend(&file, "<iati-activity default-currency=\"USD\"><iati-identifier>XM-BATCH-", i,
                    "</iati-identifier><title><narrative>Batched ", i, "</narrative></title>", org,
                    "<recipient-country code=\"EG\"/><sector vocabulary=\"1\" code=\"23210\"/>"
                    "</iati-activity>");
  }
  absl::StrAppend(&file, "</iati-activities>");
  v1::ImportSummary dry = Import(v1::IMPORT_FORMAT_IATI_XML, file, "", nullptr, 4096,
                                 /*dry_run=*/true);
  EXPECT_EQ(dry.created(), activities) << dry.DebugString();
  EXPECT_EQ(dry.organizations_created(), 1);
  v1::ImportSummary real = Import(v1::IMPORT_FORMAT_IATI_XML, file, "", nullptr, 4096);
  EXPECT_EQ(real.created(), activities);
  EXPECT_EQ(real.organizations_created(), 1);
}

// One name in two countries, then a second identifier of each in a later batch: the import
// finds each by name within its country, and a dry run counts as the import does.
TEST_F(IngestionTest, ADryRunFindsAnOrganisationByNameInItsCountryAsTheImportDoes) {
  AddCountry("EG");
  AddCountry("KE");
  std::string file = "<iati-activities version=\"2.03\">";
  const int activities = ImportSession::kBatchSize + 40;
  auto org = [](const std::string& ref) {
    return absl::StrCat("<participating-org ref=\"", ref,
                        "\" role=\"1\"><narrative>Ministry of Finance</narrative>"
                        "</participating-org>");
  };
  for (int i = 0; i < activities; ++i) {
    std::string named = i == 0                ? org("KE-GOV-7")
                        : i == 1              ? org("EG-GOV-7")
                        : i == activities - 2 ? org("EG-GOV-8")
                        : i == activities - 1 ? org("KE-GOV-8")
                                              : "";
    absl::StrAppend(&file, "<iati-activity default-currency=\"USD\"><iati-identifier>XM-MOF-", i,
                    "</iati-identifier><title><narrative>Finance ", i, "</narrative></title>",
                    named,
                    "<recipient-country code=\"EG\"/><sector vocabulary=\"1\" code=\"23210\"/>"
                    "</iati-activity>");
  }
  absl::StrAppend(&file, "</iati-activities>");
  v1::ImportSummary dry = Import(v1::IMPORT_FORMAT_IATI_XML, file, "", nullptr, 4096,
                                 /*dry_run=*/true);
  v1::ImportSummary real = Import(v1::IMPORT_FORMAT_IATI_XML, file, "", nullptr, 4096);
  EXPECT_EQ(real.created(), activities) << real.DebugString();
  EXPECT_EQ(real.organizations_created(), 2) << real.DebugString();
  EXPECT_EQ(dry.organizations_created(), real.organizations_created()) << dry.DebugString();
}

TEST_F(IngestionTest, AFileCutShortStillWritesItsCompleteActivitiesBeforeTheError) {
  AddCountry("EG");
  std::string file = "<iati-activities version=\"2.03\">";
  for (int i = 0; i < 3; ++i) {
    absl::StrAppend(&file, "<iati-activity default-currency=\"USD\"><iati-identifier>XM-CUT-", i,
                    "</iati-identifier><title><narrative>Cut short ", i,
                    "</narrative></title><recipient-country code=\"EG\"/>"
                    "<sector vocabulary=\"1\" code=\"23210\"/></iati-activity>");
  }
  grpc::Status status;
  Import(v1::IMPORT_FORMAT_IATI_XML, file, "", &status);  // no closing </iati-activities>
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(ListAll(v1::ListProjectsRequest()).size(), 3u);
}

TEST_F(IngestionTest, AFileNamingAProjectTwiceIsWrittenBeforeAFaultAndARetryKeepsItsLastRecord) {
  AddCountry("EG");
  auto activity = [](const std::string& title) {
    return absl::StrCat(
        "<iati-activity default-currency=\"USD\"><iati-identifier>XM-TWICE</iati-identifier>"
        "<title><narrative>",
        title,
        "</narrative></title><recipient-country code=\"EG\"/>"
        "<sector vocabulary=\"1\" code=\"23210\"/></iati-activity>");
  };
  std::string file = absl::StrCat("<iati-activities version=\"2.03\">", activity("First title"),
                                  activity("Second title"), "<iati-activity><broken></oops>");
  grpc::Status status;
  Import(v1::IMPORT_FORMAT_IATI_XML, file, "twice-then-broken", &status);
  EXPECT_FALSE(status.ok());
  auto all = ListAll(v1::ListProjectsRequest());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].title(), "Second title");
  EXPECT_EQ(all[0].revision(), 2);

  // The project gets another first external id; the same file (without its fault) names it
  // unchanged, then changed. The records' request ids come from the file, not from the
  // project: a retry must not write the first record over the second.
  v1::UpdateProjectRequest up;
  *up.mutable_project() = all[0];
  up.mutable_project()->clear_external_ids();
  auto* partner = up.mutable_project()->add_external_ids();
  partner->set_source("partner");
  partner->set_value("SZ-1");
  *up.mutable_project()->add_external_ids() = all[0].external_ids(0);
  up.mutable_update_mask()->add_paths("external_ids");
  v1::Project relabelled;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateProject(c, up, &relabelled); }).ok());
  std::string twice = absl::StrCat("<iati-activities version=\"2.03\">", activity("Second title"),
                                   activity("Third title"), "</iati-activities>");
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::ImportSummary s = Import(v1::IMPORT_FORMAT_IATI_XML, twice, "relabelled");
    EXPECT_EQ(s.unchanged(), attempt == 0 ? 1 : 2) << s.DebugString();
    all = ListAll(v1::ListProjectsRequest());
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].title(), "Third title");
    EXPECT_EQ(all[0].revision(), 4);
  }
}

TEST_F(IngestionTest, OrganizationsAndParksRoundTrip) {
  v1::Organization org = AddOrg("China Three Gorges");
  v1::UpdateOrganizationRequest up;
  *up.mutable_organization() = org;
  up.mutable_organization()->add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  up.mutable_organization()->set_etag("");
  v1::Organization o2;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->UpdateOrganization(c, up, &o2); }).ok());
  EXPECT_EQ(o2.roles_size(), 1);
  v1::ListOrganizationsRequest lreq;
  lreq.set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  v1::ListOrganizationsResponse lresp;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListOrganizations(c, lreq, &lresp); }).ok());
  ASSERT_EQ(lresp.organizations_size(), 1);
  v1::CreateParkRequest park;
  park.mutable_park()->set_display_name("Smart Village");
  park.mutable_park()->set_host_country("countries/EG");
  park.mutable_park()->set_operator_(org.name());
  park.mutable_park()->add_focus_avenues(stp::common::v1::AVENUE_E_COMMERCE);
  v1::Park pk;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreatePark(c, park, &pk); }).ok());
  v1::ListParksRequest preq;
  preq.set_host_country("countries/EG");
  v1::ListParksResponse presp;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListParks(c, preq, &presp); }).ok());
  ASSERT_EQ(presp.parks_size(), 1);
  EXPECT_EQ(presp.parks(0).operator_(), org.name());
  v1::DeleteOrganizationRequest del;
  del.set_name(org.name());
  v1::DeleteResponse dr;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->DeleteOrganization(c, del, &dr); }).ok());
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListOrganizations(c, lreq, &lresp); }).ok());
  EXPECT_EQ(lresp.organizations_size(), 0);
}

// A project keeps its references to an organisation deleted since (an operator merging the
// duplicates an import created): an update of another field is not refused for them, while a
// reference the update adds must still exist.
TEST_F(IngestionTest, AProjectNamingADeletedOrganisationCanStillBeUpdated) {
  v1::Organization lead = AddOrg("Lead Institute");
  v1::Organization financier = AddOrg("Financier Bank");
  v1::Organization gone = AddOrg("Gone Company");
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Solar park", lead.name());
  auto* fin = create.mutable_project()->add_participants();
  fin->set_organization(financier.name());
  fin->set_role(stp::common::v1::PARTNER_ROLE_FINANCIER);
  auto* flow = create.mutable_project()->mutable_financing()->add_commitments();
  flow->set_source_organization(financier.name());
  flow->mutable_amount()->set_currency_code("USD");
  flow->mutable_amount()->set_units(1000000);
  v1::Project project;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, create, &project); }).ok());
  for (const auto& org : {financier, gone}) {
    v1::DeleteOrganizationRequest del;
    del.set_name(org.name());
    v1::DeleteResponse dr;
    ASSERT_TRUE(Call([&](auto* c) { return stub_->DeleteOrganization(c, del, &dr); }).ok());
  }

  v1::UpdateProjectRequest update;
  update.mutable_project()->set_name(project.name());
  update.mutable_project()->set_stage(v1::PROJECT_STAGE_APPROVED);
  update.mutable_update_mask()->add_paths("stage");
  v1::Project updated;
  grpc::Status s = Call([&](auto* c) { return stub_->UpdateProject(c, update, &updated); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(updated.stage(), v1::PROJECT_STAGE_APPROVED);
  ASSERT_EQ(updated.participants_size(), 2);
  EXPECT_EQ(updated.participants(1).organization(), financier.name());
  EXPECT_EQ(updated.participants(1).display_name(), "Financier Bank");
  EXPECT_EQ(updated.financing().commitments(0).source_organization(), financier.name());

  // A reference the update brings in is checked as on create.
  update.mutable_project()->clear_stage();
  *update.mutable_project()->mutable_participants() = updated.participants();
  auto* added = update.mutable_project()->add_participants();
  added->set_organization(gone.name());
  added->set_role(stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER);
  update.mutable_update_mask()->set_paths(0, "participants");
  s = Call([&](auto* c) { return stub_->UpdateProject(c, update, &updated); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  auto violations = GetFieldViolations(FromGrpcStatus(s));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "project.participants[2].organization");
}

class RealDataTest : public IngestionTest {
 protected:
  void SetUp() override {
    IngestionTest::SetUp();
    std::string d = SharedData();
    std::ifstream probe(d + "/countries/iso3166-countries-with-regional-codes.csv");
    if (!probe)
      GTEST_SKIP() << "no shared data at " << d
                   << " (set STP_SHARED_DATA); real-data tests skipped";
    auto countries = JoinOfficialCountryFiles(
        ReadFile(d + "/countries/iso3166-countries-with-regional-codes.csv"),
        ReadFile(d + "/countries/worldbank-country-metadata-income-groups.csv"),
        ReadFile(d + "/bri/gfdc-bri-countries-2023-12.csv"));
    ASSERT_TRUE(countries.ok()) << countries.status();
    ASSERT_GT(countries->size(), 240u);
    for (const auto& c : *countries) {
      v1::UpsertCountryRequest req;
      *req.mutable_country() = c;
      v1::Country resp;
      grpc::Status s = Call([&](auto* ctx) { return stub_->UpsertCountry(ctx, req, &resp); });
      ASSERT_TRUE(s.ok()) << c.alpha2() << ": " << s.error_message();
    }
  }
};

TEST_F(RealDataTest, CountryReferenceDataKnowsIncomeGroupsAndBri) {
  v1::Country eg;
  v1::GetCountryRequest get;
  get.set_name("countries/EG");
  ASSERT_TRUE(Call([&](auto* c) { return stub_->GetCountry(c, get, &eg); }).ok());
  EXPECT_EQ(eg.alpha3(), "EGY");
  EXPECT_EQ(eg.income_group(), stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
  EXPECT_TRUE(eg.bri().member());
  EXPECT_EQ(eg.bri().join_date().year(), 2016);
  // Kosovo has no ISO row; the World Bank lists it (XKX), and records name it XK.
  v1::Country xk;
  get.set_name("countries/XK");
  ASSERT_TRUE(Call([&](auto* c) { return stub_->GetCountry(c, get, &xk); }).ok());
  EXPECT_EQ(xk.display_name(), "Kosovo");
  EXPECT_EQ(xk.income_group(), stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
  v1::ListCountriesRequest list;
  list.set_bri_members_only(true);
  list.set_page_size(1000);
  v1::ListCountriesResponse resp;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListCountries(c, list, &resp); }).ok());
  EXPECT_GT(resp.countries_size(), 130);
}

TEST_F(RealDataTest, ImportsRealIatiAndAidDataFilesIdempotently) {
  std::string d = SharedData();
  struct Case {
    std::string file;
    v1::ImportFormat format;
    int records;
  };
  std::vector<Case> cases = {
      {d + "/iati/examples/activity-standard-example-annotated.xml", v1::IMPORT_FORMAT_IATI_XML, 1},
      {d + "/iati/real/aiddata-nigeria-aims-geocoded-v2.03.xml", v1::IMPORT_FORMAT_IATI_XML, 140},
      {d + "/iati/real/dportal-export-page111-v2.03.xml", v1::IMPORT_FORMAT_IATI_XML, 100},
      {d + "/iati/derived/dportal-subset-eg-za-china-triangular-v2.03.xml",
       v1::IMPORT_FORMAT_IATI_XML, 375},
      {d + "/chinese-finance/aiddata-gcof-v1.0-subset-stp-egypt-southafrica.csv",
       v1::IMPORT_FORMAT_AIDDATA_CSV, 218},
  };
  int n = 0;
  for (const auto& c : cases) {
    std::string data = ReadFile(c.file);
    ++n;
    v1::ImportSummary s1 = Import(c.format, data, absl::StrCat("imp-", n));
    EXPECT_EQ(s1.received(), c.records) << c.file;
    EXPECT_EQ(s1.created() + s1.updated() + s1.unchanged() + s1.rejected(), s1.received())
        << c.file;
    if (c.records > 1) {
      EXPECT_GT(s1.created() + s1.updated(), 0) << c.file;
    }
    std::map<std::string, int> reasons;
    for (const auto& r : s1.rejections()) {
      ++reasons[r.reason().substr(0, 40)];
      EXPECT_FALSE(r.reason().empty());
      EXPECT_GE(r.index(), 0);
    }
    std::printf("%s: received %d, created %d, updated %d, unchanged %d, rejected %d, orgs %d\n",
                c.file.substr(c.file.rfind('/') + 1).c_str(), s1.received(), s1.created(),
                s1.updated(), s1.unchanged(), s1.rejected(), s1.organizations_created());
    for (const auto& [reason, count] : reasons)
      std::printf("    %4d x %s...\n", count, reason.c_str());
    // Again: nothing changes.
    size_t events = Events().size();
    v1::ImportSummary s2 = Import(c.format, data, absl::StrCat("imp2-", n), nullptr, 7777);
    EXPECT_EQ(s2.created(), 0) << c.file;
    EXPECT_EQ(s2.updated(), 0) << c.file;
    EXPECT_EQ(s2.unchanged(), s1.created() + s1.updated()) << c.file;
    EXPECT_EQ(s2.rejected(), s1.rejected()) << c.file;
    EXPECT_EQ(Events().size(), events) << c.file;
  }
  // Spot checks: an Egyptian project from the d-portal subset carries its identifier, host and
  // money; the AidData records carry their Chinese financiers.
  v1::ListProjectsRequest eg;
  eg.set_host_country("countries/EG");
  auto egypt = ListAll(eg);
  EXPECT_GT(egypt.size(), 40u);
  int with_budget = 0, aiddata = 0;
  for (const auto& p : egypt) {
    EXPECT_FALSE(p.external_ids().empty());
    EXPECT_FALSE(p.avenues().empty());
    if (p.financing().has_budget()) ++with_budget;
    if (p.external_ids(0).source() == "aiddata") ++aiddata;
  }
  EXPECT_GT(with_budget, 10);
  EXPECT_GT(aiddata, 5);
  // Organisations the imports created carry the roles they played: the AidData lenders and
  // the IATI funders are financiers, for partner matching to find.
  v1::ListOrganizationsRequest financiers;
  financiers.set_role(stp::common::v1::PARTNER_ROLE_FINANCIER);
  financiers.set_page_size(1000);
  v1::ListOrganizationsResponse found;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->ListOrganizations(c, financiers, &found); }).ok());
  EXPECT_GT(found.organizations_size(), 10);
  bool china_eximbank = false;
  for (const auto& o : found.organizations())
    china_eximbank |= absl::StrContains(o.display_name(), "Export-Import Bank of China");
  EXPECT_TRUE(china_eximbank);
}

TEST_F(RealDataTest, AnEditedActivityUpdatesItsProject) {
  std::string xml =
      ReadFile(SharedData() + "/iati/examples/activity-standard-example-annotated.xml");
  // The example's sectors are education (111, 112), which no avenue covers; make it energy.
  for (const char* code : {"code=\"111\"", "code=\"112\""}) {
    size_t at = xml.find(code);
    ASSERT_NE(at, std::string::npos);
    xml.replace(at, 10, "code=\"231\"");
  }
  v1::ImportSummary s1 = Import(v1::IMPORT_FORMAT_IATI_XML, xml, "edit-1");
  ASSERT_EQ(s1.created(), 1) << (s1.rejections_size() ? s1.rejections(0).reason() : "");
  std::string edited = xml;
  size_t at = edited.find("<activity-status code=\"2\"");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, 25, "<activity-status code=\"3\"");
  v1::ImportSummary s2 = Import(v1::IMPORT_FORMAT_IATI_XML, edited, "edit-2");
  EXPECT_EQ(s2.updated(), 1);
  auto all = ListAll(v1::ListProjectsRequest());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].stage(), v1::PROJECT_STAGE_COMPLETED);
  EXPECT_EQ(Events().back().type(), stp::events::v1::EVENT_TYPE_STAGE_CHANGED);
  // Its history says which import wrote each revision, from what source, and what changed.
  v1::GetProjectHistoryRequest hist;
  hist.set_name(all[0].name());
  v1::GetProjectHistoryResponse h;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->GetProjectHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.revisions_size(), 2);
  EXPECT_EQ(h.revisions(0).kind(), v1::ProjectRevision::KIND_UPDATED);
  EXPECT_EQ(h.revisions(0).source(), "import:iati");
  EXPECT_TRUE(absl::StartsWith(h.revisions(0).request_id(), "edit-2"))
      << h.revisions(0).request_id();
  EXPECT_EQ(std::count(h.revisions(0).changed_fields().begin(),
                       h.revisions(0).changed_fields().end(), "stage"),
            1);
  EXPECT_EQ(h.revisions(1).kind(), v1::ProjectRevision::KIND_CREATED);
  EXPECT_EQ(h.revisions(1).source(), "import:iati");
  EXPECT_TRUE(absl::StartsWith(h.revisions(1).request_id(), "edit-1"))
      << h.revisions(1).request_id();
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToMilliseconds(h.revisions(0).time()),
            google::protobuf::util::TimeUtil::TimestampToMilliseconds(all[0].update_time()));
}

TEST_F(IngestionTest, BadStreamsAreRefusedWithClearErrors) {
  grpc::Status s;
  Import(v1::IMPORT_FORMAT_IATI_XML, "<iati-activities><iati-activity>", "broken", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  std::string bomb =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
      "\"&lol;&lol;&lol;&lol;&lol;\">]><iati-activities>&lol2;</iati-activities>";
  Import(v1::IMPORT_FORMAT_IATI_XML, bomb, "bomb", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  // No format on the first message.
  Import(v1::IMPORT_FORMAT_UNSPECIFIED, "x", "nofmt", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // No deadline.
  grpc::ClientContext ctx;
  v1::ImportSummary summary;
  auto writer = stub_->ImportProjects(&ctx, &summary);
  v1::ImportProjectsRequest first;
  first.set_format(v1::IMPORT_FORMAT_PROJECTS);
  writer->Write(first);
  writer->WritesDone();
  grpc::Status nodl = writer->Finish();
  EXPECT_EQ(nodl.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(nodl)), "DEADLINE_REQUIRED");
}

// An import that fails mid-stream (here a file chunk in a stream of project messages) has a
// batch's write in flight. Its error comes after that write is over: what the import wrote is
// in place when the caller sees the error, and nothing more lands later.
TEST_F(IngestionTest, FailedImportAnswersAfterItsWriteInFlightIsOver) {
  AddCountry("EG");
  v1::Organization org = AddOrg("Org");
  grpc::ClientContext ctx;
  v1::ImportSummary summary;
  auto writer = OpenProjectImport(&ctx, &summary, "fails-midway");
  for (int i = 0; i < 2 * ImportSession::kBatchSize + 10; ++i) {
    v1::ImportProjectsRequest m;
    *m.mutable_project() = NewProject("Midway " + std::to_string(i), org.name());
    auto* x = m.mutable_project()->add_external_ids();
    x->set_source("midway");
    x->set_value(std::to_string(i));
    if (!writer->Write(m)) break;
  }
  v1::ImportProjectsRequest chunk;
  chunk.set_chunk("<iati-activities/>");
  writer->Write(chunk);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  auto created = [&] {
    int n = 0;
    for (const auto& e : Events()) n += e.type() == stp::events::v1::EVENT_TYPE_PROJECT_CREATED;
    return n;
  };
  const int at_answer = created();
  // Two batches were written (the second was in flight when the chunk came); the last
  // records, not yet in a batch, were not.
  EXPECT_EQ(at_answer, 2 * ImportSession::kBatchSize);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(created(), at_answer);
}

TEST_F(IngestionTest, ACreateWhileRedisIsDownAnswersUnavailableAndItsRetryCreatesOnce) {
  v1::Organization org = AddOrg("Down Org");
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Kigali innovation city incubator", org.name());
  create.set_request_id("create-while-down");
  stack_->redis().Kill();
  v1::Project p;
  // Within the call's deadline: an answer, not a hang.
  grpc::Status down = Call([&](auto* c) { return stub_->CreateProject(c, create, &p); });
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  ASSERT_TRUE(stack_->redis().Restart().ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Call([&](auto* c) { return stub_->CreateProject(c, create, &p); }).ok(); }));
  v1::Project again;
  ASSERT_TRUE(Call([&](auto* c) { return stub_->CreateProject(c, create, &again); }).ok());
  EXPECT_EQ(again.name(), p.name());
  EXPECT_EQ(again.etag(), p.etag());
  int created = 0;
  for (const auto& e : Events()) {
    if (e.type() == stp::events::v1::EVENT_TYPE_PROJECT_CREATED &&
        e.project().title() == "Kigali innovation city incubator") {
      ++created;
      EXPECT_EQ(e.resource(), p.name());
    }
  }
  EXPECT_EQ(created, 1);
}

// A request record an older version wrote, under the key it kept for every caller alike, still
// answers a retry sent after the upgrade: the retry writes nothing. The record is moved to the
// older key by hand, as such a version would have left it.
TEST_F(IngestionTest, ARetryAcrossAnUpgradeFindsTheRequestRecordAnOlderVersionKept) {
  v1::Organization org = AddOrg("Upgrade Org");
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  auto move_to_older_key = [&](const std::string& request_id) {
    auto keys = client.Command({"KEYS", "stp:{p*}:rq:*:" + request_id});
    ASSERT_TRUE(keys.ok());
    ASSERT_EQ(redis::Size(keys->get()), 1u);
    const std::string key = redis::StrCopy(redis::At(keys->get(), 0));
    const std::string older = key.substr(0, key.find(":rq:")) + ":req:" + request_id;
    ASSERT_TRUE(client.Command({"RENAME", key, older}).ok());
  };
  // Sends a request, moves its record to the older key, and sends it again: both succeed.
  auto send_across_upgrade = [&](const std::string& request_id, auto* answer, auto* again,
                                 auto send) {
    ASSERT_TRUE(send(answer).ok());
    move_to_older_key(request_id);
    grpc::Status retried = send(again);
    ASSERT_TRUE(retried.ok()) << retried.error_message();
  };
  auto count_created = [&](const std::string& title) {
    int created = 0;
    for (const auto& e : Events()) {
      created +=
          e.type() == stp::events::v1::EVENT_TYPE_PROJECT_CREATED && e.project().title() == title;
    }
    return created;
  };

  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Upgrade-proof incubator in Tema", org.name());
  create.set_request_id("create-before-upgrade");
  v1::Project first, again;
  send_across_upgrade("create-before-upgrade", &first, &again, [&](v1::Project* out) {
    return Call([&](auto* c) { return stub_->CreateProject(c, create, out); });
  });
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(count_created("Upgrade-proof incubator in Tema"), 1);
  // Other content under that id is refused, as before the upgrade.
  create.mutable_project()->set_title("Another incubator in Tema");
  grpc::Status reused = Call([&](auto* c) { return stub_->CreateProject(c, create, &again); });
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << reused.error_message();

  // An import's records likewise: a record sent again under the import's request id with
  // other content is refused, not written.
  v1::Project imported = NewProject("Upgrade-proof import in Tema", org.name());
  auto* xid = imported.add_external_ids();
  xid->set_source("test");
  xid->set_value("UPGRADE-1");
  EXPECT_EQ(ImportMessages({imported}, "import-before-upgrade").created(), 1);
  move_to_older_key("import-before-upgrade:test:UPGRADE-1");
  imported.set_title("Upgrade-proof import in Tema, edited");
  v1::ImportSummary retried = ImportMessages({imported}, "import-before-upgrade");
  EXPECT_EQ(retried.updated(), 0);
  EXPECT_EQ(retried.rejected(), 1);
  EXPECT_EQ(count_created("Upgrade-proof import in Tema"), 1);

  // An update's retry is answered from the older record (its etag is stale by then, so
  // without the record it would be refused ABORTED).
  v1::UpdateProjectRequest update;
  update.mutable_project()->set_name(first.name());
  update.mutable_project()->set_stage(v1::PROJECT_STAGE_IMPLEMENTATION);
  update.mutable_project()->set_etag(first.etag());
  update.mutable_update_mask()->add_paths("stage");
  update.set_request_id("update-before-upgrade");
  v1::Project updated, update_again;
  send_across_upgrade("update-before-upgrade", &updated, &update_again, [&](v1::Project* out) {
    return Call([&](auto* c) { return stub_->UpdateProject(c, update, out); });
  });
  EXPECT_EQ(update_again.etag(), updated.etag());

  // A record that changes nothing, sent under an id an older version kept for other content,
  // is refused every time: the refusal keeps no record of its own under the caller's key.
  v1::Project kept = NewProject("Kept upgrade record, first version", org.name());
  auto* kept_id = kept.add_external_ids();
  kept_id->set_source("upgrade");
  kept_id->set_value("2");
  v1::Project second = kept;
  second.set_title("Kept upgrade record, second version");
  EXPECT_EQ(ImportMessages({kept}, "import-kept").created(), 1);
  EXPECT_EQ(ImportMessages({second}, "").updated(), 1);
  move_to_older_key("import-kept:upgrade:2");
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::ImportSummary reused = ImportMessages({second}, "import-kept");
    EXPECT_EQ(reused.unchanged(), 0) << "attempt " << attempt;
    EXPECT_EQ(reused.rejected(), 1) << "attempt " << attempt;
  }

  // A delete's retry gets the first answer from the older record, not NOT_FOUND: the request
  // lookup before the write reads the older key too.
  v1::DeleteProjectRequest del;
  del.set_name(first.name());
  del.set_request_id("delete-before-upgrade");
  v1::DeleteResponse deleted, delete_again;
  send_across_upgrade("delete-before-upgrade", &deleted, &delete_again,
                      [&](v1::DeleteResponse* out) {
                        return Call([&](auto* c) { return stub_->DeleteProject(c, del, out); });
                      });
  EXPECT_EQ(delete_again.SerializeAsString(), deleted.SerializeAsString());
}

// Calls that wait for Redis without a worker (GetProject, CreateProject) are bounded too: past
// --max-in-flight, a new call is refused at once instead of queuing without limit.
TEST_F(IngestionTest, CallsWaitingForRedisAreBoundedByMaxInFlight) {
  std::vector<std::unique_ptr<Module>> modules;
  modules.push_back(NewIngestionModule());
  auto stack = TestStack::Start(std::move(modules), &stack_->redis(),
                                [](ProcessConfig* config) { config->server.max_in_flight = 3; });
  ASSERT_NE(stack, nullptr);
  auto stub = v1::IngestionService::NewStub(stack->channel());
  stack_->redis().Pause();
  // Three reads wait for the paused Redis (up to its 2 s command timeout).
  struct Waiting {
    grpc::ClientContext ctx;
    v1::GetProjectRequest req;
    v1::Project resp;
    absl::Notification done;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Waiting>> waiting;
  for (int i = 0; i < 3; ++i) {
    auto w = std::make_unique<Waiting>();
    testing::SetDeadline(&w->ctx, absl::Seconds(10));
    w->req.set_name("projects/01m8mnx0srg9px9" + std::to_string(i));
    Waiting* raw = w.get();
    stub->async()->GetProject(&raw->ctx, &raw->req, &raw->resp, [raw](grpc::Status s) {
      raw->status = s;
      raw->done.Notify();
    });
    waiting.push_back(std::move(w));
  }
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_FALSE(waiting[0]->done.HasBeenNotified())
      << "the read did not wait for Redis: " << waiting[0]->status.error_message();
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Refused while the server is full", "organizations/x");
  v1::Project p;
  grpc::ClientContext ctx;
  testing::SetDeadline(&ctx, absl::Seconds(1));
  grpc::Status refused = stub->CreateProject(&ctx, create, &p);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(refused)), "SERVER_OVERLOADED");
  stack_->redis().Resume();
  for (auto& w : waiting) ASSERT_TRUE(w->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // Once they are answered, calls go through again.
  EXPECT_TRUE(testing::WaitFor([&] { return Serving(stub.get()); }));
}

TEST_F(IngestionTest,
       RedisKilledMidImportRetriedWithSameRequestIdsLeavesEachRecordOnceWithOneEvent) {
  v1::Organization org = AddOrg("Org");
  auto make_stream = [&](int n) {
    std::vector<v1::ImportProjectsRequest> msgs;
    v1::ImportProjectsRequest first;
    first.set_format(v1::IMPORT_FORMAT_PROJECTS);
    first.set_request_id("atomic-import");
    msgs.push_back(first);
    for (int i = 0; i < n; ++i) {
      v1::ImportProjectsRequest m;
      *m.mutable_project() = NewProject("Atomic " + std::to_string(i), org.name());
      auto* x = m.mutable_project()->add_external_ids();
      x->set_source("atomic");
      x->set_value(std::to_string(i));
      msgs.push_back(m);
    }
    return msgs;
  };
  const int n = 20000;
  auto msgs = make_stream(n);
  // First attempt: Redis is killed while the stream is being written.
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(150));
    stack_->redis().Kill();
  });
  {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(60));
    v1::ImportSummary summary;
    auto writer = stub_->ImportProjects(&ctx, &summary);
    for (const auto& m : msgs) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_FALSE(s.ok()) << "the kill came too late to interrupt the import";
    if (!s.ok()) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    }
  }
  killer.join();
  ASSERT_TRUE(stack_->redis().Restart().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return Serving(stub_.get()); }));
  // Retry the whole stream with the same request id.
  grpc::ClientContext ctx;
  testing::SetDeadline(&ctx, absl::Seconds(60));
  v1::ImportSummary summary;
  auto writer = stub_->ImportProjects(&ctx, &summary);
  for (const auto& m : msgs) ASSERT_TRUE(writer->Write(m));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.created() + summary.unchanged(), n) << summary.DebugString();
  // Each record exactly once, and exactly one creation event per project.
  auto all = ListAll(v1::ListProjectsRequest());
  std::set<std::string> xids, names;
  for (const auto& p : all) {
    xids.insert(p.external_ids(0).value());
    names.insert(p.name());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(n));
  EXPECT_EQ(xids.size(), static_cast<size_t>(n));
  std::map<std::string, int> created_events;
  for (const auto& e : Events()) {
    if (e.type() == stp::events::v1::EVENT_TYPE_PROJECT_CREATED) ++created_events[e.resource()];
  }
  EXPECT_EQ(created_events.size(), static_cast<size_t>(n));
  for (const auto& [name, count] : created_events) {
    EXPECT_EQ(count, 1) << name;
    EXPECT_TRUE(names.count(name)) << "an event without its project: " << name;
  }
}

// ------------------------------------------------------------------ the in-memory project index

TEST(ProjectIndexTest, HoldsEachProjectUnderTheTermsOfItsLatestRevision) {
  using Ids = std::vector<std::string>;
  ProjectIndex index;
  EXPECT_TRUE(index.Put("p2", 1, {"", "country:EG", "stage:1"}));
  EXPECT_TRUE(index.Put("p1", 1, {"stage:2", "country:EG", "country:EG"}));
  EXPECT_EQ(index.After("country:EG", "", 10), (Ids{"p1", "p2"}));
  EXPECT_EQ(index.After("country:EG", "p1", 10), (Ids{"p2"}));
  EXPECT_EQ(index.After("country:EG", "", 1), (Ids{"p1"}));
  EXPECT_TRUE(index.After("", "", 10).empty());  // every project: Redis's listing, not this
  // An equal or older revision changes nothing; a newer one moves the project.
  EXPECT_FALSE(index.Put("p2", 1, {"country:ZA"}));
  EXPECT_TRUE(index.Put("p2", 2, {"country:ZA", "stage:1"}));
  EXPECT_EQ(index.Count({"country:EG", "country:ZA", "stage:1", "stage:2", "park:none"}),
            (std::vector<int64_t>{1, 1, 1, 1, 0}));
  // A deletion leaves a tombstone that an older event cannot lift.
  EXPECT_TRUE(index.Remove("p2", 3));
  EXPECT_FALSE(index.Put("p2", 2, {"country:ZA"}));
  EXPECT_EQ(index.RevisionOf("p2"), 3);
  EXPECT_EQ(index.Count({"country:ZA", "stage:1"}), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.IdsOfRareTerms({"country:EG", "stage:2", "stage:1"}, 5),
            (std::vector<Ids>{{"p1"}, {"p1"}, {}}));
  index.Put("p3", 1, {"country:EG"});
  EXPECT_EQ(index.IdsOfRareTerms({"country:EG", "stage:2"}, 2), (std::vector<Ids>{{}, {"p1"}}));
  index.Remove("p3", 2);
  // A reload puts another index's content in place of this one's, tombstones included.
  ProjectIndex other;
  other.Put("p9", 4, {"country:KE"});
  index.Replace(std::move(other));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.RevisionOf("p1"), 0);
  EXPECT_EQ(index.RevisionOf("p2"), 0);
  EXPECT_EQ(index.After("country:KE", "", 5), (Ids{"p9"}));
  EXPECT_TRUE(index.After("country:EG", "", 5).empty());
}

// A deleted project's tombstone is held for two epochs (see EndTombstoneEpoch), then let go,
// so that deletions do not make the index grow for as long as the replica runs.
TEST(ProjectIndexTest, LetsATombstoneGoOnceNoOlderEventCanArrive) {
  using Ids = std::vector<std::string>;
  ProjectIndex index;
  index.Put("p1", 1, {"country:EG"});
  index.Put("p2", 1, {"country:EG"});
  EXPECT_TRUE(index.Remove("p1", 2));
  EXPECT_TRUE(index.Remove("p2", 2));
  EXPECT_EQ(index.tombstones(), 2u);
  // The epoch it was made in ends: a read begun before the deletion may still bring older
  // events, so the tombstone stays and still turns them away.
  EXPECT_EQ(index.EndTombstoneEpoch(), 0u);
  EXPECT_FALSE(index.Put("p1", 1, {"country:EG"}));
  EXPECT_TRUE(index.Put("p2", 3, {"country:EG"}));  // a later revision brings p2 back
  EXPECT_TRUE(index.Remove("p3", 5));               // a deletion in the next epoch
  EXPECT_EQ(index.EndTombstoneEpoch(), 1u);
  EXPECT_EQ(index.RevisionOf("p1"), 0);
  EXPECT_EQ(index.RevisionOf("p2"), 3);
  EXPECT_EQ(index.RevisionOf("p3"), 5);
  EXPECT_EQ(index.tombstones(), 1u);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.After("country:EG", "", 10), (Ids{"p2"}));
  EXPECT_EQ(index.EndTombstoneEpoch(), 1u);
  EXPECT_EQ(index.tombstones(), 0u);
  EXPECT_EQ(index.EndTombstoneEpoch(), 0u);
}

// A reload builds a fresh index from Redis while the replica goes on writing: what it wrote
// meanwhile is applied to the fresh index where newer than what the load read.
TEST(ProjectIndexTest, AReloadKeepsTheWritesTheReplicaMadeWhileItLoaded) {
  using Ids = std::vector<std::string>;
  ProjectIndex index;
  index.Put("p1", 1, {"country:EG"});
  index.Put("p4", 1, {"country:EG"});
  index.BeginReload();
  index.Put("p2", 1, {"country:EG"});  // created while the load ran, after it listed
  index.Remove("p1", 2);               // deleted after the load read it
  index.Put("p4", 2, {"country:ZA"});  // moved before the load read it
  ProjectIndex fresh;
  fresh.Put("p1", 1, {"country:EG"});
  fresh.Put("p3", 1, {"country:EG"});  // written by another replica
  fresh.Put("p4", 2, {"country:ZA"});
  index.Replace(std::move(fresh));
  EXPECT_EQ(index.After("country:EG", "", 10), (Ids{"p2", "p3"}));
  EXPECT_EQ(index.After("country:ZA", "", 10), (Ids{"p4"}));
  EXPECT_EQ(index.RevisionOf("p1"), 2);
  // After the reload, nothing more is kept aside; a failed load keeps nothing either.
  index.Put("p5", 1, {"country:EG"});
  index.BeginReload();
  index.Put("p6", 1, {"country:EG"});
  index.AbandonReload();
  ProjectIndex empty;
  index.Replace(std::move(empty));
  EXPECT_EQ(index.size(), 0u);
}

TEST(ProjectIndexTest, ReadsWhatAnEventSaysOfAProjectWithoutItsSnapshot) {
  Event e;
  e.set_type(stp::events::v1::EVENT_TYPE_STAGE_CHANGED);
  e.set_resource("projects/abc");
  e.set_actor("service:test");
  e.set_revision(7);
  e.add_changed_fields("stage");
  e.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  e.mutable_project()->set_title("Solar incubator");
  auto header = ReadProjectEventHeader(e.SerializeAsString());
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->id, "abc");
  EXPECT_EQ(header->revision, 7);
  EXPECT_FALSE(header->deleted);
  e.set_type(stp::events::v1::EVENT_TYPE_PROJECT_DELETED);
  header = ReadProjectEventHeader(e.SerializeAsString());
  ASSERT_TRUE(header.has_value());
  EXPECT_TRUE(header->deleted);
  // A score change names its project too, but says nothing of the project's terms.
  e.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  EXPECT_FALSE(ReadProjectEventHeader(e.SerializeAsString()).has_value());
  e.set_type(stp::events::v1::EVENT_TYPE_ORGANIZATION_UPDATED);
  e.set_resource("organizations/abc");
  EXPECT_FALSE(ReadProjectEventHeader(e.SerializeAsString()).has_value());
  EXPECT_FALSE(ReadProjectEventHeader("\x1a\xff\xff").has_value());  // a truncated resource
}

// Each replica holds the project index in memory. The writing replica lists a project by its
// filters at once; another one within moments, from the event stream, and so for a deletion;
// and a replica started on existing data loads every project before it answers a listing.
TEST_F(IngestionTest, AReplicaListsByFilterWhatAnotherReplicaWrote) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  RedisRegistryStore store_a(&client, redis::Keyspace(), 100000);
  RedisRegistryStore store_b(&client, redis::Keyspace(), 100000);
  Registry a(&store_a, [] { return absl::Now(); });
  Registry b(&store_b, [] { return absl::Now(); });
  RequestContext rc;
  rc.principal = Principal::Service("test");
  const std::string org = AddOrg("Replica Partner").name();
  auto listed = [&rc](Registry& registry, const std::string& name) {
    v1::ListProjectsRequest req;
    req.set_host_country("countries/ZA");
    req.set_stage(v1::PROJECT_STAGE_PROPOSED);
    auto page = registry.ListProjects(rc, req);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() && std::any_of(page->projects().begin(), page->projects().end(),
                                    [&](const v1::Project& p) { return p.name() == name; });
  };
  auto eventually = [](const std::function<bool()>& condition) {
    for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
      if (condition()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return condition();
  };
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Cape Town battery storage incubator", org);
  create.mutable_project()->set_host_country("countries/ZA");
  auto project = a.CreateProject(rc, create);
  ASSERT_TRUE(project.ok()) << project.status();
  EXPECT_TRUE(listed(a, project->name()));
  EXPECT_TRUE(eventually([&] { return listed(b, project->name()); }));

  v1::UpdateProjectRequest update;
  *update.mutable_project() = *project;
  update.mutable_project()->set_stage(v1::PROJECT_STAGE_IMPLEMENTATION);
  update.mutable_update_mask()->add_paths("stage");
  ASSERT_TRUE(b.UpdateProject(rc, update).ok());
  EXPECT_FALSE(listed(b, project->name()));
  EXPECT_TRUE(eventually([&] { return store_a.project_index().Count({"stage:1"})[0] == 0; }));

  v1::CreateProjectRequest second = create;
  second.mutable_project()->set_title("Durban marine robotics laboratory");
  auto kept = b.CreateProject(rc, second);
  ASSERT_TRUE(kept.ok()) << kept.status();
  v1::DeleteProjectRequest del;
  del.set_name(project->name());
  ASSERT_TRUE(a.DeleteProject(rc, del).ok());
  EXPECT_TRUE(eventually(
      [&] { return store_b.project_index().RevisionOf(IdOf(project->name(), "projects")) == 3; }));

  RedisRegistryStore store_c(&client, redis::Keyspace(), 100000);
  Registry c(&store_c, [] { return absl::Now(); });
  ASSERT_TRUE(store_c.project_feed().WaitLoaded(absl::Now() + absl::Seconds(30)));
  EXPECT_TRUE(listed(c, kept->name()));
  EXPECT_EQ(store_c.project_index().RevisionOf(IdOf(project->name(), "projects")), 0);
  EXPECT_EQ(store_c.project_index().size(), 1u);
}

// A replica following the streams lets a deleted project's tombstone go once it has read on
// past the deletion, and the project stays out of its listings.
TEST_F(IngestionTest, AFollowingReplicaLetsADeletedProjectsTombstoneGo) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  ProjectIndexFeed::Options quick;
  quick.check_every = absl::Milliseconds(50);
  RedisRegistryStore store_a(&client, redis::Keyspace(), 100000);
  RedisRegistryStore store_b(&client, redis::Keyspace(), 100000, absl::Hours(1), quick);
  Registry a(&store_a, [] { return absl::Now(); });
  Registry b(&store_b, [] { return absl::Now(); });
  RequestContext rc;
  rc.principal = Principal::Service("test");
  ASSERT_TRUE(store_b.project_feed().WaitLoaded(absl::Now() + absl::Seconds(30)));
  const std::string org = AddOrg("Tombstone Partner").name();
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Kigali drone logistics incubator", org);
  create.mutable_project()->set_host_country("countries/ZA");
  auto project = a.CreateProject(rc, create);
  ASSERT_TRUE(project.ok()) << project.status();
  const std::string id = IdOf(project->name(), "projects");
  auto eventually = [](const std::function<bool()>& condition) {
    for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
      if (condition()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return condition();
  };
  ASSERT_TRUE(eventually([&] { return store_b.project_index().RevisionOf(id) == 1; }));
  v1::DeleteProjectRequest del;
  del.set_name(project->name());
  ASSERT_TRUE(a.DeleteProject(rc, del).ok());
  ASSERT_TRUE(eventually([&] { return store_b.project_index().RevisionOf(id) == 2; }));
  EXPECT_TRUE(eventually([&] { return store_b.project_index().tombstones() == 0; }));
  EXPECT_EQ(store_b.project_index().RevisionOf(id), 0);
  v1::ListProjectsRequest req;
  req.set_host_country("countries/ZA");
  auto page = b.ListProjects(rc, req);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->projects_size(), 0);
}

// A replica's own writes reach its index when they are acknowledged, not when their events
// are read back: a listing right after a write sees it.
TEST_F(IngestionTest, AReplicaListsItsOwnWritesByFilterAtOnce) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  ProjectIndexFeed::Options own_writes_only;
  own_writes_only.follow = false;
  RedisRegistryStore store(&client, redis::Keyspace(), 100000, absl::Hours(1), own_writes_only);
  Registry registry(&store, [] { return absl::Now(); });
  RequestContext rc;
  rc.principal = Principal::Service("test");
  auto names = [&](v1::ProjectStage stage) {
    v1::ListProjectsRequest req;
    req.set_host_country("countries/EG");
    req.set_stage(stage);
    auto page = registry.ListProjects(rc, req);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> out;
    for (const auto& p : page->projects()) out.push_back(p.name());
    return out;
  };
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Aswan solar incubator", AddOrg("Aswan Partner").name());
  auto project = registry.CreateProject(rc, create);
  ASSERT_TRUE(project.ok()) << project.status();
  using Names = std::vector<std::string>;
  EXPECT_EQ(names(v1::PROJECT_STAGE_PROPOSED), Names{project->name()});
  v1::UpdateProjectRequest update;
  *update.mutable_project() = *project;
  update.mutable_project()->set_stage(v1::PROJECT_STAGE_IMPLEMENTATION);
  update.mutable_update_mask()->add_paths("stage");
  ASSERT_TRUE(registry.UpdateProject(rc, update).ok());
  EXPECT_EQ(names(v1::PROJECT_STAGE_PROPOSED), Names{});
  EXPECT_EQ(names(v1::PROJECT_STAGE_IMPLEMENTATION), Names{project->name()});
  v1::DeleteProjectRequest del;
  del.set_name(project->name());
  ASSERT_TRUE(registry.DeleteProject(rc, del).ok());
  EXPECT_EQ(names(v1::PROJECT_STAGE_IMPLEMENTATION), Names{});
  EXPECT_EQ(store.project_index().size(), 0u);
}

// A replica that missed events (trimmed from the stream before it read them) loads the index
// again instead of going on with a gap.
TEST_F(IngestionTest, TheProjectIndexLoadsAgainWhenEventsItHasNotReadWereTrimmed) {
  redis::RedisOptions o;
  o.address = stack_->redis().address();
  redis::RedisClient client(o);
  RedisRegistryStore store(&client, redis::Keyspace(), 100000);
  Registry registry(&store, [] { return absl::Now(); });
  RequestContext rc;
  rc.principal = Principal::Service("test");
  v1::CreateProjectRequest create;
  *create.mutable_project() = NewProject("Lagos fintech sandbox", AddOrg("Sandbox Partner").name());
  auto project = registry.CreateProject(rc, create);
  ASSERT_TRUE(project.ok()) << project.status();
  const std::string id = IdOf(project->name(), "projects");

  ProjectIndex index;
  ProjectIndexFeed::Options options;
  options.block = absl::Milliseconds(20);
  options.check_every = absl::Milliseconds(50);
  ProjectIndexFeed feed(&index, &store, &client, redis::Keyspace(), options);
  feed.Start();
  ASSERT_TRUE(feed.WaitLoaded(absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(index.RevisionOf(id), 1);
  // The project's record goes, and the event that would have said so is trimmed unread.
  ASSERT_TRUE(client.Command({"DEL", absl::StrCat("stp:{p0}:project:", id)}).ok());
  ASSERT_TRUE(client
                  .Command({"EVAL",
                            "redis.call('XADD', KEYS[1], '*', 'e', 'gone') "
                            "redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)",
                            "1", "stp:{p0}:events"})
                  .ok());
  // The reloaded index is in place a moment before the feed counts the load: both are awaited.
  for (absl::Time until = absl::Now() + absl::Seconds(10);
       absl::Now() < until && (index.RevisionOf(id) != 0 || feed.loads() < 2);) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(index.RevisionOf(id), 0);
  EXPECT_GE(feed.loads(), 2);
  feed.Stop();
}

}  // namespace
}  // namespace stp::ingestion
