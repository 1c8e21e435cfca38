// absl::Status helpers shared by every component: status macros, field violations and the
// google.rpc error details carried as payloads. No gRPC here; grpc_status.h maps to gRPC.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Debian's Abseil has no status macros; these are the project's.
#define STP_CONCAT_INNER_(a, b) a##b
#define STP_CONCAT_(a, b) STP_CONCAT_INNER_(a, b)

#define STP_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status stp_status_ = (expr);       \
    if (!stp_status_.ok()) return stp_status_; \
  } while (0)

#define STP_ASSIGN_OR_RETURN(lhs, expr) \
  STP_ASSIGN_OR_RETURN_IMPL_(STP_CONCAT_(stp_statusor_, __LINE__), lhs, expr)
#define STP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

namespace stp {

// The error domain reported in google.rpc.ErrorInfo.
inline constexpr char kErrorDomain[] = "stp.tracker";

// One problem with one field of a request.
struct FieldViolation {
  std::string field;        // path, for example "project.participants[2].organization"
  std::string description;  // what is wrong and how to fix it
};

// Collects every problem of a request so that one INVALID_ARGUMENT names them all.
class FieldViolations {
 public:
  void Add(std::string field, std::string description) {
    violations_.push_back({std::move(field), std::move(description)});
  }
  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }
  const std::vector<FieldViolation>& violations() const { return violations_; }
  // OK when empty, otherwise INVALID_ARGUMENT with a BadRequest payload naming each field.
  absl::Status ToStatus(absl::string_view message = "the request has invalid fields") const;

 private:
  std::vector<FieldViolation> violations_;
};

// INVALID_ARGUMENT for a single field.
absl::Status InvalidField(absl::string_view field, absl::string_view description);

// Attaches a google.rpc.ErrorInfo (reason in UPPER_SNAKE_CASE, plus metadata) to a status.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const std::map<std::string, std::string>& metadata = {});
// Attaches a google.rpc.RetryInfo telling the client when to retry.
absl::Status WithRetryInfo(absl::Status status, absl::Duration retry_delay);

// Reads the payloads back (for tests and the client library).
std::vector<FieldViolation> GetFieldViolations(const absl::Status& status);
std::string GetErrorReason(const absl::Status& status);
absl::Duration GetRetryDelay(const absl::Status& status);  // zero when absent

}  // namespace stp
