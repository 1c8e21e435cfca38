// The server runner: health, reflection, readiness tied to dependencies, overload, and
// draining on shutdown, all through real channels.
#include "libs/common/server.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/grpc_status.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/testing/echo_service.h"
#include "tests/testing/grpc_testing.h"
#include "tests/testing/test_stack.h"

namespace stp {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using stp::testing::v1::EchoRequest;
using stp::testing::v1::EchoResponse;
using stp::testing::v1::EchoService;

constexpr char kEcho[] = "stp.testing.v1.EchoService";

class ServerTest : public ::testing::Test {
 protected:
  void Start(int workers = 2, int queue = 16, absl::Duration shutdown_timeout = absl::Seconds(20)) {
    ServerOptions options = stp::testing::TestServerOptions();
    options.shutdown_timeout = shutdown_timeout;
    options.worker_threads = workers;
    options.worker_queue = std::max(queue, 1);
    pool_ = std::make_unique<WorkerPool>("test", workers, queue);
    handler_ = std::make_unique<CallHandler>("echo", pool_.get(), &metrics_, nullptr);
    echo_ = std::make_unique<stp::testing::EchoServiceImpl>(handler_.get());
    runner_ = std::make_unique<ServerRunner>(options);
    runner_->AddService(echo_.get(), kEcho);
    runner_->AddReadinessCheck([this] { return ready_.load(); });
    ASSERT_TRUE(runner_->Start().ok());
    channel_ = stp::testing::LocalChannel(runner_->port());
  }

  HealthCheckResponse::ServingStatus Check(const std::string& service,
                                           grpc::Status* status = nullptr) {
    grpc::ClientContext ctx;
    stp::testing::SetDeadline(&ctx, absl::Seconds(2));
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = Health::NewStub(channel_)->Check(&ctx, req, &resp);
    if (status) *status = s;
    return resp.status();
  }

  Metrics metrics_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<CallHandler> handler_;
  std::unique_ptr<stp::testing::EchoServiceImpl> echo_;
  std::unique_ptr<ServerRunner> runner_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerTest, ServesHealthForTheServerAndEachService) {
  Start();
  EXPECT_EQ(Check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(kEcho), HealthCheckResponse::SERVING);
  grpc::Status status;
  Check("no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, ReadinessFollowsDependencies) {
  Start();
  ready_ = false;
  EXPECT_TRUE(stp::testing::WaitFor([&] { return Check("") == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_EQ(Check(kEcho), HealthCheckResponse::NOT_SERVING);
  ready_ = true;
  EXPECT_TRUE(stp::testing::WaitFor([&] { return Check(kEcho) == HealthCheckResponse::SERVING; }));
}

TEST_F(ServerTest, WatchStreamsStatusChanges) {
  Start();
  grpc::ClientContext ctx;
  HealthCheckRequest req;
  req.set_service(kEcho);
  auto reader = Health::NewStub(channel_)->Watch(&ctx, req);
  HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  ready_ = false;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  ctx.TryCancel();
}

TEST_F(ServerTest, ServesReflection) {
  Start();
  using grpc::reflection::v1alpha::ServerReflection;
  using grpc::reflection::v1alpha::ServerReflectionRequest;
  using grpc::reflection::v1alpha::ServerReflectionResponse;
  grpc::ClientContext ctx;
  auto stream = ServerReflection::NewStub(channel_)->ServerReflectionInfo(&ctx);
  ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count(kEcho));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));
  stream->WritesDone();
}

TEST_F(ServerTest, EchoRoundTripThroughTheCallHandler) {
  Start();
  grpc::ClientContext ctx;
  EchoRequest req;
  req.set_payload("hello");
  EchoResponse resp;
  ASSERT_TRUE(EchoService::NewStub(channel_)->Echo(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.payload(), "hello");
  auto it = ctx.GetServerInitialMetadata().find("x-request-id");
  EXPECT_NE(it, ctx.GetServerInitialMetadata().end());
  EXPECT_NE(metrics_.Render().find(
                "stp_rpc_requests_total{code=\"OK\",method=\"Echo\",service=\"echo\"} 1"),
            std::string::npos)
      << metrics_.Render();
}

TEST_F(ServerTest, FullQueueAnswersResourceExhaustedWithRetryInfo) {
  Start(/*workers=*/1, /*queue=*/1);
  auto stub = EchoService::NewStub(channel_);
  auto slow_call = [&] {
    grpc::ClientContext ctx;
    EchoRequest req;
    req.set_sleep_ms(500);
    EchoResponse resp;
    stub->Echo(&ctx, req, &resp);
  };
  // One call running, one queued: the pool is full.
  std::thread running(slow_call);
  ASSERT_TRUE(stp::testing::WaitFor([&] { return pool_->busy() == 1; }));
  std::thread queued(slow_call);
  ASSERT_TRUE(stp::testing::WaitFor([&] { return pool_->queue_depth() == 1; }));
  grpc::ClientContext ctx;
  EchoResponse resp;
  grpc::Status s = stub->Echo(&ctx, EchoRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_GT(GetRetryDelay(FromGrpcStatus(s)), absl::ZeroDuration());
  EXPECT_EQ(GetErrorReason(FromGrpcStatus(s)), "SERVER_OVERLOADED");
  running.join();
  queued.join();
}

TEST_F(ServerTest, ShutdownReportsNotServingAndDrainsInFlightCalls) {
  Start();
  auto stub = EchoService::NewStub(channel_);
  grpc::Status slow_status;
  std::thread slow([&] {
    grpc::ClientContext ctx;
    EchoRequest req;
    req.set_sleep_ms(1500);  // longer than the pause before idle connections are closed
    req.set_payload("drained");
    EchoResponse resp;
    slow_status = stub->Echo(&ctx, req, &resp);
  });
  EXPECT_TRUE(stp::testing::WaitFor([&] { return runner_->calls_in_progress() == 1; }));
  runner_->Shutdown();
  slow.join();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_EQ(runner_->health().Get(kEcho), HealthCheckResponse::NOT_SERVING);
  // New calls are refused once stopped.
  grpc::ClientContext ctx;
  stp::testing::SetDeadline(&ctx, absl::Seconds(1));
  EchoResponse resp;
  EXPECT_FALSE(stub->Echo(&ctx, EchoRequest(), &resp).ok());
}

// A client that keeps its connection open after the GOAWAY (here one that never reads; a
// synchronous client between calls notices only when it next polls, every 5 s) would hold
// Shutdown for the whole shutdown timeout: gRPC waits for connections as well as calls.
TEST_F(ServerTest, ShutdownWaitsForCallsNotForIdleConnections) {
  const absl::Duration timeout = absl::Seconds(30);
  Start(2, 16, timeout);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(runner_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // The HTTP/2 client preface and an empty SETTINGS frame: a connection the server accepts.
  const std::string preface =
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\x04\0\0\0\0\0", 9);
  ASSERT_EQ(send(fd, preface.data(), preface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(preface.size()));
  // And a call and a stream in progress, which still end as they would have.
  auto stub = EchoService::NewStub(channel_);
  grpc::Status slow_status, stream_status;
  std::thread slow([&] {
    grpc::ClientContext ctx;
    EchoRequest req;
    req.set_sleep_ms(1500);
    EchoResponse resp;
    slow_status = stub->Echo(&ctx, req, &resp);
  });
  int received = 0;
  std::thread stream([&] {
    grpc::ClientContext ctx;
    EchoRequest req;
    req.set_count(20);
    req.set_interval_ms(100);
    auto reader = stub->EchoStream(&ctx, req);
    EchoResponse resp;
    while (reader->Read(&resp)) ++received;
    stream_status = reader->Finish();
  });
  EXPECT_TRUE(stp::testing::WaitFor([&] { return runner_->calls_in_progress() == 2; }));
  const absl::Time began = absl::Now();
  runner_->Shutdown();
  const absl::Duration took = absl::Now() - began;
  slow.join();
  stream.join();
  close(fd);
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();
  EXPECT_EQ(received, 20);
  EXPECT_LT(took, timeout / 2) << "Shutdown waited for the idle connection";
}

TEST_F(ServerTest, ASeparatePlaintextPortServesOnlyHealth) {
  ServerOptions options = stp::testing::TestServerOptions();
  options.health_address = "127.0.0.1:0";
  pool_ = std::make_unique<WorkerPool>("test", 1, 4);
  handler_ = std::make_unique<CallHandler>("echo", pool_.get(), &metrics_, nullptr);
  echo_ = std::make_unique<stp::testing::EchoServiceImpl>(handler_.get());
  runner_ = std::make_unique<ServerRunner>(options);
  runner_->AddService(echo_.get(), kEcho);
  ASSERT_TRUE(runner_->Start().ok());
  ASSERT_GT(runner_->health_port(), 0);
  auto probe = stp::testing::LocalChannel(runner_->health_port());
  grpc::ClientContext ctx;
  HealthCheckRequest req;
  req.set_service(kEcho);
  HealthCheckResponse resp;
  ASSERT_TRUE(Health::NewStub(probe)->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  grpc::ClientContext echo_ctx;
  EchoResponse echo_resp;
  EXPECT_EQ(EchoService::NewStub(probe)->Echo(&echo_ctx, EchoRequest(), &echo_resp).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ServerTest, RefusesPlaintextUnlessAskedAndNeedsBothCertFiles) {
  ServerOptions options = stp::testing::TestServerOptions();
  options.plaintext = false;
  EXPECT_EQ(options.Validate().code(), absl::StatusCode::kInvalidArgument);
  options.tls_cert_file = "/nonexistent.pem";
  EXPECT_FALSE(options.Validate().ok());
  options.tls_key_file = "/nonexistent.key";
  EXPECT_TRUE(options.Validate().ok());
  ServerRunner runner(options);
  EXPECT_EQ(runner.Start().code(), absl::StatusCode::kFailedPrecondition);
}

// A module that serves the echo service and, when it is destroyed, writes to Redis and reads a
// metric through the process: what a consumer's destructor may still do.
class ProbeModule : public Module {
 public:
  explicit ProbeModule(std::string* destroyed_with) : destroyed_with_(destroyed_with) {}
  ~ProbeModule() override {
    auto written = process_->redis().Command({"SET", "probe:destroyed", "1"});
    *destroyed_with_ = written.ok() ? "redis" : std::string(written.status().message());
    process_->metrics().callbacks().Add("stp_probe", "probe", {}, [] { return 1.0; });
  }
  std::string name() const override { return "probe"; }
  absl::Status Init(Process& process) override {
    process_ = &process;
    echo_ = std::make_unique<stp::testing::EchoServiceImpl>(process.NewCallHandler("probe", 1, 4));
    process.runner().AddService(echo_.get(), kEcho);
    return absl::OkStatus();
  }

 private:
  Process* process_ = nullptr;
  std::string* destroyed_with_;
  std::unique_ptr<stp::testing::EchoServiceImpl> echo_;
};

TEST(ProcessTest, DestroysItsModulesAfterItsServerAndBeforeItsRedisClient) {
  auto redis = stp::testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  std::string destroyed_with;
  std::vector<std::unique_ptr<Module>> modules;
  modules.push_back(std::make_unique<ProbeModule>(&destroyed_with));
  auto stack = stp::testing::TestStack::Start(std::move(modules), redis->get());
  ASSERT_NE(stack, nullptr);
  grpc::ClientContext ctx;
  stp::testing::SetDeadline(&ctx, absl::Seconds(5));
  EchoRequest req;
  req.set_payload("hello");
  EchoResponse resp;
  ASSERT_TRUE(EchoService::NewStub(stack->channel())->Echo(&ctx, req, &resp).ok());
  stack.reset();
  EXPECT_EQ(destroyed_with, "redis");
  EXPECT_EQ((*redis)->Cli({"GET", "probe:destroyed"}), "1");
}

// A module whose Init begins background work, and one whose Init fails after it: the failed
// start stops the first before it is destroyed (its work must not outlive the server runner).
TEST(ProcessTest, AStartThatFailsStopsTheModulesItInitialized) {
  auto redis = stp::testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  class Started : public Module {
   public:
    explicit Started(bool* stopped_when_destroyed) : out_(stopped_when_destroyed) {}
    ~Started() override { *out_ = stopped_; }
    std::string name() const override { return "started"; }
    absl::Status Init(Process&) override { return absl::OkStatus(); }
    void Stop() override { stopped_ = true; }

   private:
    bool* out_;
    bool stopped_ = false;
  };
  class Failing : public Module {
   public:
    std::string name() const override { return "failing"; }
    absl::Status Init(Process&) override { return absl::InvalidArgumentError("bad config"); }
  };
  ProcessConfig config;
  config.server = stp::testing::TestServerOptions();
  config.redis.address = (*redis)->address();
  config.auth_disabled = true;
  bool stopped_when_destroyed = false;
  {
    Process process("test", config);
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(std::make_unique<Started>(&stopped_when_destroyed));
    modules.push_back(std::make_unique<Failing>());
    EXPECT_FALSE(process.Start(std::move(modules)).ok());
  }
  EXPECT_TRUE(stopped_when_destroyed);
}

}  // namespace
}  // namespace stp
