#include "services/ingestion/redis_registry_store.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/common/status.h"

namespace stp::ingestion {
namespace {

using redis::At;
using redis::Int;
using redis::ReplyPtr;
using redis::Size;
using redis::Str;
using redis::StrCopy;

// The write and its outbox event in one script: nothing is written unless every check passes,
// and every write command comes after every check, so a failed check leaves no trace.
// KEYS: 1 resource, 2 events, 3 request, 4 xid hash, 5 name hash, 6 history, 7 updated index,
//       8 the updated index's mark (the score of a deleted latest entry), 9 the request's key
//       as it was before request ids were kept per caller (see LegacyRequestKey), 10.. index
//       keys to leave, then index keys to join.
// ARGV: 1 op (c/u/d), 2 id, 3 expected etag, 4 data, 5 etag, 6 revision, 7 update score,
//       8 event, 9 stream maxlen, 10 request record, 11 request ttl seconds, 12 history entry,
//       13..18 counts (index leave, index join, xid remove, xid add, name remove, name add),
//       19.. the xid and name values in that order.
const redis::ItemScript& WriteScript() {
  static const auto* script = new redis::ItemScript(R"lua(
local op, id = ARGV[1], ARGV[2]
if ARGV[10] ~= '' then
  local prev = redis.call('GET', KEYS[3])
  if not prev and KEYS[9] ~= KEYS[3] then prev = redis.call('GET', KEYS[9]) end
  if prev then return {'dup', prev} end
end
local cur = redis.call('HGET', KEYS[1], 'etag')
if op == 'c' then
  if cur then return {'exists', cur} end
else
  if not cur then return {'notfound', ''} end
  if cur ~= ARGV[3] then return {'etag', cur} end
end
local n_ir, n_ia = tonumber(ARGV[13]), tonumber(ARGV[14])
local n_xr, n_xa = tonumber(ARGV[15]), tonumber(ARGV[16])
local n_nr, n_na = tonumber(ARGV[17]), tonumber(ARGV[18])
local pos = 19
local xr, xa, nr, na = {}, {}, {}, {}
for i = 1, n_xr do xr[i] = ARGV[pos]; pos = pos + 1 end
for i = 1, n_xa do xa[i] = ARGV[pos]; pos = pos + 1 end
for i = 1, n_nr do nr[i] = ARGV[pos]; pos = pos + 1 end
for i = 1, n_na do na[i] = ARGV[pos]; pos = pos + 1 end
for _, x in ipairs(xa) do
  local owner = redis.call('HGET', KEYS[4], x)
  if owner and owner ~= id then return {'xid', x .. '=' .. owner} end
end
-- The update index is in write order: each write's score is its millisecond, or one more than
-- the partition's latest score when that is not earlier (several writes within a millisecond,
-- or a clock behind another replica's). Deleting the latest entry leaves its score as a mark,
-- so that the order never goes back.
if op == 'd' then
  redis.call('DEL', KEYS[1])
  local top = redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')
  if top[1] == id then redis.call('SET', KEYS[8], top[2]) end
  redis.call('ZREM', KEYS[7], id)
else
  redis.call('HSET', KEYS[1], 'pb', ARGV[4], 'etag', ARGV[5], 'rev', ARGV[6])
  local last = CALL[KEYS[7]]
  if last == nil then
    local top = redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')
    last = math.max(top[2] and tonumber(top[2]) or -1, tonumber(redis.call('GET', KEYS[8]) or '-1'))
  end
  local score = math.max(tonumber(ARGV[7]), last + 1)
  CALL[KEYS[7]] = score
  redis.call('ZADD', KEYS[7], string.format('%.0f', score), id)
end
for i = 1, n_ir do redis.call('ZREM', KEYS[9 + i], id) end
for i = 1, n_ia do redis.call('ZADD', KEYS[9 + n_ir + i], 0, id) end
for _, x in ipairs(xr) do
  if redis.call('HGET', KEYS[4], x) == id then redis.call('HDEL', KEYS[4], x) end
end
for _, x in ipairs(xa) do redis.call('HSET', KEYS[4], x, id) end
for _, n in ipairs(nr) do
  if redis.call('HGET', KEYS[5], n) == id then redis.call('HDEL', KEYS[5], n) end
end
for _, n in ipairs(na) do redis.call('HSET', KEYS[5], n, id) end
if ARGV[12] ~= '' then redis.call('LPUSH', KEYS[6], ARGV[12]) end
local eid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'e', ARGV[8])
if ARGV[10] ~= '' then redis.call('SET', KEYS[3], ARGV[10], 'EX', ARGV[11]) end
return {'ok', eid}
)lua");
  return *script;
}

// Keeps the record of a request that needed no write, unless a record is kept under its id
// already: the caller's, or one under the key of an older version (see LegacyRequestKey).
// Nothing is written then, as the write script writes nothing for a request id it has seen.
// KEYS: 1 the caller's request key, 2 the older key. ARGV: 1 record, 2 TTL seconds.
// Returns the record kept before, or nothing.
const redis::ItemScript& RememberScript() {
  static const auto* script = new redis::ItemScript(R"lua(
local prev = redis.call('GET', KEYS[1])
if not prev and KEYS[2] ~= KEYS[1] then prev = redis.call('GET', KEYS[2]) end
if prev then return prev end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
)lua");
  return *script;
}

WriteResult ParseWriteReply(const redisReply* reply) {
  WriteResult result;
  absl::string_view code = Str(At(reply, 0));
  result.detail = StrCopy(At(reply, 1));
  if (code == "ok")
    result.code = WriteResult::Code::kOk;
  else if (code == "dup")
    result.code = WriteResult::Code::kDuplicateRequest;
  else if (code == "exists")
    result.code = WriteResult::Code::kExists;
  else if (code == "notfound")
    result.code = WriteResult::Code::kNotFound;
  else if (code == "etag")
    result.code = WriteResult::Code::kEtagMismatch;
  else
    result.code = WriteResult::Code::kExternalIdTaken;
  return result;
}

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kCountry:
      return "country";
    case Kind::kOrganization:
      return "org";
    case Kind::kPark:
      return "park";
    case Kind::kProject:
      return "project";
  }
  return "unknown";
}

RedisRegistryStore::RedisRegistryStore(redis::RedisClient* redis, redis::Keyspace keyspace,
                                       int64_t stream_retention, absl::Duration request_ttl,
                                       ProjectIndexFeed::Options feed_options)
    : redis_(redis),
      keyspace_(std::move(keyspace)),
      stream_retention_(stream_retention),
      request_ttl_(request_ttl),
      project_feed_(&project_index_, this, redis, keyspace_, feed_options) {
  project_feed_.Start();
}

RedisRegistryStore::~RedisRegistryStore() { project_feed_.Stop(); }

bool RedisRegistryStore::InMemory(Kind kind, const std::string& term) {
  return kind == Kind::kProject && !term.empty();
}

absl::Status RedisRegistryStore::AwaitProjectIndex(absl::Time deadline) const {
  if (project_feed_.WaitLoaded(std::min(deadline, absl::Now() + redis_->options().command_timeout)))
    return absl::OkStatus();
  return absl::UnavailableError(
      "the project index is still loading (it needs Redis); retry shortly");
}

std::vector<RedisRegistryStore::IndexChange> RedisRegistryStore::IndexChangesOf(
    const std::vector<WriteOp>& ops) {
  std::vector<IndexChange> changes(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    if (op.kind != Kind::kProject) continue;
    changes[i] = {true, op.type == WriteOp::Type::kDelete, op.id, op.revision, op.index_terms};
  }
  return changes;
}

void RedisRegistryStore::ApplyToProjectIndex(const std::vector<IndexChange>& changes,
                                             const std::vector<WriteResult>& results) {
  for (size_t i = 0; i < changes.size() && i < results.size(); ++i) {
    const IndexChange& c = changes[i];
    if (!c.project || results[i].code != WriteResult::Code::kOk) continue;
    if (c.deleted)
      project_index_.Remove(c.id, c.revision);
    else
      project_index_.Put(c.id, c.revision, c.terms);
  }
}

std::string RedisRegistryStore::ResourceKey(Kind kind, const std::string& id) const {
  return keyspace_.Key(keyspace_.PartitionOf(id), KindName(kind), id);
}

std::string RedisRegistryStore::IndexKey(Kind kind, int partition, const std::string& term) const {
  return keyspace_.Key(partition, "idx", KindName(kind), term.empty() ? "all" : term);
}

namespace {

// A resource from its HMGET pb etag rev reply; nullopt when it does not exist.
absl::StatusOr<std::optional<StoredResource>> ParseResource(const redisReply* r,
                                                            const std::string& id) {
  if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
  if (redis::IsNil(At(r, 0))) return std::nullopt;
  return StoredResource{id, StrCopy(At(r, 0)), StrCopy(At(r, 1)), Int(At(r, 2))};
}

}  // namespace

std::vector<std::string> RedisRegistryStore::GetCommand(const ResourceRef& ref) const {
  return {"HMGET", ResourceKey(ref.kind, ref.id), "pb", "etag", "rev"};
}

std::vector<std::vector<std::string>> RedisRegistryStore::GetCommands(
    const std::vector<ResourceRef>& refs) const {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(refs.size());
  for (const auto& ref : refs) commands.push_back(GetCommand(ref));
  return commands;
}

namespace {

absl::StatusOr<std::vector<std::optional<StoredResource>>> ParseResources(
    const std::vector<ResourceRef>& refs, const std::vector<ReplyPtr>& replies) {
  std::vector<std::optional<StoredResource>> out(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    STP_ASSIGN_OR_RETURN(out[i], ParseResource(replies[i].get(), refs[i].id));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::optional<StoredResource>>> RedisRegistryStore::GetMany(
    const std::vector<ResourceRef>& refs, absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(auto replies, redis_->SharedPipeline(GetCommands(refs), deadline));
  return ParseResources(refs, replies);
}

void RedisRegistryStore::GetManyAsync(const std::vector<ResourceRef>& refs, absl::Time deadline,
                                      GetManyDone done) {
  redis_->SharedPipelineAsync(
      GetCommands(refs), deadline,
      [refs, done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> replies) {
        if (!replies.ok()) return done(replies.status());
        done(ParseResources(refs, *replies));
      });
}

void RedisRegistryStore::GetAsync(const ResourceRef& ref, absl::Time deadline, GetDone done) {
  redis_->SharedPipelineAsync(
      {GetCommand(ref)}, deadline,
      [id = ref.id, done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> replies) {
        if (!replies.ok()) return done(replies.status());
        done(ParseResource(replies->front().get(), id));
      });
}

RedisRegistryStore::WriteCall RedisRegistryStore::WriteCallOf(
    const std::vector<WriteOp>& ops) const {
  WriteCall call;
  auto& [keys, args, partitions] = call;
  keys.reserve(ops.size());
  args.reserve(ops.size());
  for (const WriteOp& op : ops) {
    int p = keyspace_.PartitionOf(op.id);
    partitions.push_back(p);
    const char* kind = KindName(op.kind);
    std::vector<std::string> k = redis::Strings(
        keyspace_.Key(p, kind, op.id), keyspace_.Events(p),
        RequestKey(p, op.request_scope, op.request_id), keyspace_.Key(p, "xid", kind),
        keyspace_.Key(p, "orgname"), keyspace_.Key(p, "hist", op.id),
        keyspace_.Key(p, "idx", kind, "updated"), keyspace_.Key(p, "idx", kind, "updated:mark"),
        LegacyRequestKey(p, op.request_id));
    // A project's terms but the empty one live in the in-memory index, not here.
    auto in_redis = [&op](const std::vector<std::string>& terms) {
      std::vector<std::string> out;
      for (const auto& t : terms) {
        if (!InMemory(op.kind, t)) out.push_back(t);
      }
      return out;
    };
    const std::vector<std::string> index_remove = in_redis(op.index_remove);
    const std::vector<std::string> index_add = in_redis(op.index_add);
    for (const auto& t : index_remove) k.push_back(IndexKey(op.kind, p, t));
    for (const auto& t : index_add) k.push_back(IndexKey(op.kind, p, t));
    const char* type = op.type == WriteOp::Type::kCreate   ? "c"
                       : op.type == WriteOp::Type::kUpdate ? "u"
                                                           : "d";
    std::vector<std::string> a = redis::Strings(
        type, op.id, op.expected_etag, op.data, op.etag, absl::StrCat(op.revision),
        absl::StrCat(op.update_millis), op.event, absl::StrCat(stream_retention_),
        op.request_id.empty() ? std::string() : op.request_record,
        absl::StrCat(absl::ToInt64Seconds(request_ttl_)), op.history_entry,
        absl::StrCat(index_remove.size()), absl::StrCat(index_add.size()),
        absl::StrCat(op.external_ids_remove.size()), absl::StrCat(op.external_ids_add.size()),
        absl::StrCat(op.names_remove.size()), absl::StrCat(op.names_add.size()));
    for (const auto* list :
         {&op.external_ids_remove, &op.external_ids_add, &op.names_remove, &op.names_add}) {
      a.insert(a.end(), list->begin(), list->end());
    }
    keys.push_back(std::move(k));
    args.push_back(std::move(a));
  }
  return call;
}

namespace {

// Items per script call: the call's fixed cost is spread over many writes, and one call holds
// Redis for about a millisecond.
constexpr size_t kWritesPerCall = 32;

absl::StatusOr<std::vector<WriteResult>> ParseWriteReplies(const redis::ItemReplies& replies) {
  std::vector<WriteResult> results;
  results.reserve(replies.size());
  for (size_t i = 0; i < replies.size(); ++i) {
    if (redis::IsErrorReply(replies[i])) return redis::ErrorReplyStatus(Str(replies[i]));
    results.push_back(ParseWriteReply(replies[i]));
  }
  return results;
}

}  // namespace

absl::StatusOr<std::vector<WriteResult>> RedisRegistryStore::WriteNow(
    const std::vector<WriteOp>& ops, absl::Time deadline) {
  WriteCall call = WriteCallOf(ops);
  STP_ASSIGN_OR_RETURN(auto replies,
                       redis_->EvalEach(WriteScript(), std::move(call.keys), std::move(call.args),
                                        call.partitions, kWritesPerCall, deadline));
  auto results = ParseWriteReplies(replies);
  if (results.ok()) ApplyToProjectIndex(IndexChangesOf(ops), *results);
  return results;
}

void RedisRegistryStore::WriteNowAsync(const std::vector<WriteOp>& ops, absl::Time deadline,
                                       WriteDone done) {
  WriteCall call = WriteCallOf(ops);
  redis_->EvalEachAsync(WriteScript(), std::move(call.keys), std::move(call.args), call.partitions,
                        kWritesPerCall, deadline,
                        [this, changes = IndexChangesOf(ops),
                         done = std::move(done)](absl::StatusOr<redis::ItemReplies> replies) {
                          if (!replies.ok()) return done(replies.status());
                          auto results = ParseWriteReplies(*replies);
                          if (results.ok()) ApplyToProjectIndex(changes, *results);
                          done(std::move(results));
                        });
}

RedisRegistryStore::ForeignXids RedisRegistryStore::ForeignXidReads(
    const std::vector<WriteOp>& ops) const {
  ForeignXids reads;
  if (keyspace_.partitions() < 2) return reads;
  std::map<Kind, std::set<std::string>> by_kind;
  for (const WriteOp& op : ops) {
    by_kind[op.kind].insert(op.external_ids_add.begin(), op.external_ids_add.end());
  }
  for (auto& [kind, ids] : by_kind) {
    if (ids.empty()) continue;
    reads.asked.emplace_back(kind, std::vector<std::string>(ids.begin(), ids.end()));
    for (int p = 0; p < keyspace_.partitions(); ++p) {
      std::vector<std::string> cmd = {"HMGET", keyspace_.Key(p, "xid", KindName(kind))};
      cmd.insert(cmd.end(), ids.begin(), ids.end());
      reads.commands.push_back(std::move(cmd));
    }
  }
  return reads;
}

absl::StatusOr<std::vector<std::optional<WriteResult>>> RedisRegistryStore::RefusedByForeignXids(
    const std::vector<WriteOp>& ops, const ForeignXids& reads,
    const std::vector<redis::ReplyPtr>& replies) const {
  const int partitions = keyspace_.partitions();
  // Per kind and id, its owner in each partition ("" where none).
  std::map<std::pair<Kind, std::string>, std::vector<std::string>> owners;
  for (size_t k = 0; k < reads.asked.size(); ++k) {
    const auto& [kind, ids] = reads.asked[k];
    for (int p = 0; p < partitions; ++p) {
      const redisReply* r = replies[k * partitions + p].get();
      if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
      for (size_t i = 0; i < ids.size(); ++i) {
        auto& per_partition = owners[{kind, ids[i]}];
        per_partition.resize(partitions);
        if (!redis::IsNil(At(r, i))) per_partition[p] = StrCopy(At(r, i));
      }
    }
  }
  std::vector<std::optional<WriteResult>> refused(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    const int own = keyspace_.PartitionOf(op.id);  // the script checks this one itself
    for (const std::string& x : op.external_ids_add) {
      const auto& per_partition = owners[{op.kind, x}];
      for (int p = 0; p < partitions && !refused[i]; ++p) {
        if (p == own || per_partition[p].empty() || per_partition[p] == op.id) continue;
        WriteResult taken;
        taken.code = WriteResult::Code::kExternalIdTaken;
        taken.detail = absl::StrCat(x, "=", per_partition[p]);
        refused[i] = taken;
      }
    }
  }
  return refused;
}

namespace {

// The ops no check refused, to write; and the results of all, once those are written.
std::vector<WriteOp> Unrefused(const std::vector<WriteOp>& ops,
                               const std::vector<std::optional<WriteResult>>& refused) {
  std::vector<WriteOp> out;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!refused[i]) out.push_back(ops[i]);
  }
  return out;
}

std::vector<WriteResult> Merged(const std::vector<std::optional<WriteResult>>& refused,
                                std::vector<WriteResult> written) {
  std::vector<WriteResult> out;
  out.reserve(refused.size());
  size_t next = 0;
  for (const auto& r : refused) out.push_back(r ? *r : std::move(written[next++]));
  return out;
}

bool AnyRefused(const std::vector<std::optional<WriteResult>>& refused) {
  return std::any_of(refused.begin(), refused.end(), [](const auto& r) { return r.has_value(); });
}

}  // namespace

absl::StatusOr<std::vector<WriteResult>> RedisRegistryStore::Write(const std::vector<WriteOp>& ops,
                                                                   absl::Time deadline) {
  ForeignXids reads = ForeignXidReads(ops);
  if (reads.commands.empty()) return WriteNow(ops, deadline);
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(reads.commands, deadline));
  STP_ASSIGN_OR_RETURN(auto refused, RefusedByForeignXids(ops, reads, replies));
  if (!AnyRefused(refused)) return WriteNow(ops, deadline);
  std::vector<WriteOp> rest = Unrefused(ops, refused);
  std::vector<WriteResult> written;
  if (!rest.empty()) {
    STP_ASSIGN_OR_RETURN(written, WriteNow(rest, deadline));
  }
  return Merged(refused, std::move(written));
}

void RedisRegistryStore::WriteAsync(const std::vector<WriteOp>& ops, absl::Time deadline,
                                    WriteDone done) {
  ForeignXids reads = ForeignXidReads(ops);
  if (reads.commands.empty()) return WriteNowAsync(ops, deadline, std::move(done));
  auto commands = std::move(reads.commands);  // the answer needs only `reads.asked`
  redis_->SharedPipelineAsync(
      std::move(commands), deadline,
      [this, ops, reads = std::move(reads), deadline,
       done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> replies) mutable {
        if (!replies.ok()) return done(replies.status());
        auto refused = RefusedByForeignXids(ops, reads, *replies);
        if (!refused.ok()) return done(refused.status());
        if (!AnyRefused(*refused)) return WriteNowAsync(ops, deadline, std::move(done));
        std::vector<WriteOp> rest = Unrefused(ops, *refused);
        if (rest.empty()) return done(Merged(*refused, {}));
        WriteNowAsync(rest, deadline,
                      [refused = *std::move(refused),
                       done = std::move(done)](absl::StatusOr<std::vector<WriteResult>> written) {
                        if (!written.ok()) return done(written.status());
                        done(Merged(refused, *std::move(written)));
                      });
      });
}

absl::StatusOr<std::vector<std::string>> RedisRegistryStore::FindInPartitionHashes(
    const std::function<std::string(int)>& key_of, const std::vector<std::string>& fields,
    absl::Time deadline) {
  std::vector<std::string> out(fields.size());
  if (fields.empty()) return out;
  std::vector<std::vector<std::string>> commands;
  for (int p = 0; p < keyspace_.partitions(); ++p) {
    std::vector<std::string> cmd = {"HMGET", key_of(p)};
    cmd.insert(cmd.end(), fields.begin(), fields.end());
    commands.push_back(std::move(cmd));
  }
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands, deadline));
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
    for (size_t i = 0; i < fields.size(); ++i) {
      if (out[i].empty() && !redis::IsNil(At(r.get(), i))) out[i] = StrCopy(At(r.get(), i));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> RedisRegistryStore::FindExternalIds(
    Kind kind, const std::vector<std::string>& external_ids, absl::Time deadline) {
  return FindInPartitionHashes([&](int p) { return keyspace_.Key(p, "xid", KindName(kind)); },
                               external_ids, deadline);
}

absl::StatusOr<std::vector<std::string>> RedisRegistryStore::FindOrganizationNames(
    const std::vector<std::string>& names, absl::Time deadline) {
  return FindInPartitionHashes([&](int p) { return keyspace_.Key(p, "orgname"); }, names, deadline);
}

std::string RedisRegistryStore::RequestKey(int partition, const std::string& scope,
                                           const std::string& request_id) const {
  if (request_id.empty()) return keyspace_.Key(partition, "req", "-");  // a key never written
  if (scope.empty()) return LegacyRequestKey(partition, request_id);
  // The scope's length first: a scope and an id may both hold ':'.
  return keyspace_.Key(partition, "rq", scope.size(), scope, request_id);
}

std::string RedisRegistryStore::LegacyRequestKey(int partition,
                                                 const std::string& request_id) const {
  return keyspace_.Key(partition, "req", request_id.empty() ? std::string("-") : request_id);
}

absl::StatusOr<std::vector<std::optional<std::string>>> RedisRegistryStore::RememberRequests(
    const std::vector<WriteOp>& requests, absl::Time deadline) {
  std::vector<std::optional<std::string>> prior(requests.size());
  if (requests.empty()) return prior;
  std::vector<std::vector<std::string>> keys, args;
  std::vector<int> partitions;
  const std::string ttl = absl::StrCat(absl::ToInt64Seconds(request_ttl_));
  for (const WriteOp& r : requests) {
    const int p = keyspace_.PartitionOf(r.id);
    keys.push_back(
        {RequestKey(p, r.request_scope, r.request_id), LegacyRequestKey(p, r.request_id)});
    args.push_back({r.request_record, ttl});
    partitions.push_back(p);
  }
  STP_ASSIGN_OR_RETURN(
      auto replies, redis_->EvalEach(RememberScript(), std::move(keys), std::move(args), partitions,
                                     kWritesPerCall, deadline));
  for (size_t i = 0; i < replies.size(); ++i) {
    if (redis::IsErrorReply(replies[i])) return redis::ErrorReplyStatus(Str(replies[i]));
    if (!redis::IsNil(replies[i])) prior[i] = StrCopy(replies[i]);
  }
  return prior;
}

std::vector<std::vector<std::string>> RedisRegistryStore::FindRequestCommands(
    const std::string& partition_key, const std::string& scope,
    const std::string& request_id) const {
  const int p = keyspace_.PartitionOf(partition_key);
  std::vector<std::vector<std::string>> commands = {{"GET", RequestKey(p, scope, request_id)}};
  if (const std::string legacy = LegacyRequestKey(p, request_id); legacy != commands[0][1]) {
    commands.push_back({"GET", legacy});
  }
  return commands;
}

namespace {

// The first record FindRequestCommands' replies hold.
absl::StatusOr<std::optional<std::string>> FoundRequest(const std::vector<ReplyPtr>& replies) {
  for (const ReplyPtr& reply : replies) {
    if (redis::IsErrorReply(reply.get())) return redis::ErrorReplyStatus(Str(reply.get()));
    if (!redis::IsNil(reply.get())) return StrCopy(reply.get());
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> RedisRegistryStore::FindRequest(
    const std::string& partition_key, const std::string& scope, const std::string& request_id,
    absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(
      auto replies,
      redis_->Pipeline(FindRequestCommands(partition_key, scope, request_id), deadline));
  return FoundRequest(replies);
}

void RedisRegistryStore::FindRequestAsync(const std::string& partition_key,
                                          const std::string& scope, const std::string& request_id,
                                          absl::Time deadline, FindRequestDone done) {
  redis_->SharedPipelineAsync(
      FindRequestCommands(partition_key, scope, request_id), deadline,
      [done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> replies) {
        if (!replies.ok()) return done(replies.status());
        done(FoundRequest(*replies));
      });
}

absl::StatusOr<std::vector<std::string>> RedisRegistryStore::ListIds(
    Kind kind, const std::string& term, const std::string& after, int limit, absl::Time deadline) {
  if (InMemory(kind, term)) {
    STP_RETURN_IF_ERROR(AwaitProjectIndex(deadline));
    return project_index_.After(term, after, limit);
  }
  // K-way merge over partitions: each contributes its next `limit` ids; ids beyond the
  // smallest last id of a partition that filled its quota are not yet safe to return.
  std::vector<std::vector<std::string>> commands;
  std::string start = after.empty() ? "-" : "(" + after;
  for (int p = 0; p < keyspace_.partitions(); ++p) {
    commands.push_back({"ZRANGE", IndexKey(kind, p, term), start, "+", "BYLEX", "LIMIT", "0",
                        absl::StrCat(limit)});
  }
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands, deadline));
  std::vector<std::string> merged;
  std::string bound;  // empty: no bound
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
    size_t n = Size(r.get());
    for (size_t i = 0; i < n; ++i) merged.push_back(StrCopy(At(r.get(), i)));
    if (static_cast<int>(n) == limit && n > 0) {
      std::string last = StrCopy(At(r.get(), n - 1));
      if (bound.empty() || last < bound) bound = last;
    }
  }
  std::sort(merged.begin(), merged.end());
  if (!bound.empty()) {
    merged.erase(std::upper_bound(merged.begin(), merged.end(), bound), merged.end());
  }
  if (static_cast<int>(merged.size()) > limit) merged.resize(limit);
  return merged;
}

absl::StatusOr<std::vector<ListPosition>> RedisRegistryStore::ListIdsByUpdate(
    Kind kind, int64_t since_millis, const ListPosition& after, int limit, absl::Time deadline) {
  double min_score = std::max<double>(static_cast<double>(since_millis), after.score);
  auto less = [](const ListPosition& a, const ListPosition& b) {
    return a.score < b.score || (a.score == b.score && a.id < b.id);
  };
  // Entries tied with `after` on score come back too and are skipped; a partition whose whole
  // window was skipped (a run of ties longer than the window, such as a bulk write within one
  // millisecond) reads its next window, until it passes the cursor or ends.
  const int window = limit * 2 + 16;
  const int partitions = keyspace_.partitions();
  std::vector<int> offset(partitions, 0);
  std::vector<int> reading(partitions);
  for (int p = 0; p < partitions; ++p) reading[p] = p;
  std::vector<ListPosition> merged;
  std::optional<ListPosition> bound;
  while (!reading.empty()) {
    std::vector<std::vector<std::string>> commands;
    for (int p : reading) {
      commands.push_back({"ZRANGE", keyspace_.Key(p, "idx", KindName(kind), "updated"),
                          absl::StrCat(static_cast<int64_t>(min_score)), "+inf", "BYSCORE",
                          "WITHSCORES", "LIMIT", absl::StrCat(offset[p]), absl::StrCat(window)});
    }
    STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands, deadline));
    std::vector<int> again;
    for (size_t k = 0; k < replies.size(); ++k) {
      const redisReply* r = replies[k].get();
      if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
      size_t n = Size(r) / 2;
      ListPosition last;
      bool kept = false;
      for (size_t i = 0; i < n; ++i) {
        ListPosition pos;
        pos.id = StrCopy(At(r, 2 * i));
        (void)absl::SimpleAtod(Str(At(r, 2 * i + 1)), &pos.score);
        last = pos;
        if (!after.id.empty() && !less(after, pos)) continue;
        merged.push_back(pos);
        kept = true;
      }
      if (static_cast<int>(n) < window) continue;  // the partition's end
      if (!kept) {
        offset[reading[k]] += window;
        again.push_back(reading[k]);
      } else if (!bound || less(last, *bound)) {
        bound = last;
      }
    }
    reading.swap(again);
  }
  std::sort(merged.begin(), merged.end(), less);
  if (bound) {
    merged.erase(std::upper_bound(merged.begin(), merged.end(), *bound, less), merged.end());
  }
  if (static_cast<int>(merged.size()) > limit) merged.resize(limit);
  return merged;
}

void RedisRegistryStore::IdsOfTermsAsync(Kind kind, const std::vector<std::string>& terms,
                                         int limit, absl::Time deadline, TermIdsDone done) {
  if (kind == Kind::kProject) {
    if (absl::Status s = AwaitProjectIndex(deadline); !s.ok()) return done(s);
    return done(project_index_.IdsOfRareTerms(terms, limit));
  }
  std::vector<std::vector<std::string>> commands;
  for (const auto& term : terms) {
    for (int p = 0; p < keyspace_.partitions(); ++p) {
      commands.push_back({"ZRANGE", IndexKey(kind, p, term), "0", absl::StrCat(limit - 1)});
    }
  }
  redis_->SharedPipelineAsync(
      std::move(commands), deadline,
      [n = terms.size(), partitions = keyspace_.partitions(), limit,
       done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> replies) {
        if (!replies.ok()) return done(replies.status());
        std::vector<std::vector<std::string>> out(n);
        for (size_t i = 0; i < replies->size(); ++i) {
          const redisReply* r = (*replies)[i].get();
          if (redis::IsErrorReply(r)) return done(redis::ErrorReplyStatus(Str(r)));
          auto& ids = out[i / partitions];
          for (size_t j = 0; j < Size(r); ++j) ids.push_back(StrCopy(At(r, j)));
        }
        for (auto& ids : out) {
          if (static_cast<int>(ids.size()) >= limit) ids.clear();
        }
        done(std::move(out));
      });
}

absl::StatusOr<std::vector<int64_t>> RedisRegistryStore::CountTerms(
    Kind kind, const std::vector<std::string>& terms, absl::Time deadline) {
  if (kind == Kind::kProject) {
    STP_RETURN_IF_ERROR(AwaitProjectIndex(deadline));
    return project_index_.Count(terms);
  }
  std::vector<std::vector<std::string>> commands;
  for (const auto& term : terms) {
    for (int p = 0; p < keyspace_.partitions(); ++p)
      commands.push_back({"ZCARD", IndexKey(kind, p, term)});
  }
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands, deadline));
  std::vector<int64_t> counts(terms.size(), 0);
  for (size_t i = 0; i < replies.size(); ++i)
    counts[i / keyspace_.partitions()] += Int(replies[i].get());
  return counts;
}

absl::StatusOr<std::vector<std::string>> RedisRegistryStore::History(const std::string& project_id,
                                                                     int offset, int limit,
                                                                     absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(
      ReplyPtr reply,
      redis_->Command(
          {"LRANGE", keyspace_.Key(keyspace_.PartitionOf(project_id), "hist", project_id),
           absl::StrCat(offset), absl::StrCat(offset + limit - 1)},
          deadline));
  std::vector<std::string> out;
  for (size_t i = 0; i < Size(reply.get()); ++i) out.push_back(StrCopy(At(reply.get(), i)));
  return out;
}

}  // namespace stp::ingestion
