// Command-line flags with environment fallback. Each binary declares the options it reads;
// a flag --redis-address is also read from STP_REDIS_ADDRESS when not given on the command
// line, so the same binary is configured by flags locally and by environment in Kubernetes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace stp {

class FlagSet {
 public:
  explicit FlagSet(std::string program, std::string summary = "", std::string env_prefix = "STP_");

  // Registers a flag bound to `target`, whose current value is the default.
  void String(const std::string& name, std::string* target, const std::string& help);
  void Int(const std::string& name, int64_t* target, const std::string& help);
  void Int(const std::string& name, int* target, const std::string& help);
  void Double(const std::string& name, double* target, const std::string& help);
  void Bool(const std::string& name, bool* target, const std::string& help);
  // Durations are written like "1.5s", "200ms", "5m".
  void Duration(const std::string& name, absl::Duration* target, const std::string& help);

  // Applies environment values, then argv. Unknown flags and bad values are errors.
  // `--help` sets help_requested() and returns OK. Arguments that are not flags go to
  // `positional` when given, else they are errors.
  absl::Status Parse(int argc, const char* const* argv,
                     std::vector<std::string>* positional = nullptr);
  absl::Status Parse(const std::vector<std::string>& args,
                     std::vector<std::string>* positional = nullptr);

  bool help_requested() const { return help_requested_; }
  std::string Usage() const;
  // The environment variable a flag is read from.
  std::string EnvName(const std::string& flag) const;
  // Environment lookup, replaceable in tests.
  void set_env_lookup(std::function<const char*(const char*)> lookup) { env_ = std::move(lookup); }

 private:
  struct Flag {
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(const std::string&)> set;
  };
  void Add(const std::string& name, Flag flag);

  std::string program_;
  std::string summary_;
  std::string env_prefix_;
  std::map<std::string, Flag> flags_;
  bool help_requested_ = false;
  std::function<const char*(const char*)> env_;
};

}  // namespace stp
