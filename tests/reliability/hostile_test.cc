// Hostile requests through real gRPC against the real stack (ingestion, notification and
// matching in one process on a private Redis): oversized messages, huge repeated fields,
// invalid UTF-8 on the wire, unknown enum values, negative money, dates out of order, XML bombs
// and external entities, truncated and abandoned import streams, vanished subscribers. Every
// test checks the server still serves afterwards and that what Redis holds stays consistent
// with the event stream (every record whole with its event, or absent).
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "libs/common/grpc_status.h"
#include "services/ingestion/ingestion_module.h"
#include "services/matching/matching_module.h"
#include "services/notification/notification_module.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/matching/v1/matching_service.grpc.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"
#include "tests/reliability/child_process.h"
#include "tests/reliability/history.h"
#include "tests/reliability/scripted_receiver.h"
#include "tests/reliability/workload.h"
#include "tests/testing/test_stack.h"

namespace stp::reliability {
namespace {

namespace ev = stp::events::v1;
namespace iv1 = stp::ingestion::v1;
namespace mv1 = stp::matching::v1;
namespace nv1 = stp::notification::v1;
using stp::testing::TestStack;
using stp::testing::WaitFor;

constexpr int kMaxMessageBytes = 1 << 20;
constexpr char kChildVariable[] = "STP_RELIABILITY_CHILD";

void Print(const std::string& line) {
  std::printf("RELIABILITY %s\n", line.c_str());
  std::fflush(stdout);
}

std::shared_ptr<grpc::Channel> ChannelTo(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetMaxSendMessageSize(-1);  // the client sends what it likes; the server must cope
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

// A minimal IATI activity that imports: identifier, title, host EG, one green-growth sector.
std::string Activity(const std::string& id, const std::string& title = "") {
  return absl::StrCat("<iati-activity default-currency=\"USD\">\n  <iati-identifier>", id,
                      "</iati-identifier>\n  <title><narrative>",
                      title.empty() ? "Park " + id : title,
                      "</narrative></title>\n  <recipient-country code=\"EG\"/>\n"
                      "  <sector vocabulary=\"1\" code=\"23210\"/>\n</iati-activity>\n");
}

std::string Activities(const std::string& body, const std::string& doctype = "") {
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", doctype,
                      "<iati-activities version=\"2.03\">\n", body, "</iati-activities>\n");
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = testing::RedisServer::Start();
    ASSERT_TRUE(redis.ok());
    redis_ = std::move(*redis);
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(ingestion::NewIngestionModule());
    modules.push_back(notification::NewNotificationModule());
    modules.push_back(matching::NewMatchingModule());
    stack_ =
        TestStack::Start(std::move(modules), redis_.get(),
                         [](ProcessConfig* c) { c->server.max_message_bytes = kMaxMessageBytes; },
                         {"--webhook-consumer=hostile"});
    ASSERT_NE(stack_, nullptr);
    channel_ = ChannelTo(stack_->port());
    ingestion_ = iv1::IngestionService::NewStub(channel_);
    notification_ = nv1::NotificationService::NewStub(channel_);
    matching_ = mv1::MatchingService::NewStub(channel_);
    for (const char* cc : {"EG", "KE", "CN"}) {
      iv1::UpsertCountryRequest req;
      req.mutable_country()->set_alpha2(cc);
      req.mutable_country()->set_display_name(cc);
      req.mutable_country()->set_income_group(stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
      iv1::Country out;
      ASSERT_TRUE(Call([&](auto* c) { return ingestion_->UpsertCountry(c, req, &out); }).ok());
    }
    iv1::CreateOrganizationRequest req;
    req.mutable_organization()->set_display_name("Hostile Test Org");
    req.mutable_organization()->set_country("countries/CN");
    req.mutable_organization()->add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    req.mutable_organization()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    iv1::Organization org;
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->CreateOrganization(c, req, &org); }).ok());
    org_ = org.name();
  }

  template <typename Fn>
  grpc::Status Call(Fn fn, absl::Duration deadline = absl::Seconds(30)) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, deadline);
    return fn(&ctx);
  }

  StoreState State() {
    ProjectWorkload lister(channel_, nullptr, org_, "list");
    auto state = ReadStoreState(redis_->address(), 1, [&] { return lister.ListAll(); });
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *state : StoreState();
  }

  size_t EventCount() { return State().events.size(); }

  // Waits until the event stream stops growing: a client that vanished mid-import may leave
  // its last batch still being written, and a snapshot taken meanwhile is not atomic.
  void WaitQuiet() {
    int64_t last = -1;
    absl::Time stable_since = absl::Now();
    absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (absl::Now() < deadline) {
      int64_t now = 0;
      absl::SimpleAtoi(redis_->Cli({"XLEN", "stp:{p0}:events"}), &now);
      if (now != last) {
        last = now;
        stable_since = absl::Now();
      } else if (absl::Now() - stable_since > absl::Milliseconds(500)) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // The server still answers, and the store and the stream agree.
  void ExpectHealthyAndConsistent(const std::string& after) {
    WaitQuiet();
    iv1::GetCountryRequest req;
    req.set_name("countries/EG");
    iv1::Country out;
    grpc::Status s = Call([&](auto* c) { return ingestion_->GetCountry(c, req, &out); });
    EXPECT_TRUE(s.ok()) << "after " << after << ": " << s.error_message();
    CheckReport report;
    CheckStoreMatchesEvents(State(), &report);
    EXPECT_TRUE(report.violations.empty())
        << "after " << after << ":\n  " << absl::StrJoin(report.violations, "\n  ");
  }

  // Expects INVALID_ARGUMENT with a field violation whose path starts with `field`.
  void ExpectViolation(const grpc::Status& s, const std::string& field, const std::string& what) {
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << what << ": " << s.error_code() << " " << s.error_message().substr(0, 300);
    std::vector<std::string> fields;
    for (const auto& v : GetFieldViolations(FromGrpcStatus(s))) fields.push_back(v.field);
    EXPECT_TRUE(std::any_of(fields.begin(), fields.end(),
                            [&](const std::string& f) { return absl::StartsWith(f, field); }))
        << what << ": no violation names " << field << "; got "
        << absl::StrJoin(fields.begin(), fields.begin() + std::min<size_t>(fields.size(), 10),
                         ", ");
  }

  iv1::Project ValidProject(const std::string& title) { return NewProject(title, org_); }

  grpc::Status Create(const iv1::Project& p, iv1::Project* out = nullptr) {
    iv1::CreateProjectRequest req;
    *req.mutable_project() = p;
    iv1::Project unused;
    return Call([&](auto* c) { return ingestion_->CreateProject(c, req, out ? out : &unused); });
  }

  // Streams an import; `chunks` are raw payloads, or projects when the format is PROJECTS.
  grpc::Status Import(iv1::ImportFormat format, const std::vector<std::string>& chunks,
                      const std::string& request_id, iv1::ImportSummary* summary,
                      absl::Duration deadline = absl::Seconds(60)) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, deadline);
    auto writer = ingestion_->ImportProjects(&ctx, summary);
    iv1::ImportProjectsRequest first;
    first.set_format(format);
    first.set_request_id(request_id);
    writer->Write(first);
    for (const auto& c : chunks) {
      iv1::ImportProjectsRequest m;
      m.set_chunk(c);
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  double Gauge(const std::string& name) {
    for (absl::string_view line : absl::StrSplit(stack_->process().metrics().Render(), '\n')) {
      if (absl::StartsWith(line, name + " ") || absl::StartsWith(line, name + "{")) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) return v;
      }
    }
    return -1;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<TestStack> stack_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::unique_ptr<nv1::NotificationService::Stub> notification_;
  std::unique_ptr<mv1::MatchingService::Stub> matching_;
  std::string org_;
};

// Proves: a request larger than --max-message-bytes is refused by gRPC itself with
// RESOURCE_EXHAUSTED (unary, client-streaming and server-streaming methods), writes nothing,
// and leaves the server serving.
TEST_F(HostileTest, OversizedMessagesAreResourceExhaustedAndTheServerLivesOn) {
  size_t events = EventCount();
  iv1::Project big = ValidProject("big");
  big.set_description(std::string(kMaxMessageBytes + 4096, 'x'));
  EXPECT_EQ(Create(big).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  iv1::ImportSummary summary;
  grpc::Status s = Import(iv1::IMPORT_FORMAT_IATI_XML, {std::string(kMaxMessageBytes + 4096, ' ')},
                          "oversized", &summary);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  nv1::SubscribeRequest sub;
  for (int i = 0; i < 30000; ++i) sub.mutable_filter()->add_projects(std::string(40, 'p'));
  grpc::ClientContext ctx;
  testing::SetDeadline(&ctx, absl::Seconds(10));
  auto stream = notification_->Subscribe(&ctx, sub);
  nv1::SubscribeResponse m;
  while (stream->Read(&m)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(EventCount(), events);
  ExpectHealthyAndConsistent("oversized messages");
}

// Proves: repeated fields far beyond their documented counts are refused with
// INVALID_ARGUMENT naming the field, in every service, and the refusal itself stays small
// enough to be delivered.
TEST_F(HostileTest, HugeRepeatedFieldsAreRefusedNamingTheField) {
  size_t events = EventCount();
  struct Case {
    std::string field;
    std::function<void(iv1::Project*)> fill;
  };
  std::vector<Case> cases = {
      {"project.participants",
       [&](iv1::Project* p) {
         for (int i = 0; i < 5000; ++i) {
           auto* x = p->add_participants();
           x->set_organization(org_);
           x->set_role(stp::common::v1::PARTNER_ROLE_FINANCIER);
         }
       }},
      {"project.dac_sectors",
       [](iv1::Project* p) {
         for (int i = 0; i < 100000; ++i) p->add_dac_sectors(23210);
       }},
      {"project.avenues",
       [](iv1::Project* p) {
         for (int i = 0; i < 100000; ++i) p->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
       }},
      {"project.external_ids",
       [](iv1::Project* p) {
         for (int i = 0; i < 5000; ++i) {
           auto* x = p->add_external_ids();
           x->set_source(absl::StrCat("s", i));
           x->set_value("v");
         }
       }},
      {"project.milestones",
       [](iv1::Project* p) {
         for (int i = 0; i < 20000; ++i) p->add_milestones()->set_name("m");
       }},
      {"project.financing.commitments",
       [](iv1::Project* p) {
         for (int i = 0; i < 20000; ++i) {
           auto* f = p->mutable_financing()->add_commitments();
           f->mutable_amount()->set_currency_code("USD");
           f->mutable_amount()->set_units(1);
         }
       }},
      {"project.results",
       [](iv1::Project* p) {
         for (int i = 0; i < 20000; ++i) p->add_results()->set_indicator("r");
       }},
      {"project.sources",
       [](iv1::Project* p) {
         for (int i = 0; i < 20000; ++i) p->add_sources()->set_source("s");
       }},
  };
  for (const auto& c : cases) {
    iv1::Project p = ValidProject("huge " + c.field);
    c.fill(&p);
    ExpectViolation(Create(p), c.field, c.field);
  }
  // Huge strings where a refusal quotes the value back, and an update mask of many bad paths.
  iv1::Project echo = ValidProject("echo");
  echo.set_host_country(std::string(kMaxMessageBytes / 2, 'Z'));
  ExpectViolation(Create(echo), "project.host_country", "a huge host country");
  iv1::Project created;
  ASSERT_TRUE(Create(ValidProject("masked"), &created).ok());
  iv1::UpdateProjectRequest update;
  update.mutable_project()->set_name(created.name());
  for (int i = 0; i < 2000; ++i) update.mutable_update_mask()->add_paths(absl::StrCat("etag", i));
  update.mutable_update_mask()->add_paths(std::string(kMaxMessageBytes / 2, 'e'));
  iv1::Project updated;
  ExpectViolation(Call([&](auto* c) { return ingestion_->UpdateProject(c, update, &updated); }),
                  "update_mask", "a huge update mask");
  ++events;  // the project just created
  // Organisations and countries.
  iv1::CreateOrganizationRequest org;
  org.mutable_organization()->set_display_name("Many languages");
  for (int i = 0; i < 50000; ++i) org.mutable_organization()->add_languages("en");
  iv1::Organization org_out;
  ExpectViolation(Call([&](auto* c) { return ingestion_->CreateOrganization(c, org, &org_out); }),
                  "organization.languages", "languages");
  iv1::UpsertCountryRequest country;
  country.mutable_country()->set_alpha2("EG");
  country.mutable_country()->set_display_name("Egypt");
  for (int i = 0; i < 20000; ++i) {
    auto* ind = country.mutable_country()->add_indicators();
    ind->set_name("x");
    ind->set_value(1);
  }
  iv1::Country country_out;
  ExpectViolation(
      Call([&](auto* c) { return ingestion_->UpsertCountry(c, country, &country_out); }),
      "country.indicators", "indicators");
  // Notification: a webhook whose filter lists too many countries.
  nv1::CreateWebhookRequest hook;
  hook.mutable_webhook()->set_url("https://partner.example/hook");
  hook.mutable_webhook()->set_secret("a-secret-long-enough-for-a-hook");
  for (int i = 0; i < 50000; ++i)
    hook.mutable_webhook()->mutable_filter()->add_countries("countries/EG");
  nv1::Webhook hook_out;
  ExpectViolation(Call([&](auto* c) { return notification_->CreateWebhook(c, hook, &hook_out); }),
                  "webhook.filter.countries", "webhook filter");
  // Matching: too many roles and exclusions.
  ASSERT_TRUE(WaitFor([&] {
    mv1::FindPartnersRequest probe;
    probe.mutable_need()->set_host_country("countries/EG");
    probe.mutable_need()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    probe.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
    mv1::FindPartnersResponse out;
    return Call([&](auto* c) { return matching_->FindPartners(c, probe, &out); }).ok();
  })) << "matching never loaded its index";
  mv1::FindPartnersRequest find;
  find.mutable_need()->set_host_country("countries/EG");
  find.mutable_need()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  for (int i = 0; i < 50000; ++i)
    find.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
  for (int i = 0; i < 20000; ++i) find.mutable_need()->add_excluded_organizations(org_);
  mv1::FindPartnersResponse find_out;
  grpc::Status s = Call([&](auto* c) { return matching_->FindPartners(c, find, &find_out); });
  ExpectViolation(s, "need.roles", "roles");
  ExpectViolation(s, "need.excluded_organizations", "exclusions");
  EXPECT_EQ(EventCount(), events);
  ExpectHealthyAndConsistent("huge repeated fields");
}

// Proves: bytes that are not UTF-8 in a proto3 string field, sent raw on the wire (a generic
// stub, so no client library can clean them up), are refused with an error and write nothing;
// the server keeps serving.
TEST_F(HostileTest, InvalidUtf8OnTheWireIsRefused) {
  size_t events = EventCount();
  grpc::GenericStub generic(channel_);
  auto send_raw = [&](const std::string& method, std::string bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(10));
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    return status;
  };
  // Serialise with a placeholder of the same length, then swap in invalid bytes: the framing
  // stays right, only the string's content is broken.
  const std::string placeholder = "PLACEHOLDER-OF-16";
  const std::string invalid = std::string("\xff\xfe\xc0\xaf", 4) + "\xed\xa0\x80" +
                              std::string("\xf8\x88\x80\x80\x80", 5) + "abcde";
  ASSERT_EQ(placeholder.size(), invalid.size());
  auto corrupt = [&](std::string wire) {
    size_t at = wire.find(placeholder);
    EXPECT_NE(at, std::string::npos);
    return wire.replace(at, placeholder.size(), invalid);
  };
  iv1::CreateProjectRequest create;
  *create.mutable_project() = ValidProject(placeholder);
  create.set_request_id("utf8-title");
  // The control: the same bytes uncorrupted go through, so the refusals below are the UTF-8.
  iv1::CreateProjectRequest control = create;
  control.set_request_id("utf8-control");
  ASSERT_TRUE(
      send_raw("/stp.ingestion.v1.IngestionService/CreateProject", control.SerializeAsString())
          .ok());
  ++events;
  grpc::Status s = send_raw("/stp.ingestion.v1.IngestionService/CreateProject",
                            corrupt(create.SerializeAsString()));
  EXPECT_FALSE(s.ok());
  Print(absl::StrCat("hostile: invalid UTF-8 in CreateProject.project.title answered ",
                     s.error_code(), " (", s.error_message(), ")"));
  iv1::UpsertCountryRequest country;
  country.mutable_country()->set_alpha2("KE");
  country.mutable_country()->set_display_name(placeholder);
  s = send_raw("/stp.ingestion.v1.IngestionService/UpsertCountry",
               corrupt(country.SerializeAsString()));
  EXPECT_FALSE(s.ok());
  mv1::FindPartnersRequest find;
  find.mutable_need()->set_host_country("countries/EG");
  find.mutable_need()->add_languages(placeholder);
  s = send_raw("/stp.matching.v1.MatchingService/FindPartners", corrupt(find.SerializeAsString()));
  EXPECT_FALSE(s.ok());
  nv1::CreateWebhookRequest hook;
  hook.mutable_webhook()->set_url("https://partner.example/hook");
  hook.mutable_webhook()->set_secret("a-secret-long-enough-for-a-hook");
  hook.mutable_webhook()->set_display_name(placeholder);
  s = send_raw("/stp.notification.v1.NotificationService/CreateWebhook",
               corrupt(hook.SerializeAsString()));
  EXPECT_FALSE(s.ok());
  // Garbage that is not a message at all.
  s = send_raw("/stp.ingestion.v1.IngestionService/CreateProject", std::string("\xff\xff\xff\xff"));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(EventCount(), events);
  ExpectHealthyAndConsistent("invalid UTF-8");
}

// Proves: unknown enum values, negative money, impossible dates and dates out of order are
// refused with INVALID_ARGUMENT naming each field, across services, writing nothing.
TEST_F(HostileTest, UnknownEnumsNegativeMoneyAndDatesOutOfOrderAreRefused) {
  size_t events = EventCount();
  auto date = [](google::type::Date* d, int y, int m, int day) {
    d->set_year(y);
    d->set_month(m);
    d->set_day(day);
  };
  struct Case {
    std::string field;
    std::function<void(iv1::Project*)> spoil;
  };
  std::vector<Case> cases = {
      {"project.stage", [](iv1::Project* p) { p->set_stage(static_cast<iv1::ProjectStage>(42)); }},
      {"project.avenues[0]",
       [](iv1::Project* p) { p->set_avenues(0, static_cast<stp::common::v1::Avenue>(77)); }},
      {"project.cooperation_model",
       [](iv1::Project* p) { p->set_cooperation_model(static_cast<iv1::CooperationModel>(-3)); }},
      {"project.visibility",
       [](iv1::Project* p) { p->set_visibility(static_cast<iv1::Visibility>(1000000)); }},
      {"project.participants[0].role",
       [](iv1::Project* p) {
         p->mutable_participants(0)->set_role(static_cast<stp::common::v1::PartnerRole>(55));
       }},
      {"project.financing.budget",
       [](iv1::Project* p) {
         p->mutable_financing()->mutable_budget()->set_currency_code("USD");
         p->mutable_financing()->mutable_budget()->set_units(-5);
       }},
      {"project.financing.budget",
       [](iv1::Project* p) {
         p->mutable_financing()->mutable_budget()->set_currency_code("USD");
         p->mutable_financing()->mutable_budget()->set_nanos(-1);
       }},
      {"project.financing.commitments[0].amount",
       [](iv1::Project* p) {
         auto* f = p->mutable_financing()->add_commitments();
         f->mutable_amount()->set_currency_code("USD");
         f->mutable_amount()->set_units(-1000000);
       }},
      {"project.financing.commitments[0].instrument",
       [](iv1::Project* p) {
         auto* f = p->mutable_financing()->add_commitments();
         f->mutable_amount()->set_currency_code("USD");
         f->set_instrument(static_cast<iv1::FinanceInstrument>(66));
       }},
      {"project.planned_end",
       [&](iv1::Project* p) {
         date(p->mutable_planned_start(), 2026, 6, 1);
         date(p->mutable_planned_end(), 2025, 6, 1);
       }},
      {"project.actual_end",
       [&](iv1::Project* p) {
         date(p->mutable_actual_start(), 2026, 6, 1);
         date(p->mutable_actual_end(), 2026, 5, 31);
       }},
      {"project.planned_start",
       [&](iv1::Project* p) { date(p->mutable_planned_start(), 2025, 2, 30); }},
      {"project.planned_end",
       [&](iv1::Project* p) { date(p->mutable_planned_end(), 10000, 1, 1); }},
      {"project.milestones[0].due_date",
       [&](iv1::Project* p) {
         auto* m = p->add_milestones();
         m->set_name("m");
         date(m->mutable_due_date(), 2025, 13, 1);
       }},
  };
  for (const auto& c : cases) {
    iv1::Project p = ValidProject("spoiled " + c.field);
    c.spoil(&p);
    ExpectViolation(Create(p), c.field, c.field);
  }
  iv1::ListProjectsRequest list;
  list.set_stage(static_cast<iv1::ProjectStage>(77));
  iv1::ListProjectsResponse list_out;
  ExpectViolation(Call([&](auto* c) { return ingestion_->ListProjects(c, list, &list_out); }),
                  "stage", "ListProjects stage");
  nv1::CreateWebhookRequest hook;
  hook.mutable_webhook()->set_url("https://partner.example/hook");
  hook.mutable_webhook()->set_secret("a-secret-long-enough-for-a-hook");
  hook.mutable_webhook()->mutable_filter()->add_event_types(static_cast<ev::EventType>(999));
  nv1::Webhook hook_out;
  ExpectViolation(Call([&](auto* c) { return notification_->CreateWebhook(c, hook, &hook_out); }),
                  "webhook.filter.event_types[0]", "webhook event type");
  mv1::FindPartnersRequest find;
  find.mutable_need()->set_host_country("countries/EG");
  find.mutable_need()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  find.mutable_need()->add_roles(static_cast<stp::common::v1::PartnerRole>(99));
  find.mutable_need()->mutable_budget()->set_currency_code("USD");
  find.mutable_need()->mutable_budget()->set_units(-1);
  mv1::FindPartnersResponse find_out;
  grpc::Status s = Call([&](auto* c) { return matching_->FindPartners(c, find, &find_out); });
  ExpectViolation(s, "need.roles[0]", "matching role");
  ExpectViolation(s, "need.budget", "matching budget");
  EXPECT_EQ(EventCount(), events);
  ExpectHealthyAndConsistent("bad enums, money and dates");
}

// Proves: an IATI file with entity expansion (billion laughs, quadratic blowup) or external
// entities (a local file, an HTTP URL, an external DTD, a parameter entity) is refused or
// imported without expanding anything: no file content appears in any record, no HTTP request
// leaves the server, and the import answers within seconds.
TEST_F(HostileTest, XmlBombsAndExternalEntitiesInAnIatiImportExpandNothing) {
  ScriptedReceiver fetches([](const WebhookRequest&, int) { return Answer{200}; });
  std::string secret_file = TempDir() + "/secret.txt";
  std::ofstream(secret_file) << "TOP-SECRET-CONTENT";
  std::string laughs = "<!ENTITY l0 \"lol\">";
  for (int i = 1; i <= 12; ++i) {
    laughs += absl::StrCat("<!ENTITY l", i, " \"");
    for (int k = 0; k < 10; ++k) laughs += absl::StrCat("&l", i - 1, ";");
    laughs += "\">";
  }
  std::string quadratic_refs;
  for (int i = 0; i < 20000; ++i) quadratic_refs += "&big;";
  std::string dtd_url = fetches.url();
  struct Case {
    std::string label, doctype, title;
  };
  std::vector<Case> cases = {
      {"billion laughs", "<!DOCTYPE iati-activities [" + laughs + "]>", "&l12;"},
      {"quadratic blowup",
       "<!DOCTYPE iati-activities [<!ENTITY big \"" + std::string(50000, 'B') + "\">]>",
       quadratic_refs},
      {"external file entity",
       "<!DOCTYPE iati-activities [<!ENTITY xxe SYSTEM \"file://" + secret_file + "\">]>", "&xxe;"},
      {"external HTTP entity",
       "<!DOCTYPE iati-activities [<!ENTITY xxe SYSTEM \"" + dtd_url + "\">]>", "&xxe;"},
      {"external DTD", "<!DOCTYPE iati-activities SYSTEM \"" + dtd_url + "\">", "plain"},
      {"parameter entity",
       "<!DOCTYPE iati-activities [<!ENTITY % remote SYSTEM \"" + dtd_url + "\"> %remote;]>",
       "plain"},
  };
  int n = 0;
  for (const auto& c : cases) {
    std::string xml = Activities(Activity(absl::StrCat("XX-BOMB-", n++), c.title), c.doctype);
    iv1::ImportSummary summary;
    absl::Time began = absl::Now();
    grpc::Status s = Import(iv1::IMPORT_FORMAT_IATI_XML, {xml}, "bomb-" + c.label, &summary);
    absl::Duration took = absl::Now() - began;
    EXPECT_LT(took, absl::Seconds(10)) << c.label;
    EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
        << c.label << ": " << s.error_code() << " " << s.error_message();
    Print(absl::StrCat("hostile: IATI ", c.label, " -> ", s.ok() ? "OK" : "INVALID_ARGUMENT", ", ",
                       summary.created(), " created, ", summary.rejected(), " rejected, in ",
                       absl::FormatDuration(took)));
  }
  EXPECT_TRUE(fetches.requests().empty()) << "the server fetched an external entity or DTD";
  for (const auto& [name, p] : State().projects) {
    EXPECT_FALSE(absl::StrContains(p.title(), "TOP-SECRET")) << name;
    EXPECT_FALSE(absl::StrContains(p.title(), "lollollol")) << name << " expanded entities";
    EXPECT_LT(p.title().size(), 1000u) << name << " expanded entities";
  }
  ExpectHealthyAndConsistent("XML bombs");
}

std::vector<iv1::ImportProjectsRequest> ProjectStream(const std::string& request_id, int n,
                                                      const std::string& org) {
  std::vector<iv1::ImportProjectsRequest> msgs;
  iv1::ImportProjectsRequest first;
  first.set_format(iv1::IMPORT_FORMAT_PROJECTS);
  first.set_request_id(request_id);
  msgs.push_back(first);
  for (int i = 0; i < n; ++i) {
    iv1::ImportProjectsRequest m;
    *m.mutable_project() = NewProject(absl::StrCat("Streamed ", request_id, " ", i), org);
    auto* x = m.mutable_project()->add_external_ids();
    x->set_source("stream");
    x->set_value(absl::StrCat(request_id, "-", i));
    msgs.push_back(m);
  }
  return msgs;
}

// Counts the projects a stream created, by external id, and checks each has one event.
int CountFromStream(const StoreState& state, const std::string& request_id) {
  int n = 0;
  for (const auto& [name, p] : state.projects) {
    for (const auto& x : p.external_ids()) {
      if (x.source() == "stream" && absl::StartsWith(x.value(), request_id + "-")) ++n;
    }
  }
  return n;
}

// Proves: an import stream cut short (IATI XML ending inside an activity, AidData CSV ending
// inside a quoted field) or abandoned by its client (cancelled mid-stream, or the client
// process SIGKILLed while streaming) leaves every record either whole, with its one event, or
// absent; and resending the whole stream with the same request id then completes it with every
// record exactly once.
TEST_F(HostileTest, TruncatedAndAbandonedImportsLeaveWholeRecordsOrNone) {
  // IATI cut inside the 15th of 20 activities.
  std::string body;
  for (int i = 0; i < 20; ++i) body += Activity(absl::StrCat("XM-TRUNC-", i));
  std::string full = Activities(body);
  std::string cut = full.substr(0, full.find("XM-TRUNC-14") + 5);
  iv1::ImportSummary summary;
  grpc::Status s = Import(iv1::IMPORT_FORMAT_IATI_XML, {cut}, "truncated-iati", &summary);
  EXPECT_FALSE(s.ok()) << "a truncated XML file is not a complete import";
  ExpectHealthyAndConsistent("truncated IATI");
  s = Import(iv1::IMPORT_FORMAT_IATI_XML, {full}, "truncated-iati", &summary);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.created() + summary.unchanged(), 20);
  // AidData CSV cut inside a quoted field.
  std::string csv =
      "project_id,title,recipient_iso3,crs_sector_code,usd_defl_2014,description\n"
      "1001,\"Solar park, phase 1\",EGY,230,1000000,\"Whole.\"\n"
      "1002,\"Solar park, phase 2\",EGY,230,1000000,\"A long, quoted description";
  summary.Clear();
  s = Import(iv1::IMPORT_FORMAT_AIDDATA_CSV, {csv}, "truncated-csv", &summary);
  Print(absl::StrCat("hostile: truncated AidData CSV answered ", s.error_code(), ", ",
                     summary.created(), " created"));
  ExpectHealthyAndConsistent("truncated CSV");

  // A client that cancels mid-stream, after some batches were written.
  const int n = Scaled(3000, 20000);
  auto msgs = ProjectStream("cancelled", n, org_);
  {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(60));
    iv1::ImportSummary unused;
    auto writer = ingestion_->ImportProjects(&ctx, &unused);
    for (size_t i = 0; i < msgs.size() && i < msgs.size() * 2 / 3; ++i) {
      if (!writer->Write(msgs[i])) break;
    }
    ctx.TryCancel();
    writer->Finish();
  }
  ExpectHealthyAndConsistent("a cancelled import");
  int partial = CountFromStream(State(), "cancelled");
  // A client process SIGKILLed mid-stream (its connection just drops).
  std::string dir = TempDir();
  auto child = ChildProcess::Start(
      {"/proc/self/exe", "--gtest_filter=ReliabilityChild.DISABLED_Run",
       "--gtest_also_run_disabled_tests"},
      dir + "/import-child.log",
      {absl::StrCat(kChildVariable, "=import ", stack_->port(), " killed ", n, " ", org_)});
  ASSERT_TRUE(child.ok());
  bool streaming = WaitFor([&] { return CountFromStream(State(), "killed") >= 256; },
                           absl::Seconds(30), absl::Milliseconds(20));
  (*child)->Kill();
  ASSERT_TRUE(streaming) << (*child)->LogTail();
  ExpectHealthyAndConsistent("a killed import client");
  int killed_partial = CountFromStream(State(), "killed");
  EXPECT_LT(killed_partial, n) << "the client finished before it was killed";
  // Resending the whole streams with the same request ids completes them, each record once.
  for (const char* id : {"cancelled", "killed"}) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(120));
    iv1::ImportSummary again;
    auto writer = ingestion_->ImportProjects(&ctx, &again);
    for (const auto& m : ProjectStream(id, n, org_)) ASSERT_TRUE(writer->Write(m));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    EXPECT_EQ(again.created() + again.unchanged(), n) << id;
    EXPECT_EQ(CountFromStream(State(), id), n) << id;
  }
  StoreState state = State();
  CheckReport report;
  CheckStoreMatchesEvents(state, &report);
  std::map<std::string, int> created_events;
  for (const auto& e : state.events) {
    if (e.type() == ev::EVENT_TYPE_PROJECT_CREATED) ++created_events[e.resource()];
  }
  for (const auto& [name, count] : created_events) EXPECT_EQ(count, 1) << name;
  EXPECT_TRUE(report.violations.empty()) << absl::StrJoin(report.violations, "\n  ");
  Print(absl::StrCat("hostile: imports cut short: cancelled after ", partial, " of ", n,
                     " records, SIGKILLed client after ", killed_partial, " of ", n,
                     "; after resending, ", state.projects.size(), " projects, ",
                     created_events.size(), " creation events, ", report.violations.size(),
                     " violations"));
}

// Proves: a Subscribe client that goes away (cancels, or its process is SIGKILLed) is released
// by the server: the open-subscriber gauge returns to zero, and new subscribers are served.
TEST_F(HostileTest, SubscribersThatDisappearAreReleased) {
  ASSERT_EQ(Gauge("stp_subscribers"), 0);
  {
    grpc::ClientContext ctx;
    nv1::SubscribeRequest req;
    req.set_heartbeat_seconds(1);
    auto stream = notification_->Subscribe(&ctx, req);
    nv1::SubscribeResponse m;
    ASSERT_TRUE(stream->Read(&m));
    EXPECT_EQ(Gauge("stp_subscribers"), 1);
    ctx.TryCancel();
    while (stream->Read(&m)) {
    }
    stream->Finish();
  }
  EXPECT_TRUE(WaitFor([&] { return Gauge("stp_subscribers") == 0; }, absl::Seconds(10)));
  std::string dir = TempDir();
  auto child = ChildProcess::Start(
      {"/proc/self/exe", "--gtest_filter=ReliabilityChild.DISABLED_Run",
       "--gtest_also_run_disabled_tests"},
      dir + "/subscribe-child.log", {absl::StrCat(kChildVariable, "=subscribe ", stack_->port())});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(WaitFor([&] { return Gauge("stp_subscribers") == 1; }, absl::Seconds(20)))
      << (*child)->LogTail();
  (*child)->Kill();
  absl::Time killed = absl::Now();
  EXPECT_TRUE(WaitFor([&] { return Gauge("stp_subscribers") == 0; }, absl::Seconds(20)))
      << "a vanished subscriber is still counted";
  Print(absl::StrCat("hostile: a SIGKILLed subscriber was released within ",
                     absl::FormatDuration(absl::Now() - killed)));
  grpc::ClientContext ctx;
  testing::SetDeadline(&ctx, absl::Seconds(10));
  nv1::SubscribeRequest req;
  req.set_heartbeat_seconds(1);
  auto stream = notification_->Subscribe(&ctx, req);
  nv1::SubscribeResponse m;
  EXPECT_TRUE(stream->Read(&m)) << "a new subscriber is not served";
  ctx.TryCancel();
  stream->Finish();
}

// Not a test: the client process the tests above start and SIGKILL. It runs only when
// STP_RELIABILITY_CHILD says what to do ("import <port> <request id> <n> <org>" streams
// projects slowly; "subscribe <port>" subscribes and reads), and never ends by itself.
TEST(ReliabilityChild, DISABLED_Run) {
  const char* what = std::getenv(kChildVariable);
  if (what == nullptr) GTEST_SKIP() << kChildVariable << " is not set";
  std::vector<std::string> args = absl::StrSplit(what, ' ');
  int port = 0;
  ASSERT_GE(args.size(), 2u);
  ASSERT_TRUE(absl::SimpleAtoi(args[1], &port));
  auto channel = ChannelTo(port);
  if (args[0] == "import") {
    ASSERT_EQ(args.size(), 5u);
    int n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(args[3], &n));
    auto stub = iv1::IngestionService::NewStub(channel);
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Minutes(10));
    iv1::ImportSummary summary;
    auto writer = stub->ImportProjects(&ctx, &summary);
    int sent = 0;
    for (const auto& m : ProjectStream(args[2], n, args[4])) {
      if (!writer->Write(m)) break;
      if (++sent % 100 == 0) absl::SleepFor(absl::Milliseconds(20));  // slow enough to be cut
    }
    absl::SleepFor(absl::Minutes(10));  // never finishes: the parent kills it
  } else if (args[0] == "subscribe") {
    auto stub = nv1::NotificationService::NewStub(channel);
    grpc::ClientContext ctx;
    nv1::SubscribeRequest req;
    req.set_heartbeat_seconds(1);
    auto stream = stub->Subscribe(&ctx, req);
    nv1::SubscribeResponse m;
    while (stream->Read(&m)) {
    }
  }
}

}  // namespace
}  // namespace stp::reliability
