// stpctl health: grpc.health.v1 Check of one or more servers. Used by deploy/run-local.sh,
// tests/e2e/run_with_stack.sh and the Kubernetes runbook against health ports, which speak
// plaintext: so plaintext is the default here, and --tls opts in.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/client/connection.h"
#include "libs/common/flags.h"
#include "tools/stpctl/commands.h"

namespace stp::stpctl {

int RunHealth(const std::vector<std::string>& args) {
  std::string addresses = "127.0.0.1:50051";
  std::string service;
  absl::Duration wait = absl::ZeroDuration();
  bool tls = false;
  std::string ca_file, cert_file, key_file;
  FlagSet flags("stpctl health", "Reports whether each server is SERVING (grpc.health.v1).");
  flags.String("address", &addresses, "server addresses, comma-separated");
  flags.String("service", &service, "service name to check; empty checks the whole server");
  flags.Duration("wait", &wait, "keep checking until every server serves or this much time passes");
  flags.Bool("tls", &tls, "use TLS (health ports are plaintext by default)");
  flags.String("ca-file", &ca_file, "with --tls: PEM CA bundle to verify the server");
  flags.String("cert-file", &cert_file, "with --tls: PEM client certificate");
  flags.String("key-file", &key_file, "with --tls: PEM private key of --cert-file");
  absl::Status parsed = flags.Parse(args);
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return kExitOk;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "stpctl health: %s\n", std::string(parsed.message()).c_str());
    return kExitUsage;
  }
  absl::Time deadline = absl::Now() + wait;
  int failures = 0;
  for (absl::string_view address : absl::StrSplit(addresses, ',', absl::SkipEmpty())) {
    client::ClientOptions options;
    options.address = std::string(address);
    options.plaintext = !tls;
    options.default_deadline = absl::Seconds(1);
    options.retry.max_attempts = 1;  // this loop is the retry
    if (tls) {
      absl::Status loaded = options.LoadTlsFiles(ca_file, cert_file, key_file);
      if (!loaded.ok()) {
        std::fprintf(stderr, "stpctl health: %s\n", std::string(loaded.message()).c_str());
        return kExitUsage;
      }
    }
    auto connection = client::Connection::Create(options);
    if (!connection.ok()) {
      std::fprintf(stderr, "stpctl health: %s\n",
                   std::string(connection.status().message()).c_str());
      return kExitUsage;
    }
    std::string state = "UNREACHABLE";
    while (true) {
      absl::StatusOr<std::string> checked = (*connection)->CheckHealth(service);
      state = checked.ok() ? *checked : "UNREACHABLE";
      if (state == "SERVING" || absl::Now() >= deadline) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    std::printf("%-24s %s\n", std::string(address).c_str(), state.c_str());
    if (state != "SERVING") ++failures;
  }
  return failures == 0 ? kExitOk : kExitServerError;
}

}  // namespace stp::stpctl
