// The C++ client library against the real stack with authentication on: retries that reuse
// the request id (one record however often an answer is lost), errors with their details,
// deadlines, rate limits, streaming imports, and subscriptions that survive a server restart.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/client/stp_client.h"
#include "services/admin/admin_module.h"
#include "services/ingestion/ingestion_module.h"
#include "services/notification/notification_module.h"
#include "tests/testing/test_stack.h"

namespace stp::client {
namespace {

using testing::RedisServer;
using testing::TestStack;
using testing::WaitFor;

// A gRPC proxy in front of the stack that, for one method, forwards the call and then loses
// the server's answer (the client sees UNAVAILABLE) a given number of times: a write that
// happened while the client could not know it. It records the request id of every attempt.
class LossyProxy final : public grpc::CallbackGenericService {
 public:
  LossyProxy(int backend_port, std::string method, int answers_to_lose)
      : backend_(testing::LocalChannel(backend_port)),
        method_(std::move(method)),
        answers_to_lose_(answers_to_lose) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterCallbackGenericService(this);
    server_ = builder.BuildAndStart();
  }
  ~LossyProxy() { server_->Shutdown(); }

  int port() const { return port_; }
  std::vector<std::string> request_ids() {
    absl::MutexLock lock(&mu_);
    return request_ids_;
  }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new Call(this, ctx);
  }

 private:
  class Call : public grpc::ServerGenericBidiReactor {
   public:
    Call(LossyProxy* proxy, grpc::GenericCallbackServerContext* ctx) : proxy_(proxy), ctx_(ctx) {
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::INTERNAL, "no request"));
        return;
      }
      bool lossy = ctx_->method() == proxy_->method_;
      if (lossy) proxy_->Record(request_);
      for (const auto& [key, value] : ctx_->client_metadata()) {
        if (key == "authorization") {
          backend_ctx_.AddMetadata("authorization", std::string(value.data(), value.size()));
        }
      }
      backend_ctx_.set_deadline(ctx_->deadline());
      stub_ = std::make_unique<grpc::GenericStub>(proxy_->backend_);
      stub_->UnaryCall(&backend_ctx_, ctx_->method(), grpc::StubOptions(), &request_, &response_,
                       [this, lossy](grpc::Status status) {
                         if (lossy && status.ok() && proxy_->LoseThisAnswer()) {
                           Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "answer lost"));
                         } else if (status.ok()) {
                           StartWriteAndFinish(&response_, grpc::WriteOptions(), status);
                         } else {
                           Finish(status);
                         }
                       });
    }
    void OnDone() override { delete this; }

   private:
    LossyProxy* proxy_;
    grpc::GenericCallbackServerContext* ctx_;
    grpc::ByteBuffer request_, response_;
    grpc::ClientContext backend_ctx_;
    std::unique_ptr<grpc::GenericStub> stub_;
  };

  void Record(const grpc::ByteBuffer& buffer) {
    std::vector<grpc::Slice> slices;
    if (!buffer.Dump(&slices).ok()) return;
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    iv1::CreateProjectRequest request;
    request.ParseFromString(bytes);
    absl::MutexLock lock(&mu_);
    request_ids_.push_back(request.request_id());
  }
  bool LoseThisAnswer() { return answers_to_lose_.fetch_sub(1) > 0; }

  std::shared_ptr<grpc::Channel> backend_;
  std::string method_;
  std::atomic<int> answers_to_lose_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::vector<std::string> request_ids_ ABSL_GUARDED_BY(mu_);
};

std::vector<std::unique_ptr<Module>> Modules(bool notification = true) {
  std::vector<std::unique_ptr<Module>> modules;
  modules.push_back(ingestion::NewIngestionModule());
  modules.push_back(admin::NewAdminModule());
  if (notification) modules.push_back(notification::NewNotificationModule());
  return modules;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisServer::Options options;
    options.appendfsync = "always";  // a killed Redis keeps every acknowledged write
    auto server = RedisServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    redis_ = std::move(*server);
  }

  // The stack under test, with authentication on, and an operator key for it; `seed` adds two
  // countries and an organisation (through a plaintext connection).
  void StartStack(std::function<void(ProcessConfig*)> configure = nullptr, bool seed = true) {
    stack_ = TestStack::Start(Modules(), redis_.get(), [&](ProcessConfig* c) {
      c->auth_disabled = false;
      if (configure) configure(c);
    });
    ASSERT_NE(stack_, nullptr);
    auto key = stack_->process().api_keys().Create("", AccessRole::kOperator, "client-test",
                                                   absl::ZeroDuration(), absl::Now());
    ASSERT_TRUE(key.ok()) << key.status();
    operator_key_ = key->second;
    if (!seed) return;
    auto seeded = Connect(stack_->port());
    IngestionClient registry(seeded);
    for (const char* cc : {"EG", "CN"}) {
      iv1::UpsertCountryRequest country;
      country.mutable_country()->set_alpha2(cc);
      country.mutable_country()->set_display_name(cc);
      ASSERT_TRUE(registry.UpsertCountry(country).ok());
    }
    iv1::CreateOrganizationRequest org;
    org.mutable_organization()->set_display_name("Shenzhen Park Development");
    org.mutable_organization()->set_country("countries/CN");
    auto created = registry.CreateOrganization(org);
    ASSERT_TRUE(created.ok()) << created.status();
    org_ = created->name();
  }

  // A connection with a quick retry policy that counts the retries it makes.
  std::shared_ptr<Connection> Connect(int port, const std::string& key = "use operator",
                                      absl::Duration deadline = absl::Seconds(20)) {
    ClientOptions options;
    options.address = absl::StrCat("127.0.0.1:", port);
    options.plaintext = true;
    options.api_key = key == "use operator" ? operator_key_ : key;
    options.default_deadline = deadline;
    options.retry.max_attempts = 10;
    options.retry.initial_backoff = absl::Milliseconds(50);
    options.retry.max_backoff = absl::Milliseconds(400);
    options.on_retry = [this](const RetryEvent& e) {
      absl::MutexLock lock(&mu_);
      retries_.push_back(e);
    };
    auto connection = Connection::Create(options);
    EXPECT_TRUE(connection.ok()) << connection.status();
    return *connection;
  }

  std::vector<RetryEvent> Retries() {
    absl::MutexLock lock(&mu_);
    return retries_;
  }

  iv1::CreateProjectRequest NewProject(const std::string& title) {
    iv1::CreateProjectRequest request;
    request.mutable_project()->set_title(title);
    request.mutable_project()->set_host_country("countries/EG");
    request.mutable_project()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    auto* participant = request.mutable_project()->add_participants();
    participant->set_organization(org_);
    participant->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    return request;
  }

  // Every stored project with this title (read straight from the stack, not through a proxy).
  std::vector<iv1::Project> ProjectsTitled(const std::string& title) {
    IngestionClient registry(Connect(stack_->port()));
    iv1::ListProjectsRequest request;
    request.set_page_size(1000);
    auto listed = registry.ListProjects(request);
    EXPECT_TRUE(listed.ok()) << listed.status();
    std::vector<iv1::Project> out;
    if (!listed.ok()) return out;
    for (const auto& p : listed->projects()) {
      if (p.title() == title) out.push_back(p);
    }
    return out;
  }

  std::string RequestIdOfCreation(const std::string& project) {
    IngestionClient registry(Connect(stack_->port()));
    iv1::GetProjectHistoryRequest request;
    request.set_name(project);
    auto history = registry.GetProjectHistory(request);
    EXPECT_TRUE(history.ok()) << history.status();
    return history.ok() && history->revisions_size() > 0 ? history->revisions(0).request_id() : "";
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<TestStack> stack_;
  std::string operator_key_;
  std::string org_;
  absl::Mutex mu_;
  std::vector<RetryEvent> retries_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ClientTest, ALostAnswerIsRetriedWithTheSameRequestIdAndWritesOneProject) {
  StartStack();
  LossyProxy proxy(stack_->port(), "/stp.ingestion.v1.IngestionService/CreateProject", 2);
  IngestionClient registry(Connect(proxy.port()));
  auto created = registry.CreateProject(NewProject("Suez green incubator"));
  ASSERT_TRUE(created.ok()) << created.status();

  std::vector<std::string> ids = proxy.request_ids();
  ASSERT_EQ(ids.size(), 3u);  // two answers lost, the third delivered
  EXPECT_FALSE(ids[0].empty()) << "the library gives a mutation a request id";
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  ASSERT_EQ(Retries().size(), 2u);
  EXPECT_EQ(Retries()[0].method, "CreateProject");
  EXPECT_EQ(Retries()[0].status.code(), absl::StatusCode::kUnavailable);

  std::vector<iv1::Project> stored = ProjectsTitled("Suez green incubator");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].name(), created->name());
  EXPECT_EQ(RequestIdOfCreation(created->name()), ids[0]);
}

TEST_F(ClientTest, WithoutRetriesALostAnswerIsAnErrorAfterTheWriteHappened) {
  // The control for the test above: the proxy really loses answers to writes that happened,
  // so one project there proves the retries were recognised, not that nothing was written.
  StartStack();
  LossyProxy proxy(stack_->port(), "/stp.ingestion.v1.IngestionService/CreateProject", 1);
  IngestionClient registry(Connect(proxy.port()));
  CallOptions once;
  once.max_attempts = 1;
  auto created = registry.CreateProject(NewProject("Lost answer"), once);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProjectsTitled("Lost answer").size(), 1u);
  EXPECT_TRUE(Retries().empty());
}

TEST_F(ClientTest, RetriesAcrossARedisOutageWriteOneProjectWithTheCallersRequestId) {
  StartStack();
  IngestionClient registry(Connect(stack_->port()));
  redis_->Kill();
  std::thread restart([&] {
    absl::SleepFor(absl::Milliseconds(500));
    ASSERT_TRUE(redis_->Restart().ok());
  });
  iv1::CreateProjectRequest request = NewProject("Created across an outage");
  request.set_request_id("outage-0001");
  auto created = registry.CreateProject(request);
  restart.join();
  ASSERT_TRUE(created.ok()) << created.status();
  std::vector<RetryEvent> retries = Retries();
  ASSERT_FALSE(retries.empty());
  for (const auto& r : retries) EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
  // Once more with the same id: the first answer again, nothing new written.
  auto again = registry.CreateProject(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->name(), created->name());
  std::vector<iv1::Project> stored = ProjectsTitled("Created across an outage");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(RequestIdOfCreation(stored[0].name()), "outage-0001");
}

TEST_F(ClientTest, InvalidRequestsCarryFieldViolationsAndAreNotRetried) {
  StartStack();
  IngestionClient registry(Connect(stack_->port()));
  iv1::CreateProjectRequest request;
  request.mutable_project()->set_title("Incomplete");
  request.mutable_project()->set_host_country("countries/ZZ");
  auto created = registry.CreateProject(request);
  ASSERT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& v : GetFieldViolations(created.status())) {
    fields.insert(v.field);
    EXPECT_FALSE(v.description.empty());
  }
  EXPECT_TRUE(fields.count("project.avenues")) << created.status();
  EXPECT_TRUE(fields.count("project.host_country")) << created.status();
  EXPECT_TRUE(Retries().empty());
  // NOT_FOUND for a read, with its reason, and no retry either.
  iv1::GetProjectRequest get;
  get.set_name("projects/01m8h8ce5qfs3zzz");
  auto missing = registry.GetProject(get);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(GetErrorReason(missing.status()).empty());
  EXPECT_TRUE(Retries().empty());
}

TEST_F(ClientTest, AuthenticationErrorsAreUnauthenticatedAndNotRetried) {
  StartStack();
  iv1::GetCountryRequest get;
  get.set_name("countries/EG");
  auto without_key = IngestionClient(Connect(stack_->port(), "")).GetCountry(get);
  EXPECT_EQ(without_key.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetErrorReason(without_key.status()), "MISSING_CREDENTIALS");
  std::string unknown = "stp_0000000000000000_" + std::string(64, 'a');
  auto wrong_key = IngestionClient(Connect(stack_->port(), unknown)).GetCountry(get);
  EXPECT_EQ(wrong_key.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetErrorReason(wrong_key.status()), "UNKNOWN_CREDENTIALS");
  EXPECT_TRUE(Retries().empty());
  // The same call with the operator key works: the key, not the call, was the problem.
  EXPECT_TRUE(IngestionClient(Connect(stack_->port())).GetCountry(get).ok());
}

TEST_F(ClientTest, EveryCallHasTheDefaultDeadlineUnlessItGivesItsOwn) {
  // Redis answers nothing while paused; the server would wait for it up to its 5 s command
  // timeout. The client's own deadline ends the call first.
  StartStack([](ProcessConfig* c) { c->redis.command_timeout = absl::Seconds(5); });
  IngestionClient registry(Connect(stack_->port(), "use operator", absl::Milliseconds(1500)));
  iv1::GetCountryRequest get;
  get.set_name("countries/EG");
  ASSERT_TRUE(registry.GetCountry(get).ok());
  redis_->Pause();
  absl::Time start = absl::Now();
  auto by_default = registry.GetCountry(get);
  absl::Duration default_took = absl::Now() - start;
  CallOptions quick;
  quick.deadline = absl::Milliseconds(200);
  start = absl::Now();
  auto by_call = registry.GetCountry(get, quick);
  absl::Duration call_took = absl::Now() - start;
  redis_->Resume();
  EXPECT_EQ(by_default.status().code(), absl::StatusCode::kDeadlineExceeded) << by_default.status();
  EXPECT_GE(default_took, absl::Milliseconds(1400));
  EXPECT_LT(default_took, absl::Seconds(4)) << "the server's timeout, not the client's deadline";
  EXPECT_EQ(by_call.status().code(), absl::StatusCode::kDeadlineExceeded) << by_call.status();
  EXPECT_GE(call_took, absl::Milliseconds(150));
  EXPECT_LT(call_took, absl::Milliseconds(1400)) << "the default deadline, not the call's own";
}

TEST_F(ClientTest, RateLimitedReadsWaitForTheServersRetryDelay) {
  StartStack([](ProcessConfig* c) {
    c->rate_limits.operator_per_second = 5;
    c->rate_limits.burst_seconds = 1;
  });
  IngestionClient registry(Connect(stack_->port()));
  iv1::GetCountryRequest get;
  get.set_name("countries/EG");
  for (int i = 0; i < 12; ++i) {
    auto country = registry.GetCountry(get);
    ASSERT_TRUE(country.ok()) << "call " << i << ": " << country.status();
  }
  std::vector<RetryEvent> retries = Retries();
  ASSERT_FALSE(retries.empty()) << "12 calls at 5/s must hit the limit";
  for (const auto& r : retries) {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_GE(r.delay, GetRetryDelay(r.status));
    EXPECT_GT(GetRetryDelay(r.status), absl::ZeroDuration());
  }
}

TEST_F(ClientTest, ImportFileStreamsChunksAndReportsProgress) {
  StartStack();
  std::string path = ::testing::TempDir() + "/client_import.xml";
  {
    std::ofstream out(path);
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<iati-activities version=\"2.03\">\n";
    for (int i = 1; i <= 3; ++i) {
      out << "<iati-activity default-currency=\"USD\">\n  <iati-identifier>XM-TEST-CLIENT-" << i
          << "</iati-identifier>\n  <title><narrative>Imported park " << i
          << "</narrative></title>\n  <recipient-country code=\"EG\"/>\n"
             "  <sector vocabulary=\"1\" code=\"23210\"/>\n</iati-activity>\n";
    }
    out << "<iati-activity><iati-identifier>XM-TEST-CLIENT-BAD</iati-identifier>"
           "<title><narrative>No country</narrative></title></iati-activity>\n"
           "</iati-activities>\n";
  }
  int64_t size = static_cast<int64_t>(std::filesystem::file_size(path));
  IngestionClient registry(Connect(stack_->port()));
  ImportOptions options;
  options.chunk_bytes = 100;
  std::vector<int64_t> progress;
  options.on_progress = [&](int64_t sent, int64_t total) {
    EXPECT_EQ(total, size);
    progress.push_back(sent);
  };
  auto summary = registry.ImportFile(path, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->received(), 4);
  EXPECT_EQ(summary->created(), 3);
  EXPECT_EQ(summary->rejected(), 1);
  ASSERT_EQ(summary->rejections_size(), 1);
  EXPECT_EQ(summary->rejections(0).external_id(), "XM-TEST-CLIENT-BAD");
  ASSERT_GE(progress.size(), static_cast<size_t>(size / 100));
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_EQ(progress.back(), size);
  // The same file again changes nothing.
  auto again = registry.ImportFile(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->unchanged(), 3);
  EXPECT_EQ(again->created(), 0);
  // A file that is not there is a local error, not a call.
  EXPECT_EQ(registry.ImportFile(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, TlsWithCaRootsAndAClientCertificateOrAnApiKey) {
  std::filesystem::path dir = ::testing::TempDir() + "/client-tls";
  std::filesystem::create_directories(dir);
  auto run = [&](const std::string& cmd) {
    ASSERT_EQ(std::system(("cd " + dir.string() + " && " + cmd + " >/dev/null 2>&1").c_str()), 0)
        << cmd;
  };
  run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out ca.crt");
  for (const auto& [name, san] :
       {std::pair{"server", "DNS:localhost"}, std::pair{"partner", "URI:spiffe://stp/partner-a"}}) {
    std::string n = name;
    run("openssl req -newkey rsa:2048 -nodes -subj /CN=" + n + " -keyout " + n + ".key -out " + n +
        ".csr");
    std::ofstream(dir / (n + ".ext")) << "subjectAltName=" << san << "\n";
    run("openssl x509 -req -in " + n +
        ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile " +
        n + ".ext -out " + n + ".crt");
  }
  std::ofstream(dir / "principals") << "spiffe://stp/partner-a - READER\n";
  std::string d = dir.string();
  StartStack(
      [d](ProcessConfig* c) {
        c->server.plaintext = false;
        c->server.tls_cert_file = d + "/server.crt";
        c->server.tls_key_file = d + "/server.key";
        c->server.tls_client_ca_file = d + "/ca.crt";
        c->server.require_client_cert = false;
        c->client_cert_principals_file = d + "/principals";
      },
      /*seed=*/false);
  if (HasFatalFailure()) return;
  auto list = [&](ClientOptions options) -> absl::Status {
    options.address = absl::StrCat("127.0.0.1:", stack_->port());
    options.default_deadline = absl::Seconds(5);
    options.retry.max_attempts = 1;
    STP_ASSIGN_OR_RETURN(auto connection, Connection::Create(options));
    return IngestionClient(connection).ListCountries(iv1::ListCountriesRequest()).status();
  };
  ClientOptions with_certificate;
  ASSERT_TRUE(
      with_certificate.LoadTlsFiles(d + "/ca.crt", d + "/partner.crt", d + "/partner.key").ok());
  with_certificate.tls_server_name = "localhost";
  EXPECT_TRUE(list(with_certificate).ok()) << list(with_certificate);
  ClientOptions with_key;
  ASSERT_TRUE(with_key.LoadTlsFiles(d + "/ca.crt", "", "").ok());
  with_key.tls_server_name = "localhost";
  with_key.api_key = operator_key_;
  EXPECT_TRUE(list(with_key).ok()) << list(with_key);
  // TLS with neither credential reaches the server and is refused by it.
  ClientOptions anonymous = with_key;
  anonymous.api_key.clear();
  EXPECT_EQ(list(anonymous).code(), absl::StatusCode::kUnauthenticated);
  // The system roots do not know this CA; plaintext does not speak to a TLS port.
  ClientOptions system_roots;
  system_roots.tls_server_name = "localhost";
  system_roots.api_key = operator_key_;
  EXPECT_EQ(list(system_roots).code(), absl::StatusCode::kUnavailable);
  ClientOptions plaintext;
  plaintext.plaintext = true;
  plaintext.api_key = operator_key_;
  EXPECT_EQ(list(plaintext).code(), absl::StatusCode::kUnavailable);
  // Options that cannot work are refused before any call.
  ClientOptions half_certificate = with_certificate;
  half_certificate.client_key_pem.clear();
  EXPECT_EQ(list(half_certificate).code(), absl::StatusCode::kInvalidArgument);
  ClientOptions both = with_certificate;
  both.plaintext = true;
  EXPECT_EQ(list(both).code(), absl::StatusCode::kInvalidArgument);
  ClientOptions missing_file;
  EXPECT_FALSE(missing_file.LoadTlsFiles(d + "/nope.crt", "", "").ok());
  std::filesystem::remove_all(dir);
}

// Collects what a subscription hands to its handler.
struct Received {
  absl::Mutex mu;
  std::vector<std::string> resources ABSL_GUARDED_BY(mu);
  std::vector<std::string> ids ABSL_GUARDED_BY(mu);
  std::atomic<int> live{0};
  size_t size() {
    absl::MutexLock lock(&mu);
    return resources.size();
  }
  std::vector<std::string> Resources() {
    absl::MutexLock lock(&mu);
    return resources;
  }
};

TEST_F(ClientTest, ASubscriptionResumesAfterTheServerRestartsWithNoGapAndNoRepeat) {
  StartStack();
  const int port = stack_->port();
  // Writes go through a process of their own, so that they continue while the
  // notification server is down.
  auto writer = TestStack::Start(Modules(/*notification=*/false), redis_.get(),
                                 [](ProcessConfig* c) { c->auth_disabled = false; });
  ASSERT_NE(writer, nullptr);
  IngestionClient registry(Connect(writer->port()));

  NotificationClient notifier(Connect(port));
  SubscribeOptions options;
  options.filter.add_event_types(stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
  options.heartbeat_seconds = 1;
  options.reconnect.initial_backoff = absl::Milliseconds(50);
  options.reconnect.max_backoff = absl::Milliseconds(300);
  Received received;
  options.on_live = [&] { received.live.fetch_add(1); };
  auto subscription =
      notifier.Subscribe(options, [&](const stp::events::v1::Event& e, const std::string& cursor) {
        EXPECT_FALSE(cursor.empty());
        absl::MutexLock lock(&received.mu);
        received.resources.push_back(e.resource());
        received.ids.push_back(e.id());
      });
  ASSERT_TRUE(WaitFor([&] { return received.live.load() >= 1; }));

  std::vector<std::string> created;
  auto create = [&](const std::string& title) {
    auto p = registry.CreateProject(NewProject(title));
    ASSERT_TRUE(p.ok()) << p.status();
    created.push_back(p->name());
  };
  for (int i = 0; i < 3; ++i) create(absl::StrCat("before ", i));
  ASSERT_TRUE(WaitFor([&] { return received.size() == 3; })) << received.size();
  std::string cursor_before_restart = subscription->cursor();

  stack_.reset();  // the server goes away with the subscription open
  for (int i = 0; i < 3; ++i) create(absl::StrCat("while down ", i));
  stack_ = TestStack::Start(Modules(), redis_.get(), [port](ProcessConfig* c) {
    c->auth_disabled = false;
    c->server.listen_address = absl::StrCat("127.0.0.1:", port);
  });
  ASSERT_NE(stack_, nullptr);
  ASSERT_EQ(stack_->port(), port);
  for (int i = 0; i < 3; ++i) create(absl::StrCat("after ", i));

  ASSERT_TRUE(WaitFor([&] { return received.size() >= created.size(); }, absl::Seconds(20)))
      << received.size();
  absl::SleepFor(absl::Milliseconds(300));  // a repeat would arrive now
  EXPECT_EQ(received.Resources(), created);
  EXPECT_GE(subscription->reconnects(), 1);
  EXPECT_GE(received.live.load(), 2);
  EXPECT_NE(subscription->cursor(), cursor_before_restart);
  EXPECT_EQ(subscription->events_delivered(), static_cast<int64_t>(created.size()));
  subscription->Cancel();
  EXPECT_TRUE(subscription->Wait().ok());
}

TEST_F(ClientTest, AnExpiredCursorEndsTheSubscriptionWithOutOfRange) {
  StartStack();
  IngestionClient registry(Connect(stack_->port()));
  NotificationClient notifier(Connect(stack_->port()));
  std::atomic<int> live{0};
  SubscribeOptions first;
  first.heartbeat_seconds = 1;
  first.max_events = 1;
  first.on_live = [&] { live.fetch_add(1); };
  auto subscription = notifier.Subscribe(first, [](const auto&, const auto&) {});
  ASSERT_TRUE(WaitFor([&] { return live.load() >= 1; }));
  ASSERT_TRUE(registry.CreateProject(NewProject("first")).ok());
  ASSERT_TRUE(subscription->WaitFor(absl::Seconds(10))) << "max_events ends the subscription";
  EXPECT_TRUE(subscription->Wait().ok());
  EXPECT_EQ(subscription->events_delivered(), 1);
  std::string cursor = subscription->cursor();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(registry.CreateProject(NewProject("more")).ok());
  redis_->Cli({"XTRIM", "stp:{p0}:events", "MAXLEN", "2"});

  SubscribeOptions late;
  late.cursor = cursor;
  late.reconnect.initial_backoff = absl::Milliseconds(20);
  int delivered = 0;
  auto resumed = notifier.Subscribe(late, [&](const auto&, const auto&) { ++delivered; });
  ASSERT_TRUE(resumed->WaitFor(absl::Seconds(10)));
  absl::Status ended = resumed->Wait();
  EXPECT_EQ(ended.code(), absl::StatusCode::kOutOfRange) << ended;
  EXPECT_EQ(GetErrorReason(ended), "CURSOR_EXPIRED");
  EXPECT_EQ(resumed->reconnects(), 0) << "OUT_OF_RANGE needs a resync, not a retry";
  EXPECT_EQ(delivered, 0);
}

}  // namespace
}  // namespace stp::client
