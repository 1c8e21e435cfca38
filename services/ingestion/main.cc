// stp-ingestion: the ingestion service as its own process.
#include "services/admin/admin_module.h"
#include "services/ingestion/ingestion_module.h"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<stp::Module>> modules;
  modules.push_back(stp::ingestion::NewIngestionModule());
  modules.push_back(stp::admin::NewAdminModule());
  return stp::RunModules(argc, argv, "stp-ingestion",
                         "The STP Cooperation Tracker ingestion service.", std::move(modules));
}
