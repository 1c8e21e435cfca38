#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "libs/common/grpc_status.h"

namespace stp {
namespace {

TEST(StatusTest, FieldViolationsBecomeOneInvalidArgumentNamingEachField) {
  FieldViolations v;
  EXPECT_TRUE(v.ToStatus().ok());
  v.Add("project.title", "is required");
  v.Add("project.avenues", "at least one avenue is required");
  absl::Status s = v.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  auto violations = GetFieldViolations(s);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].field, "project.title");
  EXPECT_EQ(violations[1].description, "at least one avenue is required");
  EXPECT_NE(s.message().find("project.title"), absl::string_view::npos);
}

// A refusal travels in HTTP/2 trailers (8 KiB by default on clients): thousands of violations,
// or a huge value quoted back, must still arrive as INVALID_ARGUMENT, shortened at a UTF-8
// character boundary, never as a trailer-size error.
TEST(StatusTest, HugeRefusalsAreShortenedToFitTrailersAndStayUtf8) {
  FieldViolations v;
  // "é" is two bytes: a cut at an odd byte count would split one.
  std::string huge_value;
  for (int i = 0; i < 5000; ++i) huge_value += "\xc3\xa9";
  v.Add("project.title", "is not allowed: " + huge_value);
  for (int i = 0; i < 3000; ++i) {
    v.Add("project.participants[" + std::to_string(i) + "].organization", "is not known");
  }
  absl::Status s = v.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  auto violations = GetFieldViolations(s);
  ASSERT_GE(violations.size(), 2u);
  EXPECT_LT(violations.size(), 3001u);
  size_t bytes = 0;
  for (const auto& violation : violations)
    bytes += violation.field.size() + violation.description.size();
  EXPECT_LE(bytes, 2048u + 406u);
  EXPECT_EQ(violations[0].field, "project.title");
  EXPECT_LE(violations[0].description.size(), 203u);
  EXPECT_TRUE(absl::EndsWith(violations[0].description, "..."));
  // No split character: every byte before the "..." belongs to a whole "é".
  absl::string_view kept(violations[0].description);
  kept.remove_suffix(3);
  kept.remove_prefix(std::string("is not allowed: ").size());
  EXPECT_EQ(kept.size() % 2, 0u);
  EXPECT_NE(s.message().find("and 2998 more"), absl::string_view::npos) << s.message();
  // Through gRPC and back, the details survive whole.
  grpc::Status wire = ToGrpcStatus(s);
  EXPECT_LT(wire.error_details().size(), 8192u);
  EXPECT_EQ(GetFieldViolations(FromGrpcStatus(wire)).size(), violations.size());
}

TEST(StatusTest, GrpcStatusCarriesRpcStatusWithDetailsAndErrorInfo) {
  absl::Status s = InvalidField("name", "must look like projects/{id}");
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  EXPECT_EQ(rpc.code(), 3);
  bool has_bad_request = false, has_error_info = false;
  for (const auto& any : rpc.details()) {
    if (any.Is<google::rpc::BadRequest>()) {
      google::rpc::BadRequest br;
      ASSERT_TRUE(any.UnpackTo(&br));
      ASSERT_EQ(br.field_violations_size(), 1);
      EXPECT_EQ(br.field_violations(0).field(), "name");
      has_bad_request = true;
    }
    if (any.Is<google::rpc::ErrorInfo>()) {
      google::rpc::ErrorInfo info;
      ASSERT_TRUE(any.UnpackTo(&info));
      EXPECT_EQ(info.reason(), "INVALID_ARGUMENT");
      EXPECT_EQ(info.domain(), kErrorDomain);
      has_error_info = true;
    }
  }
  EXPECT_TRUE(has_bad_request);
  EXPECT_TRUE(has_error_info);
}

TEST(StatusTest, ExplicitErrorInfoIsKeptAndNotDuplicated) {
  absl::Status s = WithErrorInfo(absl::AbortedError("stale"), "ETAG_MISMATCH", {{"etag", "abc"}});
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(ToGrpcStatus(s).error_details()));
  int infos = 0;
  for (const auto& any : rpc.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) {
      ++infos;
      EXPECT_EQ(info.reason(), "ETAG_MISMATCH");
      EXPECT_EQ(info.metadata().at("etag"), "abc");
    }
  }
  EXPECT_EQ(infos, 1);
}

TEST(StatusTest, RoundTripThroughGrpcKeepsCodeMessageAndPayloads) {
  absl::Status s =
      WithRetryInfo(absl::ResourceExhaustedError("slow down"), absl::Milliseconds(1500));
  absl::Status back = FromGrpcStatus(ToGrpcStatus(s));
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "slow down");
  EXPECT_EQ(GetRetryDelay(back), absl::Milliseconds(1500));
  EXPECT_EQ(GetErrorReason(back), "RESOURCE_EXHAUSTED");
}

TEST(StatusTest, OkMapsToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  STP_ASSIGN_OR_RETURN(int h, Half(x));
  STP_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

absl::Status CheckEven(int x) {
  STP_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusTest, MacrosPropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

}  // namespace
}  // namespace stp
