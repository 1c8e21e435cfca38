#include "libs/client/admin_client.h"

namespace stp::client {
namespace {
using Stub = av1::AdminService::Stub;
}  // namespace

AdminClient::AdminClient(std::shared_ptr<Connection> connection)
    : connection_(std::move(connection)),
      stub_(av1::AdminService::NewStub(connection_->channel())) {}

absl::StatusOr<av1::CreateApiKeyResponse> AdminClient::CreateApiKey(
    const av1::CreateApiKeyRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::CreateApiKey, "CreateApiKey",
                   Idempotency::kUnsafe, request, call);
}

absl::StatusOr<av1::ListApiKeysResponse> AdminClient::ListApiKeys(
    const av1::ListApiKeysRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::ListApiKeys, "ListApiKeys", Idempotency::kSafe,
                   request, call);
}

absl::StatusOr<av1::ApiKey> AdminClient::RevokeApiKey(const av1::RevokeApiKeyRequest& request,
                                                      const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::RevokeApiKey, "RevokeApiKey",
                   Idempotency::kUnsafe, request, call);
}

}  // namespace stp::client
