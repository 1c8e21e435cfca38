#include "services/scoring/score_store.h"

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "libs/common/event_header.h"
#include "libs/common/ids.h"
#include "libs/common/phrase_codec.h"
#include "libs/common/status.h"

namespace stp::scoring {
namespace {

using redis::At;
using redis::Int;
using redis::Size;
using redis::Str;
using redis::StrCopy;

const char* KindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kProject:
      return "project";
    case ModelKind::kOrganization:
      return "org";
    case ModelKind::kCountry:
      return "country";
    case ModelKind::kPark:
      return "park";
  }
  return "?";
}

// Applies a read-model change only when its revision is newer, so replaying an event, or an
// event arriving after a newer listing, changes nothing; revision -1 (kReplace) replaces the
// data and keeps the stored revision, unless the stored state was written later than the
// replacement (both times known). A change to anything but a project counts up the
// partition's input generation (see ScoreScript).
// KEYS: 1 record, 2 partition project set, 3 partition input generation. ARGV: 1 revision,
// 2 deleted (0/1), 3 data, 4 id, 5 is project (0/1), 6 update millis (0: unknown).
const redis::ItemScript& ApplyScript() {
  static const auto* script = new redis::ItemScript(R"lua(
local stored = redis.call('HMGET', KEYS[1], 'rev', 'pb', 'ut')
local rev = ARGV[1]
local ut = tonumber(ARGV[6])
if rev == '-1' then
  if ut > 0 and stored[3] and tonumber(stored[3]) > ut then return {0, false} end
  rev = stored[1] or '0'
elseif stored[1] and tonumber(stored[1]) >= tonumber(rev) then
  return {0, false}
end
local previous = stored[2]
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], 'pb')
  redis.call('HSET', KEYS[1], 'rev', rev, 'deleted', '1', 'ut', ARGV[6])
  if ARGV[5] == '1' then redis.call('SREM', KEYS[2], ARGV[4]) end
else
  redis.call('HSET', KEYS[1], 'pb', ARGV[3], 'rev', rev, 'deleted', '0', 'ut', ARGV[6])
  if ARGV[5] == '1' then redis.call('SADD', KEYS[2], ARGV[4]) end
end
if ARGV[5] ~= '1' then redis.call('INCR', KEYS[3]) end
return {1, previous}
)lua");
  return *script;
}

// A score and its SCORE_CHANGED event, together. KEYS: 1 score, 2 facts, 3 events,
// 4 history. ARGV: 1 id, 2 score (empty: a touch, see ScoreWrite), 3 compact score, 4 project
// revision,
// 5 emit, 6 event, 7 maxlen, 8 digest of the score without its compute time, 9 the input
// generations read before the inputs ("g0,g1,..." per partition), 10 the SHA-1 of an
// unreadable stored value to replace even when the digests match (empty: none), 11 the stored
// score the write was decided against (BasedOn: "n" none, "s" and its digest; empty: any).
//
// What a score saw is (project revision, generation of each partition): it saw every change
// counted up to those. A score that saw less than the stored one in some part and nothing more
// is stale and dropped (0): two consumers may score one project from inputs read at different
// times, and the older must not land last. One that saw more in some part and less in another
// is answered 2: computed again from fresh inputs. A score that saw the same as the stored one
// and is the same score (same digest) writes and emits nothing, so replicas that score the
// same inputs write once. A score decided against a stored score that another consumer has
// replaced since is answered 2 as well: its event would name the wrong previous score, or
// repeat the other's change. A project deleted since it was read (by another consumer, after
// this one loaded it) gets no score back: its score is a tombstone. Returns 1 when written.
const redis::ItemScript& ScoreScript() {
  static const auto* script = new redis::ItemScript(R"lua(
local stored = redis.call('HMGET', KEYS[1], 'rev', 'sum', 'gen', 'deleted')
if stored[4] == '1' then return 0 end
if stored[1] then
  local function saw(rev, gens)
    local t = {tonumber(rev)}
    for g in string.gmatch(gens or '', '[^,]+') do t[#t + 1] = tonumber(g) end
    return t
  end
  local ours, theirs = saw(ARGV[4], ARGV[9]), saw(stored[1], stored[3])
  local ahead, behind = false, false
  for i = 1, math.max(#ours, #theirs) do
    local a, b = ours[i] or 0, theirs[i] or 0
    if a > b then ahead = true elseif a < b then behind = true end
  end
  if ahead and behind then return 2 end
  if behind then return 0 end
  if not ahead and stored[2] == ARGV[8] then
    -- The same score, unless what is stored is the unreadable value this write replaces.
    local damaged = ARGV[10] or ''
    if damaged == '' or redis.sha1hex(redis.call('HGET', KEYS[1], 'pb') or '') ~= damaged then
      return 0
    end
  end
end
local based = ARGV[11] or ''
if based ~= '' and based ~= (stored[1] and ('s' .. (stored[2] or '')) or 'n') then return 2 end
if ARGV[2] == '' then
  -- A touch: the stored score again, from inputs that saw more. Only what it saw moves; a
  -- score stored meanwhile that differs is computed again.
  if not stored[1] or stored[2] ~= ARGV[8] then return 2 end
  redis.call('HSET', KEYS[1], 'rev', ARGV[4], 'gen', ARGV[9])
  return 1
end
redis.call('HSET', KEYS[1], 'pb', ARGV[2], 'rev', ARGV[4], 'sum', ARGV[8], 'gen', ARGV[9])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[5] == '1' then
  if redis.call('LPUSH', KEYS[4], ARGV[3]) > 100 then redis.call('LTRIM', KEYS[4], 0, 99) end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[6])
end
return 1
)lua");
  return *script;
}

// Puts a compute time into a score serialized without one, at its place in field order, so
// that the bytes are the score's own serialization (what SerializeAsString gives). False when
// the bytes cannot be read as a score's fields.
bool InsertComputeTime(const google::protobuf::Timestamp& time, std::string* serialized) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(serialized->data()),
                                            static_cast<int>(serialized->size()));
  size_t at = serialized->size();
  for (;;) {
    const int before = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (before != static_cast<int>(serialized->size())) return false;  // not a field
      break;
    }
    if (WireFormatLite::GetTagFieldNumber(tag) > v1::Score::kComputeTimeFieldNumber) {
      at = static_cast<size_t>(before);
      break;
    }
    if (WireFormatLite::GetTagFieldNumber(tag) == v1::Score::kComputeTimeFieldNumber ||
        !WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  v1::Score time_only;
  *time_only.mutable_compute_time() = time;
  serialized->insert(at, time_only.SerializeAsString());
  return true;
}

// Items per script call: enough that a call's fixed cost is small beside its items, few
// enough that one call holds Redis for about a millisecond.
constexpr size_t kItemsPerCall = 64;

}  // namespace

std::string IdOfName(const std::string& name) {
  auto slash = name.find('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

v1::Score Compact(const v1::Score& score) {
  v1::Score c = score;
  c.clear_components();
  return c;
}

ScoreStore::ScoreStore(redis::RedisClient* redis, redis::Keyspace keyspace,
                       int64_t stream_retention)
    : redis_(redis), keyspace_(std::move(keyspace)), stream_retention_(stream_retention) {}

std::string ScoreStore::ModelKey(ModelKind kind, const std::string& id) const {
  return keyspace_.Key(keyspace_.PartitionOf(id), "scoring", "rm", KindName(kind), id);
}

absl::StatusOr<std::vector<AppliedChange>> ScoreStore::Apply(
    const std::vector<ReadModelChange>& changes, absl::Time deadline) {
  std::vector<std::vector<std::string>> keys, args;
  std::vector<int> partitions;
  for (const ReadModelChange& c : changes) {
    const int p = keyspace_.PartitionOf(c.id);
    keys.push_back(redis::Strings(ModelKey(c.kind, c.id), keyspace_.Key(p, "scoring", "projects"),
                                  GenerationKey(p)));
    args.push_back(redis::Strings(absl::StrCat(c.revision), c.deleted ? "1" : "0", c.data, c.id,
                                  c.kind == ModelKind::kProject ? "1" : "0",
                                  absl::StrCat(c.update_millis)));
    partitions.push_back(p);
  }
  STP_ASSIGN_OR_RETURN(auto replies,
                       redis_->EvalEach(ApplyScript(), std::move(keys), std::move(args), partitions,
                                        kItemsPerCall, deadline));
  std::vector<AppliedChange> out;
  for (size_t i = 0; i < replies.size(); ++i) {
    const redisReply* r = replies[i];
    if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
    out.push_back({Int(At(r, 0)) == 1, StrCopy(At(r, 1))});
  }
  return out;
}

std::string ScoreStore::DependentsKey(const char* kind, const std::string& name) const {
  // A park is read by name like an organisation, in sets of its own ("parks/x").
  if (name.rfind("parks/", 0) == 0) kind = "park";
  std::string id = IdOfName(name);
  return keyspace_.Key(keyspace_.PartitionOf(id), "scoring", "dep", kind, id);
}

absl::Status ScoreStore::UpdateDependents(const std::vector<DependencyChange>& changes,
                                          const std::vector<OrganizationCountryChange>& moves) {
  auto key = [&](const char* kind, const std::string& name) { return DependentsKey(kind, name); };
  // The last change of each (set, member) wins, as if applied in order; then one SREM and one
  // SADD per set for the whole batch (an organisation's set gets many of a batch's projects).
  std::map<std::string, std::map<std::string, bool>> final_state;  // set -> member -> in it
  for (const auto& c : changes) {
    for (const auto& o : c.orgs_removed) final_state[key("org", o)][c.project_id] = false;
    for (const auto& o : c.orgs_added) final_state[key("org", o)][c.project_id] = true;
    for (const auto& n : c.countries_removed) final_state[key("country", n)][c.project_id] = false;
    for (const auto& n : c.countries_added) final_state[key("country", n)][c.project_id] = true;
  }
  // A country's organisations: their names, in the country's "orgs" set.
  for (const auto& m : moves) {
    if (!m.country_removed.empty() && m.country_removed != m.country_added)
      final_state[key("orgs", m.country_removed)][m.organization] = false;
    if (!m.country_added.empty()) final_state[key("orgs", m.country_added)][m.organization] = true;
  }
  std::vector<std::vector<std::string>> commands;
  for (const auto& [set, members] : final_state) {
    std::vector<std::string> add = {"SADD", set}, remove = {"SREM", set};
    for (const auto& [project, member] : members) (member ? add : remove).push_back(project);
    if (remove.size() > 2) commands.push_back(std::move(remove));
    if (add.size() > 2) commands.push_back(std::move(add));
  }
  if (commands.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands));
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ScoreStore::Dependents(const std::string& resource_name) {
  auto members = [](const redisReply* r, std::vector<std::string>* out) -> absl::Status {
    if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
    for (size_t i = 0; i < Size(r); ++i) out->push_back(StrCopy(At(r, i)));
    return absl::OkStatus();
  };
  std::vector<std::string> out;
  if (resource_name.rfind("countries/", 0) != 0) {
    STP_ASSIGN_OR_RETURN(auto reply,
                         redis_->Command({"SMEMBERS", DependentsKey("org", resource_name)}));
    STP_RETURN_IF_ERROR(members(reply.get(), &out));
    return out;
  }
  std::vector<std::string> orgs;
  STP_ASSIGN_OR_RETURN(auto replies,
                       redis_->Pipeline({{"SMEMBERS", DependentsKey("country", resource_name)},
                                         {"SMEMBERS", DependentsKey("orgs", resource_name)}}));
  STP_RETURN_IF_ERROR(members(replies[0].get(), &out));
  STP_RETURN_IF_ERROR(members(replies[1].get(), &orgs));
  if (!orgs.empty()) {
    std::vector<std::vector<std::string>> commands;
    for (const auto& org : orgs) commands.push_back({"SMEMBERS", DependentsKey("org", org)});
    STP_ASSIGN_OR_RETURN(auto of_orgs, redis_->Pipeline(commands));
    for (const auto& r : of_orgs) STP_RETURN_IF_ERROR(members(r.get(), &out));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  return out;
}

template <typename M>
absl::StatusOr<std::vector<std::optional<M>>> ScoreStore::Load(ModelKind kind,
                                                               const std::vector<std::string>& ids,
                                                               absl::Time deadline) {
  std::vector<std::vector<std::string>> commands;
  for (const auto& id : ids) commands.push_back({"HGET", ModelKey(kind, id), "pb"});
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands, deadline));
  std::vector<std::optional<M>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const redisReply* r = replies[i].get();
    if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
    if (redis::IsNil(r)) continue;
    M m;
    if (m.ParseFromArray(r->str, static_cast<int>(r->len))) out[i] = std::move(m);
  }
  return out;
}

absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Project>>> ScoreStore::LoadProjects(
    const std::vector<std::string>& ids, absl::Time deadline) {
  return Load<stp::ingestion::v1::Project>(ModelKind::kProject, ids, deadline);
}

absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Organization>>>
ScoreStore::LoadOrganizations(const std::vector<std::string>& names, absl::Time deadline) {
  std::vector<std::string> ids;
  for (const auto& n : names) ids.push_back(IdOfName(n));
  return Load<stp::ingestion::v1::Organization>(ModelKind::kOrganization, ids, deadline);
}

absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Country>>> ScoreStore::LoadCountries(
    const std::vector<std::string>& names, absl::Time deadline) {
  std::vector<std::string> ids;
  for (const auto& n : names) ids.push_back(IdOfName(n));
  return Load<stp::ingestion::v1::Country>(ModelKind::kCountry, ids, deadline);
}

absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Park>>> ScoreStore::LoadParks(
    const std::vector<std::string>& names, absl::Time deadline) {
  std::vector<std::string> ids;
  for (const auto& n : names) ids.push_back(IdOfName(n));
  return Load<stp::ingestion::v1::Park>(ModelKind::kPark, ids, deadline);
}

absl::StatusOr<std::vector<std::string>> ScoreStore::AllProjectIds() {
  std::vector<std::string> out;
  for (int p = 0; p < keyspace_.partitions(); ++p) {
    STP_ASSIGN_OR_RETURN(auto reply,
                         redis_->Command({"SMEMBERS", keyspace_.Key(p, "scoring", "projects")}));
    for (size_t i = 0; i < Size(reply.get()); ++i) out.push_back(StrCopy(At(reply.get(), i)));
  }
  return out;
}

absl::StatusOr<std::vector<std::optional<v1::Score>>> ScoreStore::LoadScores(
    const std::vector<std::string>& ids, absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(auto stored, LoadStoredScores(ids, deadline));
  std::vector<std::optional<v1::Score>> out(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    if (!stored[i].has_value()) continue;
    if (!stored[i]->unreadable) {
      out[i] = std::move(stored[i]->score);
    } else {
      ReportUnreadable(ids[i]);
    }
  }
  return out;
}

namespace {

std::string ScoreKey(const redis::Keyspace& keyspace, const std::string& id) {
  return keyspace.Key(keyspace.PartitionOf(id), "scoring", "score", id);
}

std::vector<std::string> LoadScoreCommand(const redis::Keyspace& keyspace, const std::string& id) {
  return {"HMGET", ScoreKey(keyspace, id), "pb", "sum", "rev", "gen"};
}

// A stored score from its HMGET reply; nullopt when there is none.
absl::StatusOr<std::optional<StoredScore>> ParseStoredScore(const redisReply* r) {
  if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
  const redisReply* pb = At(r, 0);
  if (pb == nullptr || redis::IsNil(pb)) return std::nullopt;
  auto serialized = common::UnpackPhrases(absl::string_view(pb->str, pb->len));
  StoredScore stored;
  if (!serialized.ok() || !stored.score.ParseFromString(*serialized)) {
    stored.score.Clear();
    stored.unreadable = true;
    stored.unreadable_sha1 = redis::Sha1Hex(absl::string_view(pb->str, pb->len));
  }
  stored.digest = StrCopy(At(r, 1));
  stored.revision = Int(At(r, 2));
  stored.inputs = StrCopy(At(r, 3));
  return stored;
}

}  // namespace

absl::StatusOr<std::vector<std::optional<StoredScore>>> ScoreStore::LoadStoredScores(
    const std::vector<std::string>& ids, absl::Time deadline) {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(ids.size());
  for (const auto& id : ids) commands.push_back(LoadScoreCommand(keyspace_, id));
  STP_ASSIGN_OR_RETURN(auto replies, redis_->SharedPipeline(commands, deadline));
  std::vector<std::optional<StoredScore>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    STP_ASSIGN_OR_RETURN(out[i], ParseStoredScore(replies[i].get()));
  }
  return out;
}

void ScoreStore::LoadSerializedScoreAsync(
    const std::string& id, absl::Time deadline,
    std::function<void(absl::StatusOr<std::optional<std::string>>)> done) {
  // Holds the hook, not the store: the round trip may be answered while the process stops.
  auto answer = [hook = on_unreadable_, id,
                 done = std::move(done)](absl::StatusOr<std::vector<redis::ReplyPtr>> replies) {
    if (!replies.ok()) return done(replies.status());
    const redisReply* r = replies->front().get();
    if (redis::IsErrorReply(r)) return done(redis::ErrorReplyStatus(Str(r)));
    if (redis::IsNil(r)) return done(std::nullopt);
    // A packed score that does not unpack is answered as none, as one that does not parse,
    // and computed again. A packed score's checksum vouches for the bytes it gives, which
    // are sent unparsed; a plain one (stored before scores were packed) has none, so it is
    // parsed once: bytes that merely scan must not reach a caller who cannot parse them.
    const absl::string_view stored(r->str, r->len);
    auto serialized = common::UnpackPhrases(stored);
    if (serialized.ok() && !common::IsPacked(stored) && !v1::Score().ParseFromString(*serialized))
      serialized = absl::DataLossError("a stored score does not parse");
    if (!serialized.ok()) {
      hook->Report(id);
      return done(std::nullopt);
    }
    done(std::move(*serialized));
  };
  redis_->SharedPipelineAsync({{"HGET", ScoreKey(keyspace_, id), "pb"}}, deadline,
                              std::move(answer));
}

std::string ScoreStore::GenerationKey(int partition) const {
  return keyspace_.Key(partition, "scoring", "gen");
}

absl::StatusOr<std::string> ScoreStore::InputGenerations(absl::Time deadline) {
  std::vector<std::vector<std::string>> commands;
  for (int p = 0; p < keyspace_.partitions(); ++p) commands.push_back({"GET", GenerationKey(p)});
  STP_ASSIGN_OR_RETURN(auto replies, redis_->SharedPipeline(commands, deadline));
  std::string out;
  for (size_t p = 0; p < replies.size(); ++p) {
    const redisReply* r = replies[p].get();
    if (redis::IsErrorReply(r)) return redis::ErrorReplyStatus(Str(r));
    absl::StrAppend(&out, p == 0 ? "" : ",", redis::IsNil(r) ? "0" : Str(r));
  }
  return out;
}

absl::StatusOr<std::vector<WriteOutcome>> ScoreStore::WriteScores(std::vector<ScoreWrite> writes,
                                                                  absl::Time deadline) {
  std::vector<std::vector<std::string>> keys, args;
  std::vector<int> groups;
  const std::string maxlen = absl::StrCat(stream_retention_);
  for (ScoreWrite& w : writes) {
    const int p = keyspace_.PartitionOf(w.project_id);
    keys.push_back(redis::Strings(keyspace_.Key(p, "scoring", "score", w.project_id),
                                  keyspace_.Key(p, "scoring", "facts"), keyspace_.Events(p),
                                  keyspace_.Key(p, "scoring", "hist", w.project_id)));
    std::string digest = w.digest.empty() ? ScoreDigest(w.score) : std::move(w.digest);
    if (w.touch) {
      args.push_back(redis::Strings(w.project_id, "", "", absl::StrCat(w.score.project_revision()),
                                    "0", "", maxlen, std::move(digest), std::move(w.inputs)));
      groups.push_back(p);
      continue;
    }
    std::string serialized = std::move(w.serialized);
    if (serialized.empty() || !w.score.has_compute_time() ||
        !w.score.GetReflection()->GetUnknownFields(w.score).empty() ||
        !InsertComputeTime(w.score.compute_time(), &serialized)) {
      serialized = w.score.SerializeAsString();
    }
    std::string full = common::PackPhrases(serialized);
    std::string event;
    if (w.emit) {
      event = pack_events_ ? common::PackScoreEvent(w.event, full)
                           : common::PlainScoreEvent(w.event, serialized);
    }
    // The compact form is the score without its components: lent out and put back, not copied.
    google::protobuf::RepeatedPtrField<v1::ComponentScore> components;
    components.Swap(w.score.mutable_components());
    std::string compact = w.score.SerializeAsString();
    components.Swap(w.score.mutable_components());
    args.push_back(redis::Strings(w.project_id, std::move(full), std::move(compact),
                                  absl::StrCat(w.score.project_revision()), w.emit ? "1" : "0",
                                  std::move(event), maxlen, std::move(digest), std::move(w.inputs),
                                  std::move(w.replace_unreadable), w.based_on.value_or("")));
    groups.push_back(p);
  }
  STP_ASSIGN_OR_RETURN(auto replies,
                       redis_->EvalEach(ScoreScript(), std::move(keys), std::move(args), groups,
                                        kItemsPerCall, deadline));
  std::vector<WriteOutcome> out;
  out.reserve(replies.size());
  for (size_t j = 0; j < replies.size(); ++j) {
    if (redis::IsErrorReply(replies[j])) return redis::ErrorReplyStatus(Str(replies[j]));
    const int64_t code = Int(replies[j]);
    out.push_back(code == 1   ? WriteOutcome::kWritten
                  : code == 2 ? WriteOutcome::kComputeAgain
                              : WriteOutcome::kNotWritten);
  }
  return out;
}

namespace {

// What a score saw: its project revision, then each partition's input generation.
std::vector<int64_t> Saw(int64_t revision, const std::string& inputs) {
  std::vector<int64_t> parts = {revision};
  int64_t value = 0;
  for (absl::string_view g : absl::StrSplit(inputs, ',', absl::SkipEmpty())) {
    parts.push_back(absl::SimpleAtoi(g, &value) ? value : 0);
  }
  return parts;
}

}  // namespace

std::string BasedOn(const StoredScore* stored) {
  return stored == nullptr ? "n" : "s" + stored->digest;
}

ScoreWriteNeed WriteNeeded(const StoredScore* stored, const std::string& digest,
                           int64_t project_revision, const std::string& inputs) {
  if (stored == nullptr || stored->digest != digest) return ScoreWriteNeed::kScore;
  const std::vector<int64_t> ours = Saw(project_revision, inputs);
  const std::vector<int64_t> theirs = Saw(stored->revision, stored->inputs);
  for (size_t i = 0; i < std::max(ours.size(), theirs.size()); ++i) {
    const int64_t a = i < ours.size() ? ours[i] : 0, b = i < theirs.size() ? theirs[i] : 0;
    if (a > b) return ScoreWriteNeed::kTouch;
  }
  return ScoreWriteNeed::kNothing;
}

std::string ScoreDigest(const v1::Score& score, std::string* serialized) {
  std::string bytes;
  if (!score.has_compute_time()) {
    bytes = score.SerializeAsString();
  } else {
    v1::Score timeless = score;
    timeless.clear_compute_time();
    bytes = timeless.SerializeAsString();
  }
  std::string digest = absl::StrCat(absl::Hex(ContentHash(bytes)));
  if (serialized != nullptr) *serialized = std::move(bytes);
  return digest;
}

absl::Status ScoreStore::DeleteScore(const std::string& project_id) {
  // The score gives way to a tombstone, at once: a score computed before the delete and
  // written after it (by another consumer) is dropped by the score script.
  static const auto* script = new redis::Script(
      "redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], 'deleted', '1') "
      "redis.call('HDEL', KEYS[2], ARGV[1]) return 1");
  int p = keyspace_.PartitionOf(project_id);
  return redis_
      ->Eval(
          *script,
          {keyspace_.Key(p, "scoring", "score", project_id), keyspace_.Key(p, "scoring", "facts")},
          {project_id})
      .status();
}

absl::StatusOr<std::vector<v1::Score>> ScoreStore::AllFacts(absl::Time deadline) {
  std::vector<std::vector<std::string>> commands;
  for (int p = 0; p < keyspace_.partitions(); ++p)
    commands.push_back({"HVALS", keyspace_.Key(p, "scoring", "facts")});
  STP_ASSIGN_OR_RETURN(auto replies, redis_->Pipeline(commands, deadline));
  std::vector<v1::Score> out;
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
    for (size_t i = 0; i < Size(r.get()); ++i) {
      const redisReply* e = At(r.get(), i);
      v1::Score s;
      if (s.ParseFromArray(e->str, static_cast<int>(e->len))) out.push_back(std::move(s));
    }
  }
  return out;
}

absl::StatusOr<std::vector<v1::Score>> ScoreStore::History(const std::string& project_id,
                                                           int offset, int limit,
                                                           absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(auto reply,
                       redis_->Command({"LRANGE",
                                        keyspace_.Key(keyspace_.PartitionOf(project_id), "scoring",
                                                      "hist", project_id),
                                        absl::StrCat(offset), absl::StrCat(offset + limit - 1)},
                                       deadline));
  std::vector<v1::Score> out;
  for (size_t i = 0; i < Size(reply.get()); ++i) {
    v1::Score s;
    const redisReply* e = At(reply.get(), i);
    if (s.ParseFromArray(e->str, static_cast<int>(e->len))) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace stp::scoring
