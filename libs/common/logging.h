// Structured logs: one JSON object per line on stderr with time, level, service, message,
// the request id, trace id and principal of the call being served, and any extra fields.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/string_view.h"

namespace stp {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// What the current thread is working on; set by the call handler for the duration of a call
// so that every log line of the call carries it.
struct LogContext {
  std::string request_id;
  std::string trace_id;
  std::string principal;
  std::string method;
};

// Sets the thread's context for the lifetime of the object, restoring the previous one after.
class ScopedLogContext {
 public:
  explicit ScopedLogContext(LogContext context);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  LogContext saved_;
};

const LogContext& CurrentLogContext();

// Process-wide settings, set once by main before threads start.
void SetLogService(absl::string_view service);
void SetLogLevel(LogLevel level);
bool ParseLogLevel(absl::string_view text, LogLevel* level);
// Sends what gRPC and protobuf log through Log, as JSON lines with a "source" field ("grpc",
// "protobuf") and the library's file and line, instead of their own plain-text lines on
// stderr. A request that fails to parse (invalid UTF-8 in a string field, for one) makes
// protobuf log; a log pipeline that reads JSON must not choke on it. Set by main, once.
void RouteLibraryLogs();

void Log(LogLevel level, absl::string_view message, const nlohmann::json& fields = nullptr);
// True when a line at `level` would be written (check before building costly fields).
bool LogEnabled(LogLevel level);
inline void LogDebug(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kDebug, m, f);
}
inline void LogInfo(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kInfo, m, f);
}
inline void LogWarning(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kWarning, m, f);
}
inline void LogError(absl::string_view m, const nlohmann::json& f = nullptr) {
  Log(LogLevel::kError, m, f);
}

}  // namespace stp
