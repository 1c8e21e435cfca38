// The gRPC adapter of the notification service: Subscribe streams over the hub, and the
// webhook methods over the webhook store.
#pragma once

#include <atomic>

#include "libs/common/server.h"
#include "services/notification/subscription_hub.h"
#include "services/notification/webhooks.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"

namespace stp::notification {

class NotificationServiceImpl final : public nv1::NotificationService::CallbackService {
 public:
  NotificationServiceImpl(CallHandler* handler, SubscriptionHub* hub, WebhookStore* webhooks);
  ~NotificationServiceImpl() override;

  using Ctx = grpc::CallbackServerContext;
  grpc::ServerWriteReactor<nv1::SubscribeResponse>* Subscribe(
      Ctx* c, const nv1::SubscribeRequest* q) override;
  grpc::ServerUnaryReactor* CreateWebhook(Ctx* c, const nv1::CreateWebhookRequest* q,
                                          nv1::Webhook* r) override;
  grpc::ServerUnaryReactor* GetWebhook(Ctx* c, const nv1::GetWebhookRequest* q,
                                       nv1::Webhook* r) override;
  grpc::ServerUnaryReactor* ListWebhooks(Ctx* c, const nv1::ListWebhooksRequest* q,
                                         nv1::ListWebhooksResponse* r) override;
  grpc::ServerUnaryReactor* DeleteWebhook(Ctx* c, const nv1::DeleteWebhookRequest* q,
                                          nv1::DeleteWebhookResponse* r) override;
  grpc::ServerUnaryReactor* ListDeliveries(Ctx* c, const nv1::ListDeliveriesRequest* q,
                                           nv1::ListDeliveriesResponse* r) override;

  // Ends every open subscription (with OK and the cursor), for shutdown.
  void EndAll();
  int64_t open_subscriptions() const { return open_.load(); }

 private:
  class Subscription;
  CallHandler* handler_;
  SubscriptionHub* hub_;
  WebhookStore* webhooks_;
  std::atomic<int64_t> open_{0};
  std::atomic<bool> ending_{false};
};

}  // namespace stp::notification
