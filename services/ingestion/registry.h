// The registry: the domain logic of the ingestion service. Validates, authorises and applies
// every change to countries, organisations, parks and projects, each with its outbox event in
// one atomic store write; serves reads, filtered paged lists and project history; detects
// possible duplicates across sources. No gRPC here: the adapter maps requests to these calls.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/call_context.h"
#include "libs/common/status.h"
#include "services/ingestion/registry_store.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/ingestion_service.pb.h"

namespace stp::ingestion {

namespace v1 = ::stp::ingestion::v1;

// How a change came in, for history and events.
struct ChangeSource {
  std::string source = "api";  // "api", "import:iati", "import:aiddata", "import:projects"
};

// What duplicate detection compares of a project.
struct DuplicateSummary {
  std::string name;  // "projects/{id}"
  std::string host_country;
  int64_t start = INT64_MIN;  // days; unknown: open
  int64_t end = INT64_MAX;
  std::vector<std::string> tokens;   // TitleTokens
  std::vector<std::string> sources;  // of its external ids, sorted
  // Visible to its participants only: never named in another project's flags, which every
  // reader of that project sees.
  bool hidden = false;

  static DuplicateSummary Of(const v1::Project& project);
  // A project with fewer title words than two is never anyone's duplicate.
  bool CanMatch() const { return tokens.size() >= 2; }
  // Whether two versions of a project would be compared alike (the same host, dates, title
  // words and sources): when they are not, an update looks for look-alikes again.
  bool ComparesLike(const DuplicateSummary& other) const {
    return host_country == other.host_country && start == other.start && end == other.end &&
           tokens == other.tokens && sources == other.sources;
  }
};
bool LooksLikeDuplicate(const DuplicateSummary& a, const DuplicateSummary& b);

// The stored projects an import has compared with or written, by id, so that each is read
// and parsed once per import rather than once per batch that names its title words. Holds
// at most `capacity` (later ones are read each time). Within one import a project is compared
// as it was when first seen; a flag is advice to look, not a merge.
class DuplicateCandidates {
 public:
  explicit DuplicateCandidates(size_t capacity) : capacity_(capacity) {}
  void Remember(const std::string& id, DuplicateSummary summary);
  const DuplicateSummary* Find(const std::string& id) const;

 private:
  size_t capacity_;
  std::map<std::string, DuplicateSummary> by_id_;
};

// A project prepared for writing by an import: validated, references resolved.
struct PreparedWrite {
  WriteOp op;
  v1::Project project;  // the state after the write
  bool created = false;
};

class Registry {
 public:
  using Clock = std::function<absl::Time()>;
  Registry(RegistryStore* store, Clock clock);

  // Countries. Upsert is for operators.
  absl::StatusOr<v1::Country> UpsertCountry(const RequestContext& rc,
                                            const v1::UpsertCountryRequest& req);
  absl::StatusOr<v1::Country> GetCountry(const RequestContext& rc, const std::string& name);
  absl::StatusOr<v1::ListCountriesResponse> ListCountries(const RequestContext& rc,
                                                          const v1::ListCountriesRequest& req);

  absl::StatusOr<v1::Organization> CreateOrganization(const RequestContext& rc,
                                                      const v1::CreateOrganizationRequest& req);
  absl::StatusOr<v1::Organization> GetOrganization(const RequestContext& rc,
                                                   const std::string& name);
  absl::StatusOr<v1::ListOrganizationsResponse> ListOrganizations(
      const RequestContext& rc, const v1::ListOrganizationsRequest& req);
  absl::StatusOr<v1::Organization> UpdateOrganization(const RequestContext& rc,
                                                      const v1::UpdateOrganizationRequest& req);
  absl::StatusOr<v1::DeleteResponse> DeleteOrganization(const RequestContext& rc,
                                                        const v1::DeleteOrganizationRequest& req);

  absl::StatusOr<v1::Park> CreatePark(const RequestContext& rc, const v1::CreateParkRequest& req);
  absl::StatusOr<v1::Park> GetPark(const RequestContext& rc, const std::string& name);
  absl::StatusOr<v1::ListParksResponse> ListParks(const RequestContext& rc,
                                                  const v1::ListParksRequest& req);
  absl::StatusOr<v1::Park> UpdatePark(const RequestContext& rc, const v1::UpdateParkRequest& req);
  absl::StatusOr<v1::DeleteResponse> DeletePark(const RequestContext& rc,
                                                const v1::DeleteParkRequest& req);

  absl::StatusOr<v1::Project> CreateProject(const RequestContext& rc,
                                            const v1::CreateProjectRequest& req);
  // CreateProject without holding the calling thread through its round trips: `reply` runs
  // once, on one of the store's round-trip threads (see RegistryStore::GetAsync), or on this
  // one for an answer that needs no read or when the reads answered before this call
  // returned. CreateProject waits for this.
  void CreateProjectAsync(const RequestContext& rc, const v1::CreateProjectRequest& req,
                          std::function<void(absl::StatusOr<v1::Project>)> reply);
  absl::StatusOr<v1::Project> GetProject(const RequestContext& rc, const std::string& name);
  // GetProject answered on a round-trip thread of the store (see RegistryStore::GetAsync), with
  // the project as stored (serialized); who may see it is read from its bytes.
  void GetSerializedProjectAsync(const RequestContext& rc, const std::string& name,
                                 std::function<void(absl::StatusOr<std::string>)> reply);
  absl::StatusOr<v1::ListProjectsResponse> ListProjects(const RequestContext& rc,
                                                        const v1::ListProjectsRequest& req);
  absl::StatusOr<v1::Project> UpdateProject(const RequestContext& rc,
                                            const v1::UpdateProjectRequest& req);
  absl::StatusOr<v1::DeleteResponse> DeleteProject(const RequestContext& rc,
                                                   const v1::DeleteProjectRequest& req);
  absl::StatusOr<v1::GetProjectHistoryResponse> GetProjectHistory(
      const RequestContext& rc, const v1::GetProjectHistoryRequest& req);

  // ---- Building blocks shared with imports.

  // Checks that the countries, organisations and park a project names exist; adds violations.
  // Fills the participants' display names on the way (output-only fields). An update passes
  // the stored project as `current`: a reference it already holds is kept even when what it
  // names has been deleted since (projects keep their references), so that an update is never
  // refused for a field it did not touch.
  absl::Status CheckReferences(v1::Project* project, const std::string& path,
                               const RequestContext& rc, FieldViolations* v,
                               const v1::Project* current = nullptr);
  // Fills possible_duplicates of each project (same host, overlapping dates, similar title,
  // another source); a project is never its own duplicate.
  // `probe`, when given, is one StartDuplicateProbe began for these projects (or more).
  // `known`, when given, answers for the stored projects it holds instead of a read, and
  // keeps those read.
  struct DuplicateProbe;
  absl::Status FlagDuplicates(std::vector<v1::Project*> projects, absl::Time deadline,
                              std::shared_ptr<DuplicateProbe> probe = nullptr,
                              DuplicateCandidates* known = nullptr);
  // Sends FlagDuplicates' first read (the ids under each title word) without waiting for it,
  // so that it travels with the caller's other reads. `then`, when given, runs once the
  // answer is in (on a round-trip thread of the store, or here when there is nothing to read).
  std::shared_ptr<DuplicateProbe> StartDuplicateProbe(
      const std::vector<const v1::Project*>& projects, absl::Time deadline,
      std::function<void()> then = nullptr);
  // Prepares the create or update of a project (metadata, event, history, indexes). `current`
  // is the stored state for an update. `mask` limits an update to some top-level fields
  // (empty: every writable field).
  PreparedWrite PrepareProjectWrite(const RequestContext& rc, const ChangeSource& source,
                                    const v1::Project& input,
                                    const std::optional<StoredResource>& current,
                                    const std::vector<std::string>& mask,
                                    const std::string& request_id, const std::string& fingerprint,
                                    const std::string& anchor);
  // Writes a create may take: ids are unique within a process only, so another replica can
  // draw the same one in the same millisecond, and a create refused as existing (it wrote
  // nothing) draws another id and writes again.
  static constexpr int kCreateAttempts = 3;
  // Writes `ops`, and draws again the ids of creates refused as existing (see
  // kCreateAttempts): `redraw(i)` prepares op i again under a new id, which replaces it in
  // `ops` and is written in its place, up to kCreateAttempts writes in all. A create still
  // refused then is answered kExists.
  absl::StatusOr<std::vector<WriteResult>> WriteRedrawingTakenIds(
      std::vector<WriteOp>* ops, const std::function<WriteOp(size_t)>& redraw, absl::Time deadline);
  // How RedrawTakenIds writes: `done` runs when the write has answered.
  using WriteFn =
      std::function<void(const std::vector<WriteOp>& ops, RegistryStore::WriteDone done)>;
  // Prepares the creation of an organisation.
  WriteOp PrepareOrganizationCreate(const RequestContext& rc, v1::Organization* org,
                                    const std::string& request_id, const std::string& fingerprint,
                                    const std::string& anchor);
  RegistryStore* store() { return store_; }
  absl::Time Now() const { return clock_(); }
  // A new id that lands in the same partition as `anchor` (so a create, its request-id record
  // and its external ids share a partition), or anywhere when `anchor` is empty.
  std::string NewIdNear(const std::string& anchor) const;

  // Normalised organisation name used for matching names across sources.
  static std::string NormalizeName(absl::string_view name);
  // The name index's entry for a normalised name within a country ("countries/EG").
  static std::string NameInCountry(const std::string& normalized, const std::string& country);
  // An organisation's entries in the name index: its normalised name, which finds the
  // organisation of that name written last, and the name within its country, so that the same
  // name in two countries (two ministries of finance) finds each.
  static std::vector<std::string> NameKeys(const v1::Organization& org);
  // Top-level fields that differ between two resources of the same type, metadata excluded.
  static std::vector<std::string> ChangedFields(const google::protobuf::Message& a,
                                                const google::protobuf::Message& b);
  // True when the caller may see the project (PUBLIC, an operator, or a participant).
  static bool Visible(const Principal& principal, const v1::Project& project);
  // Whether the principal's organisation takes part in the project.
  static bool IsParticipant(const Principal& principal, const v1::Project& project);

 private:
  template <typename R>
  absl::StatusOr<R> Load(Kind kind, const std::string& id, absl::Time deadline);
  template <typename R>
  absl::StatusOr<R> Commit(const RequestContext& rc, WriteOp op, const R& resource);
  // A create, whose id the registry draws: `prepare` gives the write and the resource as it
  // will be stored, with a newly drawn id each time it is called.
  template <typename R>
  absl::StatusOr<R> CommitCreate(const RequestContext& rc,
                                 const std::function<std::pair<WriteOp, R>()>& prepare);
  // The caller's answer to a write's result.
  template <typename R>
  absl::StatusOr<R> Answer(const RequestContext& rc, const WriteOp& op, const WriteResult& result,
                           const R& resource);
  // The record the caller's request id keeps, if any, in the partition of `anchor`.
  absl::StatusOr<std::optional<std::string>> FindRequest(const RequestContext& rc,
                                                         const std::string& anchor,
                                                         const std::string& request_id);
  template <typename R>
  absl::StatusOr<R> Replay(const RequestContext& rc, Kind kind, const std::string& record,
                           const std::string& fingerprint);
  // The answer to an update that changes nothing: no write and no event, but its request id is
  // kept as a write's would be, so that a retry after another caller's change gets this answer
  // (rather than undoing that change), and the id cannot be used again for other content.
  template <typename R>
  absl::StatusOr<R> AnswerUnchanged(const RequestContext& rc, Kind kind, const std::string& id,
                                    const std::string& request_id, const std::string& fingerprint,
                                    R current);
  template <typename R>
  void ReplayAsync(const RequestContext& rc, Kind kind, const std::string& record,
                   const std::string& fingerprint, std::function<void(absl::StatusOr<R>)> reply);
  // WriteRedrawingTakenIds with the write given: `ops` lives until `done` has run.
  void RedrawTakenIds(std::vector<WriteOp>* ops, std::function<WriteOp(size_t)> redraw,
                      WriteFn write, RegistryStore::WriteDone done);
  // CheckReferences in steps: the reads it needs, then what their answers say.
  struct ReferenceCheck;
  ReferenceCheck PlanReferenceCheck(const v1::Project& project, const std::string& path,
                                    const v1::Project* current = nullptr);
  void ApplyReferenceCheck(const ReferenceCheck& check,
                           const std::vector<std::optional<StoredResource>>& found,
                           const std::string& path, v1::Project* project, FieldViolations* v);
  // FlagDuplicates in steps: the projects' title words; once the probe has answered, the
  // stored projects it names (DuplicateCheck::to_read); with those read, the flags.
  struct DuplicateCheck;
  static DuplicateCheck BeginDuplicateCheck(std::vector<v1::Project*> projects);
  static absl::Status FindDuplicateCandidates(DuplicateCheck* check, const DuplicateProbe& probe,
                                              DuplicateCandidates* known);
  static void FlagCandidates(DuplicateCheck* check,
                             const std::vector<std::optional<StoredResource>>& found,
                             DuplicateCandidates* known);
  // CreateProjectAsync's steps after each round trip.
  struct CreateProjectCall;
  void CreateProjectChecked(const std::shared_ptr<CreateProjectCall>& call);
  // A create refused by a check of stored state (an organisation it names deleted since) may
  // be the retry of one that was written: the request id's record answers first, if any.
  void CreateProjectRefused(const std::shared_ptr<CreateProjectCall>& call, absl::Status refusal);
  void CreateProjectProbed(const std::shared_ptr<CreateProjectCall>& call);
  void CreateProjectWrite(const std::shared_ptr<CreateProjectCall>& call);
  template <typename R, typename Req>
  absl::StatusOr<R> UpdateResource(
      const RequestContext& rc, const Req& req, const R& input, const std::string& collection,
      Kind kind,
      const std::function<absl::Status(const R& current, R* merged, FieldViolations* v)>& check);
  template <typename R>
  absl::StatusOr<v1::DeleteResponse> DeleteResource(
      const RequestContext& rc, Kind kind, const std::string& collection, const std::string& name,
      const std::string& etag, const std::string& request_id, const std::string& fingerprint,
      const std::function<absl::Status(const R&)>& allowed);
  // Filtered, paged listing over the most selective index term.
  template <typename R>
  absl::Status ListResources(const RequestContext& rc, Kind kind, std::vector<std::string> terms,
                             const std::function<bool(const R&)>& keep, int page_size,
                             const std::string& page_token, const std::string& filter_fingerprint,
                             int64_t updated_since_millis, std::vector<R>* out,
                             std::string* next_token);
  absl::Status CheckOrganizationsExist(const std::vector<std::pair<std::string, std::string>>& refs,
                                       absl::Time deadline, FieldViolations* v);
  // The cache of countries known to exist, and a country's read: known from now on, or a
  // violation at `path`.
  bool CountryKnown(const std::string& name);
  void CountryRead(const std::string& path, const std::string& name, bool exists,
                   FieldViolations* v);
  absl::Status CheckCountriesExist(const std::vector<std::pair<std::string, std::string>>& refs,
                                   absl::Time deadline, FieldViolations* v);

  RegistryStore* store_;
  Clock clock_;
  absl::Mutex known_countries_mu_;
  absl::flat_hash_set<std::string> known_countries_ ABSL_GUARDED_BY(known_countries_mu_);
};

// Index terms of a resource: the secondary indexes it appears in.
std::vector<std::string> IndexTerms(const v1::Country& c);
std::vector<std::string> IndexTerms(const v1::Organization& o);
std::vector<std::string> IndexTerms(const v1::Park& p);
std::vector<std::string> IndexTerms(const v1::Project& p);
// The keys ("source:value") under which external ids are registered.
std::vector<std::string> ExternalIdKeys(
    const google::protobuf::RepeatedPtrField<stp::common::v1::ExternalId>& ids);
// Significant words of a title, for duplicate detection.
std::vector<std::string> TitleTokens(absl::string_view title);

// Fingerprint of a request, to tell a retry from a different request under the same id.
std::string Fingerprint(const google::protobuf::Message& request);

}  // namespace stp::ingestion
