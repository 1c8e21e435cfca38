// The commands of stpctl, one function per top-level command word, each in its own file.
#pragma once

#include <string>
#include <vector>

#include "tools/stpctl/invocation.h"

namespace stp::stpctl {

// health keeps its own flags (it predates the global ones and probes plaintext health ports).
int RunHealth(const std::vector<std::string>& args);

int RunCountries(Invocation& inv);      // countries_command.cc
int RunOrganizations(Invocation& inv);  // organizations_command.cc
int RunParks(Invocation& inv);          // parks_command.cc
int RunProjects(Invocation& inv);       // projects_command.cc
int RunImport(Invocation& inv);         // import_command.cc
int RunScore(Invocation& inv);          // scoring_commands.cc
int RunRank(Invocation& inv);           // scoring_commands.cc
int RunPortfolio(Invocation& inv);      // scoring_commands.cc
int RunMatch(Invocation& inv);          // matching_commands.cc
int RunConsortia(Invocation& inv);      // matching_commands.cc
int RunWatch(Invocation& inv);          // watch_command.cc
int RunWebhooks(Invocation& inv);       // webhooks_command.cc
int RunAdmin(Invocation& inv);          // admin_command.cc

}  // namespace stp::stpctl
