// One ImportProjects stream: parses the payload as it arrives (Project messages, IATI XML or
// AidData CSV), resolves the organisations records name (creating the unknown ones), matches
// records to stored projects by external id, and writes creates and updates in batches, each
// write atomic with its event. A bad record is rejected with its index and reason; the rest go
// in. Re-importing the same data writes nothing.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libs/common/call_context.h"
#include "services/ingestion/import/aiddata_parser.h"
#include "services/ingestion/import/iati_parser.h"
#include "services/ingestion/import/sector_avenues.h"
#include "services/ingestion/registry.h"

namespace stp::ingestion {

class ImportSession {
 public:
  static constexpr int kBatchSize = 256;
  // A batch also ends at this many bytes of records, so that large records (a PROJECTS stream
  // may send messages of megabytes) keep a stream's memory bounded: about two batches.
  static constexpr size_t kMaxBatchBytes = 16 << 20;
  static constexpr size_t kMaxChunkBytes = 1 << 20;
  static constexpr int kMaxRecordsPerProject = 16;

  // `first` is the stream's first message: it fixes the format and options.
  static absl::StatusOr<std::unique_ptr<ImportSession>> Start(
      Registry* registry, const SectorAvenueTable* sectors, RequestContext rc,
      const v1::ImportProjectsRequest& first);
  // Takes the payload of one message (the first one too). An error here ends the stream (an
  // unreadable file, a wrong payload kind, the store unavailable); record-level problems go
  // into the summary instead.
  absl::Status Add(const v1::ImportProjectsRequest& message);
  // True when Add(message) would only queue the record in memory (a project message that does
  // not fill the batch), so the caller may run it without leaving its thread.
  bool AddsWithoutIo(const v1::ImportProjectsRequest& message) const {
    return message.payload_case() == v1::ImportProjectsRequest::kProject &&
           format_ == v1::IMPORT_FORMAT_PROJECTS &&
           static_cast<int>(pending_.size()) + 1 < kBatchSize &&
           pending_bytes_ + message.project().ByteSizeLong() < kMaxBatchBytes;
  }
  // Parses what is left and writes the last batch.
  absl::StatusOr<v1::ImportSummary> Finish();
  // Waits for the batch still being written, if any.
  ~ImportSession();
  // Whether a batch's write is still running (destroying the session waits for it).
  bool WriteInFlight() const { return in_flight_ != nullptr; }

 private:
  struct ResolvedOrg {
    std::string name;  // organizations/{id}
    std::string display_name;
    std::string country;  // a dry run's would-be organisation: the country it would have
  };

  ImportSession(Registry* registry, RequestContext rc, const v1::ImportProjectsRequest& first);
  // A batch whose write is under way on its own thread while the next batch is read,
  // checked and prepared. Only one is in flight at a time.
  struct Commit {
    std::vector<ImportRecord> records;  // the batch's records; `records` of writes point here
    std::vector<size_t> writes;         // index in `records` of each op
    std::vector<WriteOp> ops;
    std::vector<bool> created;
    std::set<std::string> external_ids;    // every one the writes claim or let go of
    std::set<std::string> common_sources;  // sources every written project names
    absl::StatusOr<std::vector<WriteResult>> results;
    std::thread thread;
  };

  void OnRecord(ImportRecord record);
  // True when the batch `ready` could see the commit in flight: a record of it names an
  // external id the commit writes, or could look like a duplicate of one of its projects.
  bool DependsOnCommit(const std::vector<ImportRecord*>& ready) const;
  void StartCommit(std::unique_ptr<Commit> commit);
  // Waits for the commit in flight and counts its results into the summary.
  absl::Status WaitForCommit();
  absl::Status FlushIfFull();
  // Flushes until no record is pending (a project's later record waits for a later batch).
  absl::Status FlushAll();
  absl::Status Flush();
  void Reject(const ImportRecord& record, const std::string& reason,
              const std::vector<std::string>& fields = {});
  void Warn(const ImportRecord& record, const std::string& message);
  // Whether a request record found under a record's request id answers this attempt.
  static bool SameRequestContent(const std::string& prior, const std::string& ours);
  void RejectReusedRequest(const ImportRecord& record);
  // ValidateProject and a known host country; a failing record is rejected (false).
  bool Valid(const ImportRecord& r, const v1::Project& p);
  // The records that pass the checks (Valid), made before their organisations are resolved
  // (each unresolved organisation standing in as a distinct valid name); the others are
  // rejected.
  std::vector<ImportRecord> RejectInvalidBeforeOrganizations(std::vector<ImportRecord> records);
  // Rejects the records that name an organisation or park that does not exist (other than
  // those this import resolved), and gives participants their organisation's registered name.
  absl::Status CheckNamedReferences(std::vector<ImportRecord*>* ready);
  // Writes every record read so far and waits for the writes, then answers `fault`.
  absl::Status WriteAllThen(absl::Status fault);
  // Finds the organisations the records name, rejects a partner's records that do not name
  // the partner's own organisation, then creates the organisations the rest still lack.
  absl::Status ResolveOrganizations(std::vector<ImportRecord>* records);
  // Adds to organisations found by name the identifiers this import names them with.
  // `orgs` by id.
  absl::Status RecordIdentifiers(const std::map<std::string, v1::Organization>& orgs);
  // True for an operator, and for a partner's record one of whose participants is the
  // partner's organisation as resolved so far.
  bool NamesOwnOrganization(const ImportRecord& record) const;
  absl::Status KnownCountries(const std::set<std::string>& names);
  std::string OrgKey(const ImportedOrganization& org) const;
  // The record's request key; `occurrence` 0 is the record's own (another: of the project's
  // k-th record of this import).
  std::string RecordRequestId(const ImportRecord& record, int occurrence = 0) const;
  // The request record of a project's earlier record that a later one superseded.
  static constexpr char kSuperseded[] = "superseded";
  std::vector<std::string> UpdateMask(const v1::Project& incoming) const;

  Registry* registry_;
  RequestContext rc_;
  v1::ImportFormat format_;
  std::string request_id_;
  std::string source_reference_;
  bool dry_run_ = false;
  ChangeSource change_source_;
  std::unique_ptr<IatiParser> iati_;
  std::unique_ptr<AidDataCsvParser> csv_;
  int next_index_ = 0;
  std::vector<ImportRecord> pending_;
  // Records so far per first external id: a project's later record in one import gets a
  // request key of its own (one entry per distinct id).
  absl::flat_hash_map<std::string, int> occurrences_;
  std::map<std::string, ResolvedOrg> orgs_;  // OrgKey -> organisation
  // A dry run's organisations by normalised name: what a real import's later batches would
  // find in the store.
  std::map<std::string, ResolvedOrg> dry_run_created_;
  // Organisations and parks that records named and that exist: name -> display name.
  std::map<std::string, std::string> known_refs_;
  // Stored projects this import compared with or wrote (duplicate detection reads each once).
  DuplicateCandidates known_projects_{kMaxKnownProjects};
  static constexpr size_t kMaxKnownProjects = 50000;
  size_t pending_bytes_ = 0;  // serialized size of pending_'s projects
  static constexpr size_t kMaxKnownRefs = 100000;
  std::map<std::string, bool> countries_;  // countries/XX -> known
  v1::ImportSummary summary_;
  std::unique_ptr<Commit> in_flight_;
};

}  // namespace stp::ingestion
