// The gRPC adapter of the scoring service.
#pragma once

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/server.h"
#include "services/scoring/core/scoring_model.h"
#include "services/scoring/score_store.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"

namespace stp::scoring {

// Every stored score without components, re-read from Redis when older than `max_age`, so that
// rankings and portfolios cost one read per interval rather than one per call.
class ScoreSnapshot {
 public:
  ScoreSnapshot(ScoreStore* store, absl::Duration max_age) : store_(store), max_age_(max_age) {}
  absl::StatusOr<std::shared_ptr<const std::vector<v1::Score>>> Get(absl::Time deadline);

 private:
  ScoreStore* store_;
  absl::Duration max_age_;
  absl::Mutex mu_;
  std::shared_ptr<const std::vector<v1::Score>> scores_ ABSL_GUARDED_BY(mu_);
  absl::Time loaded_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// GetProjectScore is served raw: the stored Score's bytes go out as they are, without a parse
// and a serialization in between. The other methods are typed.
using ScoringServiceBase =
    v1::ScoringService::WithRawCallbackMethod_GetProjectScore<v1::ScoringService::CallbackService>;

class ScoringServiceImpl final : public ScoringServiceBase {
 public:
  ScoringServiceImpl(CallHandler* handler, ScoreStore* store, const ScoringModel* model,
                     absl::Duration snapshot_age);

  using Ctx = grpc::CallbackServerContext;
  grpc::ServerUnaryReactor* GetProjectScore(Ctx* c, const grpc::ByteBuffer* q,
                                            grpc::ByteBuffer* r) override;
  grpc::ServerUnaryReactor* ScoreProject(Ctx* c, const v1::ScoreProjectRequest* q,
                                         v1::Score* r) override;
  grpc::ServerUnaryReactor* RankProjects(Ctx* c, const v1::RankProjectsRequest* q,
                                         v1::RankProjectsResponse* r) override;
  grpc::ServerUnaryReactor* GetPortfolioSummary(Ctx* c, const v1::GetPortfolioSummaryRequest* q,
                                                v1::PortfolioSummary* r) override;
  grpc::ServerUnaryReactor* GetScoringModel(Ctx* c, const v1::GetScoringModelRequest* q,
                                            v1::ScoringModel* r) override;
  grpc::ServerUnaryReactor* ListScoreHistory(Ctx* c, const v1::ListScoreHistoryRequest* q,
                                             v1::ListScoreHistoryResponse* r) override;

  // The core of each method, callable without gRPC.
  absl::StatusOr<v1::Score> DoGetProjectScore(const RequestContext& rc,
                                              const v1::GetProjectScoreRequest& req);
  // GetProjectScore's answer, serialized: the stored bytes of a score the caller may see.
  void GetSerializedScoreAsync(const RequestContext& rc, const v1::GetProjectScoreRequest& req,
                               std::function<void(absl::StatusOr<std::string>)> reply);
  absl::StatusOr<v1::Score> DoScoreProject(const RequestContext& rc,
                                           const v1::ScoreProjectRequest& req);
  absl::StatusOr<v1::RankProjectsResponse> DoRankProjects(const RequestContext& rc,
                                                          const v1::RankProjectsRequest& req);
  absl::StatusOr<v1::PortfolioSummary> DoGetPortfolioSummary(
      const RequestContext& rc, const v1::GetPortfolioSummaryRequest& req);
  absl::StatusOr<v1::ListScoreHistoryResponse> DoListScoreHistory(
      const RequestContext& rc, const v1::ListScoreHistoryRequest& req);

 private:
  absl::StatusOr<std::vector<v1::Score>> VisibleScores(const RequestContext& rc,
                                                       const v1::ScoreFilter& filter);

  CallHandler* handler_;
  ScoreStore* store_;
  const ScoringModel* model_;
  ScoreSnapshot snapshot_;
};

}  // namespace stp::scoring
