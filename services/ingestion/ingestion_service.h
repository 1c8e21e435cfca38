// The gRPC adapter of the ingestion service: maps each method to the registry on the worker
// pool, and runs ImportProjects streams.
#pragma once

#include <atomic>

#include "libs/common/server.h"
#include "services/ingestion/import/sector_avenues.h"
#include "services/ingestion/registry.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"

namespace stp::ingestion {

// GetProject is served raw: the stored project's bytes go out as they are.
using IngestionServiceBase =
    v1::IngestionService::WithRawCallbackMethod_GetProject<v1::IngestionService::CallbackService>;

class IngestionServiceImpl final : public IngestionServiceBase {
 public:
  IngestionServiceImpl(CallHandler* handler, Registry* registry, const SectorAvenueTable* sectors,
                       int max_concurrent_imports);

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;

  Unary* UpsertCountry(Ctx* c, const v1::UpsertCountryRequest* q, v1::Country* r) override;
  Unary* GetCountry(Ctx* c, const v1::GetCountryRequest* q, v1::Country* r) override;
  Unary* ListCountries(Ctx* c, const v1::ListCountriesRequest* q,
                       v1::ListCountriesResponse* r) override;
  Unary* CreateOrganization(Ctx* c, const v1::CreateOrganizationRequest* q,
                            v1::Organization* r) override;
  Unary* GetOrganization(Ctx* c, const v1::GetOrganizationRequest* q, v1::Organization* r) override;
  Unary* ListOrganizations(Ctx* c, const v1::ListOrganizationsRequest* q,
                           v1::ListOrganizationsResponse* r) override;
  Unary* UpdateOrganization(Ctx* c, const v1::UpdateOrganizationRequest* q,
                            v1::Organization* r) override;
  Unary* DeleteOrganization(Ctx* c, const v1::DeleteOrganizationRequest* q,
                            v1::DeleteResponse* r) override;
  Unary* CreatePark(Ctx* c, const v1::CreateParkRequest* q, v1::Park* r) override;
  Unary* GetPark(Ctx* c, const v1::GetParkRequest* q, v1::Park* r) override;
  Unary* ListParks(Ctx* c, const v1::ListParksRequest* q, v1::ListParksResponse* r) override;
  Unary* UpdatePark(Ctx* c, const v1::UpdateParkRequest* q, v1::Park* r) override;
  Unary* DeletePark(Ctx* c, const v1::DeleteParkRequest* q, v1::DeleteResponse* r) override;
  Unary* CreateProject(Ctx* c, const v1::CreateProjectRequest* q, v1::Project* r) override;
  Unary* GetProject(Ctx* c, const grpc::ByteBuffer* q, grpc::ByteBuffer* r) override;
  Unary* ListProjects(Ctx* c, const v1::ListProjectsRequest* q,
                      v1::ListProjectsResponse* r) override;
  Unary* UpdateProject(Ctx* c, const v1::UpdateProjectRequest* q, v1::Project* r) override;
  Unary* DeleteProject(Ctx* c, const v1::DeleteProjectRequest* q, v1::DeleteResponse* r) override;
  Unary* GetProjectHistory(Ctx* c, const v1::GetProjectHistoryRequest* q,
                           v1::GetProjectHistoryResponse* r) override;
  grpc::ServerReadReactor<v1::ImportProjectsRequest>* ImportProjects(Ctx* c,
                                                                     v1::ImportSummary* r) override;

 private:
  class ImportReactor;
  CallHandler* handler_;
  Registry* registry_;
  const SectorAvenueTable* sectors_;
  const int max_concurrent_imports_;
  std::atomic<int> imports_{0};
};

}  // namespace stp::ingestion
