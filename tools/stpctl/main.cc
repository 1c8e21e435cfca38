// stpctl: the command line for partners and operators.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/flags.h"

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Checks the health of each address (comma-separated), optionally waiting until all serve.
int HealthCommand(const std::vector<std::string>& args) {
  std::string addresses = "127.0.0.1:50051";
  std::string service;
  absl::Duration wait = absl::ZeroDuration();
  stp::FlagSet flags("stpctl health", "Reports whether each server is SERVING (grpc.health.v1).");
  flags.String("address", &addresses, "server addresses, comma-separated");
  flags.String("service", &service, "service name to check; empty checks the whole server");
  flags.Duration("wait", &wait, "keep checking until every server serves or this much time passes");
  absl::Status parsed = flags.Parse(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "stpctl health: %s\n", std::string(parsed.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  absl::Time deadline = absl::Now() + wait;
  int failures = 0;
  for (absl::string_view address : absl::StrSplit(addresses, ',', absl::SkipEmpty())) {
    auto channel = grpc::CreateChannel(std::string(address), grpc::InsecureChannelCredentials());
    auto stub = Health::NewStub(channel);
    std::string state = "UNREACHABLE";
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      HealthCheckRequest req;
      req.set_service(service);
      HealthCheckResponse resp;
      grpc::Status s = stub->Check(&ctx, req, &resp);
      state = s.ok() ? HealthCheckResponse::ServingStatus_Name(resp.status()) : "UNREACHABLE";
      if (state == "SERVING" || absl::Now() >= deadline) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    std::printf("%-24s %s\n", std::string(address).c_str(), state.c_str());
    if (state != "SERVING") ++failures;
  }
  return failures == 0 ? 0 : 1;
}

void Usage() {
  std::puts(
      "Usage: stpctl <command> [flags]\n\n"
      "Commands:\n"
      "  health   report whether servers are SERVING\n\n"
      "Run 'stpctl <command> --help' for a command's flags.");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    Usage();
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "health") return HealthCommand(args);
  std::fprintf(stderr, "stpctl: unknown command '%s'\n", command.c_str());
  Usage();
  return 2;
}
