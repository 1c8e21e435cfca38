// stpctl: the command line for partners and operators, on top of the C++ client library.
//
//   stpctl [global flags] <command> [subcommand] [flags] [arguments]
//
// Global flags may come anywhere on the line; each command's --help lists its own.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/invocation.h"

namespace {

using stp::stpctl::Invocation;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(Invocation&);
};

constexpr Command kCommands[] = {
    {"countries", "list, get, upsert and load countries (reference data; operators)",
     stp::stpctl::RunCountries},
    {"orgs", "list, get, create, update and delete organisations", stp::stpctl::RunOrganizations},
    {"parks", "list, get, create and delete parks", stp::stpctl::RunParks},
    {"projects", "list, get, create, update, delete projects and show their history",
     stp::stpctl::RunProjects},
    {"import", "import an IATI activity XML or AidData CSV file", stp::stpctl::RunImport},
    {"score", "a project's score with its components and reasons", stp::stpctl::RunScore},
    {"rank", "scored projects, best (or worst) first", stp::stpctl::RunRank},
    {"portfolio", "scores summarised by country, avenue, model or park; --html for a report",
     stp::stpctl::RunPortfolio},
    {"match", "partners ranked for a need, with reasons", stp::stpctl::RunMatch},
    {"consortia", "whole teams proposed for a need", stp::stpctl::RunConsortia},
    {"watch", "follow events, one line each, resumable with --cursor", stp::stpctl::RunWatch},
    {"webhooks", "create, list and delete webhooks; list their deliveries",
     stp::stpctl::RunWebhooks},
    {"admin", "API keys: admin keys create|list|revoke (operators)", stp::stpctl::RunAdmin},
};

std::string GlobalUsage() {
  stp::stpctl::GlobalFlags defaults;
  stp::FlagSet flags("stpctl");
  defaults.Register(&flags);
  std::string usage = flags.Usage();
  // FlagSet's usage starts with its own "Usage:" line; keep only the flag list.
  auto flags_start = usage.find("Flags");
  return absl::StrCat("Global f", usage.substr(flags_start + 1));
}

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "Usage: stpctl [global flags] <command> [subcommand] [flags] [arguments]\n\n"
               "The command line of the STP Cooperation Tracker API.\n\nCommands:\n"
               "  %-10s %s\n",
               "health", "report whether servers are SERVING (plaintext unless --tls)");
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\n%s\n"
               "Output: aligned tables; --json prints protobuf JSON (JSON lines for watch).\n"
               "Exit codes: 0 ok, 1 server error, 2 usage error, 3 not found,\n"
               "            4 permission or authentication, 5 unavailable or deadline exceeded.\n"
               "Run 'stpctl <command> --help' for a command's flags.\n",
               GlobalUsage().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> global_args, rest;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool takes_value = false;
    if (arg == "--") {  // everything after is the command's
      rest.insert(rest.end(), argv + i, argv + argc);
      break;
    }
    if (stp::stpctl::GlobalFlags::IsGlobal(arg, &takes_value)) {
      global_args.push_back(arg);
      if (takes_value && i + 1 < argc) global_args.push_back(argv[++i]);
      continue;
    }
    rest.push_back(arg);
  }
  if (rest.empty()) {
    PrintUsage(stderr);
    return stp::stpctl::kExitUsage;
  }
  const std::string command = rest[0];
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage(stdout);
    return stp::stpctl::kExitOk;
  }
  if (command == "health") {
    // Health keeps its own flags; global ones given on the line are passed to it as they are.
    std::vector<std::string> args(rest.begin() + 1, rest.end());
    args.insert(args.begin(), global_args.begin(), global_args.end());
    return stp::stpctl::RunHealth(args);
  }
  for (const auto& c : kCommands) {
    if (command != c.name) continue;
    stp::stpctl::GlobalFlags globals;
    stp::FlagSet flags("stpctl");
    globals.Register(&flags);
    absl::Status parsed = flags.Parse(global_args);
    if (!parsed.ok()) {
      std::fprintf(stderr, "stpctl: %s\n", std::string(parsed.message()).c_str());
      return stp::stpctl::kExitUsage;
    }
    Invocation inv(globals, GlobalUsage(), absl::StrCat("stpctl ", c.name),
                   std::vector<std::string>(rest.begin() + 1, rest.end()));
    return c.run(inv);
  }
  std::fprintf(stderr, "stpctl: unknown command '%s'\n\n", command.c_str());
  PrintUsage(stderr);
  return stp::stpctl::kExitUsage;
}
