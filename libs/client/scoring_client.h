// stp.scoring.v1.ScoringService: scores with reasons, what-if scoring, rankings and portfolio
// summaries. Every method is a read, so every method is retried.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "libs/client/connection.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"

namespace stp::client {

namespace sv1 = stp::scoring::v1;

class ScoringClient {
 public:
  explicit ScoringClient(std::shared_ptr<Connection> connection);

  // NOT_FOUND until a new project's first score exists (scores follow events): poll briefly.
  absl::StatusOr<sv1::Score> GetProjectScore(const sv1::GetProjectScoreRequest& request,
                                             const CallOptions& call = {}) const;
  // What-if: scores a draft without storing anything.
  absl::StatusOr<sv1::Score> ScoreProject(const sv1::ScoreProjectRequest& request,
                                          const CallOptions& call = {}) const;
  absl::StatusOr<sv1::RankProjectsResponse> RankProjects(const sv1::RankProjectsRequest& request,
                                                         const CallOptions& call = {}) const;
  absl::StatusOr<sv1::PortfolioSummary> GetPortfolioSummary(
      const sv1::GetPortfolioSummaryRequest& request, const CallOptions& call = {}) const;
  absl::StatusOr<sv1::ScoringModel> GetScoringModel(const sv1::GetScoringModelRequest& request,
                                                    const CallOptions& call = {}) const;
  absl::StatusOr<sv1::ListScoreHistoryResponse> ListScoreHistory(
      const sv1::ListScoreHistoryRequest& request, const CallOptions& call = {}) const;

  sv1::ScoringService::Stub* stub() const { return stub_.get(); }

 private:
  std::shared_ptr<Connection> connection_;
  std::unique_ptr<sv1::ScoringService::Stub> stub_;
};

}  // namespace stp::client
