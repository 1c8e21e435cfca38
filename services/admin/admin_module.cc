#include "services/admin/admin_module.h"

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "libs/common/ids.h"
#include "libs/common/proto_time.h"
#include "libs/common/status.h"
#include "stp/admin/v1/admin_service.grpc.pb.h"

namespace stp::admin {
namespace {

namespace av1 = stp::admin::v1;

av1::ApiKey ToProto(const ApiKeyRecord& r) {
  av1::ApiKey k;
  k.set_name("apiKeys/" + r.id);
  k.set_organization(r.organization);
  k.set_role(static_cast<av1::AccessRole>(r.role));
  k.set_display_name(r.display_name);
  *k.mutable_create_time() = common::ToTimestamp(r.create_time);
  if (r.expire_time != absl::InfiniteFuture())
    *k.mutable_expire_time() = common::ToTimestamp(r.expire_time);
  if (r.revoke_time != absl::InfiniteFuture())
    *k.mutable_revoke_time() = common::ToTimestamp(r.revoke_time);
  return k;
}

// Issues, lists and revokes API keys. Every method needs the OPERATOR role.
class AdminServiceImpl final : public av1::AdminService::CallbackService {
 public:
  AdminServiceImpl(CallHandler* handler, ApiKeyStore* keys) : handler_(handler), keys_(keys) {}

  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* c,
                                         const av1::CreateApiKeyRequest* q,
                                         av1::CreateApiKeyResponse* r) override {
    return ServeUnary(
        handler_, c, "CreateApiKey", AccessRole::kOperator, r,
        [this, q](const RequestContext&) -> absl::StatusOr<av1::CreateApiKeyResponse> {
          if (!av1::AccessRole_IsValid(q->api_key().role())) {
            return InvalidField("api_key.role", "unknown value");
          }
          STP_ASSIGN_OR_RETURN(auto created,
                               keys_->Create(q->api_key().organization(),
                                             static_cast<AccessRole>(q->api_key().role()),
                                             q->api_key().display_name(),
                                             absl::Seconds(q->ttl_seconds()), absl::Now()));
          av1::CreateApiKeyResponse resp;
          *resp.mutable_api_key() = ToProto(created.first);
          resp.set_secret(created.second);
          return resp;
        });
  }

  grpc::ServerUnaryReactor* ListApiKeys(grpc::CallbackServerContext* c,
                                        const av1::ListApiKeysRequest* q,
                                        av1::ListApiKeysResponse* r) override {
    return ServeUnary(handler_, c, "ListApiKeys", AccessRole::kOperator, r,
                      [this, q](const RequestContext&) -> absl::StatusOr<av1::ListApiKeysResponse> {
                        if (q->page_size() < 0 || q->page_size() > 1000) {
                          return InvalidField("page_size", "must be between 0 and 1000");
                        }
                        int page_size = q->page_size() == 0 ? 50 : q->page_size();
                        STP_ASSIGN_OR_RETURN(auto keys, keys_->List());
                        av1::ListApiKeysResponse resp;
                        for (const auto& k : keys) {
                          if (!q->organization().empty() && k.organization != q->organization())
                            continue;
                          if (!q->page_token().empty() && k.id <= q->page_token()) continue;
                          if (resp.api_keys_size() == page_size) {
                            resp.set_next_page_token(resp.api_keys(page_size - 1).name().substr(8));
                            break;
                          }
                          *resp.add_api_keys() = ToProto(k);
                        }
                        return resp;
                      });
  }

  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* c,
                                         const av1::RevokeApiKeyRequest* q,
                                         av1::ApiKey* r) override {
    return ServeUnary(
        handler_, c, "RevokeApiKey", AccessRole::kOperator, r,
        [this, q](const RequestContext&) -> absl::StatusOr<av1::ApiKey> {
          if (!absl::StartsWith(q->name(), "apiKeys/") || !IsResourceId(q->name().substr(8))) {
            return InvalidField("name", "must look like \"apiKeys/{id}\"");
          }
          STP_ASSIGN_OR_RETURN(auto revoked, keys_->Revoke(q->name().substr(8), absl::Now()));
          return ToProto(revoked);
        });
  }

 private:
  CallHandler* handler_;
  ApiKeyStore* keys_;
};

class AdminModule : public Module {
 public:
  std::string name() const override { return "admin"; }
  absl::Status Init(Process& process) override {
    service_ = std::make_unique<AdminServiceImpl>(process.NewCallHandler("admin", 2, 64),
                                                  &process.api_keys());
    process.runner().AddService(service_.get(), "stp.admin.v1.AdminService");
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<AdminServiceImpl> service_;
};

}  // namespace

std::unique_ptr<Module> NewAdminModule() { return std::make_unique<AdminModule>(); }

}  // namespace stp::admin
