#include "libs/client/connection.h"

#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/ids.h"

namespace stp::client {
namespace {

// Larger than the server's 8 MiB limit, so that the server's answer is never cut by the client.
constexpr int kMaxReceiveBytes = 16 << 20;

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double Uniform(double low, double high) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(low, high)(generator);
}

}  // namespace

absl::Duration Jittered(absl::Duration wait, double jitter) {
  if (jitter <= 0) return wait;
  jitter = std::min(jitter, 1.0);
  return wait * Uniform(1.0 - jitter, 1.0 + jitter);
}

absl::Status ClientOptions::LoadTlsFiles(const std::string& ca_file, const std::string& cert_file,
                                         const std::string& key_file) {
  if (!ca_file.empty()) {
    STP_ASSIGN_OR_RETURN(ca_roots_pem, ReadPem(ca_file));
  }
  if (!cert_file.empty()) {
    STP_ASSIGN_OR_RETURN(client_cert_pem, ReadPem(cert_file));
  }
  if (!key_file.empty()) {
    STP_ASSIGN_OR_RETURN(client_key_pem, ReadPem(key_file));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Connection>> Connection::Create(ClientOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("no address given");
  if (options.client_cert_pem.empty() != options.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs both the certificate chain and its private key");
  }
  if (options.plaintext && (!options.client_cert_pem.empty() || !options.ca_roots_pem.empty())) {
    return absl::InvalidArgumentError(
        "plaintext was asked for together with TLS certificates; choose one");
  }
  if (options.default_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the default deadline must be positive");
  }
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("the retry policy needs at least one attempt");
  }
  grpc::ChannelArguments args;
  // The library retries by its own policy (only what is safe to repeat, reusing request ids);
  // gRPC's transparent retries would add attempts it cannot see.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  if (!options.user_agent.empty()) args.SetUserAgentPrefix(options.user_agent);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.plaintext) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = options.ca_roots_pem;
    tls.pem_private_key = options.client_key_pem;
    tls.pem_cert_chain = options.client_cert_pem;
    credentials = grpc::SslCredentials(tls);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(options.address, credentials, args);
  return std::shared_ptr<Connection>(new Connection(std::move(channel), std::move(options)));
}

std::shared_ptr<Connection> Connection::FromChannel(std::shared_ptr<grpc::Channel> channel,
                                                    ClientOptions options) {
  return std::shared_ptr<Connection>(new Connection(std::move(channel), std::move(options)));
}

absl::Time Connection::DeadlineFor(const CallOptions& call) const {
  absl::Duration d =
      call.deadline > absl::ZeroDuration() ? call.deadline : options_.default_deadline;
  return absl::Now() + d;
}

void Connection::Prepare(grpc::ClientContext* context, absl::Time deadline,
                         const CallOptions& call) const {
  context->set_deadline(absl::ToChronoTime(deadline));
  Authorize(context, call);
}

void Connection::Authorize(grpc::ClientContext* context, const CallOptions& call) const {
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.api_key);
  }
  for (const auto& [key, value] : call.metadata) context->AddMetadata(key, value);
}

std::optional<absl::Duration> Connection::RetryDelay(const absl::Status& status,
                                                     const RetryPolicy& policy,
                                                     absl::Duration* backoff) {
  absl::Duration step = *backoff;
  *backoff = std::min(policy.max_backoff, step * policy.backoff_multiplier);
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return Jittered(step, policy.jitter);
    case absl::StatusCode::kResourceExhausted: {
      // Only the server's own "retry after": gRPC itself also answers RESOURCE_EXHAUSTED for a
      // message over the size limit, which no retry can fix.
      absl::Duration hint = GetRetryDelay(status);
      if (hint <= absl::ZeroDuration()) return std::nullopt;
      // Never earlier than asked; a little later, so that clients told the same do not align.
      return hint + Jittered(step, policy.jitter) * 0.2;
    }
    default:
      return std::nullopt;
  }
}

absl::Status Connection::Run(
    const char* method, Idempotency idempotency, const CallOptions& call,
    const std::function<grpc::Status(grpc::ClientContext*)>& attempt) const {
  const absl::Time deadline = DeadlineFor(call);
  int max_attempts = call.max_attempts.value_or(options_.retry.max_attempts);
  if (idempotency == Idempotency::kUnsafe || max_attempts < 1) max_attempts = 1;
  absl::Duration backoff = options_.retry.initial_backoff;
  for (int n = 1;; ++n) {
    grpc::ClientContext context;
    Prepare(&context, deadline, call);
    absl::Status status = FromGrpcStatus(attempt(&context));
    if (status.ok() || n >= max_attempts) return status;
    std::optional<absl::Duration> delay = RetryDelay(status, options_.retry, &backoff);
    if (!delay.has_value()) return status;
    // No time left for another attempt: the caller's deadline wins over the retry policy.
    if (absl::Now() + *delay >= deadline) return status;
    if (options_.on_retry) options_.on_retry(RetryEvent{method, n, status, *delay});
    absl::SleepFor(*delay);
  }
}

absl::StatusOr<std::string> Connection::CheckHealth(const std::string& service,
                                                    const CallOptions& call) const {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  STP_ASSIGN_OR_RETURN(auto response,
                       CallUnary(*this, stub.get(), &grpc::health::v1::Health::Stub::Check, "Check",
                                 Idempotency::kSafe, request, call));
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

std::string NewRequestId() {
  std::string hex = RandomHex(16);
  hex[12] = '4';  // version 4
  static constexpr char kVariant[] = "89ab";
  hex[16] = kVariant[hex[16] % 4];
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

}  // namespace stp::client
