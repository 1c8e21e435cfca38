#include "tests/reliability/workload.h"

#include <algorithm>
#include <cstdlib>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace stp::reliability {

namespace iv1 = stp::ingestion::v1;

bool LongForm() {
  const char* v = std::getenv("STP_RELIABILITY_LONG");
  return v != nullptr && std::string(v) != "" && std::string(v) != "0";
}

int Scaled(int quick, int long_form) { return LongForm() ? long_form : quick; }

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

void CallWithRetry(const RetryPolicy& policy, Operation* op,
                   const std::function<grpc::Status(grpc::ClientContext*)>& attempt) {
  absl::Time start = absl::Now();
  absl::Duration backoff = absl::Milliseconds(20);
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(policy.attempt_deadline));
    grpc::Status s = attempt(&ctx);
    ++op->attempts;
    op->last_code = s.error_code();
    op->last_message = s.error_message();
    if (s.ok()) {
      op->outcome = Outcome::kOk;
      break;
    }
    if (!Retryable(s.error_code())) {
      // INTERNAL and friends are not a definite "no": the write may have happened. Only the
      // codes that promise nothing was written count as rejections.
      bool definite = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                      s.error_code() == grpc::StatusCode::ABORTED ||
                      s.error_code() == grpc::StatusCode::NOT_FOUND ||
                      s.error_code() == grpc::StatusCode::ALREADY_EXISTS ||
                      s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                      s.error_code() == grpc::StatusCode::PERMISSION_DENIED;
      op->outcome = definite ? Outcome::kRejected : Outcome::kUnknown;
      break;
    }
    if (absl::Now() - start > policy.give_up_after) {
      op->outcome = Outcome::kUnknown;
      break;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
  op->latency = absl::Now() - start;
}

iv1::Project NewProject(const std::string& title, const std::string& org, const std::string& host) {
  iv1::Project p;
  p.set_title(title);
  p.set_host_country(host);
  p.add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  p.set_stage(iv1::PROJECT_STAGE_PROPOSED);
  auto* part = p.add_participants();
  part->set_organization(org);
  part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
  part->set_lead(true);
  return p;
}

ProjectWorkload::ProjectWorkload(std::shared_ptr<grpc::Channel> channel, History* history,
                                 std::string org, std::string prefix, RetryPolicy policy)
    : stub_(iv1::IngestionService::NewStub(channel)),
      history_(history),
      org_(std::move(org)),
      prefix_(std::move(prefix)),
      policy_(policy) {}

Operation ProjectWorkload::Create(const std::string& request_id, const std::string& title) {
  Operation op;
  op.request_id = request_id;
  op.kind = "create";
  iv1::CreateProjectRequest req;
  *req.mutable_project() = NewProject(title, org_);
  req.set_request_id(request_id);
  iv1::Project out;
  CallWithRetry(policy_, &op,
                [&](grpc::ClientContext* c) { return stub_->CreateProject(c, req, &out); });
  if (op.outcome == Outcome::kOk) {
    op.resource = out.name();
    op.revision = out.revision();
    absl::MutexLock lock(&mu_);
    known_.push_back(out.name());
  }
  history_->Add(op);
  ++operations_;
  return op;
}

Operation ProjectWorkload::Update(const std::string& request_id, const std::string& name,
                                  bool with_etag) {
  Operation op;
  op.request_id = request_id;
  op.kind = "update";
  op.resource = name;
  iv1::UpdateProjectRequest req;
  req.mutable_project()->set_name(name);
  // A description no other write uses, so every update changes something and writes.
  req.mutable_project()->set_description("updated by " + request_id);
  req.mutable_project()->set_stage(
      static_cast<iv1::ProjectStage>(1 + std::hash<std::string>()(request_id) % 5));
  req.mutable_update_mask()->add_paths("description");
  req.mutable_update_mask()->add_paths("stage");
  req.set_request_id(request_id);
  if (with_etag) {
    // The etag of a read a moment ago: stale when another client wrote in between (ABORTED).
    Operation read;
    iv1::GetProjectRequest get;
    get.set_name(name);
    iv1::Project current;
    CallWithRetry(policy_, &read,
                  [&](grpc::ClientContext* c) { return stub_->GetProject(c, get, &current); });
    if (read.outcome == Outcome::kOk) req.set_etag(current.etag());
  }
  iv1::Project out;
  CallWithRetry(policy_, &op,
                [&](grpc::ClientContext* c) { return stub_->UpdateProject(c, req, &out); });
  if (op.outcome == Outcome::kOk) op.revision = out.revision();
  history_->Add(op);
  ++operations_;
  return op;
}

Operation ProjectWorkload::Delete(const std::string& request_id, const std::string& name) {
  Operation op;
  op.request_id = request_id;
  op.kind = "delete";
  op.resource = name;
  iv1::DeleteProjectRequest req;
  req.set_name(name);
  req.set_request_id(request_id);
  iv1::DeleteResponse out;
  CallWithRetry(policy_, &op,
                [&](grpc::ClientContext* c) { return stub_->DeleteProject(c, req, &out); });
  // A delete answers no revision; the checker finds its event by request id.
  op.revision = 0;
  history_->Add(op);
  ++operations_;
  if (op.outcome == Outcome::kOk) {
    absl::MutexLock lock(&mu_);
    known_.erase(std::remove(known_.begin(), known_.end(), name), known_.end());
  }
  return op;
}

Operation ProjectWorkload::Invalid(const std::string& request_id) {
  Operation op;
  op.request_id = request_id;
  op.kind = "invalid";
  iv1::CreateProjectRequest req;
  *req.mutable_project() = NewProject("refused " + request_id, org_);
  req.mutable_project()->mutable_financing()->mutable_budget()->set_currency_code("USD");
  req.mutable_project()->mutable_financing()->mutable_budget()->set_units(-1);
  req.set_request_id(request_id);
  iv1::Project out;
  CallWithRetry(policy_, &op,
                [&](grpc::ClientContext* c) { return stub_->CreateProject(c, req, &out); });
  history_->Add(op);
  ++operations_;
  return op;
}

std::string ProjectWorkload::PickProject(std::mt19937* rng) {
  absl::MutexLock lock(&mu_);
  if (known_.empty()) return "";
  return known_[std::uniform_int_distribution<size_t>(0, known_.size() - 1)(*rng)];
}

void ProjectWorkload::Run(int thread, int min_ops, const std::function<bool()>& keep_going,
                          absl::Duration pause) {
  std::mt19937 rng(thread * 7919 + 17);
  for (int n = 0; n < min_ops || keep_going(); ++n) {
    std::string id = absl::StrCat(prefix_, "-t", thread, "-", n);
    int dice = std::uniform_int_distribution<int>(0, 99)(rng);
    std::string target = PickProject(&rng);
    if (target.empty() || dice < 35) {
      Create(id, absl::StrCat("Project ", id));
    } else if (dice < 80) {
      Update(id, target, /*with_etag=*/false);
    } else if (dice < 88) {
      Update(id, target, /*with_etag=*/true);
    } else if (dice < 93) {
      Delete(id, target);
    } else {
      Invalid(id);
    }
    if (pause > absl::ZeroDuration()) absl::SleepFor(pause);
  }
}

absl::StatusOr<std::vector<std::string>> ProjectWorkload::ListAll() {
  std::vector<std::string> names;
  iv1::ListProjectsRequest req;
  req.set_page_size(1000);
  for (int guard = 0; guard < 100000; ++guard) {
    iv1::ListProjectsResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = stub_->ListProjects(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError("ListProjects: " + s.error_message());
    for (const auto& p : resp.projects()) names.push_back(p.name());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return names;
}

}  // namespace stp::reliability
