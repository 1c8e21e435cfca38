#include "services/scoring/scoring_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/common/proto_time.h"
#include "libs/common/status.h"
#include "services/ingestion/validation.h"
#include "services/scoring/core/prefetched_records.h"
#include "services/scoring/portfolio.h"

namespace stp::scoring {

namespace iv1 = stp::ingestion::v1;

namespace {

absl::Status NotScored(const std::string& project) {
  return WithErrorInfo(
      absl::NotFoundError(project + " does not exist or has no score yet; scores appear a "
                                    "moment after a project is recorded"),
      "NOT_FOUND", {{"resource", project}});
}

}  // namespace

absl::StatusOr<std::shared_ptr<const std::vector<v1::Score>>> ScoreSnapshot::Get(
    absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (scores_ != nullptr && absl::Now() - loaded_ < max_age_) return scores_;
  STP_ASSIGN_OR_RETURN(auto all, store_->AllFacts(deadline));
  scores_ = std::make_shared<const std::vector<v1::Score>>(std::move(all));
  loaded_ = absl::Now();
  return scores_;
}

ScoringServiceImpl::ScoringServiceImpl(CallHandler* handler, ScoreStore* store,
                                       const ScoringModel* model, absl::Duration snapshot_age)
    : handler_(handler), store_(store), model_(model), snapshot_(store, snapshot_age) {}

namespace {

// The score a caller may see, or NOT_FOUND: a score of a project the caller cannot see is
// answered as if it did not exist.
absl::StatusOr<v1::Score> ScoreFor(const Principal& principal, const std::string& project,
                                   std::optional<v1::Score> score) {
  if (!score.has_value() || !ScoreVisible(principal, *score)) return NotScored(project);
  return std::move(*score);
}

}  // namespace

absl::StatusOr<v1::Score> ScoringServiceImpl::DoGetProjectScore(
    const RequestContext& rc, const v1::GetProjectScoreRequest& req) {
  std::string id = ingestion::IdOf(req.project(), "projects");
  if (id.empty()) return InvalidField("project", "must look like \"projects/{id}\"");
  STP_ASSIGN_OR_RETURN(auto scores, store_->LoadScores({id}, rc.deadline));
  return ScoreFor(rc.principal, req.project(), std::move(scores[0]));
}

void ScoringServiceImpl::GetSerializedScoreAsync(
    const RequestContext& rc, const v1::GetProjectScoreRequest& req,
    std::function<void(absl::StatusOr<std::string>)> reply) {
  std::string id = ingestion::IdOf(req.project(), "projects");
  if (id.empty()) return reply(InvalidField("project", "must look like \"projects/{id}\""));
  store_->LoadSerializedScoreAsync(
      id, rc.deadline,
      [hook = store_->unreadable_hook(), id, principal = rc.principal, project = req.project(),
       reply = std::move(reply)](absl::StatusOr<std::optional<std::string>> score) {
        if (!score.ok()) return reply(score.status());
        // As DoGetProjectScore: a score that does not parse is answered as none (whether the
        // caller may see it is unknown), and computed again.
        std::optional<bool> visible =
            score->has_value() ? SerializedScoreVisible(principal, **score) : std::nullopt;
        if (score->has_value() && !visible.has_value()) hook->Report(id);
        if (!visible.value_or(false)) return reply(NotScored(project));
        reply(std::move(**score));
      });
}

absl::StatusOr<v1::Score> ScoringServiceImpl::DoScoreProject(const RequestContext& rc,
                                                             const v1::ScoreProjectRequest& req) {
  iv1::Project draft = req.project();
  if (draft.name().empty()) draft.set_name("projects/draft");
  FieldViolations v;
  ingestion::ValidateProject(draft, "project", &v);
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::vector<std::string> orgs, countries;
  ScoringModel::Dependencies(draft, &orgs, &countries);
  PrefetchedRecords records;
  STP_ASSIGN_OR_RETURN(auto loaded_orgs, store_->LoadOrganizations(orgs, rc.deadline));
  for (size_t i = 0; i < orgs.size(); ++i) {
    if (!loaded_orgs[i].has_value()) {
      // Every place the draft names it, as CreateProject's check names them.
      for (int k = 0; k < draft.participants_size(); ++k) {
        if (draft.participants(k).organization() == orgs[i]) {
          v.Add(absl::StrCat("project.participants[", k, "].organization"),
                orgs[i] + " does not exist");
        }
      }
      const auto& financing = draft.financing();
      for (const auto& [flows, path] : {std::pair(&financing.commitments(), "commitments"),
                                        std::pair(&financing.disbursements(), "disbursements")}) {
        for (int k = 0; k < flows->size(); ++k) {
          if ((*flows)[k].source_organization() == orgs[i]) {
            v.Add(absl::StrCat("project.financing.", path, "[", k, "].source_organization"),
                  orgs[i] + " does not exist");
          }
        }
      }
      continue;
    }
    if (!loaded_orgs[i]->country().empty()) countries.push_back(loaded_orgs[i]->country());
    records.AddOrganization(std::move(*loaded_orgs[i]));
  }
  STP_ASSIGN_OR_RETURN(auto loaded_countries, store_->LoadCountries(countries, rc.deadline));
  for (size_t i = 0; i < countries.size(); ++i) {
    if (loaded_countries[i].has_value()) {
      records.AddCountry(std::move(*loaded_countries[i]));
    } else if (countries[i] == draft.host_country()) {
      v.Add("project.host_country", countries[i] + " is not a known country");
    }
  }
  if (!draft.park().empty()) {
    // A park the read model does not hold (yet) earns no IASP credit; it is not an error.
    STP_ASSIGN_OR_RETURN(auto parks, store_->LoadParks({draft.park()}, rc.deadline));
    if (parks[0].has_value()) records.AddPark(std::move(*parks[0]));
  }
  STP_RETURN_IF_ERROR(v.ToStatus());
  v1::Score score =
      model_->Compute(draft, records.Context(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone())));
  *score.mutable_compute_time() = common::ToTimestamp(absl::Now());
  return score;
}

absl::StatusOr<std::vector<v1::Score>> ScoringServiceImpl::VisibleScores(
    const RequestContext& rc, const v1::ScoreFilter& filter) {
  STP_ASSIGN_OR_RETURN(auto snapshot, snapshot_.Get(rc.deadline));
  std::vector<v1::Score> out;
  for (const auto& s : *snapshot) {
    if (Matches(filter, s) && ScoreVisible(rc.principal, s)) out.push_back(s);
  }
  return out;
}

absl::StatusOr<v1::RankProjectsResponse> ScoringServiceImpl::DoRankProjects(
    const RequestContext& rc, const v1::RankProjectsRequest& req) {
  STP_RETURN_IF_ERROR(ValidateFilter(req.filter(), "filter"));
  STP_ASSIGN_OR_RETURN(auto scores, VisibleScores(rc, req.filter()));
  return RankPage(std::move(scores), req);
}

absl::StatusOr<v1::PortfolioSummary> ScoringServiceImpl::DoGetPortfolioSummary(
    const RequestContext& rc, const v1::GetPortfolioSummaryRequest& req) {
  FieldViolations v;
  if (req.group_by() == v1::GROUP_BY_UNSPECIFIED || !v1::GroupBy_IsValid(req.group_by())) {
    v.Add("group_by", "required: COUNTRY, AVENUE, COOPERATION_MODEL or PARK");
  }
  STP_RETURN_IF_ERROR(v.ToStatus());
  STP_RETURN_IF_ERROR(ValidateFilter(req.filter(), "filter"));
  STP_ASSIGN_OR_RETURN(auto scores, VisibleScores(rc, req.filter()));
  // Labels for countries and parks come from the read model.
  std::vector<std::string> keys;
  for (const auto& s : scores)
    keys.push_back(req.group_by() == v1::GROUP_BY_PARK ? s.park() : s.host_country());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  keys.erase(std::remove(keys.begin(), keys.end(), ""), keys.end());
  std::map<std::string, std::string> labels;
  if (req.group_by() == v1::GROUP_BY_COUNTRY) {
    STP_ASSIGN_OR_RETURN(auto countries, store_->LoadCountries(keys, rc.deadline));
    for (size_t i = 0; i < keys.size(); ++i) {
      if (countries[i].has_value()) labels[keys[i]] = countries[i]->display_name();
    }
  } else if (req.group_by() == v1::GROUP_BY_PARK) {
    STP_ASSIGN_OR_RETURN(auto parks, store_->LoadParks(keys, rc.deadline));
    for (size_t i = 0; i < keys.size(); ++i) {
      if (parks[i].has_value()) labels[keys[i]] = parks[i]->display_name();
    }
  }
  return Summarize(scores, req.group_by(), model_->config().base_rate, model_->version(),
                   [&](const std::string& key) {
                     auto it = labels.find(key);
                     return it == labels.end() ? key : it->second;
                   });
}

absl::StatusOr<v1::ListScoreHistoryResponse> ScoringServiceImpl::DoListScoreHistory(
    const RequestContext& rc, const v1::ListScoreHistoryRequest& req) {
  // The request is checked before the project is read: a malformed page size or token is the
  // caller's to fix whether or not the project exists.
  if (req.page_size() < 0 || req.page_size() > 1000)
    return InvalidField("page_size", "must be between 0 and 1000");
  int page_size = req.page_size() == 0 ? 50 : req.page_size();
  // History is short (the last 100 changes, newest written first), so a page is cut from all
  // of it. The token names the project and the last entry returned (its compute time and
  // project revision), and the next page starts after that entry wherever new entries have
  // moved it: compute times are not in write order when two replicas with clocks apart score
  // one project. An entry trimmed since ends the list (everything after it went first).
  auto nanos = [](const v1::Score& s) {
    return s.compute_time().seconds() * 1000000000 + s.compute_time().nanos();
  };
  std::optional<std::pair<int64_t, int64_t>> after;  // compute time, revision
  int64_t before_nanos = INT64_MAX;                  // a token of the version before
  if (!req.page_token().empty()) {
    std::string raw;
    std::vector<std::string> parts;
    if (absl::WebSafeBase64Unescape(req.page_token(), &raw)) parts = absl::StrSplit(raw, '|');
    int64_t time = 0, revision = 0;
    if (parts.size() == 4 && parts[0] == "h" && absl::SimpleAtoi(parts[2], &time) &&
        absl::SimpleAtoi(parts[3], &revision)) {
      if (parts[1] != req.project()) {
        return InvalidField("page_token", "was returned for another project");
      }
      after.emplace(time, revision);
    } else if (parts.size() != 1 || !absl::SimpleAtoi(parts[0], &before_nanos)) {
      return InvalidField("page_token", "is not a token ListScoreHistory returned");
    }
  }
  v1::GetProjectScoreRequest get;
  get.set_project(req.project());
  STP_RETURN_IF_ERROR(DoGetProjectScore(rc, get).status());  // exists and visible
  STP_ASSIGN_OR_RETURN(auto history, store_->History(ingestion::IdOf(req.project(), "projects"), 0,
                                                     100, rc.deadline));
  size_t start = 0;
  if (after) {
    start = history.size();
    for (size_t i = 0; i < history.size(); ++i) {
      if (nanos(history[i]) == after->first && history[i].project_revision() == after->second) {
        start = i + 1;
        break;
      }
    }
  }
  v1::ListScoreHistoryResponse resp;
  bool more = false;
  for (size_t i = start; i < history.size(); ++i) {
    if (nanos(history[i]) >= before_nanos) continue;
    if (resp.scores_size() == page_size) {
      more = true;
      break;
    }
    *resp.add_scores() = history[i];
  }
  if (more) {
    const v1::Score& last = resp.scores(resp.scores_size() - 1);
    resp.set_next_page_token(absl::WebSafeBase64Escape(
        absl::StrCat("h|", req.project(), "|", nanos(last), "|", last.project_revision())));
  }
  return resp;
}

#define STP_SCORING_UNARY(Method, Call)                           \
  return ServeUnary(handler_, c, #Method, AccessRole::kReader, r, \
                    [this, q](const RequestContext& rc) { return Call; })

grpc::ServerUnaryReactor* ScoringServiceImpl::GetProjectScore(Ctx* c, const grpc::ByteBuffer* q,
                                                              grpc::ByteBuffer* r) {
  // Answered on the Redis client's thread: the worker does not sleep through the read.
  return ServeSerializedUnaryAsync<v1::GetProjectScoreRequest>(
      handler_, c, "GetProjectScore", AccessRole::kReader, q, r,
      [this](const RequestContext& rc, const v1::GetProjectScoreRequest& req, auto reply) {
        GetSerializedScoreAsync(rc, req, std::move(reply));
      });
}
grpc::ServerUnaryReactor* ScoringServiceImpl::ScoreProject(Ctx* c, const v1::ScoreProjectRequest* q,
                                                           v1::Score* r) {
  STP_SCORING_UNARY(ScoreProject, DoScoreProject(rc, *q));
}
grpc::ServerUnaryReactor* ScoringServiceImpl::RankProjects(Ctx* c, const v1::RankProjectsRequest* q,
                                                           v1::RankProjectsResponse* r) {
  STP_SCORING_UNARY(RankProjects, DoRankProjects(rc, *q));
}
grpc::ServerUnaryReactor* ScoringServiceImpl::GetPortfolioSummary(
    Ctx* c, const v1::GetPortfolioSummaryRequest* q, v1::PortfolioSummary* r) {
  STP_SCORING_UNARY(GetPortfolioSummary, DoGetPortfolioSummary(rc, *q));
}
grpc::ServerUnaryReactor* ScoringServiceImpl::GetScoringModel(Ctx* c,
                                                              const v1::GetScoringModelRequest* q,
                                                              v1::ScoringModel* r) {
  STP_SCORING_UNARY(GetScoringModel, absl::StatusOr<v1::ScoringModel>(model_->Describe()));
}
grpc::ServerUnaryReactor* ScoringServiceImpl::ListScoreHistory(Ctx* c,
                                                               const v1::ListScoreHistoryRequest* q,
                                                               v1::ListScoreHistoryResponse* r) {
  STP_SCORING_UNARY(ListScoreHistory, DoListScoreHistory(rc, *q));
}

#undef STP_SCORING_UNARY

}  // namespace stp::scoring
