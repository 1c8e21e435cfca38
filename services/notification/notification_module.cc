#include "services/notification/notification_module.h"

#include "stp/notification/v1/notification_service.grpc.pb.h"

namespace stp::notification {
namespace {

// Until the service lands, every method answers UNIMPLEMENTED (the generated defaults).
class NotificationModule : public Module {
 public:
  std::string name() const override { return "notification"; }
  absl::Status Init(Process& process) override {
    process.runner().AddService(&service_, "stp.notification.v1.NotificationService");
    return absl::OkStatus();
  }

 private:
  stp::notification::v1::NotificationService::CallbackService service_;
};

}  // namespace

std::unique_ptr<Module> NewNotificationModule() { return std::make_unique<NotificationModule>(); }

}  // namespace stp::notification
