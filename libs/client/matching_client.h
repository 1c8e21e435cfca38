// stp.matching.v1.MatchingService: ranked partners and proposed consortia for a need, and
// feedback on matches. Right after a server starts, matching answers UNAVAILABLE
// (INDEX_LOADING) while its index loads; the retry policy waits that out.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "libs/client/connection.h"
#include "stp/matching/v1/matching_service.grpc.pb.h"

namespace stp::client {

namespace mv1 = stp::matching::v1;

class MatchingClient {
 public:
  explicit MatchingClient(std::shared_ptr<Connection> connection);

  absl::StatusOr<mv1::FindPartnersResponse> FindPartners(const mv1::FindPartnersRequest& request,
                                                         const CallOptions& call = {}) const;
  absl::StatusOr<mv1::ProposeConsortiaResponse> ProposeConsortia(
      const mv1::ProposeConsortiaRequest& request, const CallOptions& call = {}) const;
  absl::StatusOr<mv1::MatchFeedback> RecordMatchFeedback(mv1::RecordMatchFeedbackRequest request,
                                                         const CallOptions& call = {}) const;
  absl::StatusOr<mv1::ListMatchFeedbackResponse> ListMatchFeedback(
      const mv1::ListMatchFeedbackRequest& request, const CallOptions& call = {}) const;

  mv1::MatchingService::Stub* stub() const { return stub_.get(); }

 private:
  std::shared_ptr<Connection> connection_;
  std::unique_ptr<mv1::MatchingService::Stub> stub_;
};

}  // namespace stp::client
