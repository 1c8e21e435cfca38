// stp-notification: the notification service as its own process.
#include "services/notification/notification_module.h"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<stp::Module>> modules;
  modules.push_back(stp::notification::NewNotificationModule());
  return stp::RunModules(argc, argv, "stp-notification",
                         "The STP Cooperation Tracker notification service.", std::move(modules));
}
