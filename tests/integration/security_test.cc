// Credentials, rights, hidden projects, rate limits and mutual TLS, through the real stack.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/grpc_status.h"
#include "libs/redis/redis.h"
#include "services/admin/admin_module.h"
#include "services/ingestion/ingestion_module.h"
#include "services/matching/matching_module.h"
#include "services/notification/notification_module.h"
#include "services/scoring/scoring_module.h"
#include "stp/admin/v1/admin_service.grpc.pb.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/matching/v1/matching_service.grpc.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"
#include "tests/testing/test_stack.h"

namespace stp {
namespace {

namespace iv1 = stp::ingestion::v1;
using testing::TestStack;
using testing::WaitFor;

std::vector<std::unique_ptr<Module>> AllModules() {
  std::vector<std::unique_ptr<Module>> modules;
  modules.push_back(ingestion::NewIngestionModule());
  modules.push_back(admin::NewAdminModule());
  modules.push_back(scoring::NewScoringModule());
  modules.push_back(matching::NewMatchingModule());
  modules.push_back(notification::NewNotificationModule());
  return modules;
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server.ok());
    redis_ = std::move(*server);
    stack_ = TestStack::Start(AllModules(), redis_.get(), [](ProcessConfig* c) {
      c->auth_disabled = false;
      c->auth_cache_ttl = absl::ZeroDuration();
      c->rate_limits.reader_per_second = 20;
      c->rate_limits.burst_seconds = 1;
    });
    ASSERT_NE(stack_, nullptr);
    operator_key_ = IssueDirect(AccessRole::kOperator, "");
    ingestion_ = iv1::IngestionService::NewStub(stack_->channel());
    for (const char* cc : {"EG", "CN"}) {
      iv1::UpsertCountryRequest req;
      req.mutable_country()->set_alpha2(cc);
      req.mutable_country()->set_display_name(cc);
      iv1::Country out;
      ASSERT_TRUE(
          As(operator_key_, [&](auto* c) { return ingestion_->UpsertCountry(c, req, &out); }).ok());
    }
    org_a_ = Org("Org A");
    org_b_ = Org("Org B");
    partner_a_ = Issue(org_a_, stp::admin::v1::ACCESS_ROLE_PARTNER);
    partner_b_ = Issue(org_b_, stp::admin::v1::ACCESS_ROLE_PARTNER);
    reader_b_ = Issue(org_b_, stp::admin::v1::ACCESS_ROLE_READER);
  }

  // A key straight into the store, as --create-operator-key does on a fresh install.
  std::string IssueDirect(AccessRole role, const std::string& org) {
    auto created =
        stack_->process().api_keys().Create(org, role, "test", absl::ZeroDuration(), absl::Now());
    EXPECT_TRUE(created.ok()) << created.status();
    return created->second;
  }

  std::string Issue(const std::string& org, stp::admin::v1::AccessRole role, int64_t ttl = 0) {
    auto admin = stp::admin::v1::AdminService::NewStub(stack_->channel());
    stp::admin::v1::CreateApiKeyRequest req;
    req.mutable_api_key()->set_organization(org);
    req.mutable_api_key()->set_role(role);
    req.set_ttl_seconds(ttl);
    stp::admin::v1::CreateApiKeyResponse resp;
    grpc::Status s = As(operator_key_, [&](auto* c) { return admin->CreateApiKey(c, req, &resp); });
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.secret();
  }

  std::string Org(const std::string& name) {
    iv1::CreateOrganizationRequest req;
    req.mutable_organization()->set_display_name(name);
    req.mutable_organization()->set_country("countries/CN");
    iv1::Organization out;
    EXPECT_TRUE(As(operator_key_, [&](auto* c) {
                  return ingestion_->CreateOrganization(c, req, &out);
                }).ok());
    return out.name();
  }

  template <typename Fn>
  grpc::Status As(const std::string& key, Fn fn) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(20));
    if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
    return fn(&ctx);
  }

  // An import of one message after the first, which gives the format.
  iv1::ImportSummary ImportAs(const std::string& key, iv1::ImportFormat format,
                              const iv1::ImportProjectsRequest& body,
                              const std::string& request_id = "") {
    iv1::ImportSummary summary;
    grpc::Status status = As(key, [&](auto* c) {
      auto writer = ingestion_->ImportProjects(c, &summary);
      iv1::ImportProjectsRequest first;
      first.set_format(format);
      first.set_request_id(request_id);
      writer->Write(first);
      writer->Write(body);
      writer->WritesDone();
      return writer->Finish();
    });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return summary;
  }

  iv1::CreateProjectRequest ProjectOf(const std::string& org, iv1::Visibility visibility) {
    iv1::CreateProjectRequest req;
    req.mutable_project()->set_title("Secret Suez green park " + std::to_string(++n_));
    req.mutable_project()->set_host_country("countries/EG");
    req.mutable_project()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    req.mutable_project()->set_visibility(visibility);
    auto* part = req.mutable_project()->add_participants();
    part->set_organization(org);
    part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    return req;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<TestStack> stack_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::string operator_key_, partner_a_, partner_b_, reader_b_, org_a_, org_b_;
  int n_ = 0;
};

TEST_F(SecurityTest, MissingMalformedUnknownRevokedAndExpiredKeysAreUnauthenticated) {
  iv1::GetCountryRequest get;
  get.set_name("countries/EG");
  iv1::Country out;
  auto call = [&](const std::string& key) {
    return As(key, [&](auto* c) { return ingestion_->GetCountry(c, get, &out); });
  };
  EXPECT_TRUE(call(reader_b_).ok());
  for (const std::string& bad : {std::string(), std::string("not-a-key"),
                                 std::string("stp_0000000000000000_") + std::string(64, 'a')}) {
    grpc::Status s = call(bad);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad;
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Basic dXNlcjpwYXNz");
    EXPECT_EQ(ingestion_->GetCountry(&ctx, get, &out).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // A right id with a wrong secret.
  std::string forged =
      reader_b_.substr(0, reader_b_.size() - 1) + (reader_b_.back() == 'a' ? "b" : "a");
  EXPECT_EQ(call(forged).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Revoked.
  auto admin = stp::admin::v1::AdminService::NewStub(stack_->channel());
  stp::admin::v1::ListApiKeysRequest list;
  list.set_organization(org_b_);
  stp::admin::v1::ListApiKeysResponse keys;
  ASSERT_TRUE(As(operator_key_, [&](auto* c) { return admin->ListApiKeys(c, list, &keys); }).ok());
  ASSERT_EQ(keys.api_keys_size(), 2);
  std::string reader_name = "apiKeys/" + reader_b_.substr(4, 16);
  stp::admin::v1::RevokeApiKeyRequest revoke;
  revoke.set_name(reader_name);
  stp::admin::v1::ApiKey revoked;
  ASSERT_TRUE(
      As(operator_key_, [&](auto* c) { return admin->RevokeApiKey(c, revoke, &revoked); }).ok());
  EXPECT_TRUE(revoked.has_revoke_time());
  {
    // The answers that wrote the key's times and a later listing give the same times.
    ASSERT_TRUE(
        As(operator_key_, [&](auto* c) { return admin->ListApiKeys(c, list, &keys); }).ok());
    bool listed = false;
    for (const auto& k : keys.api_keys()) {
      if (k.name() != reader_name) continue;
      listed = true;
      EXPECT_EQ(k.revoke_time().SerializeAsString(), revoked.revoke_time().SerializeAsString());
      EXPECT_EQ(k.create_time().SerializeAsString(), revoked.create_time().SerializeAsString());
    }
    EXPECT_TRUE(listed);
    stp::admin::v1::CreateApiKeyRequest create;
    create.mutable_api_key()->set_organization(org_b_);
    create.mutable_api_key()->set_role(stp::admin::v1::ACCESS_ROLE_READER);
    create.set_ttl_seconds(3600);
    stp::admin::v1::CreateApiKeyResponse created;
    ASSERT_TRUE(
        As(operator_key_, [&](auto* c) { return admin->CreateApiKey(c, create, &created); }).ok());
    ASSERT_TRUE(
        As(operator_key_, [&](auto* c) { return admin->ListApiKeys(c, list, &keys); }).ok());
    listed = false;
    for (const auto& k : keys.api_keys()) {
      if (k.name() != created.api_key().name()) continue;
      listed = true;
      EXPECT_EQ(k.create_time().SerializeAsString(),
                created.api_key().create_time().SerializeAsString());
      EXPECT_EQ(k.expire_time().SerializeAsString(),
                created.api_key().expire_time().SerializeAsString());
    }
    EXPECT_TRUE(listed);
  }
  grpc::Status s = call(reader_b_);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(s)), "REVOKED_CREDENTIALS");
  // Expired.
  std::string short_lived = Issue(org_b_, stp::admin::v1::ACCESS_ROLE_READER, 1);
  EXPECT_TRUE(call(short_lived).ok());
  absl::SleepFor(absl::Milliseconds(1100));
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(call(short_lived))), "EXPIRED_CREDENTIALS");
  // Health stays open; the admin API is for operators only.
  grpc::ClientContext hctx;
  grpc::health::v1::HealthCheckResponse health;
  EXPECT_TRUE(grpc::health::v1::Health::NewStub(stack_->channel())
                  ->Check(&hctx, grpc::health::v1::HealthCheckRequest(), &health)
                  .ok());
  EXPECT_EQ(
      As(partner_a_, [&](auto* c) { return admin->ListApiKeys(c, list, &keys); }).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // Failures are counted.
  EXPECT_NE(stack_->process().metrics().Render().find("stp_auth_failures_total"),
            std::string::npos);
}

TEST_F(SecurityTest, PartnersWriteOnlyWhatTheyTakePartInAndReadersOnlyRead) {
  iv1::Project mine;
  iv1::CreateProjectRequest create = ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC);
  auto* xid = create.mutable_project()->add_external_ids();
  xid->set_source("iati");
  xid->set_value("XM-A-1");
  ASSERT_TRUE(
      As(partner_a_, [&](auto* c) { return ingestion_->CreateProject(c, create, &mine); }).ok());
  EXPECT_NE(mine.updated_by().find(org_a_), std::string::npos);
  iv1::Project out;
  // Not a participant of the new project.
  EXPECT_EQ(As(partner_b_,
               [&](auto* c) {
                 return ingestion_->CreateProject(c, ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC),
                                                  &out);
               })
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  iv1::UpdateProjectRequest up;
  up.mutable_project()->set_name(mine.name());
  up.mutable_project()->set_stage(iv1::PROJECT_STAGE_APPROVED);
  up.mutable_update_mask()->add_paths("stage");
  EXPECT_EQ(
      As(partner_b_, [&](auto* c) { return ingestion_->UpdateProject(c, up, &out); }).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      As(reader_b_, [&](auto* c) { return ingestion_->UpdateProject(c, up, &out); }).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  // Nor through an import naming it by its external id, with the partner's own organisation
  // as its participant.
  iv1::Project taken = ProjectOf(org_b_, iv1::VISIBILITY_PUBLIC).project();
  *taken.add_external_ids() = mine.external_ids(0);
  iv1::ImportProjectsRequest record;
  *record.mutable_project() = taken;
  iv1::ImportSummary summary = ImportAs(partner_b_, iv1::IMPORT_FORMAT_PROJECTS, record);
  EXPECT_EQ(summary.rejected(), 1) << summary.DebugString();
  EXPECT_EQ(summary.updated(), 0);
  // An IATI file: the activity that names the partner's organisation (matched by its name)
  // goes in with the new organisation beside it; the one that does not is rejected and leaves
  // no organisation behind.
  auto activity = [](const std::string& id, const std::vector<std::string>& orgs) {
    std::string xml = absl::StrCat("<iati-activity default-currency=\"USD\"><iati-identifier>", id,
                                   "</iati-identifier><title><narrative>Suez solar activity ", id,
                                   "</narrative></title>");
    for (const auto& org : orgs) {
      absl::StrAppend(&xml, "<participating-org role=\"4\" type=\"70\"><narrative>", org,
                      "</narrative></participating-org>");
    }
    return absl::StrCat(xml,
                        "<recipient-country code=\"EG\"/><sector vocabulary=\"1\" "
                        "code=\"23210\"/></iati-activity>");
  };
  iv1::ImportProjectsRequest file;
  file.set_chunk(absl::StrCat("<iati-activities version=\"2.03\">",
                              activity("XM-B-OURS", {"Org B", "Beside Org B Ltd"}),
                              activity("XM-B-THEIRS", {"Not Org B Ltd"}), "</iati-activities>"));
  iv1::ImportSummary iati = ImportAs(partner_b_, iv1::IMPORT_FORMAT_IATI_XML, file);
  EXPECT_EQ(iati.created(), 1) << iati.DebugString();
  ASSERT_EQ(iati.rejected(), 1) << iati.DebugString();
  EXPECT_EQ(iati.rejections(0).fields(0), "project.participants");
  EXPECT_EQ(iati.organizations_created(), 1);
  std::set<std::string> org_names;
  iv1::ListOrganizationsRequest list_orgs;
  list_orgs.set_page_size(100);
  iv1::ListOrganizationsResponse orgs;
  ASSERT_TRUE(As(operator_key_, [&](auto* c) {
                return ingestion_->ListOrganizations(c, list_orgs, &orgs);
              }).ok());
  for (const auto& o : orgs.organizations()) org_names.insert(o.display_name());
  EXPECT_EQ(org_names, (std::set<std::string>{"Org A", "Org B", "Beside Org B Ltd"}));
  iv1::GetProjectRequest get_mine;
  get_mine.set_name(mine.name());
  ASSERT_TRUE(
      As(partner_a_, [&](auto* c) { return ingestion_->GetProject(c, get_mine, &out); }).ok());
  EXPECT_EQ(out.title(), mine.title());
  EXPECT_EQ(out.participants(0).organization(), org_a_);
  ASSERT_TRUE(As(partner_a_, [&](auto* c) { return ingestion_->UpdateProject(c, up, &out); }).ok());
  iv1::UpsertCountryRequest country;
  country.mutable_country()->set_alpha2("KE");
  country.mutable_country()->set_display_name("Kenya");
  iv1::Country c_out;
  EXPECT_EQ(As(partner_a_, [&](auto* c) { return ingestion_->UpsertCountry(c, country, &c_out); })
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // History names the principal.
  iv1::GetProjectHistoryRequest hist;
  hist.set_name(mine.name());
  iv1::GetProjectHistoryResponse h;
  ASSERT_TRUE(
      As(reader_b_, [&](auto* c) { return ingestion_->GetProjectHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.revisions_size(), 2);
  EXPECT_NE(h.revisions(0).actor().find("apiKeys/"), std::string::npos);
  // A deleted project's history is the operators' alone: its visibility went with it.
  iv1::DeleteProjectRequest del;
  del.set_name(mine.name());
  iv1::DeleteResponse deleted;
  ASSERT_TRUE(
      As(operator_key_, [&](auto* c) { return ingestion_->DeleteProject(c, del, &deleted); }).ok());
  EXPECT_EQ(As(partner_a_, [&](auto* c) { return ingestion_->GetProjectHistory(c, hist, &h); })
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(
      As(operator_key_, [&](auto* c) { return ingestion_->GetProjectHistory(c, hist, &h); }).ok());
  ASSERT_EQ(h.revisions_size(), 3);
  EXPECT_EQ(h.revisions(0).kind(), iv1::ProjectRevision::KIND_DELETED);
}

TEST_F(SecurityTest, HiddenProjectsNeverShowToOutsiders) {
  // B subscribes before anything happens; A too.
  auto notifications = stp::notification::v1::NotificationService::NewStub(stack_->channel());
  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<stp::notification::v1::SubscribeResponse>> reader;
    std::vector<std::string> resources;
    std::thread thread;
  };
  auto watch = [&](const std::string& key) {
    auto w = std::make_unique<Watch>();
    w->ctx.AddMetadata("authorization", "Bearer " + key);
    w->reader = notifications->Subscribe(&w->ctx, stp::notification::v1::SubscribeRequest());
    Watch* raw = w.get();
    w->thread = std::thread([raw] {
      stp::notification::v1::SubscribeResponse m;
      while (raw->reader->Read(&m)) {
        if (m.has_event()) raw->resources.push_back(m.event().resource());
      }
    });
    return w;
  };
  auto watch_a = watch(partner_a_);
  auto watch_b = watch(partner_b_);
  absl::SleepFor(absl::Milliseconds(400));
  iv1::Project hidden, open;
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return ingestion_->CreateProject(c, ProjectOf(org_a_, iv1::VISIBILITY_PARTICIPANTS),
                                                 &hidden);
              }).ok());
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return ingestion_->CreateProject(c, ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC),
                                                 &open);
              }).ok());
  auto scoring = stp::scoring::v1::ScoringService::NewStub(stack_->channel());
  stp::scoring::v1::GetProjectScoreRequest score_req;
  score_req.set_project(hidden.name());
  stp::scoring::v1::Score score;
  ASSERT_TRUE(WaitFor([&] {
    return As(partner_a_, [&](auto* c) { return scoring->GetProjectScore(c, score_req, &score); })
        .ok();
  }));
  // Outsiders: every read says it does not exist.
  iv1::GetProjectRequest get;
  get.set_name(hidden.name());
  iv1::Project p;
  EXPECT_EQ(
      As(partner_b_, [&](auto* c) { return ingestion_->GetProject(c, get, &p); }).error_code(),
      grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(As(reader_b_, [&](auto* c) { return ingestion_->GetProject(c, get, &p); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(As(operator_key_, [&](auto* c) { return ingestion_->GetProject(c, get, &p); }).ok());
  iv1::GetProjectHistoryRequest hist;
  hist.set_name(hidden.name());
  iv1::GetProjectHistoryResponse h;
  EXPECT_EQ(As(partner_b_, [&](auto* c) { return ingestion_->GetProjectHistory(c, hist, &h); })
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  iv1::ListProjectsResponse list;
  ASSERT_TRUE(As(partner_b_, [&](auto* c) {
                return ingestion_->ListProjects(c, iv1::ListProjectsRequest(), &list);
              }).ok());
  ASSERT_EQ(list.projects_size(), 1);
  EXPECT_EQ(list.projects(0).name(), open.name());
  EXPECT_EQ(As(partner_b_, [&](auto* c) { return scoring->GetProjectScore(c, score_req, &score); })
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The score goes out as stored; who may read it is decided from its bytes.
  score.Clear();
  EXPECT_TRUE(As(operator_key_, [&](auto* c) {
                return scoring->GetProjectScore(c, score_req, &score);
              }).ok());
  EXPECT_EQ(score.project(), hidden.name());
  EXPECT_EQ(score.visibility(), iv1::VISIBILITY_PARTICIPANTS);
  stp::scoring::v1::GetProjectScoreRequest open_req;
  open_req.set_project(open.name());
  EXPECT_TRUE(WaitFor([&] {
    return As(partner_b_, [&](auto* c) { return scoring->GetProjectScore(c, open_req, &score); })
        .ok();
  }));
  stp::scoring::v1::RankProjectsResponse rank;
  ASSERT_TRUE(WaitFor([&] {
    return As(operator_key_,
              [&](auto* c) {
                return scoring->RankProjects(c, stp::scoring::v1::RankProjectsRequest(), &rank);
              })
               .ok() &&
           rank.total_size() == 2;
  }));
  ASSERT_TRUE(As(partner_b_, [&](auto* c) {
                return scoring->RankProjects(c, stp::scoring::v1::RankProjectsRequest(), &rank);
              }).ok());
  EXPECT_EQ(rank.total_size(), 1);
  auto matching = stp::matching::v1::MatchingService::NewStub(stack_->channel());
  stp::matching::v1::FindPartnersRequest find;
  find.mutable_need()->set_project(hidden.name());
  find.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
  stp::matching::v1::FindPartnersResponse found;
  grpc::Status s;
  ASSERT_TRUE(WaitFor([&] {
    s = As(partner_b_, [&](auto* c) { return matching->FindPartners(c, find, &found); });
    return s.error_code() != grpc::StatusCode::UNAVAILABLE;  // the index is loaded
  }));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("does not exist"), std::string::npos);
  EXPECT_TRUE(
      As(partner_a_, [&](auto* c) { return matching->FindPartners(c, find, &found); }).ok());
  // Subscriptions: A sees both projects (and the hidden one's score), B never the hidden one.
  ASSERT_TRUE(WaitFor([&] {
    return std::count(watch_a->resources.begin(), watch_a->resources.end(), hidden.name()) >= 2;
  }));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(std::count(watch_b->resources.begin(), watch_b->resources.end(), hidden.name()), 0);
  EXPECT_GE(std::count(watch_b->resources.begin(), watch_b->resources.end(), open.name()), 1);
  watch_a->ctx.TryCancel();
  watch_b->ctx.TryCancel();
  watch_a->thread.join();
  watch_b->thread.join();
}

// Nothing else names a hidden project to an outsider either: a resent request whose caller
// has lost sight of the project since, another project's duplicate flags, or the error of an
// external id the hidden project holds.
TEST_F(SecurityTest, HiddenProjectsAreNamedByNoReplayFlagOrError) {
  // A creates a project B takes part in; B then hides it and leaves A out.
  iv1::CreateProjectRequest create = ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC);
  auto* b_part = create.mutable_project()->add_participants();
  b_part->set_organization(org_b_);
  b_part->set_role(stp::common::v1::PARTNER_ROLE_IMPLEMENTER);
  create.set_request_id("shared-then-hidden");
  iv1::Project shared;
  ASSERT_TRUE(
      As(partner_a_, [&](auto* c) { return ingestion_->CreateProject(c, create, &shared); }).ok());
  iv1::UpdateProjectRequest hide;
  hide.mutable_project()->set_name(shared.name());
  hide.mutable_project()->set_visibility(iv1::VISIBILITY_PARTICIPANTS);
  *hide.mutable_project()->add_participants() = *b_part;
  hide.mutable_update_mask()->add_paths("visibility");
  hide.mutable_update_mask()->add_paths("participants");
  iv1::Project hidden;
  ASSERT_TRUE(
      As(partner_b_, [&](auto* c) { return ingestion_->UpdateProject(c, hide, &hidden); }).ok());
  iv1::Project replayed;
  EXPECT_EQ(As(partner_a_, [&](auto* c) { return ingestion_->CreateProject(c, create, &replayed); })
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(replayed.name().empty());

  // B's hidden project is not named in the flags of A's look-alike, which every reader sees.
  iv1::CreateProjectRequest look_alike = ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC);
  look_alike.mutable_project()->set_title(hidden.title());
  iv1::Project open;
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return ingestion_->CreateProject(c, look_alike, &open);
              }).ok());
  for (const auto& d : open.possible_duplicates()) EXPECT_NE(d, hidden.name());

  // An external id the hidden project holds is refused without naming it.
  iv1::UpdateProjectRequest tag;
  tag.mutable_project()->set_name(hidden.name());
  auto* x = tag.mutable_project()->add_external_ids();
  x->set_source("registry-b");
  x->set_value("HID-1");
  tag.mutable_update_mask()->add_paths("external_ids");
  ASSERT_TRUE(
      As(partner_b_, [&](auto* c) { return ingestion_->UpdateProject(c, tag, &hidden); }).ok());
  iv1::CreateProjectRequest taken = ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC);
  *taken.mutable_project()->add_external_ids() = *x;
  iv1::Project refused;
  grpc::Status s =
      As(partner_a_, [&](auto* c) { return ingestion_->CreateProject(c, taken, &refused); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(s.error_message().find(hidden.name()), std::string::npos) << s.error_message();
  EXPECT_EQ(s.error_details().find(hidden.name().substr(9)), std::string::npos);
}

// A request id is the caller's own: another organisation sending the same one (by chance, or
// copied from a shared script) gets its own webhook and its own feedback, never the first
// caller's answer, and cannot read what the first caller made.
TEST_F(SecurityTest, RequestIdsAreKeptPerCaller) {
  auto notification = stp::notification::v1::NotificationService::NewStub(stack_->channel());
  stp::notification::v1::CreateWebhookRequest hook_req;
  hook_req.mutable_webhook()->set_url("http://127.0.0.1:9/hook");
  hook_req.mutable_webhook()->set_secret("a-long-enough-shared-secret");
  hook_req.set_request_id("setup-hook-1");
  stp::notification::v1::Webhook hook_a, hook_a_again, hook_b;
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return notification->CreateWebhook(c, hook_req, &hook_a);
              }).ok());
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return notification->CreateWebhook(c, hook_req, &hook_a_again);
              }).ok());
  EXPECT_EQ(hook_a_again.name(), hook_a.name());  // A's retry: A's first answer
  ASSERT_TRUE(As(partner_b_, [&](auto* c) {
                return notification->CreateWebhook(c, hook_req, &hook_b);
              }).ok());
  EXPECT_NE(hook_b.name(), hook_a.name());
  EXPECT_EQ(hook_a.owner(), org_a_);
  EXPECT_EQ(hook_b.owner(), org_b_);
  stp::notification::v1::GetWebhookRequest get_hook;
  get_hook.set_name(hook_a.name());
  stp::notification::v1::Webhook seen;
  EXPECT_FALSE(
      As(partner_b_, [&](auto* c) { return notification->GetWebhook(c, get_hook, &seen); }).ok());

  auto matching = stp::matching::v1::MatchingService::NewStub(stack_->channel());
  stp::matching::v1::RecordMatchFeedbackRequest fb;
  fb.mutable_feedback()->set_organization(org_b_);
  fb.mutable_feedback()->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  fb.mutable_feedback()->set_decision(stp::matching::v1::FEEDBACK_DECISION_ACCEPTED);
  fb.set_request_id("feedback-1");
  stp::matching::v1::MatchFeedback fb_a, fb_a_again, fb_b;
  ASSERT_TRUE(
      As(partner_a_, [&](auto* c) { return matching->RecordMatchFeedback(c, fb, &fb_a); }).ok());
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return matching->RecordMatchFeedback(c, fb, &fb_a_again);
              }).ok());
  EXPECT_EQ(fb_a_again.name(), fb_a.name());
  fb.mutable_feedback()->set_comment("our own view");
  ASSERT_TRUE(
      As(partner_b_, [&](auto* c) { return matching->RecordMatchFeedback(c, fb, &fb_b); }).ok());
  EXPECT_NE(fb_b.name(), fb_a.name());
  EXPECT_EQ(fb_b.comment(), "our own view");
  EXPECT_NE(fb_b.recorded_by(), fb_a.recorded_by());

  // The registry's writes: another organisation's create under the same id is its own.
  iv1::CreateProjectRequest create_a = ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC);
  create_a.set_request_id("create-1");
  iv1::CreateProjectRequest create_b = ProjectOf(org_b_, iv1::VISIBILITY_PUBLIC);
  create_b.set_request_id("create-1");
  iv1::Project project_a, project_a_again, project_b;
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return ingestion_->CreateProject(c, create_a, &project_a);
              }).ok());
  grpc::Status b_created =
      As(partner_b_, [&](auto* c) { return ingestion_->CreateProject(c, create_b, &project_b); });
  ASSERT_TRUE(b_created.ok()) << b_created.error_message();
  EXPECT_NE(project_b.name(), project_a.name());
  EXPECT_EQ(project_b.title(), create_b.project().title());
  ASSERT_TRUE(As(partner_a_, [&](auto* c) {
                return ingestion_->CreateProject(c, create_a, &project_a_again);
              }).ok());
  EXPECT_EQ(project_a_again.name(), project_a.name());
  // A key of the same organisation shares its request ids: a retry survives a new key.
  const std::string partner_a_new_key = Issue(org_a_, stp::admin::v1::ACCESS_ROLE_PARTNER);
  ASSERT_TRUE(As(partner_a_new_key, [&](auto* c) {
                return ingestion_->CreateProject(c, create_a, &project_a_again);
              }).ok());
  EXPECT_EQ(project_a_again.name(), project_a.name());
  // And its imports: records without external ids take their request ids from their place in
  // the file, so the first record of either import has the same id; both are written.
  iv1::ImportProjectsRequest record_a, record_b;
  *record_a.mutable_project() = ProjectOf(org_a_, iv1::VISIBILITY_PUBLIC).project();
  *record_b.mutable_project() = ProjectOf(org_b_, iv1::VISIBILITY_PUBLIC).project();
  EXPECT_EQ(ImportAs(partner_a_, iv1::IMPORT_FORMAT_PROJECTS, record_a, "import-1").created(), 1);
  iv1::ImportSummary imported_b =
      ImportAs(partner_b_, iv1::IMPORT_FORMAT_PROJECTS, record_b, "import-1");
  EXPECT_EQ(imported_b.created(), 1);
  EXPECT_EQ(imported_b.rejected(), 0);
}

TEST_F(SecurityTest, RateLimitsAnswerResourceExhaustedWithRetryInfo) {
  iv1::GetCountryRequest get;
  get.set_name("countries/EG");
  iv1::Country out;
  int limited = 0;
  absl::Duration delay;
  for (int i = 0; i < 60; ++i) {
    grpc::Status s = As(reader_b_, [&](auto* c) { return ingestion_->GetCountry(c, get, &out); });
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++limited;
      delay = GetRetryDelay(FromGrpcStatus(s));
    }
  }
  EXPECT_GT(limited, 20);
  EXPECT_GT(delay, absl::ZeroDuration());
  // Another credential is not affected.
  EXPECT_TRUE(As(partner_a_, [&](auto* c) { return ingestion_->GetCountry(c, get, &out); }).ok());
  absl::SleepFor(delay + absl::Milliseconds(50));
  EXPECT_TRUE(As(reader_b_, [&](auto* c) { return ingestion_->GetCountry(c, get, &out); }).ok());
}

// A busy credential takes its tokens from the shared bucket a lease at a time, so that not
// every call waits on Redis; the bucket still stops it (the test above).
// Counts the scripts run on rate-limit buckets, from Redis's MONITOR feed on a connection of
// its own: the other modules' background scripts are not counted.
class BucketScriptCounter {
 public:
  explicit BucketScriptCounter(int port) {
    // A feed that stops (no marker within 30 s) ends the count rather than the test run.
    const timeval timeout{30, 0};
    context_.reset(redisConnectWithTimeout("127.0.0.1", port, timeout));
    if (context_ == nullptr || context_->err != 0) {
      ADD_FAILURE() << "cannot connect to Redis for MONITOR";
      return;
    }
    redisSetTimeout(context_.get(), timeout);
    redis::ReplyPtr ok(static_cast<redisReply*>(redisCommand(context_.get(), "MONITOR")));
    EXPECT_NE(ok, nullptr);
    reader_ = std::thread([this] {
      for (;;) {
        void* raw = nullptr;
        if (redisGetReply(context_.get(), &raw) != REDIS_OK) return;
        redis::ReplyPtr line(static_cast<redisReply*>(raw));
        const std::string text = absl::AsciiStrToLower(redis::Str(line.get()));
        if (absl::StrContains(text, "\"echo\" \"end-of-count\"")) return;
        if (absl::StrContains(text, "] \"evalsha\"") || absl::StrContains(text, "] \"eval\"")) {
          if (absl::StrContains(text, ":rl:")) ++scripts_;
        }
      }
    });
  }

  // A test that failed before Finish: the reader is cut off, not left running.
  ~BucketScriptCounter() {
    if (!reader_.joinable()) return;
    shutdown(context_->fd, SHUT_RDWR);
    reader_.join();
  }

  // The scripts seen up to now (every command sent before the call is in the feed by then).
  int64_t Finish(redis::RedisClient& redis) {
    EXPECT_TRUE(redis.Command({"ECHO", "end-of-count"}).ok());
    if (reader_.joinable()) reader_.join();
    return scripts_;
  }

 private:
  struct Free {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  std::unique_ptr<redisContext, Free> context_;
  std::atomic<int64_t> scripts_{0};
  std::thread reader_;
};

TEST_F(SecurityTest, ABusyCredentialTakesItsRateLimitTokensALeaseAtATime) {
  iv1::GetCountryRequest get;
  get.set_name("countries/EG");
  iv1::Country out;
  // Only this partner calls while it counts.
  BucketScriptCounter counter(redis_->port());
  const absl::Time start = absl::Now();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(As(partner_a_, [&](auto* c) { return ingestion_->GetCountry(c, get, &out); }).ok());
  }
  const absl::Duration took = absl::Now() - start;
  const int64_t used = counter.Finish(stack_->process().redis());
  // A partner's rate is 200/s with a one-second bucket: a lease holds an eighth of it, 25
  // tokens, for 250 ms. 100 calls need four leases, and a new one each 250 ms on a slow
  // machine; one script per call would be 100.
  EXPECT_GE(used, 4);
  EXPECT_LE(used, 5 + took / absl::Milliseconds(250)) << "in " << took;
}

// ---------------------------------------------------------------- mutual TLS

class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("stp-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    auto run = [&](const std::string& cmd) {
      ASSERT_EQ(std::system(("cd " + dir_.string() + " && " + cmd + " >/dev/null 2>&1").c_str()), 0)
          << cmd;
    };
    auto ca = [&](const std::string& name) {
      run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name + " -keyout " +
          name + ".key -out " + name + ".crt");
    };
    auto leaf = [&](const std::string& name, const std::string& ca_name, const std::string& san) {
      run("openssl req -newkey rsa:2048 -nodes -subj /CN=" + name + " -keyout " + name +
          ".key -out " + name + ".csr");
      std::ofstream(dir_ / (name + ".ext")) << "subjectAltName=" << san << "\n";
      run("openssl x509 -req -in " + name + ".csr -CA " + ca_name + ".crt -CAkey " + ca_name +
          ".key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".crt");
    };
    ca("ca");
    ca("foreign");
    leaf("server", "ca", "DNS:localhost,IP:127.0.0.1");
    leaf("partner", "ca", "URI:spiffe://stp/partner-a");
    leaf("intruder", "foreign", "URI:spiffe://stp/partner-a");
    // The server's next certificate, from another CA, for the reload test.
    leaf("server-next", "foreign", "DNS:localhost,IP:127.0.0.1");
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server.ok());
    redis_ = std::move(*server);
    std::ofstream(dir_ / "principals") << "spiffe://stp/partner-a - READER\n";
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(ingestion::NewIngestionModule());
    std::string d = dir_.string();
    stack_ = TestStack::Start(std::move(modules), redis_.get(), [d](ProcessConfig* c) {
      c->auth_disabled = false;
      c->server.plaintext = false;
      c->server.tls_cert_file = d + "/server.crt";
      c->server.tls_key_file = d + "/server.key";
      c->server.tls_client_ca_file = d + "/ca.crt";
      c->server.require_client_cert = true;
      c->client_cert_principals_file = d + "/principals";
      c->server.tls_reload_seconds = 1;
    });
    ASSERT_NE(stack_, nullptr);
  }
  void TearDown() override {
    stack_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // A call on a new channel presenting `client`'s certificate (none when empty) and trusting
  // only `root` for the server's.
  grpc::Status CallWith(const std::string& client, const std::string& root = "ca") {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = Read(root + ".crt");
    if (!client.empty()) {
      opts.pem_private_key = Read(client + ".key");
      opts.pem_cert_chain = Read(client + ".crt");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    // A distinct argument per call: a new connection, never a pooled one with an old handshake.
    args.SetInt("stp.test.client", ++channels_);
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(stack_->port()),
                                             grpc::SslCredentials(opts), args);
    auto stub = iv1::IngestionService::NewStub(channel);
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(5));
    iv1::ListCountriesResponse out;
    return stub->ListCountries(&ctx, iv1::ListCountriesRequest(), &out);
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<TestStack> stack_;
  int channels_ = 0;
};

TEST_F(MutualTlsTest, AGoodClientCertificateIsAPrincipalAndNoneOrAForeignOneIsRefused) {
  grpc::Status good = CallWith("partner");
  EXPECT_TRUE(good.ok()) << good.error_message();
  EXPECT_EQ(CallWith("").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CallWith("intruder").error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Certificates are rotated by replacing their files: the running server picks the new ones up
// (within --tls-reload-seconds) and hands them to new connections, without a restart.
TEST_F(MutualTlsTest, ServerCertificateFilesAreReloadedWithoutARestart) {
  ASSERT_TRUE(CallWith("partner").ok());
  EXPECT_EQ(CallWith("partner", "foreign").error_code(), grpc::StatusCode::UNAVAILABLE)
      << "a client trusting only the next CA must not accept the current certificate";
  // Written aside and renamed into place, the way a Secret volume or cert-manager swaps them.
  for (const char* ext : {".key", ".crt"}) {
    std::filesystem::copy_file(dir_ / (std::string("server-next") + ext),
                               dir_ / (std::string("server.tmp") + ext));
    std::filesystem::rename(dir_ / (std::string("server.tmp") + ext),
                            dir_ / (std::string("server") + ext));
  }
  grpc::Status next;
  EXPECT_TRUE(WaitFor(
      [&] {
        next = CallWith("partner", "foreign");
        return next.ok();
      },
      absl::Seconds(20), absl::Milliseconds(250)))
      << "the new certificate was not served: " << next.error_message();
  EXPECT_EQ(CallWith("partner").error_code(), grpc::StatusCode::UNAVAILABLE)
      << "the old certificate is still served";
}

}  // namespace
}  // namespace stp
