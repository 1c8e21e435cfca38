// What operators read: the Prometheus exposition (valid for promtool, with the metrics the
// runbook names), JSON logs carrying request ids, trace ids and principals, and W3C trace
// context carried from a caller through ingestion's event into scoring's event.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "libs/common/event_header.h"
#include "libs/redis/streams.h"
#include "libs/runtime/allocator.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/grpc_testing.h"
#include "tests/testing/redis_server.h"

namespace stp {
namespace {

namespace iv1 = stp::ingestion::v1;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// One GET of /metrics on its own connection; true when a whole answer came back.
bool ScrapeOnce(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool whole = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      std::string answer;
      char buf[16384];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<size_t>(n));
      whole = n == 0 && answer.find("stp_worker_queue_depth") != std::string::npos;
    }
  }
  close(fd);
  return whole;
}

std::string BuildDir() {
  const char* dir = std::getenv("STP_BUILD_DIR");
  return dir ? dir : ".";
}

TEST(ObservabilityTest, MetricsLogsAndTracesAreWhatTheRunbookSays) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  std::string bin = BuildDir() + "/services/allinone/stp-allinone";
  std::string key = Shell(bin + " --redis-address " + (*redis)->address() +
                          " --create-operator-key obs 2>/dev/null");
  while (!key.empty() && key.back() == '\n') key.pop_back();
  ASSERT_EQ(key.rfind("stp_", 0), 0u) << key;
  int port = testing::PickFreePort(), metrics_port = testing::PickFreePort();
  std::string address = "127.0.0.1:" + std::to_string(port);
  std::string log = (*redis)->dir() + "/allinone.log";
  testing::ChildProcess server;
  ASSERT_TRUE(server
                  .Start({bin, "--listen", address, "--metrics-listen",
                          "127.0.0.1:" + std::to_string(metrics_port), "--plaintext",
                          "--redis-address", (*redis)->address(), "--log-level", "debug"},
                         address, log)
                  .ok());
  auto stub = iv1::IngestionService::NewStub(testing::LocalChannel(port));
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto call = [&](const std::string& credential, const std::string& request_id, auto fn) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(10));
    ctx.AddMetadata("authorization", "Bearer " + credential);
    ctx.AddMetadata("x-request-id", request_id);
    ctx.AddMetadata("traceparent", "00-" + trace_id + "-00f067aa0ba902b7-01");
    return fn(&ctx);
  };
  for (const char* cc : {"EG", "CN"}) {
    iv1::UpsertCountryRequest req;
    req.mutable_country()->set_alpha2(cc);
    req.mutable_country()->set_display_name(cc);
    iv1::Country out;
    ASSERT_TRUE(
        call(key, "req-country", [&](auto* c) { return stub->UpsertCountry(c, req, &out); }).ok());
  }
  iv1::CreateOrganizationRequest org_req;
  org_req.mutable_organization()->set_display_name("Org");
  org_req.mutable_organization()->set_country("countries/CN");
  iv1::Organization org;
  ASSERT_TRUE(call(key, "req-org", [&](auto* c) {
                return stub->CreateOrganization(c, org_req, &org);
              }).ok());
  iv1::CreateProjectRequest create;
  create.mutable_project()->set_title("Traced park");
  create.mutable_project()->set_host_country("countries/EG");
  create.mutable_project()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  auto* part = create.mutable_project()->add_participants();
  part->set_organization(org.name());
  part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  iv1::Project project;
  ASSERT_TRUE(call(key, "req-obs-1", [&](auto* c) {
                return stub->CreateProject(c, create, &project);
              }).ok());
  iv1::GetProjectRequest get;
  get.set_name("projects/0000000000000000");
  EXPECT_EQ(call(key, "req-missing", [&](auto* c) { return stub->GetProject(c, get, &project); })
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      call("stp_bad", "req-bad-key", [&](auto* c) { return stub->GetProject(c, get, &project); })
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  // A request the server cannot parse (a string field that is not UTF-8; the client's
  // protobuf sends it anyway) makes protobuf log in the server: that line is JSON too.
  iv1::GetProjectRequest garbled;
  garbled.set_name("projects/\xff\xfe");
  const grpc::Status garbled_status =
      call(key, "req-garbled", [&](auto* c) { return stub->GetProject(c, garbled, &project); });
  EXPECT_EQ(garbled_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << garbled_status.error_message();

  // Trace context: the caller's trace id rides the project event and the score event after it.
  redis::RedisOptions ro;
  ro.address = (*redis)->address();
  redis::RedisClient client(ro);
  bool project_traced = false, score_traced = false;
  ASSERT_TRUE(testing::WaitFor([&] {
    auto entries = redis::Range(client, "stp:{p0}:events", "-", "+", 1000);
    if (!entries.ok()) return false;
    for (const auto& e : *entries) {
      stp::events::v1::Event ev;
      std::string unpacked;
      const std::string* payload = common::EventPayload(e.Field("e"), &unpacked);
      if (payload == nullptr || !ev.ParseFromString(*payload)) continue;
      if (ev.resource() != project.name()) continue;
      bool same_trace = ev.traceparent().substr(3, 32) == trace_id;
      if (ev.type() == stp::events::v1::EVENT_TYPE_PROJECT_CREATED) project_traced = same_trace;
      if (ev.type() == stp::events::v1::EVENT_TYPE_SCORE_CHANGED) score_traced = same_trace;
    }
    return project_traced && score_traced;
  })) << "project event traced: "
      << project_traced << ", score event traced: " << score_traced;

  // Metrics: valid exposition with the families the runbook documents.
  std::string metrics =
      Shell("curl -s http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics");
  std::string file = (*redis)->dir() + "/metrics.txt";
  std::ofstream(file) << metrics;
  std::string promtool = Shell("promtool check metrics < " + file + " 2>&1; echo exit=$?");
  EXPECT_NE(promtool.find("exit=0"), std::string::npos) << promtool;
  for (const char* family :
       {"stp_rpc_requests_total{code=\"OK\",method=\"CreateProject\",service=\"ingestion\"}",
        "stp_rpc_requests_total{code=\"NOT_FOUND\",method=\"GetProject\",service=\"ingestion\"}",
        "stp_rpc_latency_seconds_bucket", "stp_rpc_in_flight", "stp_worker_queue_depth",
        "stp_worker_busy", "stp_redis_command_seconds_bucket", "stp_auth_failures_total",
        "stp_stream_consumer_lag", "stp_scoring_events_handled", "stp_subscribers",
        "stp_webhook_deliveries", "stp_webhook_event_losses", "stp_matching_organizations"}) {
    EXPECT_NE(metrics.find(family), std::string::npos) << family;
  }
#ifdef STP_WITH_JEMALLOC
  for (const char* family : {"stp_allocator_allocated_bytes", "stp_allocator_resident_bytes"}) {
    EXPECT_NE(metrics.find(family), std::string::npos) << family;
  }
#endif

  // Shutdown while /metrics is scraped without pause: the scrapes read gauges of objects that
  // shutdown destroys (the worker pools), so serving must stop before they go. A scrape in
  // that window reads freed memory, which AddressSanitizer (make test-asan) reports by
  // failing the process; the exit status says so.
  std::atomic<bool> stopped{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    while (!stopped.load()) {
      if (ScrapeOnce(metrics_port)) ++scrapes;
    }
  });
  ASSERT_TRUE(testing::WaitFor([&] { return scrapes.load() >= 10; }));
  const int exit_status = server.Stop();
  stopped = true;
  scraper.join();
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0)
      << "wait status " << exit_status << "; "
      << Shell("grep -m1 -A3 'ERROR: AddressSanitizer' " + log + "; tail -2 " + log);

  // Logs: one JSON object per line; calls carry their request id, trace id and principal.
  std::ifstream in(log);
  std::string line;
  int lines = 0;
  bool call_logged = false, auth_failure_logged = false, allocator_logged = false;
  bool library_logged = false;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ++lines;
    for (const char* k : {"time", "level", "service", "message"})
      EXPECT_TRUE(j.contains(k)) << line;
    if (j.value("request_id", "") == "req-obs-1" && j.value("trace_id", "") == trace_id &&
        j.value("principal", "").rfind("apiKeys/", 0) == 0) {
      call_logged = true;
    }
    // The start names the allocator serving the process (libs/runtime/allocator.h).
    if (j.value("message", "") == "started") {
      allocator_logged = j.value("allocator", "") == AllocatorName();
    }
    if (j.value("request_id", "") == "req-bad-key" &&
        j.value("message", "") == "authentication failed") {
      auth_failure_logged = true;
      EXPECT_EQ(line.find("stp_bad"), std::string::npos) << "a credential was logged";
    }
    if (j.value("source", "") == "protobuf" &&
        j.value("message", "").find("UTF-8") != std::string::npos) {
      library_logged = j.value("level", "") == "error" && j.contains("file");
    }
  }
  EXPECT_GT(lines, 5);
  EXPECT_TRUE(call_logged) << Shell("grep req-obs-1 " + log);
  EXPECT_TRUE(auth_failure_logged);
  EXPECT_TRUE(allocator_logged) << Shell("grep started " + log);
  EXPECT_TRUE(library_logged) << Shell("grep -i utf " + log);
  // The operator key never appears in the logs.
  std::stringstream all;
  all << std::ifstream(log).rdbuf();
  EXPECT_EQ(all.str().find(key.substr(22)), std::string::npos);
}

}  // namespace
}  // namespace stp
