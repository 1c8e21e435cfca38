// Notification: commit-to-receipt latency with 1,000 subscribers at 20 events/s, delivered
// messages per second at 100 subscribers against the bare streaming fan-out, and memory per
// idle subscriber.
#include <atomic>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/scenarios.h"
#include "libs/redis/redis.h"
#include "stp/events/v1/events.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/redis_server.h"

namespace stp::bench {

using stp::testing::ChildProcess;

namespace nv1 = stp::notification::v1;

namespace {

// One subscription, counting what arrives and how late (from the event's commit time).
class Subscriber : public grpc::ClientReadReactor<nv1::SubscribeResponse> {
 public:
  Subscriber(nv1::NotificationService::Stub* stub, std::atomic<int64_t>* received, absl::Mutex* mu,
             std::vector<int64_t>* latencies, std::atomic<bool>* measure)
      : received_(received), mu_(mu), latencies_(latencies), measure_(measure) {
    stub->async()->Subscribe(&ctx_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (response_.has_event()) {
      received_->fetch_add(1, std::memory_order_relaxed);
      if (measure_->load(std::memory_order_relaxed)) {
        const auto& t = response_.event().occur_time();
        int64_t ns = absl::ToInt64Nanoseconds(
            absl::Now() - (absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos())));
        absl::MutexLock lock(mu_);
        latencies_->push_back(ns);
      }
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override { done_.store(true); }
  bool done() const { return done_.load(); }

 private:
  grpc::ClientContext ctx_;
  nv1::SubscribeRequest request_;
  nv1::SubscribeResponse response_;
  std::atomic<int64_t>* received_;
  absl::Mutex* mu_;
  std::vector<int64_t>* latencies_;
  std::atomic<bool>* measure_;
  std::atomic<bool> done_{false};
};

// Appends events straight to the stream (as ingestion's outbox does), `count` of them.
void Publish(redis::RedisClient& redis, int count, const std::string& payload_prefix) {
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < count; ++i) {
    stp::events::v1::Event e;
    e.set_type(stp::events::v1::EVENT_TYPE_PROJECT_UPDATED);
    e.set_resource(absl::StrCat("projects/bench", i));
    int64_t ns = absl::ToUnixNanos(absl::Now());
    e.mutable_occur_time()->set_seconds(ns / 1000000000);
    e.mutable_occur_time()->set_nanos(static_cast<int32_t>(ns % 1000000000));
    e.mutable_project()->set_name(e.resource());
    e.mutable_project()->set_title(payload_prefix);
    e.mutable_project()->set_host_country("countries/KE");
    cmds.push_back(
        {"XADD", "stp:{p0}:events", "MAXLEN", "~", "1000000", "*", "e", e.SerializeAsString()});
  }
  (void)redis.Pipeline(cmds);
}

double Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k] / 1e6;
}

}  // namespace

void RunNotificationScenarios(const BenchConfig& config, Report* report) {
  auto redis_server = stp::testing::RedisServer::Start();
  if (!redis_server.ok()) return;
  redis::RedisOptions ro;
  ro.address = (*redis_server)->address();
  redis::RedisClient redis(ro);
  ChildProcess server;
  std::string address = absl::StrCat("127.0.0.1:", stp::testing::PickFreePort());
  if (auto st =
          server.Start({config.bin_dir + "/services/notification/stp-notification", "--listen",
                        address, "--metrics-listen", "", "--plaintext", "--auth-disabled",
                        "--redis-address", ro.address, "--log-level", "warning", "--worker-queue",
                        "8192", "--notification-workers", "4", "--webhook-workers", "1"},
                       address, "/tmp/stp-bench-notification.log");
      !st.ok()) {
    report->Add({"notification", "start", std::string(st.message()), "", "", "FAILED", ""});
    return;
  }
  auto channels = MakeChannels(address, 4);
  std::vector<std::unique_ptr<nv1::NotificationService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(nv1::NotificationService::NewStub(c));
  std::atomic<int64_t> received{0};
  absl::Mutex mu;
  std::vector<int64_t> latencies;
  std::atomic<bool> measure{false};

  // Memory per idle subscriber, then latency with 1,000 of them at 20 events per second.
  int64_t rss_before = ProcessRssBytes(server.pid());
  std::vector<Subscriber*> subs;
  const int n = 1000;
  for (int i = 0; i < n; ++i)
    subs.push_back(
        new Subscriber(stubs[i % stubs.size()].get(), &received, &mu, &latencies, &measure));
  absl::SleepFor(absl::Seconds(2));
  int64_t rss_after = ProcessRssBytes(server.pid());
  double per_sub = double(rss_after - rss_before) / n;
  report->Add({"notification", "memory per idle subscriber (server RSS growth / 1,000 streams)",
               absl::StrFormat("%.1f KB", per_sub / 1024), "", "<= 64 KB",
               AtMost(per_sub / 1024, 64), ""});
  measure = true;
  absl::Duration run = config.full ? absl::Seconds(30) : absl::Seconds(8);
  absl::Time end = absl::Now() + run;
  int published = 0;
  for (absl::Time next = absl::Now(); next < end; next += absl::Milliseconds(50)) {
    absl::SleepFor(next - absl::Now());
    Publish(redis, 1, "latency probe");
    ++published;
  }
  absl::Time wait_until = absl::Now() + absl::Seconds(5);
  while (received.load() < int64_t{published} * n && absl::Now() < wait_until)
    absl::SleepFor(absl::Milliseconds(10));
  measure = false;
  std::vector<int64_t> lat;
  {
    absl::MutexLock lock(&mu);
    lat = latencies;
  }
  double p99 = Percentile(lat, 99);
  report->Add(
      {"notification", "commit-to-receipt, 1,000 subscribers, 20 events/s",
       absl::StrFormat("p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms; %zu of %d deliveries",
                       Percentile(lat, 50), p99, Percentile(lat, 99.9), lat.size(), published * n),
       "", "p99 <= 50 ms", AtMost(p99, 50), ""});
  for (auto* s : subs) s->Cancel();
  absl::SleepFor(absl::Seconds(1));

  // Fan-out throughput: 100 subscribers, events as fast as the publisher can append them,
  // against the bare streaming fan-out measured just before and just after (this VM's speed
  // drifts by a third within a run).
  const auto echo_channels = MakeChannels(config.baselines.echo_address, 4);
  const double stream_before = EchoStreamRate(echo_channels, 100, config);
  received = 0;
  subs.clear();
  for (int i = 0; i < 100; ++i)
    subs.push_back(
        new Subscriber(stubs[i % stubs.size()].get(), &received, &mu, &latencies, &measure));
  absl::SleepFor(absl::Seconds(1));
  const int events = config.full ? 20000 : 5000;
  absl::Time start = absl::Now();
  std::string payload(900, 'x');
  for (int sent = 0; sent < events; sent += 500) Publish(redis, 500, payload);
  while (received.load() < int64_t{events} * 100 && absl::Now() - start < absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  double rate = received.load() / absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t delivered = received.load();
  for (auto* s : subs) s->Cancel();
  absl::SleepFor(absl::Seconds(1));
  const double stream_after = EchoStreamRate(echo_channels, 100, config);
  const double bare = (stream_before + stream_after) / 2;
  double ratio = bare > 0 ? rate / bare : 0;
  report->Add({"notification", "fan-out, 100 subscribers, ~1 KB events",
               absl::StrFormat("%.0f msgs/s (%lld of %d delivered)", rate,
                               static_cast<long long>(delivered), events * 100),
               absl::StrFormat("%.2f of bare streaming (%.0f msgs/s before, %.0f after)", ratio,
                               stream_before, stream_after),
               ">= 0.50 of bare streaming", AtLeast(ratio, 0.5), ""});
  server.Stop();
  // The reactors are deleted only once every stream has ended.
  for (auto* s : subs) {
    for (int i = 0; i < 200 && !s->done(); ++i) absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace stp::bench
