#include "libs/client/ingestion_client.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stp::client {
namespace {

using Stub = iv1::IngestionService::Stub;

constexpr size_t kMaxChunkBytes = 1 << 20;

}  // namespace

absl::StatusOr<iv1::ImportFormat> DetectImportFormat(const std::string& path) {
  std::string extension = absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (extension == ".xml") return iv1::IMPORT_FORMAT_IATI_XML;
  if (extension == ".csv") return iv1::IMPORT_FORMAT_AIDDATA_CSV;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  char head[512];
  in.read(head, sizeof(head));
  absl::string_view start(head, static_cast<size_t>(in.gcount()));
  if (absl::StartsWith(start, "\xEF\xBB\xBF")) start.remove_prefix(3);  // UTF-8 BOM
  start = absl::StripLeadingAsciiWhitespace(start);
  if (absl::StartsWith(start, "<")) return iv1::IMPORT_FORMAT_IATI_XML;
  if (absl::StrContains(start.substr(0, start.find('\n')), ",")) {
    return iv1::IMPORT_FORMAT_AIDDATA_CSV;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot tell the format of ", path, "; name it (iati or aiddata)"));
}

IngestionClient::IngestionClient(std::shared_ptr<Connection> connection)
    : connection_(std::move(connection)),
      stub_(iv1::IngestionService::NewStub(connection_->channel())) {}

// Reads: safe to repeat as they are.
#define STP_INGESTION_READ(Method, Request, Response)                                       \
  absl::StatusOr<Response> IngestionClient::Method(const Request& request,                  \
                                                   const CallOptions& call) const {         \
    return CallUnary(*connection_, stub_.get(), &Stub::Method, #Method, Idempotency::kSafe, \
                     request, call);                                                        \
  }
// Mutations: safe to repeat once they carry a request id.
#define STP_INGESTION_MUTATION(Method, Request, Response)                                    \
  absl::StatusOr<Response> IngestionClient::Method(Request request, const CallOptions& call) \
      const {                                                                                \
    EnsureRequestId(&request);                                                               \
    return CallUnary(*connection_, stub_.get(), &Stub::Method, #Method, Idempotency::kSafe,  \
                     request, call);                                                         \
  }

STP_INGESTION_MUTATION(UpsertCountry, iv1::UpsertCountryRequest, iv1::Country)
STP_INGESTION_READ(GetCountry, iv1::GetCountryRequest, iv1::Country)
STP_INGESTION_READ(ListCountries, iv1::ListCountriesRequest, iv1::ListCountriesResponse)
STP_INGESTION_MUTATION(CreateOrganization, iv1::CreateOrganizationRequest, iv1::Organization)
STP_INGESTION_READ(GetOrganization, iv1::GetOrganizationRequest, iv1::Organization)
STP_INGESTION_READ(ListOrganizations, iv1::ListOrganizationsRequest, iv1::ListOrganizationsResponse)
STP_INGESTION_MUTATION(UpdateOrganization, iv1::UpdateOrganizationRequest, iv1::Organization)
STP_INGESTION_MUTATION(DeleteOrganization, iv1::DeleteOrganizationRequest, iv1::DeleteResponse)
STP_INGESTION_MUTATION(CreatePark, iv1::CreateParkRequest, iv1::Park)
STP_INGESTION_READ(GetPark, iv1::GetParkRequest, iv1::Park)
STP_INGESTION_READ(ListParks, iv1::ListParksRequest, iv1::ListParksResponse)
STP_INGESTION_MUTATION(UpdatePark, iv1::UpdateParkRequest, iv1::Park)
STP_INGESTION_MUTATION(DeletePark, iv1::DeleteParkRequest, iv1::DeleteResponse)
STP_INGESTION_MUTATION(CreateProject, iv1::CreateProjectRequest, iv1::Project)
STP_INGESTION_READ(GetProject, iv1::GetProjectRequest, iv1::Project)
STP_INGESTION_READ(ListProjects, iv1::ListProjectsRequest, iv1::ListProjectsResponse)
STP_INGESTION_MUTATION(UpdateProject, iv1::UpdateProjectRequest, iv1::Project)
STP_INGESTION_MUTATION(DeleteProject, iv1::DeleteProjectRequest, iv1::DeleteResponse)
STP_INGESTION_READ(GetProjectHistory, iv1::GetProjectHistoryRequest, iv1::GetProjectHistoryResponse)

#undef STP_INGESTION_READ
#undef STP_INGESTION_MUTATION

absl::StatusOr<iv1::ImportSummary> IngestionClient::RunImport(
    const iv1::ImportProjectsRequest& header, const ImportOptions& options, const CallOptions& call,
    const std::function<bool(grpc::ClientWriter<iv1::ImportProjectsRequest>*, absl::Status*)>& send)
    const {
  CallOptions import_call = call;
  if (options.deadline > absl::ZeroDuration()) import_call.deadline = options.deadline;
  iv1::ImportSummary summary;
  // A local failure (an unreadable file) ends the import without a retry.
  absl::Status local = absl::OkStatus();
  absl::Status status = connection_->Run(
      "ImportProjects", Idempotency::kSafe, import_call, [&](grpc::ClientContext* context) {
        iv1::ImportSummary attempt_summary;
        auto writer = stub_->ImportProjects(context, &attempt_summary);
        bool sent = writer->Write(header) && send(writer.get(), &local);
        if (!local.ok()) {
          context->TryCancel();
          writer->Finish();
          return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
        }
        if (sent) writer->WritesDone();
        grpc::Status s = writer->Finish();
        if (s.ok()) summary = std::move(attempt_summary);
        return s;
      });
  if (!local.ok()) return local;
  if (!status.ok()) return status;
  return summary;
}

absl::StatusOr<iv1::ImportSummary> IngestionClient::ImportFile(const std::string& path,
                                                               ImportOptions options,
                                                               const CallOptions& call) const {
  if (options.chunk_bytes == 0 || options.chunk_bytes > kMaxChunkBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes must be between 1 and ", kMaxChunkBytes));
  }
  std::error_code error;
  int64_t total = static_cast<int64_t>(std::filesystem::file_size(path, error));
  if (error) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", error.message()));
  if (options.format == iv1::IMPORT_FORMAT_UNSPECIFIED) {
    STP_ASSIGN_OR_RETURN(options.format, DetectImportFormat(path));
  }
  if (options.format == iv1::IMPORT_FORMAT_PROJECTS) {
    return absl::InvalidArgumentError("a file is IATI XML or AidData CSV; use ImportProjects");
  }
  iv1::ImportProjectsRequest header;
  header.set_format(options.format);
  header.set_request_id(options.request_id.empty() ? NewRequestId() : options.request_id);
  header.set_dry_run(options.dry_run);
  header.set_source_reference(options.source_reference.empty()
                                  ? std::filesystem::path(path).filename().string()
                                  : options.source_reference);
  return RunImport(
      header, options, call,
      [&](grpc::ClientWriter<iv1::ImportProjectsRequest>* writer, absl::Status* local) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
          *local = absl::NotFoundError(absl::StrCat("cannot read ", path));
          return false;
        }
        std::string buffer(options.chunk_bytes, '\0');
        iv1::ImportProjectsRequest message;
        int64_t sent = 0;
        if (options.on_progress) options.on_progress(0, total);
        while (in) {
          in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
          std::streamsize n = in.gcount();
          if (n <= 0) break;
          message.set_chunk(buffer.data(), static_cast<size_t>(n));
          if (!writer->Write(message)) return false;  // the stream broke: Finish says why
          sent += n;
          if (options.on_progress) options.on_progress(sent, total);
        }
        if (in.bad()) {
          *local = absl::DataLossError(absl::StrCat("reading ", path, " failed"));
          return false;
        }
        return true;
      });
}

absl::StatusOr<iv1::ImportSummary> IngestionClient::ImportProjects(
    const std::vector<iv1::Project>& projects, ImportOptions options,
    const CallOptions& call) const {
  iv1::ImportProjectsRequest header;
  header.set_format(iv1::IMPORT_FORMAT_PROJECTS);
  header.set_request_id(options.request_id.empty() ? NewRequestId() : options.request_id);
  header.set_dry_run(options.dry_run);
  header.set_source_reference(options.source_reference);
  return RunImport(header, options, call,
                   [&](grpc::ClientWriter<iv1::ImportProjectsRequest>* writer, absl::Status*) {
                     iv1::ImportProjectsRequest message;
                     for (const auto& project : projects) {
                       *message.mutable_project() = project;
                       if (!writer->Write(message)) return false;
                     }
                     return true;
                   });
}

}  // namespace stp::client
