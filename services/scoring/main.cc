// stp-scoring: the scoring service as its own process.
#include "services/scoring/scoring_module.h"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<stp::Module>> modules;
  modules.push_back(stp::scoring::NewScoringModule());
  return stp::RunModules(argc, argv, "stp-scoring", "The STP Cooperation Tracker scoring service.",
                         std::move(modules));
}
