// stp-allinone: the four services in one process on one port, for small installs and demos.
// Services reach each other over in-process channels.
#include "services/admin/admin_module.h"
#include "services/ingestion/ingestion_module.h"
#include "services/matching/matching_module.h"
#include "services/notification/notification_module.h"
#include "services/scoring/scoring_module.h"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<stp::Module>> modules;
  modules.push_back(stp::ingestion::NewIngestionModule());
  modules.push_back(stp::admin::NewAdminModule());
  modules.push_back(stp::scoring::NewScoringModule());
  modules.push_back(stp::matching::NewMatchingModule());
  modules.push_back(stp::notification::NewNotificationModule());
  return stp::RunModules(argc, argv, "stp-allinone",
                         "All four STP Cooperation Tracker services in one process.",
                         std::move(modules));
}
