// The gRPC adapter of the matching service: resolves a need's park or project, validates, and
// runs the matcher over the replica's index; records and lists match feedback in Redis.
//
//   stp:{g}:matching:feedback:<id>     STRING serialized MatchFeedback
//   stp:{g}:matching:feedback          ZSET feedback ids by creation time
//   stp:{g}:matching:req:<request id>  STRING feedback id, for idempotent retries (a day)
#pragma once

#include <memory>

#include "libs/common/server.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "services/matching/core/matcher.h"
#include "services/matching/core/organization_index.h"
#include "services/matching/index_feed.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/matching/v1/matching_service.grpc.pb.h"

namespace stp::matching {

class MatchingServiceImpl final : public v1::MatchingService::CallbackService {
 public:
  MatchingServiceImpl(
      CallHandler* handler, const Matcher* matcher, const OrganizationIndex* index,
      const IndexFeed* feed, redis::RedisClient* redis, redis::Keyspace keyspace,
      std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion,
      IndexFeed::Decorate decorate);

  using Ctx = grpc::CallbackServerContext;
  grpc::ServerUnaryReactor* FindPartners(Ctx* c, const v1::FindPartnersRequest* q,
                                         v1::FindPartnersResponse* r) override;
  grpc::ServerUnaryReactor* ProposeConsortia(Ctx* c, const v1::ProposeConsortiaRequest* q,
                                             v1::ProposeConsortiaResponse* r) override;
  grpc::ServerUnaryReactor* RecordMatchFeedback(Ctx* c, const v1::RecordMatchFeedbackRequest* q,
                                                v1::MatchFeedback* r) override;
  grpc::ServerUnaryReactor* ListMatchFeedback(Ctx* c, const v1::ListMatchFeedbackRequest* q,
                                              v1::ListMatchFeedbackResponse* r) override;

  // The ingestion stub exists only once the server serves (in-process channels need it).
  void set_ingestion(
      std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion) {
    ingestion_ = std::move(ingestion);
  }

  absl::StatusOr<v1::FindPartnersResponse> DoFindPartners(const RequestContext& rc,
                                                          const v1::FindPartnersRequest& req);
  absl::StatusOr<v1::ProposeConsortiaResponse> DoProposeConsortia(
      const RequestContext& rc, const v1::ProposeConsortiaRequest& req);
  absl::StatusOr<v1::MatchFeedback> DoRecordFeedback(const RequestContext& rc,
                                                     const v1::RecordMatchFeedbackRequest& req);
  absl::StatusOr<v1::ListMatchFeedbackResponse> DoListFeedback(
      const RequestContext& rc, const v1::ListMatchFeedbackRequest& req);

 private:
  // Fills what the need takes from its park or project (avenues, sectors, host, exclusions).
  absl::Status Resolve(const RequestContext& rc, const v1::PartnerNeed& need, Need* resolved);
  absl::Status Ready() const;

  CallHandler* handler_;
  const Matcher* matcher_;
  const OrganizationIndex* index_;
  const IndexFeed* feed_;
  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion_;
  IndexFeed::Decorate decorate_;
};

}  // namespace stp::matching
