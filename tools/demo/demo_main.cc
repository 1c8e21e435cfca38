// stp-demo: loads the project's own demo data set into a running stack and shows the product
// working — the portfolio, the best and the at-risk projects with their reasons, a consortium
// for an Egyptian green-growth park, and an event arriving on a subscription after an update.
// Used by `make run`; every step is an ordinary API call a partner could make.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "libs/common/flags.h"
#include "libs/common/grpc_status.h"
#include "libs/common/vocabulary.h"
#include "services/ingestion/reference_data.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/matching/v1/matching_service.grpc.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"
#include "tools/demo/demo_data.h"

namespace stp::demo {
namespace {

namespace iv1 = stp::ingestion::v1;
namespace sv1 = stp::scoring::v1;
namespace mv1 = stp::matching::v1;
namespace nv1 = stp::notification::v1;

struct Options {
  std::string address = "127.0.0.1:50051";  // every service, unless one of these says otherwise
  std::string scoring_address;
  std::string matching_address;
  std::string notification_address;
  std::string api_key;
  std::string countries = "deploy/demo/countries.csv";
  bool plaintext = true;
};

class Demo {
 public:
  explicit Demo(const Options& o) : options_(o) {
    auto creds = o.plaintext ? grpc::InsecureChannelCredentials()
                             : grpc::SslCredentials(grpc::SslCredentialsOptions());
    auto channel = [&](const std::string& address) {
      return grpc::CreateChannel(address.empty() ? o.address : address, creds);
    };
    ingestion_ = iv1::IngestionService::NewStub(channel(o.address));
    scoring_ = sv1::ScoringService::NewStub(channel(o.scoring_address));
    matching_ = mv1::MatchingService::NewStub(channel(o.matching_address));
    notification_ = nv1::NotificationService::NewStub(channel(o.notification_address));
  }

  void Prepare(grpc::ClientContext* ctx, absl::Duration deadline = absl::Seconds(60)) {
    ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
    if (!options_.api_key.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.api_key);
  }

  template <typename Fn>
  absl::Status Call(Fn fn) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return FromGrpcStatus(fn(&ctx));
  }

  absl::Status Load();
  absl::Status Show();

 private:
  // The name of a resource created now, or the one that already holds the external id.
  template <typename Resource>
  absl::StatusOr<std::string> CreateOnce(const absl::Status& status, const Resource& created) {
    if (status.ok()) return created.name();
    if (status.code() == absl::StatusCode::kAlreadyExists) {
      // The ErrorInfo names the resource that holds the external id: loading twice is harmless.
      google::rpc::ErrorInfo info;
      auto payload = status.GetPayload("type.googleapis.com/google.rpc.ErrorInfo");
      if (payload.has_value() && info.ParseFromString(std::string(*payload)) &&
          info.metadata().count("resource")) {
        return info.metadata().at("resource");
      }
    }
    return status;
  }

  Options options_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::unique_ptr<sv1::ScoringService::Stub> scoring_;
  std::unique_ptr<mv1::MatchingService::Stub> matching_;
  std::unique_ptr<nv1::NotificationService::Stub> notification_;
  size_t project_count_ = 0;
};

absl::Status Demo::Load() {
  std::ifstream in(options_.countries);
  if (!in) return absl::NotFoundError("cannot read " + options_.countries);
  std::stringstream text;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') text << line << "\n";
  }
  STP_ASSIGN_OR_RETURN(auto countries, ingestion::ParseCountryTable(text.str()));
  for (const auto& c : countries) {
    iv1::UpsertCountryRequest req;
    *req.mutable_country() = c;
    iv1::Country out;
    STP_RETURN_IF_ERROR(Call([&](auto* ctx) { return ingestion_->UpsertCountry(ctx, req, &out); }));
  }
  std::printf("  %zu countries with income groups, Belt and Road membership and indicators\n",
              countries.size());

  DemoData data = MakeDemoData();
  std::map<std::string, std::string> orgs, parks;  // demo key -> resource name
  for (const auto& o : data.organizations) {
    iv1::CreateOrganizationRequest req;
    *req.mutable_organization() = o.organization;
    iv1::Organization out;
    absl::Status s =
        Call([&](auto* ctx) { return ingestion_->CreateOrganization(ctx, req, &out); });
    STP_ASSIGN_OR_RETURN(orgs[o.key], CreateOnce(s, out));
  }
  std::printf("  %zu organisations\n", orgs.size());
  for (const auto& p : data.parks) {
    iv1::CreateParkRequest req;
    *req.mutable_park() = p.park;
    req.mutable_park()->set_operator_(orgs[p.operator_key]);
    iv1::Park out;
    absl::Status s = Call([&](auto* ctx) { return ingestion_->CreatePark(ctx, req, &out); });
    STP_ASSIGN_OR_RETURN(parks[p.key], CreateOnce(s, out));
  }
  std::printf("  %zu parks\n", parks.size());
  grpc::ClientContext ctx;
  Prepare(&ctx, absl::Minutes(5));
  iv1::ImportSummary summary;
  auto writer = ingestion_->ImportProjects(&ctx, &summary);
  iv1::ImportProjectsRequest first;
  first.set_format(iv1::IMPORT_FORMAT_PROJECTS);
  first.set_request_id(absl::StrCat("demo-load-", absl::ToUnixMillis(absl::Now())));
  first.set_source_reference("stp-demo");
  writer->Write(first);
  for (const auto& dp : data.projects) {
    iv1::ImportProjectsRequest msg;
    *msg.mutable_project() = dp.project;
    for (auto& part : *msg.mutable_project()->mutable_participants())
      part.set_organization(orgs[part.organization()]);
    for (auto& f : *msg.mutable_project()->mutable_financing()->mutable_commitments()) {
      if (!f.source_organization().empty())
        f.set_source_organization(orgs[f.source_organization()]);
    }
    for (auto& f : *msg.mutable_project()->mutable_financing()->mutable_disbursements()) {
      if (!f.source_organization().empty())
        f.set_source_organization(orgs[f.source_organization()]);
    }
    if (!dp.park_key.empty()) msg.mutable_project()->set_park(parks[dp.park_key]);
    writer->Write(msg);
  }
  writer->WritesDone();
  STP_RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  project_count_ = data.projects.size();
  std::printf("  %d projects imported (%d created, %d updated, %d unchanged, %d rejected)\n",
              summary.received(), summary.created(), summary.updated(), summary.unchanged(),
              summary.rejected());
  for (const auto& r : summary.rejections())
    std::printf("    rejected #%d: %s\n", r.index(), r.reason().c_str());
  // Scores follow within moments; wait for all of them.
  absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (absl::Now() < deadline) {
    sv1::RankProjectsRequest rank;
    rank.set_page_size(1);
    sv1::RankProjectsResponse resp;
    if (Call([&](auto* c) { return scoring_->RankProjects(c, rank, &resp); }).ok() &&
        static_cast<size_t>(resp.total_size()) >= project_count_) {
      std::printf("  every project scored\n");
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  return absl::DeadlineExceededError("scores did not appear for every project within 90 s");
}

std::string TierName(sv1::Tier t) { return std::string(sv1::Tier_Name(t)).substr(5); }

std::string ComponentLabel(sv1::Component c) {
  std::string name = sv1::Component_Name(c).substr(10);
  for (auto& ch : name) ch = ch == '_' ? ' ' : static_cast<char>(std::tolower(ch));
  return name;
}

// The weakest applicable component and what it says: what to fix first.
std::string WeakestReason(const sv1::Score& s) {
  const sv1::ComponentScore* weakest = nullptr;
  for (const auto& c : s.components()) {
    if (c.applicable() && c.reasons_size() > 0 &&
        (weakest == nullptr || c.value() < weakest->value()))
      weakest = &c;
  }
  if (weakest == nullptr) return "";
  std::string text =
      absl::StrFormat("%s %.0f/100: ", ComponentLabel(weakest->component()), weakest->value());
  for (int i = 0; i < weakest->reasons_size(); ++i)
    absl::StrAppend(&text, i ? "; " : "", weakest->reasons(i));
  return text;
}

std::string StrongestReason(const sv1::Score& s) {
  const sv1::ComponentScore* best = nullptr;
  for (const auto& c : s.components()) {
    if (c.applicable() && c.reasons_size() > 0 &&
        (best == nullptr || c.contribution() > best->contribution()))
      best = &c;
  }
  return best == nullptr ? "" : best->reasons(0);
}

absl::Status Demo::Show() {
  auto portfolio = [&](sv1::GroupBy by, const char* title, int limit) -> absl::Status {
    sv1::GetPortfolioSummaryRequest req;
    req.set_group_by(by);
    sv1::PortfolioSummary s;
    STP_RETURN_IF_ERROR(Call([&](auto* c) { return scoring_->GetPortfolioSummary(c, req, &s); }));
    std::printf("\n%s (base rate of park success: %.0f%%)\n", title, s.base_rate() * 100);
    std::printf("  %-28s %8s %6s %6s   %-17s %8s\n", "", "projects", "mean", "median",
                "tiers A/B/C/D", "A share");
    int shown = 0;
    for (const auto& g : s.groups()) {
      if (shown++ == limit) break;
      std::printf("  %-28.28s %8d %6.1f %6.1f   %3d/%3d/%3d/%3d   %7.0f%%\n", g.label().c_str(),
                  g.project_count(), g.mean_score(), g.median_score(), g.tiers().a(), g.tiers().b(),
                  g.tiers().c(), g.tiers().d(), g.tier_a_share() * 100);
    }
    const auto& o = s.overall();
    std::printf("  %-28s %8d %6.1f %6.1f   %3d/%3d/%3d/%3d   %7.0f%%\n", "all projects",
                o.project_count(), o.mean_score(), o.median_score(), o.tiers().a(), o.tiers().b(),
                o.tiers().c(), o.tiers().d(), o.tier_a_share() * 100);
    return absl::OkStatus();
  };
  STP_RETURN_IF_ERROR(
      portfolio(sv1::GROUP_BY_COUNTRY, "Portfolio by host country (largest 12)", 12));
  STP_RETURN_IF_ERROR(portfolio(sv1::GROUP_BY_AVENUE, "Portfolio by avenue", 5));

  for (bool ascending : {false, true}) {
    sv1::RankProjectsRequest req;
    req.set_ascending(ascending);
    req.set_page_size(5);
    sv1::RankProjectsResponse resp;
    STP_RETURN_IF_ERROR(Call([&](auto* c) { return scoring_->RankProjects(c, req, &resp); }));
    std::printf("\n%s\n", ascending ? "At-risk projects, and what to fix first"
                                    : "Top-scored projects, and why");
    for (const auto& ranked : resp.scores()) {
      // Rankings carry totals; the reasons come with each project's full score.
      sv1::GetProjectScoreRequest get;
      get.set_project(ranked.project());
      sv1::Score s;
      STP_RETURN_IF_ERROR(Call([&](auto* c) { return scoring_->GetProjectScore(c, get, &s); }));
      std::printf("  %5.1f %s  %-55.55s %s\n", s.total(), TierName(s.tier()).c_str(),
                  s.title().c_str(), s.host_country().substr(10).c_str());
      std::printf("         %s\n", (ascending ? WeakestReason(s) : StrongestReason(s)).c_str());
    }
  }

  std::string park;
  iv1::ListParksRequest parks_req;
  parks_req.set_host_country("countries/EG");
  parks_req.set_avenue(stp::common::v1::AVENUE_GREEN_GROWTH);
  iv1::ListParksResponse parks_resp;
  STP_RETURN_IF_ERROR(
      Call([&](auto* c) { return ingestion_->ListParks(c, parks_req, &parks_resp); }));
  for (const auto& candidate : parks_resp.parks()) {
    if (candidate.display_name() == "Suez Canal Green Hydrogen Technology Park")
      park = candidate.name();
  }
  if (park.empty())
    return absl::NotFoundError("the demo park is missing: run `stp-demo load` first");
  std::printf("\nA consortium for the Suez Canal Green Hydrogen Technology Park (%s)\n",
              park.c_str());
  mv1::ProposeConsortiaRequest propose;
  propose.mutable_need()->set_park(park);
  propose.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  propose.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER);
  propose.mutable_need()->add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
  propose.mutable_need()->mutable_budget()->set_currency_code("USD");
  propose.mutable_need()->mutable_budget()->set_units(120000000);
  propose.set_max_consortia(1);
  mv1::ProposeConsortiaResponse teams;
  absl::Time until = absl::Now() + absl::Seconds(30);
  absl::Status st;
  do {  // the partner index may still be loading on a fresh start
    st = Call([&](auto* c) { return matching_->ProposeConsortia(c, propose, &teams); });
    if (st.code() != absl::StatusCode::kUnavailable) break;
    absl::SleepFor(absl::Milliseconds(500));
  } while (absl::Now() < until);
  STP_RETURN_IF_ERROR(st);
  if (!teams.consortia().empty()) {
    const auto& t = teams.consortia(0);
    std::printf("  team score %.1f (%d teams evaluated)\n", t.score(), teams.evaluated());
    for (const auto& m : t.members()) {
      std::printf("  %-20s %-45.45s %s\n", RoleLabel(m.role()).c_str(),
                  m.candidate().display_name().c_str(),
                  m.candidate().country().empty() ? "multilateral"
                                                  : m.candidate().country().substr(10).c_str());
    }
    for (const auto& r : t.reasons()) std::printf("    - %s\n", r.c_str());
  }

  // A subscription sees an update arrive.
  iv1::ListProjectsRequest list;
  list.set_host_country("countries/EG");
  list.set_page_size(1);
  iv1::ListProjectsResponse projects;
  STP_RETURN_IF_ERROR(Call([&](auto* c) { return ingestion_->ListProjects(c, list, &projects); }));
  if (projects.projects().empty()) return absl::OkStatus();
  const iv1::Project& p = projects.projects(0);
  std::printf("\nWatching events for \"%s\" while its stage changes\n", p.title().c_str());
  grpc::ClientContext sub_ctx;
  Prepare(&sub_ctx, absl::Seconds(30));
  nv1::SubscribeRequest sub;
  sub.mutable_filter()->add_projects(p.name());
  auto reader = notification_->Subscribe(&sub_ctx, sub);
  absl::SleepFor(absl::Milliseconds(500));
  iv1::UpdateProjectRequest up;
  up.mutable_project()->set_name(p.name());
  up.mutable_project()->set_stage(p.stage() == iv1::PROJECT_STAGE_IMPLEMENTATION
                                      ? iv1::PROJECT_STAGE_COMPLETED
                                      : iv1::PROJECT_STAGE_IMPLEMENTATION);
  up.mutable_update_mask()->add_paths("stage");
  iv1::Project updated;
  absl::Time sent = absl::Now();
  STP_RETURN_IF_ERROR(Call([&](auto* c) { return ingestion_->UpdateProject(c, up, &updated); }));
  nv1::SubscribeResponse msg;
  int events = 0;
  while (events < 2 && reader->Read(&msg)) {
    if (!msg.has_event()) continue;
    ++events;
    const auto& e = msg.event();
    std::string detail =
        e.has_score_change()
            ? absl::StrFormat("score %.1f -> %.1f", e.score_change().previous().total(),
                              e.score_change().current().total())
            : absl::StrCat("stage ", StageLabel(e.project().stage()));
    std::printf("  +%4.0f ms  %-28s %s  (cursor %s...)\n",
                absl::ToDoubleMilliseconds(absl::Now() - sent),
                stp::events::v1::EventType_Name(e.type()).c_str(), detail.c_str(),
                msg.cursor().substr(0, 12).c_str());
  }
  sub_ctx.TryCancel();
  return absl::OkStatus();
}

}  // namespace
}  // namespace stp::demo

int main(int argc, char** argv) {
  stp::demo::Options options;
  stp::FlagSet flags("stp-demo",
                     "Loads the demo data set and shows the product working (used by make run).\n"
                     "Commands: load, show (default: both).");
  flags.String("address", &options.address, "server address (every service)");
  flags.String("scoring-address", &options.scoring_address,
               "scoring service address, when not --address");
  flags.String("matching-address", &options.matching_address,
               "matching service address, when not --address");
  flags.String("notification-address", &options.notification_address,
               "notification service address, when not --address");
  flags.String("api-key", &options.api_key, "API key (an OPERATOR key loads countries)");
  flags.String("countries", &options.countries, "the demo country table");
  flags.Bool("plaintext", &options.plaintext, "connect without TLS");
  std::vector<std::string> commands;
  if (auto s = flags.Parse(argc, argv, &commands); !s.ok() || flags.help_requested()) {
    std::fputs(s.ok() ? flags.Usage().c_str() : (std::string(s.message()) + "\n").c_str(),
               s.ok() ? stdout : stderr);
    return s.ok() ? 0 : 2;
  }
  if (commands.empty()) commands = {"load", "show"};
  stp::demo::Demo demo(options);
  for (const auto& c : commands) {
    absl::Status s = c == "load"   ? (std::printf("Loading the demo data set\n"), demo.Load())
                     : c == "show" ? demo.Show()
                                   : absl::InvalidArgumentError("unknown command " + c);
    if (!s.ok()) {
      std::fprintf(stderr, "stp-demo %s: %s\n", c.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}
