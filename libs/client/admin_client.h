// stp.admin.v1.AdminService: API keys, for operators. Issuing and revoking carry no request
// id, so they are never retried; a failed CreateApiKey may or may not have issued a key, which
// ListApiKeys shows.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "libs/client/connection.h"
#include "stp/admin/v1/admin_service.grpc.pb.h"

namespace stp::client {

namespace av1 = stp::admin::v1;

class AdminClient {
 public:
  explicit AdminClient(std::shared_ptr<Connection> connection);

  absl::StatusOr<av1::CreateApiKeyResponse> CreateApiKey(const av1::CreateApiKeyRequest& request,
                                                         const CallOptions& call = {}) const;
  absl::StatusOr<av1::ListApiKeysResponse> ListApiKeys(const av1::ListApiKeysRequest& request,
                                                       const CallOptions& call = {}) const;
  absl::StatusOr<av1::ApiKey> RevokeApiKey(const av1::RevokeApiKeyRequest& request,
                                           const CallOptions& call = {}) const;

  av1::AdminService::Stub* stub() const { return stub_.get(); }

 private:
  std::shared_ptr<Connection> connection_;
  std::unique_ptr<av1::AdminService::Stub> stub_;
};

}  // namespace stp::client
