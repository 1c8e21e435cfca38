// One channel to the API and the call policy every service client shares: credentials,
// deadlines and retries. Service clients (IngestionClient, ...) are cheap views over it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/client/client_options.h"
#include "libs/common/grpc_status.h"
#include "libs/common/status.h"

namespace stp::client {

// Whether a call may be sent again after a failure.
enum class Idempotency {
  // A read, or a mutation that carries a request_id: a repeat returns the first answer.
  kSafe,
  // Anything else (for example issuing an API key): never retried.
  kUnsafe,
};

class Connection {
 public:
  // Validates the options and opens a channel (connecting lazily, on the first call). gRPC's
  // own retries are switched off on the channel, so this library's policy is the only one.
  static absl::StatusOr<std::shared_ptr<Connection>> Create(ClientOptions options);
  // Over an existing channel, for in-process use and tests; its credentials are the caller's.
  static std::shared_ptr<Connection> FromChannel(std::shared_ptr<grpc::Channel> channel,
                                                 ClientOptions options);

  const ClientOptions& options() const { return options_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // The absolute deadline of a call started now.
  absl::Time DeadlineFor(const CallOptions& call) const;
  // Sets the deadline, the credential and the call's metadata on a context.
  void Prepare(grpc::ClientContext* context, absl::Time deadline, const CallOptions& call) const;
  // Sets only the credential and the call's metadata (for streams that have no deadline).
  void Authorize(grpc::ClientContext* context, const CallOptions& call) const;

  // Runs `attempt` on a fresh, prepared context until it succeeds, fails with an error that is
  // not retried, runs out of attempts, or the deadline leaves no time for another attempt.
  // Answers the last attempt's status, with its google.rpc details as payloads.
  absl::Status Run(const char* method, Idempotency idempotency, const CallOptions& call,
                   const std::function<grpc::Status(grpc::ClientContext*)>& attempt) const;

  // The wait before the next attempt after `status`, or nullopt when it is not retried.
  // `backoff` is the policy's current step; it grows each time it is used.
  static std::optional<absl::Duration> RetryDelay(const absl::Status& status,
                                                  const RetryPolicy& policy,
                                                  absl::Duration* backoff);

  // grpc.health.v1 Check of `service` ("" for the whole server): "SERVING", "NOT_SERVING", ...
  absl::StatusOr<std::string> CheckHealth(const std::string& service,
                                          const CallOptions& call = {}) const;

 private:
  Connection(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
      : channel_(std::move(channel)), options_(std::move(options)) {}

  std::shared_ptr<grpc::Channel> channel_;
  ClientOptions options_;
};

// `wait` spread by ± `jitter` (a share, 0 to 1), so that clients failing together do not
// come back together.
absl::Duration Jittered(absl::Duration wait, double jitter);

// A new idempotency key: a random UUID (version 4), as the API guide recommends.
std::string NewRequestId();

// Unary call through a generated stub with the connection's policy.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> CallUnary(const Connection& connection, Stub* stub,
                                   grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                const Request&, Response*),
                                   const char* name, Idempotency idempotency,
                                   const Request& request, const CallOptions& call) {
  Response response;
  absl::Status status = connection.Run(name, idempotency, call, [&](grpc::ClientContext* context) {
    Response attempt_response;
    grpc::Status s = (stub->*method)(context, request, &attempt_response);
    if (s.ok()) response = std::move(attempt_response);
    return s;
  });
  if (!status.ok()) return status;
  return response;
}

// Gives a mutation an idempotency key when the caller left it empty, so that its retries are
// recognised by the server as the same request.
template <typename Request>
void EnsureRequestId(Request* request) {
  if (request->request_id().empty()) request->set_request_id(NewRequestId());
}

}  // namespace stp::client
