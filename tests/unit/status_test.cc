#include <gtest/gtest.h>

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
