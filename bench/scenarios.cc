#include "bench/scenarios.h"

#include <atomic>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/redis/redis.h"
#include "stp/testing/v1/echo.grpc.pb.h"

namespace stp::bench {

bool BenchConfig::Wants(const std::string& group) const {
  if (only.empty()) return true;
  for (absl::string_view g : absl::StrSplit(only, ',')) {
    if (g == group) return true;
  }
  return false;
}

std::map<std::string, double> RedisInfo(const std::string& address, const std::string& section) {
  redis::RedisOptions options;
  options.address = address;
  redis::RedisClient client(options);
  std::map<std::string, double> fields;
  auto reply = client.Command({"INFO", section});
  if (!reply.ok()) return fields;
  for (absl::string_view line : absl::StrSplit(redis::Str(reply->get()), "\r\n")) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, ':');
    double value = 0;
    if (absl::SimpleAtod(kv.second, &value)) fields[std::string(kv.first)] = value;
  }
  return fields;
}

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& address, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("stp.bench.channel", i);  // distinct args: a connection of its own
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    args.SetMaxReceiveMessageSize(64 << 20);
    out.push_back(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

namespace {

class StreamCounter : public grpc::ClientReadReactor<stp::testing::v1::EchoResponse> {
 public:
  StreamCounter(stp::testing::v1::EchoService::Stub* stub, int count,
                std::atomic<int64_t>* received, std::atomic<int>* open)
      : received_(received), open_(open) {
    request_.set_payload(std::string(1024, 's'));
    request_.set_count(count);
    stub->async()->EchoStream(&ctx_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    received_->fetch_add(1, std::memory_order_relaxed);
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override {
    open_->fetch_sub(1);
    delete this;
  }

 private:
  grpc::ClientContext ctx_;
  stp::testing::v1::EchoRequest request_;
  stp::testing::v1::EchoResponse response_;
  std::atomic<int64_t>* received_;
  std::atomic<int>* open_;
};

}  // namespace

double EchoStreamRate(const std::vector<std::shared_ptr<grpc::Channel>>& channels, int streams,
                      const BenchConfig& config) {
  std::vector<std::unique_ptr<stp::testing::v1::EchoService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(stp::testing::v1::EchoService::NewStub(c));
  std::atomic<int64_t> received{0};
  std::atomic<int> open{streams};
  int per_stream = config.full ? 20000 : 5000;
  absl::Time start = absl::Now();
  for (int i = 0; i < streams; ++i)
    new StreamCounter(stubs[i % stubs.size()].get(), per_stream, &received, &open);
  while (open.load() > 0 && absl::Now() - start < absl::Seconds(60))
    absl::SleepFor(absl::Milliseconds(5));
  return received.load() / absl::ToDoubleSeconds(absl::Now() - start);
}

LoadResult EchoUnary(const BenchConfig& config, int concurrency) {
  const Baselines& base = config.baselines;
  auto channels = MakeChannels(base.echo_address, 4);
  std::vector<std::unique_ptr<stp::testing::v1::EchoService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(stp::testing::v1::EchoService::NewStub(c));
  const std::string payload(1024, 'e');
  LoadOptions lo{concurrency, 0, config.warmup, config.duration};
  return RunLoad(
      lo,
      [&](int64_t slot, std::function<void(bool)> done) {
        auto* ctx = new grpc::ClientContext();
        auto* req = new stp::testing::v1::EchoRequest();
        auto* resp = new stp::testing::v1::EchoResponse();
        req->set_payload(payload);
        stubs[slot % stubs.size()]->async()->Echo(ctx, req, resp, [=](grpc::Status s) {
          delete ctx;
          delete req;
          delete resp;
          done(s.ok());
        });
      },
      base.echo_pid);
}

std::string EchoComparison::Describe() const {
  return absl::StrFormat("%.2f of echo (%.0f/s before, %.0f/s after); %.1f CPU-s per 1M calls",
                         ratio(), echo_before, echo_after, result.CpuSecondsPerMillion());
}

EchoComparison CompareWithEcho(const BenchConfig& config, int concurrency,
                               const std::function<LoadResult()>& scenario) {
  EchoComparison c;
  c.echo_before = EchoUnary(config, concurrency).throughput();
  c.result = scenario();
  c.echo_after = EchoUnary(config, concurrency).throughput();
  return c;
}

void RunAllScenarios(const BenchConfig& config, Report* report) {
  if (config.Wants("ingestion")) RunIngestionScenarios(config, report);
  if (config.Wants("scoring")) RunScoringScenarios(config, report);
  if (config.Wants("matching")) RunMatchingScenarios(config, report);
  if (config.Wants("notification")) RunNotificationScenarios(config, report);
}

}  // namespace stp::bench
