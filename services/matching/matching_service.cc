#include "services/matching/matching_service.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"
#include "libs/common/ids.h"
#include "libs/common/proto_time.h"
#include "services/matching/core/need.h"

namespace stp::matching {

namespace iv1 = stp::ingestion::v1;

namespace {

bool VisibleTo(const Principal& principal, const iv1::Project& p) {
  if (p.visibility() != iv1::VISIBILITY_PARTICIPANTS || principal.is_operator()) return true;
  for (const auto& part : p.participants()) {
    if (!principal.organization.empty() && part.organization() == principal.organization)
      return true;
  }
  return false;
}

}  // namespace

MatchingServiceImpl::MatchingServiceImpl(
    CallHandler* handler, const Matcher* matcher, const OrganizationIndex* index,
    const IndexFeed* feed, redis::RedisClient* redis, redis::Keyspace keyspace,
    std::shared_ptr<iv1::IngestionService::StubInterface> ingestion, IndexFeed::Decorate decorate)
    : handler_(handler),
      matcher_(matcher),
      index_(index),
      feed_(feed),
      redis_(redis),
      keyspace_(std::move(keyspace)),
      ingestion_(std::move(ingestion)),
      decorate_(std::move(decorate)) {}

absl::Status MatchingServiceImpl::Ready() const {
  if (feed_->loaded()) return absl::OkStatus();
  return WithRetryInfo(
      WithErrorInfo(absl::UnavailableError("the partner index is still loading; retry shortly"),
                    "INDEX_LOADING"),
      absl::Seconds(2));
}

absl::Status MatchingServiceImpl::Resolve(const RequestContext& rc, const v1::PartnerNeed& need,
                                          Need* resolved) {
  if (need.project().empty() && need.park().empty()) return absl::OkStatus();
  if (ingestion_ == nullptr) {
    return absl::FailedPreconditionError(
        "this deployment cannot resolve parks and projects: give avenues and a host");
  }
  auto call = [&](auto fn) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (decorate_) decorate_(&ctx);
    if (!rc.traceparent.empty()) ctx.AddMetadata("traceparent", rc.traceparent);
    return FromGrpcStatus(fn(&ctx));
  };
  auto missing = [](const std::string& field, const std::string& name) {
    return InvalidField(field, name + " does not exist");
  };
  if (!need.project().empty()) {
    iv1::GetProjectRequest get;
    get.set_name(need.project());
    iv1::Project project;
    absl::Status s =
        call([&](grpc::ClientContext* c) { return ingestion_->GetProject(c, get, &project); });
    if (s.code() == absl::StatusCode::kNotFound || (s.ok() && !VisibleTo(rc.principal, project))) {
      return missing("need.project", need.project());
    }
    if (s.code() == absl::StatusCode::kInvalidArgument)
      return InvalidField("need.project", "must look like \"projects/{id}\"");
    STP_RETURN_IF_ERROR(s);
    if (resolved->host_country.empty()) resolved->host_country = project.host_country();
    if (resolved->avenues.empty()) {
      for (int a : project.avenues())
        resolved->avenues.push_back(static_cast<stp::common::v1::Avenue>(a));
    }
    if (resolved->dac_sectors.empty()) {
      resolved->dac_sectors.assign(project.dac_sectors().begin(), project.dac_sectors().end());
    }
    for (const auto& part : project.participants()) resolved->excluded.insert(part.organization());
  }
  if (!need.park().empty()) {
    iv1::GetParkRequest get;
    get.set_name(need.park());
    iv1::Park park;
    absl::Status s =
        call([&](grpc::ClientContext* c) { return ingestion_->GetPark(c, get, &park); });
    if (s.code() == absl::StatusCode::kNotFound) return missing("need.park", need.park());
    if (s.code() == absl::StatusCode::kInvalidArgument)
      return InvalidField("need.park", "must look like \"parks/{id}\"");
    STP_RETURN_IF_ERROR(s);
    if (resolved->host_country.empty()) resolved->host_country = park.host_country();
    if (resolved->avenues.empty()) {
      for (int a : park.focus_avenues())
        resolved->avenues.push_back(static_cast<stp::common::v1::Avenue>(a));
    }
  }
  FieldViolations v;
  if (resolved->host_country.empty())
    v.Add("need.host_country", "required: the park or project names none");
  else if (!index_->HasCountry(resolved->host_country))
    v.Add("need.host_country", resolved->host_country + " is not a known country");
  if (resolved->avenues.empty())
    v.Add("need.avenues", "required: the park or project names no avenue");
  return v.ToStatus();
}

absl::StatusOr<v1::FindPartnersResponse> MatchingServiceImpl::DoFindPartners(
    const RequestContext& rc, const v1::FindPartnersRequest& req) {
  STP_RETURN_IF_ERROR(Ready());
  STP_ASSIGN_OR_RETURN(Need need, ValidateFindPartnersRequest(req, *index_));
  STP_RETURN_IF_ERROR(Resolve(rc, req.need(), &need));
  return matcher_->FindPartners(need, req.page_size());
}

absl::StatusOr<v1::ProposeConsortiaResponse> MatchingServiceImpl::DoProposeConsortia(
    const RequestContext& rc, const v1::ProposeConsortiaRequest& req) {
  STP_RETURN_IF_ERROR(Ready());
  STP_ASSIGN_OR_RETURN(Need need, ValidateProposeConsortiaRequest(req, *index_));
  STP_RETURN_IF_ERROR(Resolve(rc, req.need(), &need));
  return matcher_->ProposeConsortia(need, req.max_consortia());
}

absl::StatusOr<v1::MatchFeedback> MatchingServiceImpl::DoRecordFeedback(
    const RequestContext& rc, const v1::RecordMatchFeedbackRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  const v1::MatchFeedback& in = req.feedback();
  FieldViolations v;
  if (!absl::StartsWith(in.organization(), "organizations/") ||
      !IsResourceId(in.organization().substr(14))) {
    v.Add("feedback.organization", "required: the proposed organisation, \"organizations/{id}\"");
  }
  if (!in.target().empty() && !absl::StartsWith(in.target(), "projects/") &&
      !absl::StartsWith(in.target(), "parks/")) {
    v.Add("feedback.target", "a project or park name, \"projects/{id}\" or \"parks/{id}\"");
  }
  if (!stp::common::v1::PartnerRole_IsValid(in.role())) v.Add("feedback.role", "unknown value");
  if (in.decision() == v1::FEEDBACK_DECISION_UNSPECIFIED ||
      !v1::FeedbackDecision_IsValid(in.decision())) {
    v.Add("feedback.decision", "ACCEPTED or DECLINED is required");
  }
  if (in.comment().size() > 2000) v.Add("feedback.comment", "at most 2,000 bytes");
  if (req.request_id().size() > 64) v.Add("request_id", "at most 64 bytes");
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::string id = NewResourceId(absl::Now());
  if (!req.request_id().empty()) {
    STP_ASSIGN_OR_RETURN(
        auto prior,
        // Request ids are the caller's own: another caller's id never answers with its record.
        redis_->Command(
            {"SET", keyspace_.Global("matching", "req", rc.principal.Actor(), req.request_id()), id,
             "NX", "GET", "EX", "86400"},
            rc.deadline));
    if (!redis::IsNil(prior.get())) {
      // A retry answers with the first attempt's record; when that attempt died before writing
      // it, the record is written now under the id it claimed (never a second record).
      id = redis::StrCopy(prior.get());
      STP_ASSIGN_OR_RETURN(
          auto stored,
          redis_->Command({"GET", keyspace_.Global("matching", "feedback", id)}, rc.deadline));
      v1::MatchFeedback f;
      if (!redis::IsNil(stored.get()) && f.ParseFromString(redis::StrCopy(stored.get()))) return f;
    }
  }
  v1::MatchFeedback f = in;
  f.set_name("matchFeedback/" + id);
  f.set_recorded_by(rc.principal.Actor());
  *f.mutable_create_time() = common::ToTimestamp(absl::Now());
  STP_ASSIGN_OR_RETURN(auto replies,
                       redis_->Pipeline({{"SET", keyspace_.Global("matching", "feedback", id),
                                          f.SerializeAsString()},
                                         {"ZADD", keyspace_.Global("matching", "feedback"),
                                          absl::StrCat(absl::ToUnixMillis(absl::Now())), id}},
                                        rc.deadline));
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(redis::Str(r.get()));
  }
  return f;
}

absl::StatusOr<v1::ListMatchFeedbackResponse> MatchingServiceImpl::DoListFeedback(
    const RequestContext& rc, const v1::ListMatchFeedbackRequest& req) {
  if (req.page_size() < 0 || req.page_size() > 1000)
    return InvalidField("page_size", "must be between 0 and 1000");
  int page_size = req.page_size() == 0 ? 50 : req.page_size();
  int offset = 0;
  if (!req.page_token().empty() && (!absl::SimpleAtoi(req.page_token(), &offset) || offset < 0)) {
    return InvalidField("page_token", "is not a token ListMatchFeedback returned");
  }
  v1::ListMatchFeedbackResponse resp;
  const int batch = 200;
  while (resp.feedback_size() < page_size) {
    STP_ASSIGN_OR_RETURN(auto ids,
                         redis_->Command({"ZREVRANGE", keyspace_.Global("matching", "feedback"),
                                          absl::StrCat(offset), absl::StrCat(offset + batch - 1)},
                                         rc.deadline));
    size_t n = redis::Size(ids.get());
    if (n == 0) return resp;
    std::vector<std::vector<std::string>> cmds;
    for (size_t i = 0; i < n; ++i) {
      cmds.push_back({"GET", keyspace_.Global("matching", "feedback",
                                              redis::StrCopy(redis::At(ids.get(), i)))});
    }
    STP_ASSIGN_OR_RETURN(auto found, redis_->Pipeline(cmds, rc.deadline));
    for (size_t i = 0; i < n; ++i) {
      ++offset;
      v1::MatchFeedback f;
      if (redis::IsNil(found[i].get()) || !f.ParseFromString(redis::StrCopy(found[i].get())))
        continue;
      if (!req.organization().empty() && f.organization() != req.organization()) continue;
      if (!req.target().empty() && f.target() != req.target()) continue;
      *resp.add_feedback() = std::move(f);
      if (resp.feedback_size() == page_size) break;
    }
    if (static_cast<int>(n) < batch && resp.feedback_size() < page_size) return resp;
  }
  resp.set_next_page_token(absl::StrCat(offset));
  return resp;
}

grpc::ServerUnaryReactor* MatchingServiceImpl::FindPartners(Ctx* c,
                                                            const v1::FindPartnersRequest* q,
                                                            v1::FindPartnersResponse* r) {
  return ServeUnary(handler_, c, "FindPartners", AccessRole::kReader, r,
                    [this, q](const RequestContext& rc) { return DoFindPartners(rc, *q); });
}
grpc::ServerUnaryReactor* MatchingServiceImpl::ProposeConsortia(
    Ctx* c, const v1::ProposeConsortiaRequest* q, v1::ProposeConsortiaResponse* r) {
  return ServeUnary(handler_, c, "ProposeConsortia", AccessRole::kReader, r,
                    [this, q](const RequestContext& rc) { return DoProposeConsortia(rc, *q); });
}
grpc::ServerUnaryReactor* MatchingServiceImpl::RecordMatchFeedback(
    Ctx* c, const v1::RecordMatchFeedbackRequest* q, v1::MatchFeedback* r) {
  return ServeUnary(handler_, c, "RecordMatchFeedback", AccessRole::kPartner, r,
                    [this, q](const RequestContext& rc) { return DoRecordFeedback(rc, *q); });
}
grpc::ServerUnaryReactor* MatchingServiceImpl::ListMatchFeedback(
    Ctx* c, const v1::ListMatchFeedbackRequest* q, v1::ListMatchFeedbackResponse* r) {
  return ServeUnary(handler_, c, "ListMatchFeedback", AccessRole::kReader, r,
                    [this, q](const RequestContext& rc) { return DoListFeedback(rc, *q); });
}

}  // namespace stp::matching
