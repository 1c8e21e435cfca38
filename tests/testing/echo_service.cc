#include "tests/testing/echo_service.h"

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace stp::testing {

using stp::testing::v1::EchoRequest;
using stp::testing::v1::EchoResponse;

grpc::ServerUnaryReactor* EchoServiceImpl::Echo(grpc::CallbackServerContext* ctx,
                                                const EchoRequest* request,
                                                EchoResponse* response) {
  return handler_->Unary(ctx, "Echo", AccessRole::kReader,
                         [request, response](const RequestContext&) {
                           if (request->sleep_ms() > 0)
                             absl::SleepFor(absl::Milliseconds(request->sleep_ms()));
                           response->set_payload(request->payload());
                           return absl::OkStatus();
                         });
}

namespace {

// Writes `count` responses back to back (interval 0) or paced by a timer thread-free loop:
// each OnWriteDone starts the next write.
class EchoWriter : public grpc::ServerWriteReactor<EchoResponse> {
 public:
  explicit EchoWriter(const EchoRequest& request) : request_(request) { Next(); }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (sent_ >= request_.count()) {
      Finish(grpc::Status::OK);
      return;
    }
    if (request_.interval_ms() > 0 && sent_ > 0)
      absl::SleepFor(absl::Milliseconds(request_.interval_ms()));
    response_.set_payload(request_.payload());
    response_.set_sequence(sent_++);
    StartWrite(&response_);
  }
  EchoRequest request_;
  EchoResponse response_;
  int sent_ = 0;
};

}  // namespace

grpc::ServerWriteReactor<EchoResponse>* EchoServiceImpl::EchoStream(
    grpc::CallbackServerContext* ctx, const EchoRequest* request) {
  return new EchoWriter(*request);
}

}  // namespace stp::testing
