// stp-echo-server: the benchmark ceiling. The echo service on the product's own runner, worker
// pool and call handler and allocator, with nothing behind it.
#include <cstdio>

#include "libs/common/flags.h"
#include "libs/common/logging.h"
#include "libs/common/server.h"
#include "libs/runtime/allocator.h"
#include "tests/testing/echo_service.h"

int main(int argc, char** argv) {
  stp::ServerRunner::PrepareServingProcess();
  stp::ServerOptions options;
  options.plaintext = true;
  options.metrics_address = "";
  stp::FlagSet flags("stp-echo-server",
                     "Echo service on the product's runner (benchmark baseline).");
  options.RegisterFlags(&flags);
  if (auto s = flags.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  stp::SetLogService("stp-echo-server");
  stp::Metrics metrics;
  stp::WorkerPool pool("echo", options.worker_threads, options.worker_queue);
  stp::CallHandler handler("echo", &pool, &metrics, nullptr);
  stp::testing::EchoServiceImpl echo(&handler);
  stp::ServerRunner runner(options);
  runner.AddService(&echo, "stp.testing.v1.EchoService");
  if (auto s = runner.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  stp::LogInfo("started", {{"allocator", stp::AllocatorName()}});
  stp::ServerRunner::WaitForTerminationSignal();
  runner.Shutdown();
  pool.Shutdown();
  return 0;
}
