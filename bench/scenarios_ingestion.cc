// Ingestion: GetProject and CreateProject against the echo ceiling, ImportProjects throughput,
// and Redis memory per stored project.
#include <atomic>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/datagen.h"
#include "bench/scenarios.h"
#include "libs/common/ids.h"
#include "libs/redis/redis.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "tests/testing/child_process.h"
#include "tests/testing/redis_server.h"

namespace stp::bench {

using stp::testing::ChildProcess;

namespace v1 = stp::ingestion::v1;

namespace {

grpc::Status Unary(std::function<grpc::Status(grpc::ClientContext*)> fn) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return fn(&ctx);
}

int64_t RedisUsedMemory(const std::string& address) {
  return static_cast<int64_t>(RedisInfo(address, "memory")["used_memory"]);
}

// Streams `projects` into ImportProjects; returns the wall time, the summary in `summary`.
absl::Duration ImportStream(v1::IngestionService::Stub* stub,
                            const std::vector<v1::Project>& projects, const std::string& request_id,
                            v1::ImportSummary* summary) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  absl::Time start = absl::Now();
  auto writer = stub->ImportProjects(&ctx, summary);
  v1::ImportProjectsRequest first;
  first.set_format(v1::IMPORT_FORMAT_PROJECTS);
  first.set_request_id(request_id);
  writer->Write(first);
  v1::ImportProjectsRequest msg;
  for (const auto& p : projects) {
    *msg.mutable_project() = p;
    if (!writer->Write(msg)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) std::fprintf(stderr, "import failed: %s\n", s.error_message().c_str());
  return absl::Now() - start;
}

// A process's resident set in bytes (0 when unreadable).
int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    int64_t kb = 0;
    if (absl::StartsWith(line, "VmRSS:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 6 - 3)), &kb))
      return kb * 1024;
  }
  return 0;
}

}  // namespace

void RunIngestionScenarios(const BenchConfig& config, Report* report) {
  const Baselines& base = config.baselines;
  ChildProcess server;
  int port = stp::testing::PickFreePort();
  std::string address = absl::StrCat("127.0.0.1:", port);
  if (auto s =
          server.Start({config.bin_dir + "/services/ingestion/stp-ingestion", "--listen", address,
                        "--metrics-listen", "", "--plaintext", "--auth-disabled", "--redis-address",
                        config.redis_address, "--log-level", "warning", "--worker-queue", "4096",
                        "--ingestion-workers", "8", "--redis-pool-size", "16"},
                       address, "/tmp/stp-bench-ingestion.log");
      !s.ok()) {
    report->Add(
        {"ingestion", "start stp-ingestion", std::string(s.message()), "", "", "FAILED", ""});
    return;
  }
  auto channels = MakeChannels(address, 4);
  std::vector<std::unique_ptr<v1::IngestionService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(v1::IngestionService::NewStub(c));
  v1::IngestionService::Stub* stub = stubs[0].get();

  // Reference data and organisations.
  DataGenerator gen(42);
  for (const auto& c : gen.Countries()) {
    v1::UpsertCountryRequest req;
    *req.mutable_country() = c;
    v1::Country out;
    Unary([&](auto* ctx) { return stub->UpsertCountry(ctx, req, &out); });
  }
  std::vector<std::string> orgs;
  for (int i = 0; i < 300; ++i) {
    v1::CreateOrganizationRequest req;
    *req.mutable_organization() = gen.Organization(i);
    v1::Organization out;
    if (Unary([&](auto* ctx) { return stub->CreateOrganization(ctx, req, &out); }).ok())
      orgs.push_back(out.name());
  }

  // ImportProjects: 1 KB projects with their events, one stream.
  const int n = config.import_projects > 0 ? config.import_projects : config.full ? 100000 : 30000;
  std::vector<v1::Project> projects;
  projects.reserve(n);
  for (int i = 0; i < n; ++i) projects.push_back(gen.Project(i, orgs, 1024));
  int64_t mem_before = RedisUsedMemory(config.redis_address);
  const int64_t resident_before = ResidentBytes(server.pid());
  v1::ImportSummary summary;
  absl::Duration took = ImportStream(stub, projects, "bench-import", &summary);
  double rate = summary.created() / absl::ToDoubleSeconds(took);
  int64_t mem_after = RedisUsedMemory(config.redis_address);
  const int64_t resident_after = ResidentBytes(server.pid());
  report->Add({"ingestion", absl::StrFormat("ImportProjects, %d projects of 1 KB, one stream", n),
               absl::StrFormat("%.0f projects/s (created %d, rejected %d, %.1f s)", rate,
                               summary.created(), summary.rejected(), absl::ToDoubleSeconds(took)),
               absl::StrFormat("%.2f of hiredis pipelined ops/s", rate / base.hiredis_pipelined),
               ">= 20,000 projects/s", AtLeast(rate, 20000), ""});
  double per_project =
      summary.created() > 0 ? double(mem_after - mem_before) / summary.created() : 0;
  report->Add({"ingestion",
               "Redis memory per stored project (1 KB payload, indexes, event, history)",
               absl::StrFormat("%.0f bytes", per_project), "", "", "", ""});
  report->Add({"ingestion",
               "ingestion replica memory per stored project (growth of its resident set over the "
               "import: the in-memory project index, and what the allocator keeps of the import's "
               "buffers)",
               absl::StrFormat("%.0f bytes",
                               summary.created() > 0
                                   ? double(resident_after - resident_before) / summary.created()
                                   : 0.0),
               "", "", "", ""});

  // Names to read.
  std::vector<std::string> names;
  v1::ListProjectsRequest list;
  list.set_page_size(1000);
  while (names.size() < 20000) {
    v1::ListProjectsResponse resp;
    if (!Unary([&](auto* ctx) { return stub->ListProjects(ctx, list, &resp); }).ok()) break;
    for (const auto& p : resp.projects()) names.push_back(p.name());
    if (resp.next_page_token().empty()) break;
    list.set_page_token(resp.next_page_token());
  }

  // GetProject against echo, same concurrency.
  LoadOptions lo{64, 0, config.warmup, config.duration};
  EchoComparison get = CompareWithEcho(config, 64, [&] {
    return RunLoad(
        lo,
        [&](int64_t slot, std::function<void(bool)> done) {
          auto* ctx = new grpc::ClientContext();
          auto* req = new v1::GetProjectRequest();
          auto* resp = new v1::Project();
          static std::atomic<uint64_t> next{0};
          req->set_name(names[(next.fetch_add(1) * 7919) % names.size()]);
          stubs[slot % stubs.size()]->async()->GetProject(ctx, req, resp, [=](grpc::Status s) {
            delete ctx;
            delete req;
            delete resp;
            done(s.ok());
          });
        },
        server.pid());
  });
  report->Add({"ingestion", "GetProject, concurrency 64", get.result.Summary(), get.Describe(),
               ">= 0.50 of echo", AtLeast(get.ratio(), 0.5), ""});

  // CreateProject with request ids.
  std::atomic<int> seq{0};
  EchoComparison create = CompareWithEcho(config, 64, [&] {
    return RunLoad(
        lo,
        [&](int64_t slot, std::function<void(bool)> done) {
          auto* ctx = new grpc::ClientContext();
          auto* req = new v1::CreateProjectRequest();
          auto* resp = new v1::Project();
          int i = n + seq.fetch_add(1);
          *req->mutable_project() = projects[i % n];
          req->mutable_project()->mutable_external_ids(0)->set_value(absl::StrCat("create-", i));
          req->set_request_id(absl::StrCat("bench-create-", i));
          stubs[slot % stubs.size()]->async()->CreateProject(ctx, req, resp, [=](grpc::Status s) {
            delete ctx;
            delete req;
            delete resp;
            done(s.ok());
          });
        },
        server.pid());
  });
  report->Add({"ingestion", "CreateProject, 1 KB, concurrency 64", create.result.Summary(),
               create.Describe(), ">= 0.30 of echo", AtLeast(create.ratio(), 0.3), ""});
  server.Stop();
}

}  // namespace stp::bench
