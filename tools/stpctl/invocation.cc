#include "tools/stpctl/invocation.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/rpc/error_details.pb.h"

namespace stp::stpctl {
namespace {

struct GlobalFlagSpec {
  const char* name;
  bool is_bool;
};

constexpr GlobalFlagSpec kGlobalFlags[] = {
    {"address", false},
    {"scoring-address", false},
    {"matching-address", false},
    {"notification-address", false},
    {"admin-address", false},
    {"api-key", false},
    {"plaintext", true},
    {"ca-file", false},
    {"cert-file", false},
    {"key-file", false},
    {"json", true},
    {"timeout", false},
    {"verbose", true},
};

const char* NoEnvironment(const char*) { return nullptr; }

// Command flags are not read from the environment: drop what FlagSet says about it.
std::string CommandUsage(const std::string& usage) {
  std::string out = absl::StrReplaceAll(
      usage, {{"Flags (each also read from its environment variable):", "Flags:"}});
  size_t at = 0;
  while ((at = out.find(" (STP_", at)) != std::string::npos) {
    size_t comma = out.find(", ", at);
    if (comma == std::string::npos) break;
    out.erase(at + 2, comma + 2 - (at + 2));
    ++at;
  }
  return out;
}

// Word-wraps a paragraph to `width` columns.
std::string Wrap(const std::string& text, size_t width = 96) {
  std::string out, line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  return out + line;
}

}  // namespace

void GlobalFlags::Register(FlagSet* flags) {
  flags->String("address", &address, "API address, host:port");
  flags->String("scoring-address", &scoring_address, "scoring service address (default --address)");
  flags->String("matching-address", &matching_address,
                "matching service address (default --address)");
  flags->String("notification-address", &notification_address,
                "notification service address (default --address)");
  flags->String("admin-address", &admin_address, "admin service address (default --address)");
  flags->String("api-key", &api_key, "API key, sent as 'authorization: Bearer <key>'");
  flags->Bool("plaintext", &plaintext, "no TLS (local runs on loopback only); TLS is on otherwise");
  flags->String("ca-file", &ca_file, "PEM CA bundle to verify the server (default: system roots)");
  flags->String("cert-file", &cert_file, "PEM client certificate, for mutual TLS");
  flags->String("key-file", &key_file, "PEM private key of --cert-file");
  flags->Bool("json", &json, "print protobuf JSON instead of tables (JSON lines for watch)");
  flags->Duration("timeout", &timeout,
                  "deadline of each command's calls, retries included (default 30s; 10m for "
                  "import)");
  flags->Bool("verbose", &verbose, "report retries and reconnections on stderr");
}

bool GlobalFlags::IsGlobal(const std::string& arg, bool* takes_value) {
  if (!absl::StartsWith(arg, "--")) return false;
  std::string body = arg.substr(2);
  bool has_value = false;
  if (auto eq = body.find('='); eq != std::string::npos) {
    body = body.substr(0, eq);
    has_value = true;
  }
  for (const auto& spec : kGlobalFlags) {
    if (body == spec.name || (spec.is_bool && body == absl::StrCat("no-", spec.name))) {
      *takes_value = !spec.is_bool && !has_value;
      return true;
    }
  }
  return false;
}

FlagSet Invocation::NewFlags(const std::string& summary) const {
  FlagSet flags(path_, Wrap(summary));
  flags.set_env_lookup(NoEnvironment);
  return flags;
}

std::optional<int> Invocation::Parse(FlagSet* flags, std::vector<std::string>* positional,
                                     int min_positional, int max_positional,
                                     const std::string& positional_help) {
  std::vector<std::string> words;
  absl::Status parsed = flags->Parse(args_, &words);
  if (flags->help_requested()) {
    std::string usage = CommandUsage(flags->Usage());
    if (!positional_help.empty()) {
      // "Usage: stpctl projects get [flags]" -> "... [flags] PROJECT"
      auto eol = usage.find('\n');
      usage.insert(eol, " " + positional_help);
    }
    std::printf("%s\n%s", usage.c_str(), global_usage_.c_str());
    return kExitOk;
  }
  if (!parsed.ok()) return Usage(std::string(parsed.message()));
  int n = static_cast<int>(words.size());
  if (n < min_positional || (max_positional >= 0 && n > max_positional)) {
    if (n > max_positional && max_positional >= 0) {
      return Usage(absl::StrCat("unexpected argument '", words[max_positional], "'"));
    }
    return Usage(positional_help.empty() ? "missing argument"
                                         : absl::StrCat("expected ", positional_help));
  }
  if (positional != nullptr) *positional = std::move(words);
  return std::nullopt;
}

int Invocation::Dispatch(const std::string& summary, const std::vector<Subcommand>& subcommands) {
  auto usage = [&](FILE* out) {
    std::fprintf(out, "Usage: %s <subcommand> [flags]\n\n%s\n\nSubcommands:\n", path_.c_str(),
                 summary.c_str());
    for (const auto& s : subcommands) {
      std::fprintf(out, "  %-12s %s\n", s.name.c_str(), s.summary.c_str());
    }
    std::fprintf(out, "\nRun '%s <subcommand> --help' for its flags.\n", path_.c_str());
  };
  if (args_.empty()) {
    usage(stderr);
    return kExitUsage;
  }
  if (args_[0] == "--help" || args_[0] == "-h" || args_[0] == "help") {
    usage(stdout);
    return kExitOk;
  }
  for (const auto& s : subcommands) {
    if (s.name == args_[0]) {
      Invocation sub(globals_, global_usage_, absl::StrCat(path_, " ", s.name),
                     std::vector<std::string>(args_.begin() + 1, args_.end()));
      return s.run(sub);
    }
  }
  std::fprintf(stderr, "%s: unknown subcommand '%s'\n", path_.c_str(), args_[0].c_str());
  usage(stderr);
  return kExitUsage;
}

absl::StatusOr<std::shared_ptr<client::Connection>> Invocation::Connect(
    Api api, absl::Duration default_deadline) {
  std::string address;
  switch (api) {
    case Api::kIngestion:
      break;
    case Api::kScoring:
      address = globals_.scoring_address;
      break;
    case Api::kMatching:
      address = globals_.matching_address;
      break;
    case Api::kNotification:
      address = globals_.notification_address;
      break;
    case Api::kAdmin:
      address = globals_.admin_address;
      break;
  }
  if (address.empty()) address = globals_.address;
  if (auto it = connections_.find(address); it != connections_.end()) return it->second;
  client::ClientOptions options;
  options.address = address;
  options.api_key = globals_.api_key;
  options.plaintext = globals_.plaintext;
  options.default_deadline =
      globals_.timeout > absl::ZeroDuration() ? globals_.timeout : default_deadline;
  STP_RETURN_IF_ERROR(
      options.LoadTlsFiles(globals_.ca_file, globals_.cert_file, globals_.key_file));
  if (globals_.verbose) {
    options.on_retry = [](const client::RetryEvent& e) {
      std::fprintf(stderr, "stpctl: %s attempt %d failed (%s: %s); retrying in %s\n",
                   e.method.c_str(), e.failed_attempt,
                   absl::StatusCodeToString(e.status.code()).c_str(),
                   std::string(e.status.message()).c_str(),
                   absl::FormatDuration(absl::Trunc(e.delay, absl::Milliseconds(1))).c_str());
    };
  }
  STP_ASSIGN_OR_RETURN(auto connection, client::Connection::Create(std::move(options)));
  connections_[address] = connection;
  return connection;
}

int Invocation::Usage(const std::string& message) const {
  std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", path_.c_str(), message.c_str(),
               path_.c_str());
  return kExitUsage;
}

int Invocation::ExitCodeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitDenied;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitServerError;
  }
}

int Invocation::Fail(const absl::Status& status) const {
  std::string code = absl::AsciiStrToUpper(absl::StatusCodeToString(status.code()));
  std::fprintf(stderr, "%s: %s: %s\n", path_.c_str(), code.c_str(),
               std::string(status.message()).c_str());
  google::rpc::ErrorInfo info;
  if (auto payload = status.GetPayload("type.googleapis.com/google.rpc.ErrorInfo");
      payload.has_value() && info.ParseFromString(std::string(*payload)) && info.reason() != code) {
    std::string metadata;
    for (const auto& [k, v] : info.metadata()) absl::StrAppend(&metadata, " ", k, "=", v);
    std::fprintf(stderr, "  reason: %s%s\n", info.reason().c_str(), metadata.c_str());
  }
  for (const auto& v : GetFieldViolations(status)) {
    std::fprintf(stderr, "  %s: %s\n", v.field.c_str(), v.description.c_str());
  }
  if (absl::Duration delay = GetRetryDelay(status); delay > absl::ZeroDuration()) {
    std::fprintf(stderr, "  retry after %s\n", absl::FormatDuration(delay).c_str());
  }
  return ExitCodeOf(status);
}

int Invocation::Print(const google::protobuf::Message& message,
                      const std::function<void()>& for_people) const {
  if (json()) {
    PrintJson(message);
  } else {
    for_people();
  }
  return kExitOk;
}

void Invocation::PrintJson(const google::protobuf::Message& message, bool one_line) const {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !one_line;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) {
    std::fprintf(stderr, "%s: cannot print JSON: %s\n", path_.c_str(), status.ToString().c_str());
    return;
  }
  if (!text.empty() && text.back() == '\n') text.pop_back();
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

absl::Status FetchPages(
    int limit,
    const std::function<absl::StatusOr<std::string>(const std::string& page_token, int page_size)>&
        fetch,
    const std::function<int()>& count) {
  std::string token;
  do {
    int page_size = 1000;
    if (limit > 0) page_size = std::min(page_size, limit - count());
    if (page_size <= 0) break;
    STP_ASSIGN_OR_RETURN(token, fetch(token, page_size));
  } while (!token.empty());
  return absl::OkStatus();
}

}  // namespace stp::stpctl
