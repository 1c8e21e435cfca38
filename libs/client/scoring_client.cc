#include "libs/client/scoring_client.h"

namespace stp::client {
namespace {
using Stub = sv1::ScoringService::Stub;
}  // namespace

ScoringClient::ScoringClient(std::shared_ptr<Connection> connection)
    : connection_(std::move(connection)),
      stub_(sv1::ScoringService::NewStub(connection_->channel())) {}

#define STP_SCORING_READ(Method, Request, Response)                                               \
  absl::StatusOr<Response> ScoringClient::Method(const Request& request, const CallOptions& call) \
      const {                                                                                     \
    return CallUnary(*connection_, stub_.get(), &Stub::Method, #Method, Idempotency::kSafe,       \
                     request, call);                                                              \
  }

STP_SCORING_READ(GetProjectScore, sv1::GetProjectScoreRequest, sv1::Score)
STP_SCORING_READ(ScoreProject, sv1::ScoreProjectRequest, sv1::Score)
STP_SCORING_READ(RankProjects, sv1::RankProjectsRequest, sv1::RankProjectsResponse)
STP_SCORING_READ(GetPortfolioSummary, sv1::GetPortfolioSummaryRequest, sv1::PortfolioSummary)
STP_SCORING_READ(GetScoringModel, sv1::GetScoringModelRequest, sv1::ScoringModel)
STP_SCORING_READ(ListScoreHistory, sv1::ListScoreHistoryRequest, sv1::ListScoreHistoryResponse)

#undef STP_SCORING_READ

}  // namespace stp::client
