// The echo service: the product's call path (worker pool, call handler, status mapping) with
// nothing behind it. Tests use it to exercise the runner; benchmarks use it as the ceiling.
#pragma once

#include "libs/common/server.h"
#include "stp/testing/v1/echo.grpc.pb.h"

namespace stp::testing {

class EchoServiceImpl final : public stp::testing::v1::EchoService::CallbackService {
 public:
  explicit EchoServiceImpl(CallHandler* handler) : handler_(handler) {}

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx,
                                 const stp::testing::v1::EchoRequest* request,
                                 stp::testing::v1::EchoResponse* response) override;
  grpc::ServerWriteReactor<stp::testing::v1::EchoResponse>* EchoStream(
      grpc::CallbackServerContext* ctx, const stp::testing::v1::EchoRequest* request) override;

 private:
  CallHandler* handler_;
};

}  // namespace stp::testing
