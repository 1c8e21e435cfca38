// stp.ingestion.v1.IngestionService: countries, organisations, parks, projects, history and
// bulk import. Reads are retried; mutations get a request_id when they have none, so their
// retries never write twice.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/client/connection.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"

namespace stp::client {

namespace iv1 = stp::ingestion::v1;

// Settings of one import.
struct ImportOptions {
  // The file's format; IMPORT_FORMAT_UNSPECIFIED detects it (DetectImportFormat).
  iv1::ImportFormat format = iv1::IMPORT_FORMAT_UNSPECIFIED;
  // Base idempotency key of the import; generated when empty. A retry resends the whole
  // stream with the same key, and the server derives each record's key from it, so nothing is
  // written twice.
  std::string request_id;
  // Parse and validate only; nothing is written.
  bool dry_run = false;
  // A name for the source recorded on each project; the file's base name when empty.
  std::string source_reference;
  // Deadline of the whole import, all attempts included; zero uses the client's default.
  // The server refuses imports without one, so size it for the file.
  absl::Duration deadline = absl::ZeroDuration();
  // Bytes per message, at most 1 MiB (the server's limit).
  size_t chunk_bytes = 1 << 20;
  // Told after each chunk is handed to the transport: bytes sent so far and the file's size.
  // A retried import starts again from zero.
  std::function<void(int64_t bytes_sent, int64_t total_bytes)> on_progress;
};

// IATI XML or AidData CSV, from the file name's extension or, failing that, its first bytes.
absl::StatusOr<iv1::ImportFormat> DetectImportFormat(const std::string& path);

class IngestionClient {
 public:
  explicit IngestionClient(std::shared_ptr<Connection> connection);

  absl::StatusOr<iv1::Country> UpsertCountry(iv1::UpsertCountryRequest request,
                                             const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Country> GetCountry(const iv1::GetCountryRequest& request,
                                          const CallOptions& call = {}) const;
  absl::StatusOr<iv1::ListCountriesResponse> ListCountries(const iv1::ListCountriesRequest& request,
                                                           const CallOptions& call = {}) const;

  absl::StatusOr<iv1::Organization> CreateOrganization(iv1::CreateOrganizationRequest request,
                                                       const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Organization> GetOrganization(const iv1::GetOrganizationRequest& request,
                                                    const CallOptions& call = {}) const;
  absl::StatusOr<iv1::ListOrganizationsResponse> ListOrganizations(
      const iv1::ListOrganizationsRequest& request, const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Organization> UpdateOrganization(iv1::UpdateOrganizationRequest request,
                                                       const CallOptions& call = {}) const;
  absl::StatusOr<iv1::DeleteResponse> DeleteOrganization(iv1::DeleteOrganizationRequest request,
                                                         const CallOptions& call = {}) const;

  absl::StatusOr<iv1::Park> CreatePark(iv1::CreateParkRequest request,
                                       const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Park> GetPark(const iv1::GetParkRequest& request,
                                    const CallOptions& call = {}) const;
  absl::StatusOr<iv1::ListParksResponse> ListParks(const iv1::ListParksRequest& request,
                                                   const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Park> UpdatePark(iv1::UpdateParkRequest request,
                                       const CallOptions& call = {}) const;
  absl::StatusOr<iv1::DeleteResponse> DeletePark(iv1::DeleteParkRequest request,
                                                 const CallOptions& call = {}) const;

  absl::StatusOr<iv1::Project> CreateProject(iv1::CreateProjectRequest request,
                                             const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Project> GetProject(const iv1::GetProjectRequest& request,
                                          const CallOptions& call = {}) const;
  absl::StatusOr<iv1::ListProjectsResponse> ListProjects(const iv1::ListProjectsRequest& request,
                                                         const CallOptions& call = {}) const;
  absl::StatusOr<iv1::Project> UpdateProject(iv1::UpdateProjectRequest request,
                                             const CallOptions& call = {}) const;
  absl::StatusOr<iv1::DeleteResponse> DeleteProject(iv1::DeleteProjectRequest request,
                                                    const CallOptions& call = {}) const;
  absl::StatusOr<iv1::GetProjectHistoryResponse> GetProjectHistory(
      const iv1::GetProjectHistoryRequest& request, const CallOptions& call = {}) const;

  // Streams an IATI activity XML or AidData CSV file to ImportProjects in chunks.
  absl::StatusOr<iv1::ImportSummary> ImportFile(const std::string& path, ImportOptions options = {},
                                                const CallOptions& call = {}) const;
  // Streams Project messages (IMPORT_FORMAT_PROJECTS; `options.format` is ignored). Each
  // project should carry an external id so that importing it again updates it.
  absl::StatusOr<iv1::ImportSummary> ImportProjects(const std::vector<iv1::Project>& projects,
                                                    ImportOptions options = {},
                                                    const CallOptions& call = {}) const;

  iv1::IngestionService::Stub* stub() const { return stub_.get(); }

 private:
  // One ImportProjects stream per attempt; `send` writes the payload messages.
  absl::StatusOr<iv1::ImportSummary> RunImport(
      const iv1::ImportProjectsRequest& header, const ImportOptions& options,
      const CallOptions& call,
      const std::function<bool(grpc::ClientWriter<iv1::ImportProjectsRequest>*, absl::Status*)>&
          send) const;

  std::shared_ptr<Connection> connection_;
  std::unique_ptr<iv1::IngestionService::Stub> stub_;
};

}  // namespace stp::client
