#include "libs/client/matching_client.h"

namespace stp::client {
namespace {
using Stub = mv1::MatchingService::Stub;
}  // namespace

MatchingClient::MatchingClient(std::shared_ptr<Connection> connection)
    : connection_(std::move(connection)),
      stub_(mv1::MatchingService::NewStub(connection_->channel())) {}

absl::StatusOr<mv1::FindPartnersResponse> MatchingClient::FindPartners(
    const mv1::FindPartnersRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::FindPartners, "FindPartners",
                   Idempotency::kSafe, request, call);
}

absl::StatusOr<mv1::ProposeConsortiaResponse> MatchingClient::ProposeConsortia(
    const mv1::ProposeConsortiaRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::ProposeConsortia, "ProposeConsortia",
                   Idempotency::kSafe, request, call);
}

absl::StatusOr<mv1::MatchFeedback> MatchingClient::RecordMatchFeedback(
    mv1::RecordMatchFeedbackRequest request, const CallOptions& call) const {
  EnsureRequestId(&request);
  return CallUnary(*connection_, stub_.get(), &Stub::RecordMatchFeedback, "RecordMatchFeedback",
                   Idempotency::kSafe, request, call);
}

absl::StatusOr<mv1::ListMatchFeedbackResponse> MatchingClient::ListMatchFeedback(
    const mv1::ListMatchFeedbackRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::ListMatchFeedback, "ListMatchFeedback",
                   Idempotency::kSafe, request, call);
}

}  // namespace stp::client
