// Fault injection against the real stack: Redis SIGKILLed, SIGSTOPped and cut off by a network
// blackhole; scoring and notification replicas SIGKILLed as child processes; webhook receivers
// that reset, stall and fail. Every test keeps a history of what clients were told and checks
// it at the end against Redis and the event stream (tests/reliability/history.h).
//
// Each test prints one "RELIABILITY ..." line with its figures; docs/reliability.md quotes them.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/event_header.h"
#include "libs/redis/streams.h"
#include "services/ingestion/ingestion_module.h"
#include "services/matching/matching_module.h"
#include "services/notification/cursor.h"
#include "services/notification/notification_module.h"
#include "services/notification/webhooks.h"
#include "services/scoring/score_store.h"
#include "services/scoring/scoring_engine.h"
#include "services/scoring/scoring_module.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"
#include "tests/reliability/child_process.h"
#include "tests/reliability/follower.h"
#include "tests/reliability/history.h"
#include "tests/reliability/netns_redis.h"
#include "tests/reliability/scripted_receiver.h"
#include "tests/reliability/workload.h"
#include "tests/testing/test_stack.h"

namespace stp::reliability {
namespace {

namespace ev = stp::events::v1;
namespace iv1 = stp::ingestion::v1;
namespace nv1 = stp::notification::v1;
namespace sv1 = stp::scoring::v1;
using grpc::health::v1::HealthCheckResponse;
using stp::testing::RedisServer;
using stp::testing::TestStack;
using stp::testing::WaitFor;

constexpr absl::Duration kCommandTimeout = absl::Seconds(1);

void Print(const std::string& line) {
  std::printf("RELIABILITY %s\n", line.c_str());
  std::fflush(stdout);
}

std::unique_ptr<TestStack> StartStack(std::vector<std::unique_ptr<Module>> modules,
                                      RedisServer* redis, int partitions = 1,
                                      std::vector<std::string> flags = {},
                                      const std::string& redis_address = "") {
  return TestStack::Start(
      std::move(modules), redis,
      [&](ProcessConfig* c) {
        c->redis.command_timeout = kCommandTimeout;
        c->partitions = partitions;
        if (!redis_address.empty()) c->redis.address = redis_address;
      },
      std::move(flags));
}

std::vector<std::unique_ptr<Module>> Ingestion() {
  std::vector<std::unique_ptr<Module>> m;
  m.push_back(ingestion::NewIngestionModule());
  return m;
}

// Countries and one organisation every project names, written with retries (setup may run
// right after a start, before Redis answers everything).
std::string SetUpRegistry(std::shared_ptr<grpc::Channel> channel, History* history) {
  auto stub = iv1::IngestionService::NewStub(channel);
  RetryPolicy policy;
  for (const char* cc : {"EG", "KE", "CN", "ZA"}) {
    Operation op;
    op.kind = "setup";
    op.request_id = absl::StrCat("setup-country-", cc);
    iv1::UpsertCountryRequest req;
    req.mutable_country()->set_alpha2(cc);
    req.mutable_country()->set_display_name(absl::StrCat("Country ", cc));
    req.mutable_country()->set_income_group(std::string(cc) == "CN"
                                                ? stp::common::v1::INCOME_GROUP_UPPER_MIDDLE
                                                : stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
    req.set_request_id(op.request_id);
    iv1::Country out;
    CallWithRetry(policy, &op, [&](auto* c) { return stub->UpsertCountry(c, req, &out); });
    EXPECT_EQ(op.outcome, Outcome::kOk) << op.last_message;
    if (history) history->Add(op);
  }
  Operation op;
  op.kind = "setup";
  op.request_id = "setup-org";
  iv1::CreateOrganizationRequest req;
  req.mutable_organization()->set_display_name("Shenzhen Green Tech");
  req.mutable_organization()->set_country("countries/CN");
  req.mutable_organization()->set_type(iv1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  req.set_request_id(op.request_id);
  iv1::Organization org;
  CallWithRetry(policy, &op, [&](auto* c) { return stub->CreateOrganization(c, req, &org); });
  EXPECT_EQ(op.outcome, Outcome::kOk) << op.last_message;
  if (history) history->Add(op);
  return org.name();
}

// A cursor at the current end of every partition: a subscriber resuming from it gets every
// later event.
std::string EndCursor(const std::string& redis_address, int partitions) {
  redis::RedisOptions o;
  o.address = redis_address;
  redis::RedisClient client(o);
  std::vector<std::string> positions;
  for (int p = 0; p < partitions; ++p) {
    auto info = redis::Info(client, absl::StrCat("stp:{p", p, "}:events"));
    EXPECT_TRUE(info.ok()) << info.status();
    positions.push_back(info.ok() ? info->last_id : "0-0");
  }
  return notification::EncodeCursor(positions);
}

// The events after `cursor` that `wanted` selects: what a subscriber from there must get.
std::vector<ev::Event> EventsAfter(const std::vector<ev::Event>& all, const std::string& cursor,
                                   int partitions,
                                   const std::function<bool(const ev::Event&)>& wanted) {
  auto positions = notification::DecodeCursor(cursor, partitions);
  EXPECT_TRUE(positions.ok());
  std::vector<ev::Event> out;
  for (const auto& e : all) {
    if (redis::CompareStreamIds(e.id(), (*positions)[e.partition()]) > 0 && wanted(e))
      out.push_back(e);
  }
  return out;
}

HealthCheckResponse::ServingStatus Health(std::shared_ptr<grpc::Channel> channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return HealthCheckResponse::UNKNOWN;
  return resp.status();
}

std::string Describe(const std::vector<std::string>& violations) {
  return absl::StrJoin(violations, "\n  ");
}

// ---------------------------------------------------------------------------------- Redis

// Proves: with AOF (everysec) and SIGKILL, no acknowledged write is lost, each write has exactly
// one event, retries with the same request id never duplicate, refused writes leave nothing,
// and a subscriber resuming with its cursor misses nothing, through repeated kill/restart
// cycles under concurrent CreateProject/UpdateProject/DeleteProject from several threads.
// Does not prove: durability across a machine crash or power loss. SIGKILL leaves the kernel's
// page cache intact, so everything Redis wrote to the AOF survives even if it was never
// fsynced. Redis runs here with `appendfsync always`, which writes the AOF before it answers.
// Under `everysec`, a Redis that finds its background fsync still running postpones that
// write for up to two seconds while it goes on answering, so even a process crash can lose
// acknowledged writes; this test once met exactly that (three writes acknowledged and
// delivered, then gone after the restart).
TEST(RedisFaults, KilledAndRestartedMidWorkloadLosesNoAcknowledgedWrite) {
  RedisServer::Options options;
  options.appendfsync = "always";
  auto redis = RedisServer::Start(options);
  ASSERT_TRUE(redis.ok());
  auto modules = Ingestion();
  modules.push_back(notification::NewNotificationModule());
  auto stack = StartStack(std::move(modules), redis->get(), 1, {"--webhook-consumer=kill"});
  ASSERT_NE(stack, nullptr);
  History history;
  std::string org = SetUpRegistry(stack->channel(), &history);
  std::string start = EndCursor((*redis)->address(), 1);
  Follower follower([&] { return absl::StrCat("127.0.0.1:", stack->port()); }, nv1::EventFilter(),
                    start);
  ProjectWorkload workload(stack->channel(), &history, org, "kill");

  const int cycles = Scaled(3, 20);
  std::atomic<bool> faults_done{false};
  std::atomic<int> kills{0};
  std::thread faults([&] {
    std::mt19937 rng(42);
    for (int i = 0; i < cycles; ++i) {
      absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(400, 1200)(rng)));
      (*redis)->Kill();
      ++kills;
      absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(100, 700)(rng)));
      absl::Status restarted = (*redis)->Restart();
      EXPECT_TRUE(restarted.ok()) << restarted;
    }
    faults_done = true;
  });
  std::vector<std::thread> clients;
  const int threads = Scaled(4, 6);
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back(
        [&, t] { workload.Run(t, Scaled(30, 300), [&] { return !faults_done; }); });
  }
  for (auto& c : clients) c.join();
  faults.join();

  auto state = ReadStoreState((*redis)->address(), 1, [&] { return workload.ListAll(); });
  ASSERT_TRUE(state.ok()) << state.status();
  CheckReport report = CheckProjectHistory(history.operations(), *state);
  Print(absl::StrCat("redis-kill: ", kills.load(), " SIGKILLs, ", report.Summary()));
  EXPECT_TRUE(report.violations.empty()) << Describe(report.violations);
  EXPECT_EQ(report.unknown, 0) << "every client should get a definite answer after retries";
  EXPECT_GT(report.retried, 0) << "no operation met a fault: the kills came at the wrong time";
  for (const auto& op : history.operations()) {
    EXPECT_NE(op.last_code, grpc::StatusCode::INTERNAL)
        << op.request_id << ": a Redis outage must be UNAVAILABLE: " << op.last_message;
  }

  auto expected = EventsAfter(state->events, start, 1, [](const ev::Event&) { return true; });
  EXPECT_TRUE(WaitFor([&] { return follower.event_count() >= expected.size(); }, absl::Seconds(30)))
      << follower.event_count() << " of " << expected.size();
  follower.Stop();
  DeliveryReport delivery = CheckDelivery(expected, follower.events());
  Print(absl::StrCat("redis-kill subscriber: ", delivery.expected, " events expected, ",
                     delivery.received, " received over ", follower.connections(), " connections, ",
                     delivery.repeats, " repeats, ", delivery.violations.size(), " violations"));
  EXPECT_TRUE(delivery.violations.empty()) << Describe(delivery.violations);
}

// Shared by the pause and blackhole tests: single-attempt calls from three threads, started
// before the fault so that some are in flight when it strikes (a write whose script reached
// Redis just before it stopped answering). Every call that fails must fail UNAVAILABLE, fast.
struct OutageCalls {
  std::vector<Operation> failed_writes;  // to retry with the same request id afterwards
  std::vector<Operation> ok_writes;      // acknowledged before the fault
  int calls_during = 0;                  // calls started after the fault was injected
  absl::Duration slowest_failure;
  absl::Duration not_serving_after;  // from the fault to readiness NOT_SERVING
};

OutageCalls CallsAroundFault(std::shared_ptr<grpc::Channel> channel, const std::string& org,
                             const std::string& prefix, const std::function<void()>& inject,
                             absl::Duration outage, absl::Duration client_deadline) {
  OutageCalls result;
  absl::Mutex mu;
  auto stub = iv1::IngestionService::NewStub(channel);
  std::atomic<bool> injected{false};
  absl::Time fault_at = absl::InfiniteFuture();
  // Calls stop well before the fault is lifted, so that none can succeed by outliving it.
  std::atomic<int64_t> stop_at_ns{absl::ToUnixNanos(absl::InfiniteFuture())};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; absl::Now() < absl::FromUnixNanos(stop_at_ns.load()); ++n) {
        bool during = injected.load();
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(client_deadline));
        absl::Time began = absl::Now();
        grpc::Status s;
        Operation op;
        if (n % 3 != 2) {
          iv1::CreateProjectRequest req;
          op.kind = "create";
          op.request_id = absl::StrCat(prefix, "-t", t, "-", n);
          *req.mutable_project() = NewProject("Around a fault " + op.request_id, org);
          req.set_request_id(op.request_id);
          iv1::Project out;
          s = stub->CreateProject(&ctx, req, &out);
          op.resource = out.name();
          op.revision = out.revision();
        } else {
          iv1::GetCountryRequest req;
          req.set_name("countries/EG");
          iv1::Country out;
          s = stub->GetCountry(&ctx, req, &out);
        }
        absl::Duration took = absl::Now() - began;
        op.attempts = 1;
        op.last_code = s.error_code();
        op.last_message = s.error_message();
        {
          absl::MutexLock lock(&mu);
          if (during) ++result.calls_during;
          if (s.ok()) {
            EXPECT_FALSE(during && absl::Now() > fault_at + kCommandTimeout + absl::Seconds(1))
                << "a call succeeded long into the outage";
            op.outcome = Outcome::kOk;
            if (!op.request_id.empty()) result.ok_writes.push_back(op);
            continue;
          }
          result.slowest_failure = std::max(result.slowest_failure, took);
          EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
          EXPECT_LT(took, kCommandTimeout + absl::Seconds(1))
              << "a call waited " << took << " on an unreachable Redis (client deadline "
              << client_deadline << ")";
          if (!op.request_id.empty()) result.failed_writes.push_back(op);
        }
        absl::SleepFor(absl::Milliseconds(20));  // failing fast must not become a busy loop
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  inject();
  {
    absl::MutexLock lock(&mu);
    fault_at = absl::Now();
  }
  injected = true;
  stop_at_ns = absl::ToUnixNanos(fault_at + outage - absl::Seconds(1.5));
  EXPECT_TRUE(WaitFor([&] { return Health(channel) == HealthCheckResponse::NOT_SERVING; },
                      absl::Seconds(5)))
      << "readiness did not follow Redis";
  result.not_serving_after = absl::Now() - fault_at;
  for (auto& t : threads) t.join();
  absl::SleepFor(std::max(absl::ZeroDuration(), fault_at + outage - absl::Now()));
  return result;
}

// Waits until the service answers and reports SERVING again; returns how long that took.
absl::Duration WaitRecovered(std::shared_ptr<grpc::Channel> channel, absl::Duration within) {
  absl::Time began = absl::Now();
  auto stub = iv1::IngestionService::NewStub(channel);
  bool recovered = WaitFor(
      [&] {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        iv1::GetCountryRequest req;
        req.set_name("countries/EG");
        iv1::Country out;
        return stub->GetCountry(&ctx, req, &out).ok() &&
               Health(channel) == HealthCheckResponse::SERVING;
      },
      within);
  EXPECT_TRUE(recovered) << "not serving " << within << " after the fault was lifted";
  return absl::Now() - began;
}

// After an outage: retries each failed write with its request id, and checks the history.
void RetryAndCheck(const std::string& label, std::shared_ptr<grpc::Channel> channel,
                   const std::string& redis_address, const std::string& org,
                   const OutageCalls& calls, History* history) {
  auto stub = iv1::IngestionService::NewStub(channel);
  for (const auto& op : calls.ok_writes) history->Add(op);
  // Writes whose client was told UNAVAILABLE may still have happened: Redis runs what was
  // already in its socket buffers when it comes back.
  auto before = ReadStoreState(redis_address, 1, nullptr);
  ASSERT_TRUE(before.ok()) << before.status();
  std::set<std::string> written;
  for (const auto& e : before->events) written.insert(e.request_id());
  int applied_anyway = 0;
  for (const auto& f : calls.failed_writes) applied_anyway += written.count(f.request_id);
  for (const auto& f : calls.failed_writes) {
    Operation op = f;
    iv1::CreateProjectRequest req;
    *req.mutable_project() = NewProject("Around a fault " + op.request_id, org);
    req.set_request_id(op.request_id);
    iv1::Project out;
    CallWithRetry(RetryPolicy(), &op, [&](auto* c) { return stub->CreateProject(c, req, &out); });
    op.resource = out.name();
    op.revision = out.revision();
    EXPECT_EQ(op.outcome, Outcome::kOk) << op.last_message;
    history->Add(op);
  }
  ProjectWorkload lister(channel, history, org, label);
  auto state = ReadStoreState(redis_address, 1, [&] { return lister.ListAll(); });
  ASSERT_TRUE(state.ok()) << state.status();
  CheckReport report = CheckProjectHistory(history->operations(), *state);
  Print(absl::StrCat(label, ": ", calls.failed_writes.size(), " writes failed UNAVAILABLE, ",
                     applied_anyway, " of them had happened anyway and were answered from the ",
                     "first write on retry; ", report.Summary()));
  EXPECT_TRUE(report.violations.empty()) << Describe(report.violations);
}

// Several outages in a row, each with calls around it (CallsAroundFault), then the fault healed
// and readiness awaited; the calls of every cycle together, and the worst times seen.
struct OutageCycles {
  OutageCalls all;
  absl::Duration worst_not_serving, worst_recovery;
};
OutageCycles RunOutageCycles(const std::shared_ptr<grpc::Channel>& channel, const std::string& org,
                             const std::string& label, int cycles,
                             const std::function<void()>& inject, const std::function<void()>& heal,
                             absl::Duration outage, absl::Duration client_deadline,
                             absl::Duration recovery_wait) {
  OutageCycles out;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    OutageCalls calls =
        CallsAroundFault(channel, org, absl::StrCat(label, cycle), inject, outage, client_deadline);
    heal();
    out.worst_recovery = std::max(out.worst_recovery, WaitRecovered(channel, recovery_wait));
    out.worst_not_serving = std::max(out.worst_not_serving, calls.not_serving_after);
    out.all.slowest_failure = std::max(out.all.slowest_failure, calls.slowest_failure);
    out.all.calls_during += calls.calls_during;
    out.all.failed_writes.insert(out.all.failed_writes.end(), calls.failed_writes.begin(),
                                 calls.failed_writes.end());
    out.all.ok_writes.insert(out.all.ok_writes.end(), calls.ok_writes.begin(),
                             calls.ok_writes.end());
  }
  return out;
}

// Proves: while Redis is stopped (SIGSTOP: connections accepted by the kernel, nothing
// answered) for longer than the clients' deadlines, every call fails UNAVAILABLE within about
// the Redis command timeout, never waiting for the client's deadline; readiness turns
// NOT_SERVING; after SIGCONT the same process serves again within seconds; and writes retried
// with their request ids happen exactly once, including those Redis ran after waking up.
// Does not prove: behaviour when Redis answers slowly but within the timeout.
TEST(RedisFaults, PausedLongerThanDeadlinesFailsFastAndRecoversWithoutARestart) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto stack = StartStack(Ingestion(), redis->get());
  ASSERT_NE(stack, nullptr);
  History history;
  std::string org = SetUpRegistry(stack->channel(), &history);
  ASSERT_EQ(Health(stack->channel()), HealthCheckResponse::SERVING);
  const int cycles = Scaled(2, 8);
  const absl::Duration client_deadline = absl::Seconds(4);
  const absl::Duration pause = absl::Seconds(6);  // longer than the client deadline
  OutageCycles cycled = RunOutageCycles(
      stack->channel(), org, "pause", cycles, [&] { (*redis)->Pause(); },
      [&] { (*redis)->Resume(); }, pause, client_deadline, absl::Seconds(10));
  const OutageCalls& all = cycled.all;
  const absl::Duration worst_not_serving = cycled.worst_not_serving;
  const absl::Duration worst_recovery = cycled.worst_recovery;
  EXPECT_GT(all.calls_during, 0);
  EXPECT_LT(worst_recovery, absl::Seconds(5));
  Print(absl::StrCat("redis-pause: ", cycles, " pauses of ", absl::FormatDuration(pause), ", ",
                     all.calls_during, " calls during them; every failure UNAVAILABLE, slowest ",
                     absl::FormatDuration(all.slowest_failure), " (command timeout ",
                     absl::FormatDuration(kCommandTimeout), ", client deadline ",
                     absl::FormatDuration(client_deadline), "); NOT_SERVING within ",
                     absl::FormatDuration(worst_not_serving), "; serving again within ",
                     absl::FormatDuration(worst_recovery)));
  RetryAndCheck("redis-pause", stack->channel(), (*redis)->address(), org, all, &history);
}

// Proves: a process whose Redis is gone stops in about the time its loops' current steps
// take. Scoring's consumer, matching's feed, notification's event readers and its webhook
// consumer wait out retry backoffs of up to 5 and 10 s; they wake on Stop instead of sleeping
// the rest, which held a pod past its grace period.
// Does not prove: how long a step blocked inside a Redis call takes (the command timeout).
TEST(RedisFaults, AStackWhoseRedisIsGoneStopsWithoutWaitingOutItsBackoffs) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto modules = Ingestion();
  modules.push_back(scoring::NewScoringModule());
  modules.push_back(matching::NewMatchingModule());
  modules.push_back(notification::NewNotificationModule());
  auto stack = StartStack(std::move(modules), redis->get());
  ASSERT_NE(stack, nullptr);
  const absl::Time started = absl::Now();
  while (Health(stack->channel()) != HealthCheckResponse::SERVING &&
         absl::Now() - started < absl::Seconds(30)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(Health(stack->channel()), HealthCheckResponse::SERVING);
  (*redis)->Kill();
  // Each loop fails at once and backs off 0.1 or 0.2 s, doubling: by now they sleep 3 to 6 s.
  absl::SleepFor(absl::Seconds(7));
  const absl::Time stopping = absl::Now();
  stack.reset();
  const absl::Duration took = absl::Now() - stopping;
  EXPECT_LT(took, absl::Seconds(2));
  Print(absl::StrCat("stop-without-redis: every module stopped in ", absl::FormatDuration(took),
                     " with Redis gone for 7 s"));
}

// Proves: when every packet between the service and Redis is dropped silently (no RST, no
// ICMP: the client learns nothing), calls still fail UNAVAILABLE within about the command
// timeout (a new connection gives up after the 500 ms connect timeout), readiness turns
// NOT_SERVING, and the same process recovers within seconds of the network healing; writes
// retried with their request ids happen once. Skips, saying why, where network namespaces or
// veth pairs cannot be made (no root).
// Does not prove: behaviour under packet loss, reordering or latency short of a full drop.
TEST(RedisFaults, NetworkBlackholeFailsFastAndRecoversWhenLifted) {
  auto net = NetnsRedis::Start();
  if (!net.ok()) {
    GTEST_SKIP() << "cannot run Redis behind a blackhole here: " << net.status().message()
                 << " (needs root or CAP_NET_ADMIN and CAP_SYS_ADMIN for `ip netns` and veth)";
  }
  auto stack = StartStack(Ingestion(), nullptr, 1, {}, (*net)->address());
  ASSERT_NE(stack, nullptr);
  History history;
  std::string org = SetUpRegistry(stack->channel(), &history);
  ASSERT_EQ(Health(stack->channel()), HealthCheckResponse::SERVING);
  const int cycles = Scaled(1, 5);
  const absl::Duration outage = absl::Seconds(6);
  const absl::Duration client_deadline = absl::Seconds(4);
  OutageCycles cycled = RunOutageCycles(
      stack->channel(), org, "blackhole", cycles, [&] { ASSERT_TRUE((*net)->Blackhole().ok()); },
      [&] { ASSERT_TRUE((*net)->Heal().ok()); }, outage, client_deadline, absl::Seconds(15));
  const OutageCalls& all = cycled.all;
  const absl::Duration worst_not_serving = cycled.worst_not_serving;
  const absl::Duration worst_recovery = cycled.worst_recovery;
  EXPECT_GT(all.calls_during, 0);
  EXPECT_LT(worst_recovery, absl::Seconds(8));
  Print(absl::StrCat("redis-blackhole: ", cycles, " blackholes of ", absl::FormatDuration(outage),
                     ", ", all.calls_during, " calls during them; every failure UNAVAILABLE, ",
                     "slowest ", absl::FormatDuration(all.slowest_failure), "; NOT_SERVING within ",
                     absl::FormatDuration(worst_not_serving), "; serving again within ",
                     absl::FormatDuration(worst_recovery), " of the heal"));
  RetryAndCheck("redis-blackhole", stack->channel(), (*net)->address(), org, all, &history);
}

// Proves: a write whose client gives up (its deadline expires) while the server is still
// working may or may not have happened, and retrying it with the same request id gives the
// first answer when it did and writes it when it did not: exactly one event either way. The
// first attempts get deadlines of 0.02 to 1.5 ms, around the time a write takes, so both cases
// occur. Does not prove anything about Redis faults (see the tests above).
TEST(ClientFaults, WritesWhoseDeadlineExpiredMidWriteAreSafeToRetry) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto stack = StartStack(Ingestion(), redis->get());
  ASSERT_NE(stack, nullptr);
  History history;
  std::string org = SetUpRegistry(stack->channel(), &history);
  auto stub = iv1::IngestionService::NewStub(stack->channel());
  std::mt19937 rng(7);
  const int writes = Scaled(300, 3000);
  int timed_out = 0, written_anyway = 0;
  for (int i = 0; i < writes; ++i) {
    Operation op;
    op.kind = "create";
    op.request_id = absl::StrCat("deadline-", i);
    iv1::CreateProjectRequest req;
    *req.mutable_project() = NewProject("Deadline " + op.request_id, org);
    req.set_request_id(op.request_id);
    iv1::Project out;
    grpc::ClientContext first;
    first.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::microseconds(std::uniform_int_distribution<int>(20, 1500)(rng)));
    grpc::Status s = stub->CreateProject(&first, req, &out);
    op.attempts = 1;
    if (!s.ok()) {
      EXPECT_TRUE(Retryable(s.error_code())) << s.error_code() << " " << s.error_message();
      ++timed_out;
      // Let the abandoned attempt finish on the server (or not), then look, then retry.
      absl::SleepFor(absl::Milliseconds(20));
      // The request's record, under whichever caller's scope (quoted for the shell).
      written_anyway += !(*redis)->Cli({"KEYS", "'stp:{p0}:rq:*:" + op.request_id + "'"}).empty();
      CallWithRetry(RetryPolicy(), &op, [&](auto* c) { return stub->CreateProject(c, req, &out); });
    } else {
      op.outcome = Outcome::kOk;
      op.last_code = grpc::StatusCode::OK;
    }
    op.resource = out.name();
    op.revision = out.revision();
    history.Add(op);
  }
  ProjectWorkload lister(stack->channel(), &history, org, "deadline");
  auto state = ReadStoreState((*redis)->address(), 1, [&] { return lister.ListAll(); });
  ASSERT_TRUE(state.ok());
  CheckReport report = CheckProjectHistory(history.operations(), *state);
  Print(absl::StrCat("client-deadlines: ", writes, " writes, ", timed_out,
                     " first attempts ran out of time, ", written_anyway,
                     " of those had written anyway; ", report.Summary()));
  EXPECT_TRUE(report.violations.empty()) << Describe(report.violations);
  EXPECT_GT(timed_out, 0) << "no deadline expired: the test proves nothing";
}

// ---------------------------------------------------------------------------------- scoring

// SCORE_CHANGED events per (project, revision), and every project's revision, from Redis.
struct ScoreEvents {
  std::map<std::pair<std::string, int64_t>, int> per_revision;
  std::map<std::string, int> per_project;
};

ScoreEvents CountScoreEvents(const StoreState& state) {
  ScoreEvents out;
  for (const auto& e : state.events) {
    if (e.type() != ev::EVENT_TYPE_SCORE_CHANGED) continue;
    ++out.per_revision[{e.resource(), e.revision()}];
    ++out.per_project[e.resource()];
  }
  return out;
}

int PendingFor(redis::RedisClient& client, const std::string& consumer) {
  auto reply =
      client.Command({"XPENDING", "stp:{p0}:events", "scoring", "-", "+", "100000", consumer});
  return reply.ok() ? static_cast<int>(redis::Size(reply->get())) : -1;
}

int PendingTotal(redis::RedisClient& client) {
  auto reply = client.Command({"XPENDING", "stp:{p0}:events", "scoring"});
  return reply.ok() ? static_cast<int>(redis::Int(redis::At(reply->get(), 0))) : -1;
}

// Proves: when a scoring replica is SIGKILLed holding unacknowledged events (checked with
// XPENDING before the kill), the other replica reclaims them after --scoring-reclaim-idle and
// finishes: every project ends up scored at its latest revision, and no (project, revision)
// gets two SCORE_CHANGED events. In the long form the killed replica is restarted under the same
// consumer name and killed again several times (it first re-reads its own pending entries).
// Does not prove: behaviour with both replicas down (events wait in the group; nothing is
// lost while Redis keeps the stream) or with partitions > 1.
TEST(ScoringFaults, AReplicaKilledMidBatchIsFinishedByTheOtherOncePerRevision) {
  std::string binary = BinaryFromEnv("STP_SCORING_BINARY");
  if (binary.empty()) GTEST_SKIP() << "STP_SCORING_BINARY does not name the stp-scoring binary";
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto stack = StartStack(Ingestion(), redis->get());
  ASSERT_NE(stack, nullptr);
  std::string dir = TempDir();
  auto start_replica = [&](const std::string& name) {
    auto r =
        ServiceProcess::Start(binary, (*redis)->address(),
                              {"--scoring-consumer=" + name, "--scoring-reclaim-idle=1s",
                               "--scoring-batch=8", "--scoring-workers=2", "--worker-threads=2"},
                              dir + "/" + name + ".log");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  };
  auto a = start_replica("replica-a");
  auto b = start_replica("replica-b");
  ASSERT_TRUE(a && b);
  redis::RedisOptions o;
  o.address = (*redis)->address();
  redis::RedisClient client(o);
  ASSERT_TRUE(WaitFor([&] { return PendingTotal(client) == 0; })) << "no consumer group";
  std::string org = SetUpRegistry(stack->channel(), nullptr);

  History history;
  ProjectWorkload workload(stack->channel(), &history, org, "scoring");
  const int projects = Scaled(240, 2000);
  const int threads = 4;
  std::atomic<int> created{0};
  // Writers write at least `projects`, then go on at a trickle (one write per thread every
  // 20 ms, for at most two minutes) until the kills are done: a kill only lands mid-batch while
  // events are flowing, and a fast machine would otherwise finish the writes first.
  std::atomic<bool> kills_done{false};
  std::atomic<int> writers_running{threads};
  std::vector<std::thread> writers;
  auto join_writers = absl::MakeCleanup([&] {
    kills_done = true;
    for (auto& w : writers) {
      if (w.joinable()) w.join();
    }
  });
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      const int at_least = projects / threads;
      const absl::Time give_up = absl::Now() + absl::Minutes(2);
      for (int i = 0; i < at_least || (!kills_done.load() && absl::Now() < give_up); ++i) {
        if (i >= at_least) absl::SleepFor(absl::Milliseconds(20));
        std::string id = absl::StrCat("scoring-t", t, "-", i);
        Operation op = workload.Create(id, "Scored project " + id);
        ++created;
        // A second revision right away: its event may reach the other replica first.
        if (i % 2 == 0 && op.outcome == Outcome::kOk)
          workload.Update(id + "-u", op.resource, /*with_etag=*/false);
      }
      --writers_running;
    });
  }
  // Kill replica A while it holds unacknowledged events: mid-batch. A batch takes a few
  // milliseconds, so a kill can land just after an acknowledgement; such a kill is retried
  // (restart, kill again) until one lands with events still pending.
  const int cycles = Scaled(1, 5);
  std::vector<int> pending_at_kill;
  int kills = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    int wait_for = projects * (cycle + 1) / (cycles + 2);
    ASSERT_TRUE(WaitFor([&] { return created.load() >= wait_for; }, absl::Seconds(60)));
    int pending = 0;
    for (int attempt = 0; attempt < 50 && pending == 0 && writers_running.load() > 0; ++attempt) {
      if (attempt > 0) {
        a = start_replica("replica-a");  // same consumer: re-reads its own pending entries first
        ASSERT_NE(a, nullptr);
      }
      WaitFor([&] { return PendingFor(client, "replica-a") > 0; }, absl::Seconds(10),
              absl::Milliseconds(1));
      a->Kill();
      ++kills;
      pending = PendingFor(client, "replica-a");
    }
    ASSERT_GT(pending, 0) << "no kill of replica A landed while it held events";
    pending_at_kill.push_back(pending);
    if (cycle + 1 < cycles) {
      absl::SleepFor(absl::Milliseconds(500));
      a = start_replica("replica-a");
      ASSERT_NE(a, nullptr);
    }
  }
  std::move(join_writers).Invoke();
  a.reset();  // the last kill stands: B finishes alone

  auto scoring = sv1::ScoringService::NewStub(
      grpc::CreateChannel(b->address(), grpc::InsecureChannelCredentials()));
  auto state = ReadStoreState((*redis)->address(), 1, nullptr);
  ASSERT_TRUE(state.ok());
  std::vector<std::string> unscored;
  absl::Time began = absl::Now();
  bool all_scored = WaitFor(
      [&] {
        unscored.clear();
        for (const auto& [name, project] : state->projects) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          sv1::GetProjectScoreRequest req;
          req.set_project(name);
          sv1::Score score;
          if (!scoring->GetProjectScore(&ctx, req, &score).ok() ||
              score.project_revision() != project.revision()) {
            unscored.push_back(name);
          }
        }
        return unscored.empty() && PendingTotal(client) == 0;
      },
      absl::Seconds(60), absl::Milliseconds(500));
  absl::Duration settle = absl::Now() - began;
  EXPECT_TRUE(all_scored) << unscored.size() << " of " << state->projects.size()
                          << " projects not scored at their latest revision, e.g. "
                          << (unscored.empty() ? "" : unscored[0]) << "; pending "
                          << PendingTotal(client) << "\nreplica B log:\n"
                          << b->process().LogTail();
  auto final_state = ReadStoreState((*redis)->address(), 1, nullptr);
  ASSERT_TRUE(final_state.ok());
  ScoreEvents scores = CountScoreEvents(*final_state);
  int repeated = 0;
  for (const auto& [key, n] : scores.per_revision) {
    if (n <= 1) continue;
    ++repeated;
    std::string detail;
    for (const auto& e : final_state->events) {
      if (e.type() != ev::EVENT_TYPE_SCORE_CHANGED || e.resource() != key.first) continue;
      const auto& change = e.score_change();
      absl::StrAppend(&detail, "\n    ", e.id(), " revision ", e.revision(), ": ",
                      change.has_previous()
                          ? absl::StrCat(change.previous().total(), " (revision ",
                                         change.previous().project_revision(), ")")
                          : std::string("none"),
                      " -> ", change.current().total());
    }
    ADD_FAILURE() << key.first << " revision " << key.second << " has " << n
                  << " SCORE_CHANGED events:" << detail;
  }
  for (const auto& [name, project] : final_state->projects) {
    EXPECT_GE(scores.per_project[name], 1) << name << " never got a SCORE_CHANGED event";
  }
  Print(absl::StrCat(
      "scoring-kill: ", final_state->projects.size(), " projects, ", history.operations().size(),
      " writes, ", kills, " SIGKILLs, ", pending_at_kill.size(), " of them of a replica holding ",
      absl::StrJoin(pending_at_kill, "/"), " unacknowledged events; ", scores.per_revision.size(),
      " SCORE_CHANGED (project, revision) pairs, ", repeated, " repeated; all scored ",
      absl::FormatDuration(settle), " after the writes ended"));
}

// Proves, deterministically: a replica that dies after updating its read model but before
// writing the scores (the widest window inside ScoringEngine::Handle) does not leave those
// projects unscored, and the project-to-organisation dependencies it never recorded are
// recorded by the replica that finishes the batch (a later organisation change rescores them).
TEST(ScoringFaults, AReplicaThatDiedBetweenReadModelAndScoresIsFinishedByAnother) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto stack = StartStack(Ingestion(), redis->get());
  ASSERT_NE(stack, nullptr);
  redis::RedisOptions o;
  o.address = (*redis)->address();
  redis::RedisClient client(o);
  redis::Keyspace ks;
  scoring::ScoreStore store(&client, ks, 100000);
  scoring::EngineOptions dead_options;
  dead_options.consumer = "dies-mid-batch";
  scoring::ScoringEngine dead(&store, &scoring::ScoringModel::Default(), &client, dead_options,
                              [] { return absl::Now(); });
  ASSERT_TRUE(dead.EnsureGroups().ok());
  std::string org = SetUpRegistry(stack->channel(), nullptr);
  History history;
  ProjectWorkload workload(stack->channel(), &history, org, "window");
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    Operation op = workload.Create(absl::StrCat("window-", i), absl::StrCat("Window ", i));
    ASSERT_EQ(op.outcome, Outcome::kOk);
    names.push_back(op.resource);
  }
  auto conn = client.OpenDedicated();
  ASSERT_TRUE(conn.ok());
  auto taken = redis::ReadGroup(**conn, "scoring", "dies-mid-batch", {ks.Events(0)}, {">"}, 1000,
                                absl::ZeroDuration(), absl::Seconds(1));
  ASSERT_TRUE(taken.ok());
  // The first step of ScoringEngine::Handle, then death: the read model has the projects, the
  // dependency sets and the scores do not, and nothing is acknowledged.
  std::vector<scoring::ReadModelChange> changes;
  for (const auto& entry : (*taken)[0].entries) {
    ev::Event e;
    std::string unpacked;
    const std::string* payload = common::EventPayload(entry.Field("e"), &unpacked);
    ASSERT_TRUE(payload != nullptr && e.ParseFromString(*payload));
    scoring::ReadModelChange c;
    c.revision = e.revision();
    c.id = scoring::IdOfName(e.resource());
    if (e.has_project()) {
      c.kind = scoring::ModelKind::kProject;
      c.data = e.project().SerializeAsString();
    } else if (e.has_organization()) {
      c.kind = scoring::ModelKind::kOrganization;
      c.data = e.organization().SerializeAsString();
    } else if (e.has_country()) {
      c.kind = scoring::ModelKind::kCountry;
      c.data = e.country().SerializeAsString();
    } else {
      continue;
    }
    changes.push_back(std::move(c));
  }
  ASSERT_TRUE(store.Apply(changes).ok());

  scoring::EngineOptions live_options;
  live_options.consumer = "finishes";
  live_options.reclaim_idle = absl::Milliseconds(200);
  live_options.reclaim_every = absl::Milliseconds(100);
  scoring::ScoringEngine live(&store, &scoring::ScoringModel::Default(), &client, live_options,
                              [] { return absl::Now(); });
  live.Start(nullptr, nullptr);
  auto scores = [&] {
    std::vector<std::string> ids;
    for (const auto& n : names) ids.push_back(scoring::IdOfName(n));
    auto loaded = store.LoadScores(ids);
    std::map<std::string, double> out;
    if (!loaded.ok()) return out;
    for (size_t i = 0; i < ids.size(); ++i) {
      if ((*loaded)[i].has_value()) out[names[i]] = (*loaded)[i]->total();
    }
    return out;
  };
  bool scored = WaitFor([&] { return scores().size() == names.size(); }, absl::Seconds(10));
  EXPECT_TRUE(scored) << scores().size() << " of " << names.size()
                      << " projects scored after the reclaim";
  if (scored) {
    auto before = scores();
    // The organisation moves to the host's country: every project that reads it rescored.
    auto stub = iv1::IngestionService::NewStub(stack->channel());
    iv1::UpdateOrganizationRequest req;
    req.mutable_organization()->set_name(org);
    req.mutable_organization()->set_country("countries/KE");
    req.mutable_update_mask()->add_paths("country");
    req.set_request_id("window-org-moves");
    iv1::Organization out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->UpdateOrganization(&ctx, req, &out).ok());
    EXPECT_TRUE(WaitFor(
        [&] {
          auto now = scores();
          for (const auto& [name, total] : before) {
            if (now[name] == total) return false;
          }
          return true;
        },
        absl::Seconds(10)))
        << "projects whose dependencies the dead replica never recorded were not rescored";
  }
  live.Stop();
}

// ------------------------------------------------------------------------------ notification

// Proves: subscribers attached to a notification replica that is SIGKILLed (no shutdown, no
// trailers: the connection just drops) resume on another replica with the cursor of the last
// message they received and get every matching event after it, in stream order per partition,
// with no gap and no repeat, while writes continue; two partitions, three different filters.
// The long form moves the subscribers back and forth through several kills and restarts.
// Does not prove: at-least-once for a client that crashes after receiving but before storing a
// cursor (that client resumes from an older cursor and sees repeats, by design).
TEST(NotificationFaults, AReplicaKilledWithSubscribersAttachedMissesAndRepeatsNothing) {
  std::string binary = BinaryFromEnv("STP_NOTIFICATION_BINARY");
  if (binary.empty()) GTEST_SKIP() << "STP_NOTIFICATION_BINARY does not name stp-notification";
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  const int partitions = 2;
  auto stack = StartStack(Ingestion(), redis->get(), partitions);
  ASSERT_NE(stack, nullptr);
  std::string org = SetUpRegistry(stack->channel(), nullptr);
  std::string dir = TempDir();
  int started = 0;
  auto start_replica = [&]() {
    auto r = ServiceProcess::Start(
        binary, (*redis)->address(),
        {absl::StrCat("--partitions=", partitions), absl::StrCat("--webhook-consumer=n", started)},
        absl::StrCat(dir, "/notification-", started, ".log"));
    ++started;
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  };
  std::unique_ptr<ServiceProcess> replicas[2] = {start_replica(), start_replica()};
  ASSERT_TRUE(replicas[0] && replicas[1]);
  absl::Mutex mu;
  int current = 0;
  std::string address = replicas[0]->address();
  auto current_address = [&] {
    absl::MutexLock lock(&mu);
    return address;
  };
  std::string start = EndCursor((*redis)->address(), partitions);

  struct Subscriber {
    std::string label;
    nv1::EventFilter filter;
    std::function<bool(const ev::Event&)> wanted;
    std::unique_ptr<Follower> follower;
  };
  std::vector<Subscriber> subscribers(3);
  subscribers[0].label = "everything";
  subscribers[0].wanted = [](const ev::Event&) { return true; };
  subscribers[1].label = "green growth";
  subscribers[1].filter.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  subscribers[1].wanted = [](const ev::Event& e) {
    return e.has_project() && std::count(e.project().avenues().begin(), e.project().avenues().end(),
                                         stp::common::v1::AVENUE_GREEN_GROWTH) > 0;
  };
  subscribers[2].label = "Egypt, created or stage changed";
  subscribers[2].filter.add_countries("countries/EG");
  subscribers[2].filter.add_event_types(ev::EVENT_TYPE_PROJECT_CREATED);
  subscribers[2].filter.add_event_types(ev::EVENT_TYPE_STAGE_CHANGED);
  subscribers[2].wanted = [](const ev::Event& e) {
    return e.has_project() && e.project().host_country() == "countries/EG" &&
           (e.type() == ev::EVENT_TYPE_PROJECT_CREATED || e.type() == ev::EVENT_TYPE_STAGE_CHANGED);
  };
  for (auto& s : subscribers) {
    s.follower = std::make_unique<Follower>(current_address, s.filter, start);
  }

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread producer([&] {
    auto stub = iv1::IngestionService::NewStub(stack->channel());
    std::vector<std::string> names;
    for (int i = 0; !stop.load(); ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      if (i % 3 == 2 && !names.empty()) {
        iv1::UpdateProjectRequest req;
        req.mutable_project()->set_name(names[i % names.size()]);
        req.mutable_project()->set_stage(static_cast<iv1::ProjectStage>(1 + i % 5));
        req.mutable_update_mask()->add_paths("stage");
        iv1::Project out;
        if (stub->UpdateProject(&ctx, req, &out).ok()) ++writes;
      } else {
        iv1::CreateProjectRequest req;
        *req.mutable_project() =
            NewProject(absl::StrCat("Followed ", i), org, i % 2 ? "countries/EG" : "countries/KE");
        if (i % 4 == 1) req.mutable_project()->set_avenues(0, stp::common::v1::AVENUE_AGRICULTURE);
        iv1::Project out;
        if (stub->CreateProject(&ctx, req, &out).ok()) {
          names.push_back(out.name());
          ++writes;
        }
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  // Joined on every way out, a failed assertion included.
  auto stop_producer = absl::MakeCleanup([&] {
    stop = true;
    producer.join();
  });

  const int cycles = Scaled(1, 6);
  for (int cycle = 0; cycle < cycles; ++cycle) {
    size_t had = subscribers[2].follower->event_count();
    ASSERT_TRUE(WaitFor([&] { return subscribers[2].follower->event_count() >= had + 10; },
                        absl::Seconds(30)));
    int victim;
    {
      absl::MutexLock lock(&mu);
      victim = current;
      current = 1 - current;
      address = replicas[current]->address();
    }
    replicas[victim]->Kill();  // mid-stream: no trailers, no goodbye
    if (cycle + 1 < cycles) {
      replicas[victim] = start_replica();
      ASSERT_NE(replicas[victim], nullptr);
    }
  }
  absl::SleepFor(absl::Seconds(1));  // writes continue on the surviving replica
  std::move(stop_producer).Invoke();

  auto state = ReadStoreState((*redis)->address(), partitions, nullptr);
  ASSERT_TRUE(state.ok());
  for (auto& s : subscribers) {
    auto expected = EventsAfter(state->events, start, partitions, s.wanted);
    EXPECT_TRUE(
        WaitFor([&] { return s.follower->event_count() >= expected.size(); }, absl::Seconds(30)))
        << s.label << ": " << s.follower->event_count() << " of " << expected.size();
    s.follower->Stop();
    DeliveryReport d = CheckDelivery(expected, s.follower->events());
    Print(absl::StrCat("notification-kill [", s.label, "]: ", cycles, " replica SIGKILLs, ",
                       writes.load(), " writes, ", d.expected, " events expected, ", d.received,
                       " received over ", s.follower->connections(), " connections, ", d.repeats,
                       " repeats, ", d.violations.size(), " violations"));
    EXPECT_TRUE(d.violations.empty()) << s.label << ":\n  " << Describe(d.violations);
    EXPECT_EQ(d.repeats, 0) << s.label;
    EXPECT_GT(s.follower->connections(), cycles) << s.label << " never had to resume";
  }
}

// --------------------------------------------------------------------------------- webhooks

// What the scripted receiver does with the deliveries of project "hook-<i>", by i % 8, with
// --webhook-max-attempts=4 and --webhook-timeout=500ms.
struct HookClass {
  const char* what;
  int attempts;  // requests the receiver must see for the delivery
  bool succeeds;
};
constexpr HookClass kHookClasses[] = {
    {"200 at once", 1, true},        {"reset, reset, then 200", 3, true},
    {"500, 503, then 200", 3, true}, {"slow beyond the timeout, then 200", 2, true},
    {"500 every time", 4, false},    {"reset every time", 4, false},
    {"429, then 200", 2, true},      {"slow every time", 4, false},
};

Answer ScriptFor(int klass, int attempt) {
  const absl::Duration slow = absl::Milliseconds(1500);
  switch (klass) {
    case 1:
      return attempt < 2 ? Answer{0, true} : Answer{200};
    case 2:
      return attempt == 0 ? Answer{500} : attempt == 1 ? Answer{503} : Answer{200};
    case 3:
      return attempt == 0 ? Answer{200, false, slow} : Answer{200};
    case 4:
      return Answer{500};
    case 5:
      return Answer{0, true};
    case 6:
      return attempt == 0 ? Answer{429} : Answer{200};
    case 7:
      return Answer{200, false, slow};
    default:
      return Answer{200};
  }
}

int ClassOfBody(const std::string& body) {
  static const std::regex title("hook-([0-9]+)");
  std::smatch m;
  if (!std::regex_search(body, m, title)) return -1;
  return std::stoi(m[1].str()) % 8;
}

// Proves: a receiver that resets connections, answers after --webhook-timeout, or answers
// 5xx/429 gets the same delivery (same X-STP-Delivery) retried exactly as often as the policy
// says and never again after a 2xx; every event becomes exactly one delivery per hook across
// two replicas; failures end in the dead-letter list after the last attempt; every attempt is
// signed. Does not prove: delivery to a receiver that is down for longer than the whole
// backoff schedule (it dead-letters, by design), or TLS receivers.
TEST(WebhookFaults, ResetsSlowAnswersAnd5xxAreRetriedThenDeadLetteredNeverDeliveredTwice) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto stack = StartStack(Ingestion(), redis->get());
  ASSERT_NE(stack, nullptr);
  std::string org = SetUpRegistry(stack->channel(), nullptr);
  auto replica = [&](const char* consumer) {
    std::vector<std::unique_ptr<Module>> m;
    m.push_back(notification::NewNotificationModule());
    return StartStack(
        std::move(m), redis->get(), 1,
        {"--webhook-max-attempts=4", "--webhook-base-backoff=20ms", "--webhook-max-backoff=200ms",
         "--webhook-timeout=500ms", std::string("--webhook-consumer=") + consumer});
  };
  auto one = replica("hooks-1");
  auto two = replica("hooks-2");
  ASSERT_TRUE(one && two);
  ScriptedReceiver receiver([](const WebhookRequest& req, int attempt) {
    int klass = ClassOfBody(req.body);
    return klass < 0 ? Answer{400} : ScriptFor(klass, attempt);
  });
  const std::string secret = "a-webhook-secret-long-enough";
  auto notifier = nv1::NotificationService::NewStub(one->channel());
  nv1::CreateWebhookRequest create;
  create.mutable_webhook()->set_url(receiver.url());
  create.mutable_webhook()->set_secret(secret);
  create.mutable_webhook()->mutable_filter()->add_event_types(ev::EVENT_TYPE_PROJECT_CREATED);
  create.set_request_id("hook-create");
  nv1::Webhook hook;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(notifier->CreateWebhook(&ctx, create, &hook).ok());
  }
  const int events = Scaled(32, 160);
  History history;
  ProjectWorkload workload(stack->channel(), &history, org, "hook");
  std::map<std::string, int> class_of_project;
  for (int i = 0; i < events; ++i) {
    Operation op = workload.Create(absl::StrCat("hook-create-", i), absl::StrCat("hook-", i));
    ASSERT_EQ(op.outcome, Outcome::kOk);
    // Updates are not PROJECT_CREATED: they must never reach the hook.
    if (i % 5 == 0) workload.Update(absl::StrCat("hook-update-", i), op.resource, false);
    class_of_project[op.resource] = i % 8;
  }
  auto list_all = [&](nv1::DeliveryState state) {
    std::vector<nv1::Delivery> all;
    nv1::ListDeliveriesRequest req;
    req.set_parent(hook.name());
    req.set_state(state);
    req.set_page_size(100);
    do {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      nv1::ListDeliveriesResponse resp;
      if (!notifier->ListDeliveries(&ctx, req, &resp).ok()) return std::vector<nv1::Delivery>();
      all.insert(all.end(), resp.deliveries().begin(), resp.deliveries().end());
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return all;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        return list_all(nv1::DELIVERY_STATE_SUCCEEDED).size() +
                   list_all(nv1::DELIVERY_STATE_DEAD_LETTER).size() ==
               static_cast<size_t>(events);
      },
      absl::Seconds(60), absl::Milliseconds(200)))
      << "deliveries did not all reach a final state";
  absl::SleepFor(absl::Seconds(1));  // a stray retry would show up now

  auto requests = receiver.requests();
  std::map<std::string, std::set<std::string>> deliveries_of_event;
  std::map<std::string, std::vector<const WebhookRequest*>> attempts_of_delivery;
  std::map<std::string, int> class_of_delivery;
  for (const auto& r : requests) {
    std::string delivery = r.headers.count("x-stp-delivery") ? r.headers.at("x-stp-delivery") : "";
    deliveries_of_event[r.headers.count("x-stp-event-id") ? r.headers.at("x-stp-event-id") : ""]
        .insert(delivery);
    attempts_of_delivery[delivery].push_back(&r);
    class_of_delivery[delivery] = ClassOfBody(r.body);
    std::string sig = r.headers.count("x-stp-signature") ? r.headers.at("x-stp-signature") : "";
    int64_t t = 0;
    if (absl::StartsWith(sig, "t=")) t = std::stoll(sig.substr(2, sig.find(',') - 2));
    EXPECT_EQ(sig, notification::SignDelivery(secret, t, r.body)) << "unsigned or badly signed";
  }
  EXPECT_EQ(deliveries_of_event.size(), static_cast<size_t>(events))
      << "every PROJECT_CREATED event, and nothing else, reaches the hook";
  for (const auto& [event, ids] : deliveries_of_event) {
    EXPECT_EQ(ids.size(), 1u) << "event " << event << " became " << ids.size() << " deliveries";
  }
  int dead = 0, succeeded = 0, attempts_total = 0;
  // Twice: an event that became two deliveries, or a delivery tried again after its 2xx.
  int twice = 0;
  for (const auto& [event, ids] : deliveries_of_event) twice += ids.size() > 1;
  for (const auto& [delivery, attempts] : attempts_of_delivery) {
    int klass = class_of_delivery[delivery];
    ASSERT_GE(klass, 0);
    attempts_total += attempts.size();
    EXPECT_EQ(static_cast<int>(attempts.size()), kHookClasses[klass].attempts)
        << "delivery " << delivery << " (" << kHookClasses[klass].what << ")";
    if (kHookClasses[klass].succeeds &&
        static_cast<int>(attempts.size()) > kHookClasses[klass].attempts) {
      ++twice;
    }
  }
  // Each final delivery the service lists must be in the state its receiver's script leads to.
  auto check_final = [&](nv1::DeliveryState state, bool succeeds, int* count) {
    for (const auto& d : list_all(state)) {
      ++*count;
      int klass = -1;
      for (const auto& [delivery, attempts] : attempts_of_delivery) {
        if (attempts[0]->headers.at("x-stp-event-id") == d.event_id())
          klass = class_of_delivery[delivery];
      }
      ASSERT_GE(klass, 0) << d.name();
      EXPECT_EQ(kHookClasses[klass].succeeds, succeeds)
          << d.name() << " " << kHookClasses[klass].what;
      EXPECT_EQ(d.attempts(), succeeds ? kHookClasses[klass].attempts : 4) << d.name();
    }
  };
  check_final(nv1::DELIVERY_STATE_SUCCEEDED, true, &succeeded);
  check_final(nv1::DELIVERY_STATE_DEAD_LETTER, false, &dead);
  Print(absl::StrCat("webhook-faults: ", events, " events, ", attempts_of_delivery.size(),
                     " deliveries, ", attempts_total, " HTTP attempts across 2 replicas; ",
                     succeeded, " succeeded, ", dead, " dead-lettered, ", twice,
                     " delivered twice"));
}

}  // namespace
}  // namespace stp::reliability
