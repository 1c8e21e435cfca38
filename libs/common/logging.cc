#include "libs/common/logging.h"

#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"

namespace stp {
namespace {

thread_local LogContext tls_context;
std::string g_service = "stp";       // set before threads start
LogLevel g_level = LogLevel::kInfo;  // set before threads start
std::mutex g_write_mu;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

ScopedLogContext::ScopedLogContext(LogContext context) : saved_(std::move(tls_context)) {
  tls_context = std::move(context);
}
ScopedLogContext::~ScopedLogContext() { tls_context = std::move(saved_); }

const LogContext& CurrentLogContext() { return tls_context; }

void SetLogService(absl::string_view service) { g_service = std::string(service); }
void SetLogLevel(LogLevel level) { g_level = level; }

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  if (text == "debug")
    *level = LogLevel::kDebug;
  else if (text == "info")
    *level = LogLevel::kInfo;
  else if (text == "warning" || text == "warn")
    *level = LogLevel::kWarning;
  else if (text == "error")
    *level = LogLevel::kError;
  else
    return false;
  return true;
}

void RouteLibraryLogs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        // FATAL is logged as an error; protobuf aborts after the handler returns.
        const LogLevel ours = level == google::protobuf::LOGLEVEL_INFO      ? LogLevel::kInfo
                              : level == google::protobuf::LOGLEVEL_WARNING ? LogLevel::kWarning
                                                                            : LogLevel::kError;
        Log(ours, message, {{"source", "protobuf"}, {"file", file ? file : ""}, {"line", line}});
      });
  gpr_set_log_function([](gpr_log_func_args* args) {
    const LogLevel ours = args->severity == GPR_LOG_SEVERITY_DEBUG  ? LogLevel::kDebug
                          : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                                    : LogLevel::kError;
    Log(ours, args->message ? args->message : "",
        {{"source", "grpc"}, {"file", args->file ? args->file : ""}, {"line", args->line}});
  });
}

bool LogEnabled(LogLevel level) { return level >= g_level; }

void Log(LogLevel level, absl::string_view message, const nlohmann::json& fields) {
  if (level < g_level) return;
  nlohmann::json line = nlohmann::json::object();
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["service"] = g_service;
  line["message"] = std::string(message);
  const LogContext& ctx = tls_context;
  if (!ctx.request_id.empty()) line["request_id"] = ctx.request_id;
  if (!ctx.trace_id.empty()) line["trace_id"] = ctx.trace_id;
  if (!ctx.principal.empty()) line["principal"] = ctx.principal;
  if (!ctx.method.empty()) line["method"] = ctx.method;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  // Invalid UTF-8 in a message must not throw: replace it.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace stp
