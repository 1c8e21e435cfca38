// Settings of a connection to the STP Cooperation Tracker API: where it is, how to prove who
// you are, how long a call may take and how failed calls are retried.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace stp::client {

// How a failed call is tried again. Only calls that are safe to repeat are retried: reads, and
// mutations that carry a request_id (the library sets one when the caller left it empty, and
// sends the same one on every attempt). Retried codes: UNAVAILABLE, and RESOURCE_EXHAUSTED
// when the server says when to retry (google.rpc.RetryInfo), after the delay it gives.
struct RetryPolicy {
  // Attempts in total, the first included; 1 disables retries. For subscriptions, 0 means
  // reconnect for as long as the subscription is not cancelled.
  int max_attempts = 5;
  // Wait before the second attempt; doubled (times `backoff_multiplier`) after each failure.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  // Longest wait between attempts.
  absl::Duration max_backoff = absl::Seconds(10);
  double backoff_multiplier = 2.0;
  // Each wait is drawn uniformly from [w × (1 − jitter), w × (1 + jitter)], so that many
  // clients failing together do not come back together.
  double jitter = 0.25;
};

// Told about each retry before its wait: for logs and progress output.
struct RetryEvent {
  std::string method;    // for example "CreateProject"
  int failed_attempt;    // 1 for the first attempt
  absl::Status status;   // why it failed
  absl::Duration delay;  // how long the client waits before the next attempt
};

struct ClientOptions {
  // "host:port" of the API, for example "stp.example.org:443" or "127.0.0.1:50051".
  std::string address;
  // An API key ("stp_<id>_<64 hex>"), sent as "authorization: Bearer <key>" on every call.
  // Leave empty when authenticating with a client certificate.
  std::string api_key;
  // TLS is on unless this is true. Plaintext is for local runs on loopback only.
  bool plaintext = false;
  // PEM CA bundle to verify the server with; empty uses the system roots.
  std::string ca_roots_pem;
  // PEM client certificate chain and private key, for mutual TLS (both or neither).
  std::string client_cert_pem;
  std::string client_key_pem;
  // Name to verify the server certificate against when it differs from the address's host.
  std::string tls_server_name;
  // Deadline of a call that does not give its own. Every call has one: a call without a
  // deadline can wait forever on a lost connection. It bounds all attempts together.
  absl::Duration default_deadline = absl::Seconds(30);
  RetryPolicy retry;
  // Prefix of the user-agent header, for the operators' logs.
  std::string user_agent = "stp-client-cpp/1";
  // Optional observer of retries.
  std::function<void(const RetryEvent&)> on_retry;

  // Reads the PEM files named (empty names are skipped) into the fields above.
  absl::Status LoadTlsFiles(const std::string& ca_file, const std::string& cert_file,
                            const std::string& key_file);
};

// Per-call settings; the defaults come from ClientOptions.
struct CallOptions {
  // Deadline of this call, all attempts included; zero uses ClientOptions::default_deadline.
  absl::Duration deadline = absl::ZeroDuration();
  // Overrides RetryPolicy::max_attempts for this call (1: no retries).
  std::optional<int> max_attempts;
  // Extra metadata sent with the call.
  std::vector<std::pair<std::string, std::string>> metadata;
};

}  // namespace stp::client
