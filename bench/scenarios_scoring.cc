// Scoring: how fast the consumer catches up with a backlog of project events, how long a
// country change takes to rescore 10,000 projects, and GetProjectScore against the echo ceiling.
#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
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

// The number of fields of hash `key`; 0 when Redis cannot say.
int64_t HashLength(redis::RedisClient& redis, const std::string& key) {
  auto r = redis.Command({"HLEN", key});
  return r.ok() ? redis::Int(r->get()) : 0;
}

// Redis's CPU seconds so far: its own (main thread and I/O threads) and its reaped children's
// (AOF rewrites, snapshots).
std::pair<double, double> RedisCpuSeconds(const std::string& address) {
  std::map<std::string, double> cpu = RedisInfo(address, "cpu");
  return {cpu["used_cpu_sys"] + cpu["used_cpu_user"],
          cpu["used_cpu_sys_children"] + cpu["used_cpu_user_children"]};
}

// Forks Redis has made (AOF rewrites, in these runs): a rewrite child takes a core, and each
// page Redis writes while it runs is copied, so a phase that overlaps one says so.
double RedisForks(const std::string& address) { return RedisInfo(address, "stats")["total_forks"]; }

bool RewriteRunning(const std::string& address) {
  return RedisInfo(address, "persistence")["aof_rewrite_in_progress"] > 0;
}

std::string Rewrites(bool running_at_start, double forks) {
  std::string began = forks < 1 ? "no AOF rewrite began during it"
                                : absl::StrFormat("%.0f AOF rewrite%s began during it", forks,
                                                  forks >= 2 ? "s" : "");
  return running_at_start ? "an AOF rewrite was running as it began; " + began : began;
}

// Stream ids compare as (milliseconds, sequence).
bool IdAtLeast(absl::string_view id, absl::string_view than) {
  auto parts = [](absl::string_view x) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(x, '-');
    uint64_t ms = 0, seq = 0;
    (void)absl::SimpleAtoi(p.first, &ms);
    (void)absl::SimpleAtoi(p.second, &seq);
    return std::make_pair(ms, seq);
  };
  return parts(id) >= parts(than);
}

// True when the "scoring" group of partition 0 has been delivered `event_id` and has nothing
// pending.
bool ScoringGroupDone(redis::RedisClient& redis, const std::string& event_id) {
  auto r = redis.Command({"XINFO", "GROUPS", "stp:{p0}:events"});
  if (!r.ok()) return false;
  for (size_t g = 0; g < redis::Size(r->get()); ++g) {
    const redisReply* group = redis::At(r->get(), g);
    std::map<std::string, const redisReply*> fields;
    for (size_t i = 0; i + 1 < redis::Size(group); i += 2) {
      fields[redis::StrCopy(redis::At(group, i))] = redis::At(group, i + 1);
    }
    if (!fields.count("name") || redis::Str(fields["name"]) != "scoring") continue;
    return fields.count("pending") && redis::Int(fields["pending"]) == 0 &&
           fields.count("last-delivered-id") &&
           IdAtLeast(redis::Str(fields["last-delivered-id"]), event_id);
  }
  return false;
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
  // CPU over the whole catch-up, process start included: a figure per event that the machine's
  // phase moves less than it moves the rate.
  const std::pair<double, double> redis_cpu_before = RedisCpuSeconds(cfg.redis_address);
  const double forks_before = RedisForks(cfg.redis_address);
  const bool rewriting_before = RewriteRunning(cfg.redis_address);
  const double memory_before = RedisInfo(cfg.redis_address, "memory")["used_memory"];
  std::pair<double, double> redis_cpu_after;
  double scoring_cpu = 0, memory_after = 0, forks_after = 0;
  std::thread watcher([&] {
    redis::RedisClient watch(ro);
    for (int64_t scored = 0; scored < n && absl::Now() - start < absl::Minutes(5);) {
      absl::SleepFor(absl::Milliseconds(5));
      scored = HashLength(watch, "stp:{p0}:scoring:facts");
      if (scored >= n / 10 && at_10 == absl::InfiniteFuture()) {
        at_10 = absl::Now();
        scored_at_10 = scored;
      }
      if (scored >= n * 9 / 10 && at_90 == absl::InfiniteFuture()) {
        at_90 = absl::Now();
        scored_at_90 = scored;
      }
      if (scored >= n) {
        all_scored = absl::Now();
        redis_cpu_after = RedisCpuSeconds(cfg.redis_address);
        forks_after = RedisForks(cfg.redis_address);
        scoring_cpu = ProcessCpuSeconds(s.scoring.pid());
        memory_after = RedisInfo(cfg.redis_address, "memory")["used_memory"];
      }
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
                       "events in %.1f s including process start; CPU per event: "
                       "scoring %.0f µs, Redis %.0f µs (+ %.0f µs in rewrite children; %s); "
                       "Redis memory the scoring added: %.0f bytes per project",
                       catch_up, backlog, total_seconds, scoring_cpu * 1e6 / backlog,
                       (redis_cpu_after.first - redis_cpu_before.first) * 1e6 / backlog,
                       (redis_cpu_after.second - redis_cpu_before.second) * 1e6 / backlog,
                       Rewrites(rewriting_before, forks_after - forks_before),
                       (memory_after - memory_before) / n),
       "", ">= 10,000 events/s", AtLeast(catch_up, 10000), ""});

  // A country's income group changes: every project hosted there is rescored.
  const std::pair<double, double> rescore_redis_before = RedisCpuSeconds(cfg.redis_address);
  const double rescore_scoring_before = ProcessCpuSeconds(s.scoring.pid());
  const double rescore_forks_before = RedisForks(cfg.redis_address);
  const bool rescore_rewriting_before = RewriteRunning(cfg.redis_address);
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
  // The rescore is over when the scoring group has taken the change's event and acknowledged
  // it: a consumer acknowledges an event once every score it caused is written. Asking the
  // group (XINFO GROUPS) is cheap, so it is asked every 5 ms; counting the scores computed
  // since the change (below, to report them) reads and parses every stored score.
  std::string change_id;
  if (auto last = redis.Command({"XREVRANGE", "stp:{p0}:events", "+", "-", "COUNT", "1"});
      last.ok() && redis::Size(last->get()) == 1) {
    change_id = redis::StrCopy(redis::At(redis::At(last->get(), 0), 0));
  }
  while (absl::Now() - changed < absl::Minutes(2) && !change_id.empty() &&
         !ScoringGroupDone(redis, change_id)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  double rescore = absl::ToDoubleSeconds(absl::Now() - changed);
  const std::pair<double, double> rescore_redis_after = RedisCpuSeconds(cfg.redis_address);
  const double rescore_scoring_after = ProcessCpuSeconds(s.scoring.pid());
  const double rescore_forks = RedisForks(cfg.redis_address) - rescore_forks_before;
  const int64_t rescored = ScoredSince(redis, changed);
  const double per_project = 1e6 / static_cast<double>(std::max<int64_t>(rescored, 1));
  report->Add(
      {"scoring", "rescore 10,000 projects after their host country's income group changes",
       absl::StrFormat("%.2f s (%lld rescored); CPU per rescored project: scoring %.0f µs, "
                       "Redis %.0f µs; %s",
                       rescore, static_cast<long long>(rescored),
                       (rescore_scoring_after - rescore_scoring_before) * per_project,
                       (rescore_redis_after.first - rescore_redis_before.first) * per_project,
                       Rewrites(rescore_rewriting_before, rescore_forks)),
       "", "<= 2 s",
       rescored >= 10000 ? AtMost(rescore, 2.0) : "MISSED: fewer than 10,000 were rescored", ""});

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
