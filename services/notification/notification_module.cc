#include "services/notification/notification_module.h"

#include <curl/curl.h>

#include "absl/time/clock.h"
#include "libs/common/status.h"
#include "services/notification/notification_service.h"
#include "services/notification/subscription_hub.h"
#include "services/notification/webhooks.h"

namespace stp::notification {
namespace {

class NotificationModule : public Module {
 public:
  std::string name() const override { return "notification"; }

  void RegisterFlags(FlagSet* flags) override {
    flags->Int("notification-workers", &workers_, "worker threads of the notification service");
    flags->Int("notification-ring", &ring_,
               "events kept in memory per partition for live subscribers; a "
               "subscriber further behind than this is cut off");
    flags->Int("webhook-workers", &webhook_.workers, "threads delivering webhooks");
    flags->Int("webhook-max-attempts", &webhook_.max_attempts,
               "attempts before a delivery is dead-lettered");
    flags->Duration("webhook-base-backoff", &webhook_.base_backoff,
                    "delay before the first retry (doubles each time)");
    flags->Duration("webhook-max-backoff", &webhook_.max_backoff, "longest delay between retries");
    flags->Duration("webhook-timeout", &webhook_.http_timeout,
                    "HTTP timeout of one delivery attempt");
    flags->Duration("webhook-lease", &webhook_.lease,
                    "how long a claimed delivery is reserved for one worker");
    flags->String("webhook-consumer", &webhook_.consumer,
                  "consumer name in the webhook group (default host-pid)");
  }

  absl::Status Init(Process& process) override {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SubscriptionHub::Options hub_options;
    hub_options.ring_capacity = static_cast<size_t>(ring_);
    hub_ = std::make_unique<SubscriptionHub>(&process.redis(), process.keyspace(), hub_options);
    store_ = std::make_unique<WebhookStore>(&process.redis(), process.keyspace());
    dispatcher_ = std::make_unique<WebhookDispatcher>(
        store_.get(), webhook_, [] { return absl::Now(); }, [] { return NewCurlSender(); });
    CallHandler* handler = process.NewCallHandler("notification", workers_, workers_ * 256);
    service_ = std::make_unique<NotificationServiceImpl>(handler, hub_.get(), store_.get());
    process.runner().AddService(service_.get(), "stp.notification.v1.NotificationService");
    auto& cb = process.metrics().callbacks();
    NotificationServiceImpl* service = service_.get();
    WebhookDispatcher* dispatcher = dispatcher_.get();
    cb.Add("stp_subscribers", "Open Subscribe streams", {},
           [service] { return double(service->open_subscriptions()); });
    cb.Add("stp_webhook_deliveries", "Webhook deliveries by outcome", {{"outcome", "succeeded"}},
           [dispatcher] { return double(dispatcher->delivered()); });
    cb.Add("stp_webhook_deliveries", "Webhook deliveries by outcome",
           {{"outcome", "failed_attempt"}},
           [dispatcher] { return double(dispatcher->failed_attempts()); });
    cb.Add("stp_webhook_deliveries", "Webhook deliveries by outcome", {{"outcome", "dead_letter"}},
           [dispatcher] { return double(dispatcher->dead_lettered()); });
    cb.Add("stp_webhook_event_losses",
           "Times events were trimmed from a stream before webhook deliveries were made for "
           "them (each reported by one replica; the log gives the count)",
           {}, [dispatcher] { return double(dispatcher->losses()); });
    return absl::OkStatus();
  }

  absl::Status Start(Process& process) override {
    STP_RETURN_IF_ERROR(hub_->Start());
    return dispatcher_->Start();
  }

  void Stop() override {
    if (service_) service_->EndAll();
    if (dispatcher_) dispatcher_->Stop();
    if (hub_) hub_->Stop();
  }

 private:
  int workers_ = 4;
  int ring_ = 10000;
  WebhookOptions webhook_;
  std::unique_ptr<SubscriptionHub> hub_;
  std::unique_ptr<WebhookStore> store_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
  std::unique_ptr<NotificationServiceImpl> service_;
};

}  // namespace

std::unique_ptr<Module> NewNotificationModule() { return std::make_unique<NotificationModule>(); }

}  // namespace stp::notification
