#include "libs/common/status.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "libs/common/grpc_status.h"

namespace stp {
namespace {

constexpr char kTypePrefix[] = "type.googleapis.com/";

template <typename Msg>
std::string TypeUrl() {
  return absl::StrCat(kTypePrefix, Msg::descriptor()->full_name());
}

template <typename Msg>
bool GetPayload(const absl::Status& status, Msg* out) {
  auto payload = status.GetPayload(TypeUrl<Msg>());
  if (!payload.has_value()) return false;
  return out->ParseFromString(std::string(*payload));
}

template <typename Msg>
void SetPayload(absl::Status* status, const Msg& msg) {
  status->SetPayload(TypeUrl<Msg>(), absl::Cord(msg.SerializeAsString()));
}

// The reason of an error without an explicit ErrorInfo: the code's name.
std::string DefaultReason(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

// Error details travel in HTTP/2 trailers, which gRPC clients cap at 8 KiB by default: a
// refusal naming thousands of fields, or quoting a huge value back, would reach the client as
// RESOURCE_EXHAUSTED "metadata size exceeds limit" instead of its field violations.
constexpr size_t kMaxViolationText = 200;    // per field path and per description
constexpr size_t kMaxViolationBytes = 2048;  // every violation of the BadRequest together

// At most about `max` bytes, cut at a character boundary (the strings must stay UTF-8).
std::string Shortened(absl::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return absl::StrCat(text.substr(0, end), "...");
}

}  // namespace

absl::Status FieldViolations::ToStatus(absl::string_view message) const {
  if (violations_.empty()) return absl::OkStatus();
  google::rpc::BadRequest bad_request;
  std::string summary(message);
  summary += ": ";
  size_t bytes = 0;
  for (size_t i = 0; i < violations_.size(); ++i) {
    std::string field = Shortened(violations_[i].field, kMaxViolationText);
    std::string description = Shortened(violations_[i].description, kMaxViolationText);
    bytes += field.size() + description.size();
    if (i == 0 || bytes <= kMaxViolationBytes) {
      auto* v = bad_request.add_field_violations();
      v->set_field(field);
      v->set_description(description);
    }
    if (i < 3) absl::StrAppend(&summary, i ? "; " : "", field, ": ", description);
  }
  if (violations_.size() > 3) absl::StrAppend(&summary, "; and ", violations_.size() - 3, " more");
  absl::Status status = absl::InvalidArgumentError(summary);
  SetPayload(&status, bad_request);
  return status;
}

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  FieldViolations v;
  v.Add(std::string(field), std::string(description));
  return v.ToStatus();
}

absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const std::map<std::string, std::string>& metadata) {
  if (status.ok()) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  SetPayload(&status, info);
  return status;
}

absl::Status WithRetryInfo(absl::Status status, absl::Duration retry_delay) {
  if (status.ok()) return status;
  google::rpc::RetryInfo info;
  int64_t ms = absl::ToInt64Milliseconds(retry_delay);
  info.mutable_retry_delay()->set_seconds(ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  SetPayload(&status, info);
  return status;
}

std::vector<FieldViolation> GetFieldViolations(const absl::Status& status) {
  std::vector<FieldViolation> out;
  google::rpc::BadRequest bad_request;
  if (!GetPayload(status, &bad_request)) return out;
  for (const auto& v : bad_request.field_violations()) out.push_back({v.field(), v.description()});
  return out;
}

std::string GetErrorReason(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  if (!GetPayload(status, &info)) return "";
  return info.reason();
}

absl::Duration GetRetryDelay(const absl::Status& status) {
  google::rpc::RetryInfo info;
  if (!GetPayload(status, &info)) return absl::ZeroDuration();
  return absl::Seconds(info.retry_delay().seconds()) +
         absl::Nanoseconds(info.retry_delay().nanos());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(status.code()));
  rpc_status.set_message(std::string(status.message()));
  bool has_error_info = false;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    auto* any = rpc_status.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
    if (type_url == TypeUrl<google::rpc::ErrorInfo>()) has_error_info = true;
  });
  if (!has_error_info) {
    google::rpc::ErrorInfo info;
    info.set_reason(DefaultReason(status.code()));
    info.set_domain(kErrorDomain);
    rpc_status.add_details()->PackFrom(info);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      rpc_status.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rpc_status;
  if (!status.error_details().empty() && rpc_status.ParseFromString(status.error_details())) {
    for (const auto& any : rpc_status.details()) {
      out.SetPayload(any.type_url(), absl::Cord(any.value()));
    }
  }
  return out;
}

}  // namespace stp
