// One run of stpctl: the global flags, the command's own arguments, the connection to the API,
// output (tables for people, protobuf JSON for scripts) and exit codes.
#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/client/stp_client.h"
#include "libs/common/flags.h"

namespace stp::stpctl {

// Exit codes, documented in `stpctl --help`.
enum ExitCode {
  kExitOk = 0,
  kExitServerError = 1,  // the server refused or failed: code, message and details printed
  kExitUsage = 2,        // bad command line, unreadable input file
  kExitNotFound = 3,
  kExitDenied = 4,       // UNAUTHENTICATED or PERMISSION_DENIED
  kExitUnavailable = 5,  // UNAVAILABLE or DEADLINE_EXCEEDED: try again later
};

// Flags every command takes, before or after the command words; each also read from the
// environment (STP_ADDRESS, STP_API_KEY, ...).
struct GlobalFlags {
  std::string address = "127.0.0.1:50051";
  // Per-service addresses, for installs that run each service on its own address; each
  // defaults to `address`. Admin is hosted with ingestion.
  std::string scoring_address;
  std::string matching_address;
  std::string notification_address;
  std::string admin_address;
  std::string api_key;
  bool plaintext = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool json = false;
  absl::Duration timeout = absl::ZeroDuration();  // zero: the command's default
  bool verbose = false;

  void Register(FlagSet* flags);
  // True for "--json", "--address=x", "--no-plaintext", ...; `takes_value` when the flag's
  // value is the next argument.
  static bool IsGlobal(const std::string& arg, bool* takes_value);
};

// The API a command talks to, for the per-service addresses.
enum class Api { kIngestion, kScoring, kMatching, kNotification, kAdmin };

class Invocation {
 public:
  Invocation(GlobalFlags globals, std::string global_usage, std::string path,
             std::vector<std::string> args)
      : globals_(std::move(globals)),
        global_usage_(std::move(global_usage)),
        path_(std::move(path)),
        args_(std::move(args)) {}

  const GlobalFlags& globals() const { return globals_; }
  bool json() const { return globals_.json; }
  const std::string& path() const { return path_; }  // "stpctl projects list"
  const std::vector<std::string>& args() const { return args_; }

  // A FlagSet for this command. Command flags are not read from the environment: only the
  // global ones are.
  FlagSet NewFlags(const std::string& summary) const;
  // Parses the command's arguments. Returns an exit code when the command is done (--help
  // printed, or a usage error reported), nullopt when it should go on. Positional arguments
  // must number between `min_positional` and `max_positional` (-1: any).
  std::optional<int> Parse(FlagSet* flags, std::vector<std::string>* positional = nullptr,
                           int min_positional = 0, int max_positional = 0,
                           const std::string& positional_help = "");

  // Runs the subcommand named by the first argument.
  struct Subcommand {
    std::string name;
    std::string summary;
    std::function<int(Invocation&)> run;
  };
  int Dispatch(const std::string& summary, const std::vector<Subcommand>& subcommands);

  // The connection to `api`'s address, made on first use. `default_deadline` applies unless
  // --timeout is given.
  absl::StatusOr<std::shared_ptr<client::Connection>> Connect(
      Api api = Api::kIngestion, absl::Duration default_deadline = absl::Seconds(30));

  // Reports a usage error and answers kExitUsage.
  int Usage(const std::string& message) const;
  // Prints an API error (code, message, reason, field violations, retry delay) on stderr and
  // answers its exit code.
  int Fail(const absl::Status& status) const;
  static int ExitCodeOf(const absl::Status& status);

  // Protobuf JSON on stdout: indented for one document, one line per message for streams.
  void PrintJson(const google::protobuf::Message& message, bool one_line = false) const;
  // A command's result: `message` as JSON under --json, otherwise what `for_people` prints.
  // Answers kExitOk.
  int Print(const google::protobuf::Message& message,
            const std::function<void()>& for_people) const;

 private:
  GlobalFlags globals_;
  std::string global_usage_;
  std::string path_;
  std::vector<std::string> args_;
  std::map<std::string, std::shared_ptr<client::Connection>> connections_;  // by address
};

// Fetches every page of a List method up to `limit` items (0: no limit). `fetch` gets the page
// token and answers the next one, or an error; `count` tells how many items it has so far.
absl::Status FetchPages(
    int limit,
    const std::function<absl::StatusOr<std::string>(const std::string& page_token, int page_size)>&
        fetch,
    const std::function<int()>& count);

}  // namespace stp::stpctl
