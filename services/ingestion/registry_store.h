// Storage of the registry: resources, their secondary indexes, external ids, request ids,
// project history, and the outbox event of every write — each write one atomic operation.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libs/common/principal.h"

namespace stp::ingestion {

enum class Kind { kCountry, kOrganization, kPark, kProject };
const char* KindName(Kind kind);  // "country", "org", "park", "project"

struct StoredResource {
  std::string id;
  std::string data;  // serialized resource message
  std::string etag;
  int64_t revision = 0;
};

// One accepted change, applied atomically with its event: the resource, its index entries,
// external ids, organisation name entries, history entry, request-id record and event.
struct WriteOp {
  enum class Type { kCreate, kUpdate, kDelete };
  Kind kind = Kind::kProject;
  Type type = Type::kCreate;
  std::string id;
  std::string expected_etag;  // update/delete: the etag read before (must still be current)
  std::string data;           // new serialized resource (create/update)
  std::string etag;           // new etag
  int64_t revision = 0;       // new revision
  int64_t update_millis = 0;  // for the update-time index
  std::vector<std::string> index_remove;  // index terms ("country:EG") to leave
  std::vector<std::string> index_add;     // index terms to join
  // Projects: every index term after a create or update. A project's terms other than the
  // empty one are kept in memory by each replica (ProjectIndex), which applies a write's
  // terms when the write is acknowledged.
  std::vector<std::string> index_terms;
  std::vector<std::string> external_ids_remove;  // "source:value"
  std::vector<std::string> external_ids_add;
  std::vector<std::string> names_remove;  // normalised organisation names
  std::vector<std::string> names_add;
  std::string history_entry;   // serialized ProjectRevision, empty for other kinds
  std::string event;           // serialized stp.events.v1.Event
  std::string request_id;      // idempotency key, empty for none
  std::string request_scope;   // whose request id it is: RequestScope(caller)
  std::string request_record;  // stored under the key: RequestRecord(id, fingerprint)
};

// Request ids are kept per caller, so that another caller's id never answers with what it
// wrote, nor refuses a request as one used before: per organisation for a caller that has one
// (a retry survives a rotated API key), per credential for operators without one.
inline std::string RequestScope(const Principal& caller) {
  return caller.organization.empty() ? caller.id : caller.organization;
}

// What a request id keeps: the resource's id and the request's fingerprint, "<id>|<fingerprint>".
inline std::string RequestRecord(const std::string& id, const std::string& fingerprint) {
  return absl::StrCat(id, "|", fingerprint);
}
inline std::string RequestRecordId(const std::string& record) {
  return record.substr(0, record.find('|'));
}
inline std::string RequestRecordFingerprint(const std::string& record) {
  return record.substr(record.find('|') + 1);
}
// A delete's keeps its time too, so that a retry gets the first answer:
// "<id>@<unix millis>|<fingerprint>".
inline std::string DeleteRequestRecord(const std::string& id, int64_t millis,
                                       const std::string& fingerprint) {
  return RequestRecord(absl::StrCat(id, "@", millis), fingerprint);
}
// Gives a write the caller's request id and the record the id keeps (see RequestScope).
inline void KeepRequest(const Principal& caller, std::string request_id, std::string record,
                        WriteOp* op) {
  op->request_id = std::move(request_id);
  op->request_scope = RequestScope(caller);
  op->request_record = std::move(record);
}
// The time a delete's request record keeps; nullopt for another record.
inline std::optional<int64_t> RequestRecordDeleteMillis(const std::string& record) {
  const std::string id = RequestRecordId(record);
  const auto sign = id.find('@');
  int64_t millis = 0;
  if (sign == std::string::npos || !absl::SimpleAtoi(id.substr(sign + 1), &millis))
    return std::nullopt;
  return millis;
}

struct WriteResult {
  enum class Code { kOk, kDuplicateRequest, kExists, kNotFound, kEtagMismatch, kExternalIdTaken };
  Code code = Code::kOk;
  std::string detail;  // event id (ok), request record (duplicate), current etag, or "xid=owner"
};

// Sort position of an entry in an ordered listing.
struct ListPosition {
  double score = 0;  // update time in ms for the update-time ordering, 0 otherwise
  std::string id;
};

// One resource to read: its kind and id.
struct ResourceRef {
  Kind kind;
  std::string id;
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  // Resources of any kinds, in one round trip; nullopt for each one that does not exist.
  virtual absl::StatusOr<std::vector<std::optional<StoredResource>>> GetMany(
      const std::vector<ResourceRef>& refs, absl::Time deadline) = 0;
  // Resources of one kind.
  absl::StatusOr<std::vector<std::optional<StoredResource>>> GetMany(
      Kind kind, const std::vector<std::string>& ids, absl::Time deadline) {
    std::vector<ResourceRef> refs;
    refs.reserve(ids.size());
    for (const auto& id : ids) refs.push_back({kind, id});
    return GetMany(refs, deadline);
  }
  // One resource, answered without holding the calling thread: `done` runs on one of the store's
  // round-trip threads (see RedisClient::SharedPipelineAsync) and must not block.
  using GetDone = std::function<void(absl::StatusOr<std::optional<StoredResource>>)>;
  virtual void GetAsync(const ResourceRef& ref, absl::Time deadline, GetDone done) = 0;
  // Resources, answered as GetAsync answers.
  using GetManyDone =
      std::function<void(absl::StatusOr<std::vector<std::optional<StoredResource>>>)>;
  virtual void GetManyAsync(const std::vector<ResourceRef>& refs, absl::Time deadline,
                            GetManyDone done) = 0;
  // Applies each op atomically (ops are independent of each other; one round trip).
  virtual absl::StatusOr<std::vector<WriteResult>> Write(const std::vector<WriteOp>& ops,
                                                         absl::Time deadline) = 0;
  // Write, answered as GetAsync answers. The writes travel in the round trip that reads share
  // (see RedisClient::SharedPipelineAsync): meant for single writes, not bulk.
  using WriteDone = std::function<void(absl::StatusOr<std::vector<WriteResult>>)>;
  virtual void WriteAsync(const std::vector<WriteOp>& ops, absl::Time deadline, WriteDone done) = 0;
  // The resource id holding each external id ("source:value"), empty when none.
  virtual absl::StatusOr<std::vector<std::string>> FindExternalIds(
      Kind kind, const std::vector<std::string>& external_ids, absl::Time deadline) = 0;
  // The organisation id registered under each normalised name, empty when none.
  virtual absl::StatusOr<std::vector<std::string>> FindOrganizationNames(
      const std::vector<std::string>& names, absl::Time deadline) = 0;
  // Keeps the records of requests that needed no write, each under its request id in its
  // resource's partition for the request TTL (kept as is when the id is stored already), so
  // that a retry answers them as the first attempt did. Per request, the record stored
  // before under its id, if any.
  virtual absl::StatusOr<std::vector<std::optional<std::string>>> RememberRequests(
      const std::vector<WriteOp>& requests, absl::Time deadline) = 0;
  // The record stored under a caller's request id, if any.
  virtual absl::StatusOr<std::optional<std::string>> FindRequest(const std::string& partition_key,
                                                                 const std::string& scope,
                                                                 const std::string& request_id,
                                                                 absl::Time deadline) = 0;
  // FindRequest without waiting; `done` runs on the Redis client's round-trip thread.
  using FindRequestDone = std::function<void(absl::StatusOr<std::optional<std::string>>)>;
  virtual void FindRequestAsync(const std::string& partition_key, const std::string& scope,
                                const std::string& request_id, absl::Time deadline,
                                FindRequestDone done) = 0;
  // Ids of the index term ("" for every resource of the kind) after `after`, in id order,
  // merged over partitions, at most `limit`.
  virtual absl::StatusOr<std::vector<std::string>> ListIds(Kind kind, const std::string& term,
                                                           const std::string& after, int limit,
                                                           absl::Time deadline) = 0;
  // Ids updated at or after `since_millis`, in (update time, id) order after `after`.
  virtual absl::StatusOr<std::vector<ListPosition>> ListIdsByUpdate(Kind kind, int64_t since_millis,
                                                                    const ListPosition& after,
                                                                    int limit,
                                                                    absl::Time deadline) = 0;
  // The ids under each term that holds fewer than `limit` (all partitions together), and none
  // under a term that holds more: one round trip, without holding the calling thread; `done`
  // runs as GetAsync's does.
  using TermIdsDone = std::function<void(absl::StatusOr<std::vector<std::vector<std::string>>>)>;
  virtual void IdsOfTermsAsync(Kind kind, const std::vector<std::string>& terms, int limit,
                               absl::Time deadline, TermIdsDone done) = 0;
  // Number of ids under each term (summed over partitions).
  virtual absl::StatusOr<std::vector<int64_t>> CountTerms(Kind kind,
                                                          const std::vector<std::string>& terms,
                                                          absl::Time deadline) = 0;
  // Project history entries, newest first.
  virtual absl::StatusOr<std::vector<std::string>> History(const std::string& project_id,
                                                           int offset, int limit,
                                                           absl::Time deadline) = 0;
  // The partition an id lives in.
  virtual int PartitionOf(const std::string& id) const = 0;
};

}  // namespace stp::ingestion
