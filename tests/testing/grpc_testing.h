// Helpers for tests that run real gRPC servers on port 0 and call them through real channels.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/common/server.h"

namespace stp::testing {

// Server options for a test: loopback, port 0, plaintext, no metrics port, quick readiness.
inline ServerOptions TestServerOptions() {
  ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  o.metrics_address = "";
  o.plaintext = true;
  o.worker_threads = 4;
  o.readiness_interval = absl::Milliseconds(50);
  o.shutdown_timeout = absl::Seconds(5);
  return o;
}

inline std::shared_ptr<grpc::Channel> LocalChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // tests see every failure as it happens
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

// A channel for waiting on a server that is still starting: gRPC's default reconnect backoff
// (1 s, then 1.6 s, 2.6 s, ...) would keep calls failing for seconds after the server is up.
inline std::shared_ptr<grpc::Channel> StartupChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration timeout = absl::Seconds(10),
                    absl::Duration interval = absl::Milliseconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(interval);
  }
  return condition();
}

inline void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d));
}

}  // namespace stp::testing
