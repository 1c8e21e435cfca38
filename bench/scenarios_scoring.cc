// Scoring: how fast the consumer catches up with a backlog of project events, how long a
// country change takes to rescore 10,000 projects, and GetProjectScore against the echo ceiling.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/datagen.h"
#include "bench/scenarios.h"
#include "libs/redis/redis.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/scoring/v1/score.pb.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/redis_server.h"

namespace stp::bench {

using stp::testing::ChildProcess;

namespace iv1 = stp::ingestion::v1;
namespace sv1 = stp::scoring::v1;

namespace {

struct Servers {
  ChildProcess ingestion;
  ChildProcess scoring;
  std::string ingestion_address;
  std::string scoring_address;
};

std::vector<std::string> CommonFlags(const BenchConfig& config, const std::string& address) {
  return {"--listen",    address,           "--metrics-listen", "",
          "--plaintext", "--auth-disabled", "--redis-address",  config.redis_address,
          "--log-level", "warning",         "--worker-queue",   "4096"};
}

absl::Status StartScoring(const BenchConfig& config, Servers* s) {
  auto args = CommonFlags(config, s->scoring_address);
  args.insert(args.begin(), config.bin_dir + "/services/scoring/stp-scoring");
  for (const std::string& a : {std::string("--scoring-ingestion-address"), s->ingestion_address,
                               std::string("--scoring-ingestion-plaintext"),
                               std::string("--scoring-batch"), std::string("1000")}) {
    args.push_back(a);
  }
  return s->scoring.Start(args, s->scoring_address, "/tmp/stp-bench-scoring.log");
}

// A length (HLEN, XLEN) of `key`; 0 when Redis cannot say.
int64_t Length(redis::RedisClient& redis, const char* command, const std::string& key) {
  auto r = redis.Command({command, key});
  return r.ok() ? redis::Int(r->get()) : 0;
}

// Every stored score computed at or after `since`.
int64_t ScoredSince(redis::RedisClient& redis, absl::Time since) {
  auto r = redis.Command({"HVALS", "stp:{p0}:scoring:facts"});
  if (!r.ok()) return 0;
  int64_t n = 0;
  for (size_t i = 0; i < redis::Size(r->get()); ++i) {
    sv1::Score s;
    const redisReply* e = redis::At(r->get(), i);
    if (s.ParseFromArray(e->str, static_cast<int>(e->len)) &&
        absl::FromUnixSeconds(s.compute_time().seconds()) +
                absl::Nanoseconds(s.compute_time().nanos()) >=
            since) {
      ++n;
    }
  }
  return n;
}

absl::Duration Import(iv1::IngestionService::Stub* stub, const std::vector<iv1::Project>& projects,
                      const std::string& request_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  iv1::ImportSummary summary;
  absl::Time start = absl::Now();
  auto writer = stub->ImportProjects(&ctx, &summary);
  iv1::ImportProjectsRequest first;
  first.set_format(iv1::IMPORT_FORMAT_PROJECTS);
  first.set_request_id(request_id);
  writer->Write(first);
  iv1::ImportProjectsRequest msg;
  for (const auto& p : projects) {
    *msg.mutable_project() = p;
    writer->Write(msg);
  }
  writer->WritesDone();
  (void)writer->Finish();
  return absl::Now() - start;
}

}  // namespace

void RunScoringScenarios(const BenchConfig& config, Report* report) {
  // A Redis of its own: the ingestion group's data would otherwise be scored too.
  auto redis_server = stp::testing::RedisServer::Start();
  if (!redis_server.ok()) return;
  BenchConfig cfg = config;
  cfg.redis_address = (*redis_server)->address();
  redis::RedisOptions ro;
  ro.address = cfg.redis_address;
  redis::RedisClient redis(ro);

  Servers s;
  s.ingestion_address = absl::StrCat("127.0.0.1:", stp::testing::PickFreePort());
  s.scoring_address = absl::StrCat("127.0.0.1:", stp::testing::PickFreePort());
  auto args = CommonFlags(cfg, s.ingestion_address);
  args.insert(args.begin(), cfg.bin_dir + "/services/ingestion/stp-ingestion");
  if (auto st = s.ingestion.Start(args, s.ingestion_address, "/tmp/stp-bench-ingestion2.log");
      !st.ok()) {
    report->Add({"scoring", "start", std::string(st.message()), "", "", "FAILED", ""});
    return;
  }
  // Scoring starts first on the empty registry (its groups begin at the stream's end), then
  // stops: the events of the import pile up as a backlog it must catch up with.
  if (auto st = StartScoring(cfg, &s); !st.ok()) {
    report->Add({"scoring", "start", std::string(st.message()), "", "", "FAILED", ""});
    return;
  }
  absl::SleepFor(absl::Milliseconds(500));
  s.scoring.Stop();

  auto channel = MakeChannels(s.ingestion_address, 1)[0];
  auto ingestion = iv1::IngestionService::NewStub(channel);
  DataGenerator gen(7);
  std::vector<std::string> orgs;
  for (const auto& c : gen.Countries()) {
    iv1::UpsertCountryRequest req;
    *req.mutable_country() = c;
    iv1::Country out;
    grpc::ClientContext ctx;
    ingestion->UpsertCountry(&ctx, req, &out);
  }
  for (int i = 0; i < 200; ++i) {
    iv1::CreateOrganizationRequest req;
    *req.mutable_organization() = gen.Organization(i);
    iv1::Organization out;
    grpc::ClientContext ctx;
    if (ingestion->CreateOrganization(&ctx, req, &out).ok()) orgs.push_back(out.name());
  }
  // 10,000 projects all hosted in one country, for the rescore, plus the rest elsewhere.
  const int n = config.full ? 50000 : 20000;
  std::vector<iv1::Project> projects;
  for (int i = 0; i < n; ++i) {
    projects.push_back(gen.Project(i, orgs, 700));
    if (i < 10000) projects.back().set_host_country("countries/KE");
  }
  Import(ingestion.get(), projects, "bench-scoring");
  int64_t backlog = n + 200 + static_cast<int64_t>(gen.Countries().size());
  // The rate is taken while the backlog goes from 10 % to 90 % scored, so that it measures
  // keeping up, not the process start (reported apart). A thread of its own watches, as
  // the process may be well into the backlog before it reports SERVING.
  absl::Time start = absl::Now();
  absl::Time at_10 = absl::InfiniteFuture(), at_90 = absl::InfiniteFuture();
  absl::Time all_scored = absl::InfiniteFuture();
  int64_t scored_at_10 = 0, scored_at_90 = 0;
  std::thread watcher([&] {
    redis::RedisClient watch(ro);
    for (int64_t scored = 0; scored < n && absl::Now() - start < absl::Minutes(5);) {
      absl::SleepFor(absl::Milliseconds(5));
      scored = Length(watch, "HLEN", "stp:{p0}:scoring:facts");
      if (scored >= n / 10 && at_10 == absl::InfiniteFuture()) {
        at_10 = absl::Now();
        scored_at_10 = scored;
      }
      if (scored >= n * 9 / 10 && at_90 == absl::InfiniteFuture()) {
        at_90 = absl::Now();
        scored_at_90 = scored;
      }
      if (scored >= n) all_scored = absl::Now();
    }
  });
  const absl::Status restarted = StartScoring(cfg, &s);
  watcher.join();
  if (!restarted.ok()) {
    report->Add({"scoring", "restart", std::string(restarted.message()), "", "", "FAILED", ""});
    return;
  }
  // Until the last score landed, not until the readiness check answered: on a machine the
  // catch-up keeps busy, that check can come back seconds after the process began working.
  const double total_seconds = absl::ToDoubleSeconds(
      (all_scored < absl::InfiniteFuture() ? all_scored : absl::Now()) - start);
  // Project events only: the organisation and country events come first in the streams.
  const double catch_up =
      at_90 > at_10 ? (scored_at_90 - scored_at_10) / absl::ToDoubleSeconds(at_90 - at_10) : 0;
  report->Add(
      {"scoring", absl::StrFormat("catch-up: %d project events (plus orgs, countries) backlog", n),
       absl::StrFormat("%.0f events/s while catching up (10%% to 90%% of the backlog); all %d "
                       "events in %.1f s including process start",
                       catch_up, backlog, total_seconds),
       "", ">= 10,000 events/s", AtLeast(catch_up, 10000), ""});

  // A country's income group changes: every project hosted there is rescored.
  const int64_t events_before = Length(redis, "XLEN", "stp:{p0}:events");
  absl::Time changed = absl::Now();
  {
    iv1::GetCountryRequest get;
    get.set_name("countries/KE");
    iv1::Country ke;
    grpc::ClientContext c1;
    ingestion->GetCountry(&c1, get, &ke);
    iv1::UpsertCountryRequest up;
    *up.mutable_country() = ke;
    up.mutable_country()->set_income_group(stp::common::v1::INCOME_GROUP_UPPER_MIDDLE);
    iv1::Country out;
    grpc::ClientContext c2;
    ingestion->UpsertCountry(&c2, up, &out);
  }
  // Counting the scores computed since the change reads and parses every stored score (8 MB
  // here), which would load the Redis and the cores being measured. So it runs every 250 ms,
  // and at once when the event stream (O(1) to ask) has grown by 10,000 since the change (the
  // change's own event, and one per rescore whose score moved). The time ends at a full count.
  for (absl::Time next_count = changed; absl::Now() - changed < absl::Minutes(2);) {
    absl::SleepFor(absl::Milliseconds(5));
    if (absl::Now() < next_count &&
        Length(redis, "XLEN", "stp:{p0}:events") - events_before < 10000) {
      continue;
    }
    if (ScoredSince(redis, changed) >= 10000) break;
    next_count = absl::Now() + absl::Milliseconds(250);
  }
  double rescore = absl::ToDoubleSeconds(absl::Now() - changed);
  report->Add({"scoring", "rescore 10,000 projects after their host country's income group changes",
               absl::StrFormat("%.2f s (%lld rescored)", rescore,
                               static_cast<long long>(ScoredSince(redis, changed))),
               "", "<= 2 s", AtMost(rescore, 2.0), ""});

  // GetProjectScore against echo.
  std::vector<std::string> names;
  {
    auto facts = redis.Command({"HKEYS", "stp:{p0}:scoring:facts"});
    for (size_t i = 0; facts.ok() && i < redis::Size(facts->get()) && i < 20000; ++i) {
      names.push_back("projects/" + redis::StrCopy(redis::At(facts->get(), i)));
    }
  }
  auto channels = MakeChannels(s.scoring_address, 4);
  std::vector<std::unique_ptr<sv1::ScoringService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(sv1::ScoringService::NewStub(c));
  std::atomic<uint64_t> next{0};
  LoadOptions lo{64, 0, config.warmup, config.duration};
  EchoComparison get = CompareWithEcho(config, 64, [&] {
    return RunLoad(
        lo,
        [&](int64_t slot, std::function<void(bool)> done) {
          auto* ctx = new grpc::ClientContext();
          auto* req = new sv1::GetProjectScoreRequest();
          auto* resp = new sv1::Score();
          req->set_project(names[(next.fetch_add(1) * 7919) % names.size()]);
          stubs[slot % stubs.size()]->async()->GetProjectScore(ctx, req, resp,
                                                               [=](grpc::Status st) {
                                                                 delete ctx;
                                                                 delete req;
                                                                 delete resp;
                                                                 done(st.ok());
                                                               });
        },
        s.scoring.pid());
  });
  report->Add({"scoring", "GetProjectScore (full score with components), concurrency 64",
               get.result.Summary(), get.Describe(), ">= 0.50 of echo", AtLeast(get.ratio(), 0.5),
               ""});
}

}  // namespace stp::bench
