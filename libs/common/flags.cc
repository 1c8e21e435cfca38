#include "libs/common/flags.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace stp {

FlagSet::FlagSet(std::string program, std::string summary, std::string env_prefix)
    : program_(std::move(program)),
      summary_(std::move(summary)),
      env_prefix_(std::move(env_prefix)),
      env_([](const char* name) { return std::getenv(name); }) {}

void FlagSet::Add(const std::string& name, Flag flag) { flags_[name] = std::move(flag); }

void FlagSet::String(const std::string& name, std::string* target, const std::string& help) {
  Add(name, {help, *target, false, [target](const std::string& v) {
               *target = v;
               return absl::OkStatus();
             }});
}

void FlagSet::Int(const std::string& name, int64_t* target, const std::string& help) {
  Add(name,
      {help, absl::StrCat(*target), false, [target, name](const std::string& v) {
         if (!absl::SimpleAtoi(v, target))
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": not an integer: ", v));
         return absl::OkStatus();
       }});
}

void FlagSet::Int(const std::string& name, int* target, const std::string& help) {
  Add(name,
      {help, absl::StrCat(*target), false, [target, name](const std::string& v) {
         if (!absl::SimpleAtoi(v, target))
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": not an integer: ", v));
         return absl::OkStatus();
       }});
}

void FlagSet::Double(const std::string& name, double* target, const std::string& help) {
  Add(name, {help, absl::StrCat(*target), false, [target, name](const std::string& v) {
               if (!absl::SimpleAtod(v, target))
                 return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a number: ", v));
               return absl::OkStatus();
             }});
}

void FlagSet::Bool(const std::string& name, bool* target, const std::string& help) {
  Add(name,
      {help, *target ? "true" : "false", true, [target, name](const std::string& v) {
         if (!absl::SimpleAtob(v, target))
           return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a boolean: ", v));
         return absl::OkStatus();
       }});
}

void FlagSet::Duration(const std::string& name, absl::Duration* target, const std::string& help) {
  Add(name, {help, absl::FormatDuration(*target), false, [target, name](const std::string& v) {
               if (!absl::ParseDuration(v, target))
                 return absl::InvalidArgumentError(
                     absl::StrCat("--", name, ": not a duration (like 500ms, 2s, 5m): ", v));
               return absl::OkStatus();
             }});
}

std::string FlagSet::EnvName(const std::string& flag) const {
  return env_prefix_ + absl::AsciiStrToUpper(absl::StrReplaceAll(flag, {{"-", "_"}}));
}

absl::Status FlagSet::Parse(int argc, const char* const* argv,
                            std::vector<std::string>* positional) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return Parse(args, positional);
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args,
                            std::vector<std::string>* positional) {
  for (auto& [name, flag] : flags_) {
    if (const char* v = env_(EnvName(name).c_str()); v != nullptr) {
      absl::Status s = flag.set(v);
      if (!s.ok())
        return absl::InvalidArgumentError(absl::StrCat(EnvName(name), ": ", s.message()));
    }
  }
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-') {
      if (positional == nullptr) return absl::InvalidArgumentError("unexpected argument: " + arg);
      positional->push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end() && !has_value && name.rfind("no-", 0) == 0) {
      auto neg = flags_.find(name.substr(3));
      if (neg != flags_.end() && neg->second.is_bool) {
        absl::Status s = neg->second.set("false");
        if (!s.ok()) return s;
        continue;
      }
    }
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see ", program_, " --help"));
    }
    if (!has_value) {
      if (it->second.is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    absl::Status s = it->second.set(value);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::string out = absl::StrCat("Usage: ", program_, " [flags]\n");
  if (!summary_.empty()) absl::StrAppend(&out, "\n", summary_, "\n");
  absl::StrAppend(&out, "\nFlags (each also read from its environment variable):\n");
  for (const auto& [name, flag] : flags_) {
    absl::StrAppend(&out, "  --", name, flag.is_bool ? "" : "=VALUE", "  (", EnvName(name),
                    ", default \"", flag.default_text, "\")\n      ", flag.help, "\n");
  }
  return out;
}

}  // namespace stp
