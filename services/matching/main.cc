// stp-matching: the matching service as its own process.
#include "services/matching/matching_module.h"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<stp::Module>> modules;
  modules.push_back(stp::matching::NewMatchingModule());
  return stp::RunModules(argc, argv, "stp-matching",
                         "The STP Cooperation Tracker matching service.", std::move(modules));
}
