// The registry in Redis. Keys (partition p = StableHash(id) % partitions):
//   stp:{p}:<kind>:<id>                 HASH pb, etag, rev
//   stp:{p}:idx:<kind>:<term>           ZSET (score 0, lexicographic = creation order of ids);
//                                       not for projects, whose terms are held in memory
//                                       (ProjectIndex)
//   stp:{p}:idx:<kind>:all              ZSET every id of the kind
//   stp:{p}:idx:<kind>:updated          ZSET score = update time in ms, distinct and in write
//                                       order (see the write script)
//   stp:{p}:idx:<kind>:updated:mark     STRING the score of the latest entry when it was deleted
//   stp:{p}:xid:<kind>                  HASH "source:value" -> id
//   stp:{p}:orgname                     HASH normalised organisation name -> id, and
//                                       "<name>|countries/<cc>" -> id (Registry::NameKeys)
//   stp:{p}:hist:<project id>           LIST serialized ProjectRevision, newest first
//   stp:{p}:rq:<n>:<scope>:<request id> STRING "<id>|<fingerprint>", expires after a day; the
//                                       caller's scope (RequestScope) is n bytes long
//   stp:{p}:req:<request id>            the same, as versions before per-caller scopes kept it:
//                                       read, never written (see LegacyRequestKey)
//   stp:{p}:events                      STREAM the partition's outbox
#pragma once

#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "services/ingestion/project_index.h"
#include "services/ingestion/registry_store.h"

namespace stp::ingestion {

class RedisRegistryStore final : public RegistryStore {
 public:
  // How long a request id's record is kept: retries within it get the first answer.
  static constexpr absl::Duration kRequestTtl = absl::Hours(24);
  RedisRegistryStore(redis::RedisClient* redis, redis::Keyspace keyspace, int64_t stream_retention,
                     absl::Duration request_ttl = kRequestTtl,
                     ProjectIndexFeed::Options feed_options = ProjectIndexFeed::Options());
  ~RedisRegistryStore() override;

  using RegistryStore::GetMany;
  absl::StatusOr<std::vector<std::optional<StoredResource>>> GetMany(
      const std::vector<ResourceRef>& refs, absl::Time deadline) override;
  void GetAsync(const ResourceRef& ref, absl::Time deadline, GetDone done) override;
  void GetManyAsync(const std::vector<ResourceRef>& refs, absl::Time deadline,
                    GetManyDone done) override;
  absl::StatusOr<std::vector<WriteResult>> Write(const std::vector<WriteOp>& ops,
                                                 absl::Time deadline) override;
  void WriteAsync(const std::vector<WriteOp>& ops, absl::Time deadline, WriteDone done) override;
  absl::StatusOr<std::vector<std::string>> FindExternalIds(
      Kind kind, const std::vector<std::string>& external_ids, absl::Time deadline) override;
  absl::StatusOr<std::vector<std::string>> FindOrganizationNames(
      const std::vector<std::string>& names, absl::Time deadline) override;
  absl::StatusOr<std::vector<std::optional<std::string>>> RememberRequests(
      const std::vector<WriteOp>& requests, absl::Time deadline) override;
  absl::StatusOr<std::optional<std::string>> FindRequest(const std::string& partition_key,
                                                         const std::string& scope,
                                                         const std::string& request_id,
                                                         absl::Time deadline) override;
  void FindRequestAsync(const std::string& partition_key, const std::string& scope,
                        const std::string& request_id, absl::Time deadline,
                        FindRequestDone done) override;
  absl::StatusOr<std::vector<std::string>> ListIds(Kind kind, const std::string& term,
                                                   const std::string& after, int limit,
                                                   absl::Time deadline) override;
  absl::StatusOr<std::vector<ListPosition>> ListIdsByUpdate(Kind kind, int64_t since_millis,
                                                            const ListPosition& after, int limit,
                                                            absl::Time deadline) override;
  void IdsOfTermsAsync(Kind kind, const std::vector<std::string>& terms, int limit,
                       absl::Time deadline, TermIdsDone done) override;
  absl::StatusOr<std::vector<int64_t>> CountTerms(Kind kind, const std::vector<std::string>& terms,
                                                  absl::Time deadline) override;
  absl::StatusOr<std::vector<std::string>> History(const std::string& project_id, int offset,
                                                   int limit, absl::Time deadline) override;
  int PartitionOf(const std::string& id) const override { return keyspace_.PartitionOf(id); }

  const redis::Keyspace& keyspace() const { return keyspace_; }
  const ProjectIndex& project_index() const { return project_index_; }
  const ProjectIndexFeed& project_feed() const { return project_feed_; }
  // Stops the project index's feed (it starts with the store); the store must not outlive
  // the Redis client unless this ran first.
  void StopProjectIndex() { project_feed_.Stop(); }

 private:
  // Where a caller's request id keeps its record. An empty scope gives the key of an older
  // version, which kept request ids for every caller alike.
  std::string RequestKey(int partition, const std::string& scope,
                         const std::string& request_id) const;
  // That older key. Records under it are still honoured until they expire (the request TTL
  // after the last older replica stopped), so that a retry across an upgrade writes nothing
  // twice. Reading it can go once no older version runs anywhere.
  std::string LegacyRequestKey(int partition, const std::string& request_id) const;
  // The reads of FindRequest: the caller's key, then the older one if it differs.
  std::vector<std::vector<std::string>> FindRequestCommands(const std::string& partition_key,
                                                            const std::string& scope,
                                                            const std::string& request_id) const;
  std::string ResourceKey(Kind kind, const std::string& id) const;
  std::string IndexKey(Kind kind, int partition, const std::string& term) const;
  std::vector<std::string> GetCommand(const ResourceRef& ref) const;
  std::vector<std::vector<std::string>> GetCommands(const std::vector<ResourceRef>& refs) const;
  // The write script's keys, arguments and partition per op.
  struct WriteCall {
    std::vector<std::vector<std::string>> keys, args;
    std::vector<int> partitions;
  };
  WriteCall WriteCallOf(const std::vector<WriteOp>& ops) const;
  // The write of ops that passed every check before the script.
  absl::StatusOr<std::vector<WriteResult>> WriteNow(const std::vector<WriteOp>& ops,
                                                    absl::Time deadline);
  void WriteNowAsync(const std::vector<WriteOp>& ops, absl::Time deadline, WriteDone done);
  // With more than one partition, an external id another resource holds may be kept in another
  // partition's hash than the write's, which the write script (one partition's keys) cannot
  // read. Those hashes are read first: per kind, one HMGET per partition of the ids the ops
  // add (none with one partition, or when no op adds an id).
  struct ForeignXids {
    std::vector<std::vector<std::string>> commands;
    std::vector<std::pair<Kind, std::vector<std::string>>> asked;  // per kind, its fields
  };
  ForeignXids ForeignXidReads(const std::vector<WriteOp>& ops) const;
  // Per op, the refusal an id held in another partition by another resource gives it (as the
  // script's: kExternalIdTaken, "id=owner"), from ForeignXidReads' replies.
  absl::StatusOr<std::vector<std::optional<WriteResult>>> RefusedByForeignXids(
      const std::vector<WriteOp>& ops, const ForeignXids& reads,
      const std::vector<redis::ReplyPtr>& replies) const;
  // Looks a field up in a per-partition hash, over every partition.
  absl::StatusOr<std::vector<std::string>> FindInPartitionHashes(
      const std::function<std::string(int)>& key_of, const std::vector<std::string>& fields,
      absl::Time deadline);

  // Whether a term's ids are held in memory rather than in Redis.
  static bool InMemory(Kind kind, const std::string& term);
  // OK once the project index has loaded; UNAVAILABLE if it has not by the deadline (or the
  // Redis command timeout).
  absl::Status AwaitProjectIndex(absl::Time deadline) const;
  // What the in-memory index takes of each write (nothing, for another kind's).
  struct IndexChange {
    bool project = false;
    bool deleted = false;
    std::string id;
    int64_t revision = 0;
    std::vector<std::string> terms;
  };
  static std::vector<IndexChange> IndexChangesOf(const std::vector<WriteOp>& ops);
  // The acknowledged project writes, into the in-memory index.
  void ApplyToProjectIndex(const std::vector<IndexChange>& changes,
                           const std::vector<WriteResult>& results);

  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  int64_t stream_retention_;
  absl::Duration request_ttl_;
  ProjectIndex project_index_;
  ProjectIndexFeed project_feed_;  // after the index: stops before it goes
};

}  // namespace stp::ingestion
