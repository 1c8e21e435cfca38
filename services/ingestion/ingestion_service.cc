#include "services/ingestion/ingestion_service.h"

#include <thread>

#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"
#include "libs/common/logging.h"
#include "services/ingestion/import_session.h"
#include "services/ingestion/validation.h"

namespace stp::ingestion {

namespace {
constexpr AccessRole kRead = AccessRole::kReader;
constexpr AccessRole kWrite = AccessRole::kPartner;

// A request's request_id, where it has one: at most 64 characters of UTF-8 without control
// characters (as ImportProjects asks), since it is kept as part of a key.
absl::Status CheckRequestId(const google::protobuf::Message& request) {
  const auto* field = request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING)
    return absl::OkStatus();
  FieldViolations v;
  CheckString(request.GetReflection()->GetString(request, field), "request_id", 64, false, &v);
  return v.ToStatus();
}
}  // namespace

IngestionServiceImpl::IngestionServiceImpl(CallHandler* handler, Registry* registry,
                                           const SectorAvenueTable* sectors,
                                           int max_concurrent_imports)
    : handler_(handler),
      registry_(registry),
      sectors_(sectors),
      max_concurrent_imports_(max_concurrent_imports) {}

#define STP_UNARY(Method, Role, Call)                                                    \
  return ServeUnary(handler_, c, #Method, Role, r, [this, q](const RequestContext& rc) { \
    auto call = [&] { return Call; };                                                    \
    absl::Status bad_request_id = CheckRequestId(*q);                                    \
    if (!bad_request_id.ok()) return decltype(call())(bad_request_id);                   \
    return call();                                                                       \
  })

grpc::ServerUnaryReactor* IngestionServiceImpl::UpsertCountry(Ctx* c,
                                                              const v1::UpsertCountryRequest* q,
                                                              v1::Country* r) {
  STP_UNARY(UpsertCountry, AccessRole::kOperator, registry_->UpsertCountry(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::GetCountry(Ctx* c, const v1::GetCountryRequest* q,
                                                           v1::Country* r) {
  STP_UNARY(GetCountry, kRead, registry_->GetCountry(rc, q->name()));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::ListCountries(Ctx* c,
                                                              const v1::ListCountriesRequest* q,
                                                              v1::ListCountriesResponse* r) {
  STP_UNARY(ListCountries, kRead, registry_->ListCountries(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::CreateOrganization(
    Ctx* c, const v1::CreateOrganizationRequest* q, v1::Organization* r) {
  STP_UNARY(CreateOrganization, kWrite, registry_->CreateOrganization(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::GetOrganization(Ctx* c,
                                                                const v1::GetOrganizationRequest* q,
                                                                v1::Organization* r) {
  STP_UNARY(GetOrganization, kRead, registry_->GetOrganization(rc, q->name()));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::ListOrganizations(
    Ctx* c, const v1::ListOrganizationsRequest* q, v1::ListOrganizationsResponse* r) {
  STP_UNARY(ListOrganizations, kRead, registry_->ListOrganizations(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::UpdateOrganization(
    Ctx* c, const v1::UpdateOrganizationRequest* q, v1::Organization* r) {
  STP_UNARY(UpdateOrganization, kWrite, registry_->UpdateOrganization(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::DeleteOrganization(
    Ctx* c, const v1::DeleteOrganizationRequest* q, v1::DeleteResponse* r) {
  STP_UNARY(DeleteOrganization, kWrite, registry_->DeleteOrganization(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::CreatePark(Ctx* c, const v1::CreateParkRequest* q,
                                                           v1::Park* r) {
  STP_UNARY(CreatePark, kWrite, registry_->CreatePark(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::GetPark(Ctx* c, const v1::GetParkRequest* q,
                                                        v1::Park* r) {
  STP_UNARY(GetPark, kRead, registry_->GetPark(rc, q->name()));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::ListParks(Ctx* c, const v1::ListParksRequest* q,
                                                          v1::ListParksResponse* r) {
  STP_UNARY(ListParks, kRead, registry_->ListParks(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::UpdatePark(Ctx* c, const v1::UpdateParkRequest* q,
                                                           v1::Park* r) {
  STP_UNARY(UpdatePark, kWrite, registry_->UpdatePark(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::DeletePark(Ctx* c, const v1::DeleteParkRequest* q,
                                                           v1::DeleteResponse* r) {
  STP_UNARY(DeletePark, kWrite, registry_->DeletePark(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::CreateProject(Ctx* c,
                                                              const v1::CreateProjectRequest* q,
                                                              v1::Project* r) {
  // Goes on on a Redis client round-trip thread after each round trip: no worker sleeps through
  // the reads and the write.
  return ServeUnaryAsync(handler_, c, "CreateProject", kWrite, r,
                         [this, q](const RequestContext& rc, auto reply) {
                           absl::Status bad_request_id = CheckRequestId(*q);
                           if (!bad_request_id.ok()) return reply(bad_request_id);
                           registry_->CreateProjectAsync(rc, *q, std::move(reply));
                         });
}
grpc::ServerUnaryReactor* IngestionServiceImpl::GetProject(Ctx* c, const grpc::ByteBuffer* q,
                                                           grpc::ByteBuffer* r) {
  // Answered on the Redis client's thread: the worker does not sleep through the read.
  return ServeSerializedUnaryAsync<v1::GetProjectRequest>(
      handler_, c, "GetProject", kRead, q, r,
      [this](const RequestContext& rc, const v1::GetProjectRequest& req, auto reply) {
        registry_->GetSerializedProjectAsync(rc, req.name(), std::move(reply));
      });
}
grpc::ServerUnaryReactor* IngestionServiceImpl::ListProjects(Ctx* c,
                                                             const v1::ListProjectsRequest* q,
                                                             v1::ListProjectsResponse* r) {
  STP_UNARY(ListProjects, kRead, registry_->ListProjects(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::UpdateProject(Ctx* c,
                                                              const v1::UpdateProjectRequest* q,
                                                              v1::Project* r) {
  STP_UNARY(UpdateProject, kWrite, registry_->UpdateProject(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::DeleteProject(Ctx* c,
                                                              const v1::DeleteProjectRequest* q,
                                                              v1::DeleteResponse* r) {
  STP_UNARY(DeleteProject, kWrite, registry_->DeleteProject(rc, *q));
}
grpc::ServerUnaryReactor* IngestionServiceImpl::GetProjectHistory(
    Ctx* c, const v1::GetProjectHistoryRequest* q, v1::GetProjectHistoryResponse* r) {
  STP_UNARY(GetProjectHistory, kRead, registry_->GetProjectHistory(rc, *q));
}

#undef STP_UNARY

// One ImportProjects stream. Each message is processed on the worker pool and the next read
// starts only when it is done, so a fast client cannot queue unbounded work. A client that
// vanishes mid-stream loses only its unflushed batch: every flushed write is atomic.
class IngestionServiceImpl::ImportReactor
    : public grpc::ServerReadReactor<v1::ImportProjectsRequest> {
 public:
  ImportReactor(IngestionServiceImpl* service, Ctx* ctx, v1::ImportSummary* response)
      : service_(service), ctx_(ctx), response_(response), start_(absl::Now()) {
    Submit([this] { Begin(); });
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Submit([this] { Complete(); });
    } else if (session_ != nullptr && session_->AddsWithoutIo(request_)) {
      // Queuing a project in memory needs no worker thread: skip the hop (one per message).
      absl::Status status = session_->Add(request_);
      if (!status.ok()) return End(status);
      StartRead(&request_);
    } else {
      Submit([this] { Consume(); });
    }
  }
  void OnDone() override {
    if (counted_) service_->imports_.fetch_sub(1);
    delete this;
  }

 private:
  void Submit(std::function<void()> task) {
    if (!service_->handler_->pool()->TrySubmit(std::move(task))) {
      End(WithRetryInfo(
          absl::ResourceExhaustedError("the server is at capacity; retry the import later"),
          absl::Seconds(1)));
    }
  }

  void Begin() {
    auto rc = service_->handler_->Begin(*ctx_, "ImportProjects", AccessRole::kPartner);
    if (!rc.ok()) return End(rc.status());
    rc_ = *std::move(rc);
    if (rc_.deadline == absl::InfiniteFuture()) {
      return End(WithErrorInfo(
          absl::InvalidArgumentError("ImportProjects needs a deadline: set one on the "
                                     "call, long enough for the file"),
          "DEADLINE_REQUIRED"));
    }
    counted_ = true;
    if (service_->imports_.fetch_add(1) >= service_->max_concurrent_imports_) {
      return End(WithRetryInfo(
          WithErrorInfo(absl::ResourceExhaustedError("too many imports are running; retry later"),
                        "TOO_MANY_IMPORTS"),
          absl::Seconds(5)));
    }
    StartRead(&request_);
  }

  void Consume() {
    ScopedLogContext log({rc_.request_id, rc_.trace_id, rc_.principal.id, "ImportProjects"});
    if (session_ == nullptr) {
      auto session = ImportSession::Start(service_->registry_, service_->sectors_, rc_, request_);
      if (!session.ok()) return End(session.status());
      session_ = *std::move(session);
    }
    absl::Status status = session_->Add(request_);
    if (!status.ok()) return End(status);
    if (absl::Now() >= rc_.deadline)
      return End(absl::DeadlineExceededError("the import's deadline passed"));
    StartRead(&request_);
  }

  void Complete() {
    ScopedLogContext log({rc_.request_id, rc_.trace_id, rc_.principal.id, "ImportProjects"});
    if (ctx_->IsCancelled())
      return End(absl::CancelledError("the client went away; the last batch was dropped"));
    if (session_ == nullptr) return End(InvalidField("format", "the stream was empty"));
    auto summary = session_->Finish();
    if (!summary.ok()) return End(summary.status());
    *response_ = *std::move(summary);
    LogInfo("import finished", {{"received", response_->received()},
                                {"created", response_->created()},
                                {"updated", response_->updated()},
                                {"unchanged", response_->unchanged()},
                                {"rejected", response_->rejected()}});
    End(absl::OkStatus());
  }

  void End(const absl::Status& status) {
    service_->handler_->Record("ImportProjects", status, start_);
    // A failed import answers only after the write it has in flight is over, so that nothing
    // of it lands after the caller has seen the error. The wait is not done on this thread,
    // which may be one of gRPC's callback threads.
    if (session_ != nullptr && session_->WriteInFlight()) {
      std::thread([this, session = std::move(session_), answer = ToGrpcStatus(status)]() mutable {
        session.reset();  // joins the write
        Finish(answer);   // last use of `this` on this path
      }).detach();
      return;
    }
    session_.reset();
    Finish(ToGrpcStatus(status));  // last use of `this` on this path
  }

  IngestionServiceImpl* service_;
  Ctx* ctx_;
  v1::ImportSummary* response_;
  absl::Time start_;
  RequestContext rc_;
  v1::ImportProjectsRequest request_;
  std::unique_ptr<ImportSession> session_;
  bool counted_ = false;
};

grpc::ServerReadReactor<v1::ImportProjectsRequest>* IngestionServiceImpl::ImportProjects(
    Ctx* c, v1::ImportSummary* r) {
  return new ImportReactor(this, c, r);
}

}  // namespace stp::ingestion
