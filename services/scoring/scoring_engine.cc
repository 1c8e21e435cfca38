#include "services/scoring/scoring_engine.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/common/event_header.h"
#include "libs/common/grpc_status.h"
#include "libs/common/logging.h"
#include "libs/common/proto_time.h"
#include "services/scoring/core/prefetched_records.h"

namespace stp::scoring {

namespace ev = stp::events::v1;
namespace iv1 = stp::ingestion::v1;
using google::protobuf::util::TimeUtil;

namespace {

// How far apart the clocks of two pods may be when a rebuild asks whether a record was created
// before its listing began (a record created within this margin is kept).
constexpr absl::Duration kClockMargin = absl::Seconds(30);

// A change partners care about: the total, the tier, or what a component says.
bool Material(const v1::Score& before, const v1::Score& after) {
  if (std::abs(before.total() - after.total()) >= 0.005 || before.tier() != after.tier())
    return true;
  if (before.components_size() != after.components_size()) return true;
  for (int i = 0; i < before.components_size(); ++i) {
    const auto& a = before.components(i);
    const auto& b = after.components(i);
    if (std::abs(a.value() - b.value()) >= 0.005 || a.applicable() != b.applicable() ||
        !std::equal(a.reasons().begin(), a.reasons().end(), b.reasons().begin(),
                    b.reasons().end())) {
      return true;
    }
  }
  return false;
}

std::pair<std::vector<std::string>, std::vector<std::string>> Diff(std::vector<std::string> before,
                                                                   std::vector<std::string> after) {
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  std::vector<std::string> removed, added;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(removed));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  return {removed, added};
}

// Organisations and countries a project reads, as far as the project itself says (the
// organisations' own countries are tracked through the organisations). Its park ("parks/x",
// whose IASP membership counts) goes with the organisations: a record it reads by name.
void DirectDependencies(const iv1::Project* project, std::vector<std::string>* orgs,
                        std::vector<std::string>* countries) {
  orgs->clear();
  countries->clear();
  if (project == nullptr) return;
  ScoringModel::Dependencies(*project, orgs, countries);
  if (!project->park().empty()) {
    orgs->insert(std::lower_bound(orgs->begin(), orgs->end(), project->park()), project->park());
  }
}

// The same for a serialized project (none when empty or unreadable).
void DirectDependencies(const std::string& data, std::vector<std::string>* orgs,
                        std::vector<std::string>* countries) {
  iv1::Project p;
  const bool readable = !data.empty() && p.ParseFromString(data);
  DirectDependencies(readable ? &p : nullptr, orgs, countries);
}

}  // namespace

ScoringEngine::ScoringEngine(ScoreStore* store, const ScoringModel* model,
                             redis::RedisClient* redis, EngineOptions options, Clock clock)
    : store_(store),
      model_(model),
      redis_(redis),
      options_(std::move(options)),
      clock_(std::move(clock)) {
  if (options_.consumer.empty()) options_.consumer = DefaultConsumer();
}

ScoringEngine::~ScoringEngine() { Stop(); }

std::string ScoringEngine::DefaultConsumer() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

absl::Status ScoringEngine::EnsureGroups() {
  for (const auto& stream : store_->keyspace().AllEventStreams()) {
    STP_RETURN_IF_ERROR(redis::EnsureGroup(*redis_, stream, options_.group, "$"));
  }
  return absl::OkStatus();
}

absl::Status ScoringEngine::Handle(const std::vector<redis::StreamEntry>& entries) {
  std::vector<ReadModelChange> changes;
  // A batch's events live in one arena, freed with it in a few large blocks rather than piece
  // by piece (thousands of small allocations per batch otherwise).
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 256 << 10;
  arena_options.max_block_size = 4 << 20;
  google::protobuf::Arena arena(arena_options);
  std::vector<const ev::Event*> events;
  for (const auto& entry : entries) {
    // Score events (this service's own, as many as the changes it reads) are told apart by
    // their header and never unpacked or parsed: a full parse would build every component and
    // reason.
    const std::string* raw = entry.Field("e");
    if (raw != nullptr) {
      auto header = common::ReadEventHeader(*raw);
      if (header.has_value() && header->snapshot_field == ev::Event::kScoreChangeFieldNumber) {
        continue;
      }
    }
    std::string unpacked;
    const std::string* payload = common::EventPayload(raw, &unpacked);
    ev::Event& e = *google::protobuf::Arena::CreateMessage<ev::Event>(&arena);
    if (payload == nullptr || !e.ParseFromString(*payload)) {
      LogWarning("unreadable event skipped", {{"id", entry.id}});
      continue;
    }
    ReadModelChange c;
    c.revision = e.revision();
    c.id = IdOfName(e.resource());
    c.update_millis = TimeUtil::TimestampToMilliseconds(e.occur_time());
    switch (e.snapshot_case()) {
      case ev::Event::kProject:
        c.kind = ModelKind::kProject;
        ScoringModel::KeepInputsOnly(e.mutable_project());
        c.data = e.project().SerializeAsString();
        break;
      case ev::Event::kOrganization:
        c.kind = ModelKind::kOrganization;
        c.data = e.organization().SerializeAsString();
        break;
      case ev::Event::kCountry:
        c.kind = ModelKind::kCountry;
        c.data = e.country().SerializeAsString();
        break;
      case ev::Event::kPark:
        c.kind = ModelKind::kPark;
        c.data = e.park().SerializeAsString();
        break;
      default:
        continue;  // score events and anything newer than this replica
    }
    c.deleted = e.type() == ev::EVENT_TYPE_PROJECT_DELETED ||
                e.type() == ev::EVENT_TYPE_ORGANIZATION_DELETED ||
                e.type() == ev::EVENT_TYPE_PARK_DELETED;
    if (c.deleted) c.data.clear();
    changes.push_back(std::move(c));
    events.push_back(&e);
  }
  if (changes.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto applied, store_->Apply(changes));
  // The snapshot an event carried is the read model's state when the event was applied (the
  // last one of a project in the batch wins), so rescoring reads it instead of Redis.
  ProjectSnapshots snapshots;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (changes[i].kind != ModelKind::kProject) continue;
    if (applied[i].applied && !changes[i].deleted) {
      snapshots[changes[i].id] = &events[i]->project();
    } else {
      snapshots.erase(changes[i].id);
    }
  }
  std::set<std::string> affected;
  std::map<std::string, std::string> traceparents;
  std::vector<ScoreStore::DependencyChange> dependency_changes;
  std::vector<ScoreStore::OrganizationCountryChange> moves;
  for (size_t i = 0; i < changes.size(); ++i) {
    // A change seen before is a replay, typically of a batch whose handler died or failed after
    // updating the read model and before writing the scores: finish what it left undone.
    // Rescoring is idempotent (an unchanged score is neither written nor emitted); dependencies
    // are only added, from the change itself, as the state before it is no longer known.
    const ReadModelChange& c = changes[i];
    if (c.kind == ModelKind::kProject) {
      std::vector<std::string> old_orgs, old_countries, new_orgs, new_countries;
      DirectDependencies(applied[i].applied ? applied[i].previous : std::string(), &old_orgs,
                         &old_countries);
      DirectDependencies(c.deleted ? nullptr : &events[i]->project(), &new_orgs, &new_countries);
      ScoreStore::DependencyChange d;
      d.project_id = c.id;
      std::tie(d.orgs_removed, d.orgs_added) = Diff(old_orgs, new_orgs);
      std::tie(d.countries_removed, d.countries_added) = Diff(old_countries, new_countries);
      // The park again, even when unchanged: a project a replica of an older version recorded
      // (during a rolling update) has no park dependency yet. Adding is idempotent.
      const std::string& park = events[i]->project().park();
      if (!c.deleted && !park.empty()) d.orgs_added.push_back(park);
      dependency_changes.push_back(std::move(d));
      if (c.deleted) {
        affected.erase(c.id);
        STP_RETURN_IF_ERROR(store_->DeleteScore(c.id));
      } else {
        affected.insert(c.id);
        traceparents[c.id] = events[i]->traceparent();
      }
    } else if (c.kind == ModelKind::kPark) {
      STP_ASSIGN_OR_RETURN(auto dependents, store_->Dependents("parks/" + c.id));
      for (const auto& id : dependents) {
        affected.insert(id);
        traceparents[id] = events[i]->traceparent();
      }
    } else if (c.kind == ModelKind::kOrganization || c.kind == ModelKind::kCountry) {
      if (c.kind == ModelKind::kOrganization) {
        // A replay knows only where the organisation is now (as with projects, above).
        iv1::Organization before;
        ScoreStore::OrganizationCountryChange m;
        m.organization = "organizations/" + c.id;
        if (applied[i].applied && before.ParseFromString(applied[i].previous))
          m.country_removed = before.country();
        if (!c.deleted) m.country_added = events[i]->organization().country();
        moves.push_back(std::move(m));
      }
      std::string name =
          c.kind == ModelKind::kCountry ? "countries/" + c.id : "organizations/" + c.id;
      STP_ASSIGN_OR_RETURN(auto dependents, store_->Dependents(name));
      for (const auto& id : dependents) {
        affected.insert(id);
        traceparents[id] = events[i]->traceparent();
      }
    }
  }
  STP_RETURN_IF_ERROR(store_->UpdateDependents(dependency_changes, moves));
  STP_RETURN_IF_ERROR(RestoreOvertakenDependencies(dependency_changes, changes));
  STP_RETURN_IF_ERROR(RestoreMovedOrganizations(moves));
  if (affected.empty()) return absl::OkStatus();
  return Rescore({affected.begin(), affected.end()}, traceparents, &snapshots).status();
}

absl::Status ScoringEngine::RestoreOvertakenDependencies(
    const std::vector<ScoreStore::DependencyChange>& recorded,
    const std::vector<ReadModelChange>& changes) {
  // Another consumer that applied a later revision of a project may have recorded its
  // dependencies before this one recorded the removals of an earlier revision: what was
  // removed here, the later revision may read again. Such projects get their current
  // dependencies added back (a stale membership costs a needless rescore; a lost one would
  // miss rescores).
  std::map<std::string, int64_t> removed_at;  // project -> revision this batch applied
  size_t d = 0;
  for (const ReadModelChange& c : changes) {
    if (c.kind != ModelKind::kProject) continue;
    const ScoreStore::DependencyChange& dep = recorded[d++];
    if (!dep.orgs_removed.empty() || !dep.countries_removed.empty()) {
      removed_at[c.id] = std::max(removed_at[c.id], c.revision);
    }
  }
  if (removed_at.empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  for (const auto& [id, revision] : removed_at) ids.push_back(id);
  STP_ASSIGN_OR_RETURN(auto current, store_->LoadProjects(ids));
  std::vector<ScoreStore::DependencyChange> restore;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!current[i].has_value() || current[i]->revision() <= removed_at[ids[i]]) continue;
    ScoreStore::DependencyChange again;
    again.project_id = ids[i];
    DirectDependencies(&*current[i], &again.orgs_added, &again.countries_added);
    restore.push_back(std::move(again));
  }
  return store_->UpdateDependents(restore);
}

absl::Status ScoringEngine::RestoreMovedOrganizations(
    const std::vector<ScoreStore::OrganizationCountryChange>& moves) {
  // Unlike projects, organisations carry no revision to compare, so every organisation whose
  // removal this batch recorded is added back where it is now (when it is there already, the
  // SADD changes nothing). Its read-model state is loaded after the removal was recorded: a
  // later move applied after this load records its own membership after the removal too.
  std::vector<std::string> moved;
  for (const auto& m : moves) {
    if (!m.country_removed.empty() && m.country_removed != m.country_added)
      moved.push_back(m.organization);
  }
  if (moved.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto current, store_->LoadOrganizations(moved));
  std::vector<ScoreStore::OrganizationCountryChange> restore;
  for (size_t i = 0; i < moved.size(); ++i) {
    if (!current[i].has_value() || current[i]->country().empty()) continue;
    restore.push_back({moved[i], "", current[i]->country()});
  }
  if (restore.empty()) return absl::OkStatus();
  return store_->UpdateDependents({}, restore);
}

absl::StatusOr<int> ScoringEngine::Rescore(const std::vector<std::string>& ids,
                                           const std::map<std::string, std::string>& traceparents,
                                           const ProjectSnapshots* snapshots) {
  // Chunks are independent (each reads its own projects and writes its own scores), so a
  // large rescore (a country's every project) runs on two threads: one computes while the
  // other waits for Redis.
  constexpr size_t kChunk = 500;
  const size_t chunks = (ids.size() + kChunk - 1) / kChunk;
  auto chunk_at = [&](size_t c) {
    return std::vector<std::string>(ids.begin() + c * kChunk,
                                    ids.begin() + std::min(ids.size(), (c + 1) * kChunk));
  };
  if (chunks <= 1) return chunks == 0 ? 0 : RescoreChunk(chunk_at(0), traceparents, snapshots);
  std::atomic<size_t> next{0};
  std::atomic<int> material{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto work = [&] {
    for (size_t c = next++; c < chunks; c = next++) {
      // A rescore of everything (a new day, a rebuild) takes longer than a pod's grace period:
      // on Stop it ends between chunks, and its caller lets another replica do it again.
      auto done = stopping_.IsSet()
                      ? absl::StatusOr<int>(absl::CancelledError("scoring is stopping"))
                      : RescoreChunk(chunk_at(c), traceparents, snapshots);
      if (done.ok()) {
        material += *done;
        continue;
      }
      absl::MutexLock lock(&mu);
      if (first_error.ok()) first_error = done.status();
      next = chunks;  // stop both threads
    }
  };
  std::thread helper(work);
  work();
  helper.join();
  if (!first_error.ok()) return first_error;
  return material.load();
}

absl::StatusOr<int> ScoringEngine::RescoreChunk(
    const std::vector<std::string>& chunk, const std::map<std::string, std::string>& traceparents,
    const ProjectSnapshots* snapshots, int attempt) {
  int material = 0;
  // Before any input is read: the score claims to have seen no more than this.
  STP_ASSIGN_OR_RETURN(std::string inputs, store_->InputGenerations());
  // Projects whose snapshot is at hand are not read back from Redis.
  std::vector<const iv1::Project*> projects(chunk.size(), nullptr);
  std::vector<std::string> to_load;
  std::vector<size_t> loaded_at;
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (snapshots != nullptr) {
      auto it = snapshots->find(chunk[i]);
      if (it != snapshots->end()) projects[i] = it->second;
    }
    if (projects[i] == nullptr) {
      to_load.push_back(chunk[i]);
      loaded_at.push_back(i);
    }
  }
  std::vector<std::optional<iv1::Project>> loaded;
  if (!to_load.empty()) {
    STP_ASSIGN_OR_RETURN(loaded, store_->LoadProjects(to_load));
    for (size_t j = 0; j < loaded.size(); ++j) {
      if (loaded[j].has_value()) projects[loaded_at[j]] = &*loaded[j];
    }
  }
  // Prefetch every organisation and park, then every country (the organisations name theirs).
  std::set<std::string> org_names, country_names, park_names;
  for (const iv1::Project* p : projects) {
    if (p == nullptr) continue;
    std::vector<std::string> orgs, countries;
    ScoringModel::Dependencies(*p, &orgs, &countries);
    org_names.insert(orgs.begin(), orgs.end());
    country_names.insert(countries.begin(), countries.end());
    if (!p->park().empty()) park_names.insert(p->park());
  }
  PrefetchedRecords records;
  if (!park_names.empty()) {
    STP_ASSIGN_OR_RETURN(auto parks, store_->LoadParks({park_names.begin(), park_names.end()}));
    for (auto& park : parks) {
      if (park.has_value()) records.AddPark(std::move(*park));
    }
  }
  std::vector<std::string> org_list(org_names.begin(), org_names.end());
  STP_ASSIGN_OR_RETURN(auto orgs, store_->LoadOrganizations(org_list));
  for (auto& o : orgs) {
    if (!o.has_value()) continue;
    if (!o->country().empty()) country_names.insert(o->country());
    records.AddOrganization(std::move(*o));
  }
  std::vector<std::string> country_list(country_names.begin(), country_names.end());
  STP_ASSIGN_OR_RETURN(auto countries, store_->LoadCountries(country_list));
  for (auto& c : countries) {
    if (c.has_value()) records.AddCountry(std::move(*c));
  }
  STP_ASSIGN_OR_RETURN(auto old_scores, store_->LoadStoredScores(chunk));
  absl::Time now = clock_();
  ScoringContext ctx = records.Context(absl::ToCivilDay(now, absl::UTCTimeZone()));
  std::vector<ScoreWrite> writes;
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (projects[i] == nullptr) continue;
    v1::Score score = model_->Compute(*projects[i], ctx);
    // The digest leaves the compute time out; a stored score with the same digest is this
    // score (scores stored before digests were kept have none, and are written again).
    std::string serialized;
    std::string digest = ScoreDigest(score, &serialized);
    *score.mutable_compute_time() = common::ToTimestamp(now);
    std::optional<StoredScore>& stored = old_scores[i];
    std::string based_on = BasedOn(stored.has_value() ? &*stored : nullptr);
    // A stored score that cannot be read is replaced as if there were none (a first score,
    // with its event), even when its digest says it is this score.
    std::string unreadable;  // the SHA-1 of the value to replace
    if (stored.has_value() && stored->unreadable) {
      unreadable = std::move(stored->unreadable_sha1);
      stored.reset();
    }
    const ScoreWriteNeed need = WriteNeeded(stored.has_value() ? &*stored : nullptr, digest,
                                            projects[i]->revision(), inputs);
    if (need == ScoreWriteNeed::kNothing) continue;
    ScoreWrite w;
    w.project_id = chunk[i];
    w.digest = std::move(digest);
    if (need == ScoreWriteNeed::kTouch) {
      // The same score, from inputs that saw more: a score from older inputs, written later
      // by another consumer, must not land over it.
      w.touch = true;
      w.score.set_project_revision(projects[i]->revision());
      w.inputs = inputs;
      writes.push_back(std::move(w));
      continue;
    }
    v1::Score* old = stored.has_value() ? &stored->score : nullptr;
    w.emit = old == nullptr || Material(*old, score);
    if (w.emit) {
      ev::Event e;
      e.set_type(ev::EVENT_TYPE_SCORE_CHANGED);
      e.set_resource(projects[i]->name());
      *e.mutable_occur_time() = common::ToTimestamp(now);
      e.set_actor("service:scoring");
      e.set_partition(store_->keyspace().PartitionOf(chunk[i]));
      e.set_revision(projects[i]->revision());
      auto tp = traceparents.find(chunk[i]);
      if (tp != traceparents.end()) e.set_traceparent(tp->second);
      // The previous score is lent to the event for its serialization rather than copied into
      // it, and goes without its components: readers compare totals and tiers, and the
      // components that were came with the project's previous SCORE_CHANGED. They were half
      // the event's bytes, in the stream and in the append-only file. The current score is
      // added by the store, packed once for the stored score and the event (PackScoreEvent).
      auto* change = e.mutable_score_change();
      if (old != nullptr) {
        old->clear_components();
        change->mutable_previous()->Swap(old);
      }
      w.event = e.SerializeAsString();
      ++material;
    }
    w.score = std::move(score);
    w.serialized = std::move(serialized);
    w.replace_unreadable = std::move(unreadable);
    w.inputs = inputs;
    w.based_on = std::move(based_on);
    writes.push_back(std::move(w));
  }
  std::vector<std::string> ids;
  for (const auto& w : writes) ids.push_back(w.project_id);
  STP_ASSIGN_OR_RETURN(auto outcomes, store_->WriteScores(std::move(writes)));
  // Scores that raced another consumer's from inputs each read at other moments: computed
  // again from the read model as it is now (a few times at most; the consumer that applied
  // the change it missed scores it again too).
  std::vector<std::string> again;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i] == WriteOutcome::kComputeAgain) again.push_back(ids[i]);
  }
  if (!again.empty() && attempt < kMaxScoreAttempts) {
    STP_ASSIGN_OR_RETURN(int more, RescoreChunk(again, traceparents, nullptr, attempt + 1));
    material += more;
  } else if (!again.empty()) {
    // Left to the consumers still scoring them (each rescores after applying its change).
    LogWarning("scores kept racing other consumers' and were left to them",
               {{"projects", again.size()}, {"attempts", attempt}});
  }
  return material;
}

absl::StatusOr<bool> ScoringEngine::Bootstrap(
    iv1::IngestionService::StubInterface* ingestion,
    const std::function<void(grpc::ClientContext*)>& decorate) {
  const std::string done_key = BootstrappedKey();
  const std::string lock_key = store_->keyspace().Global("scoring", "bootstrap-lock");
  STP_ASSIGN_OR_RETURN(auto done, redis_->Command({"GET", done_key}));
  // A read model built by an older version (which kept no organisations per country) is
  // built again once, from the listings, over what it holds.
  if (!redis::IsNil(done.get()) && redis::Str(done.get()) == kReadModelVersion) return true;
  const std::string lock_ttl = absl::StrCat(absl::ToInt64Seconds(kBootstrapLockTtl));
  STP_ASSIGN_OR_RETURN(auto lock,
                       redis_->Command({"SET", lock_key, options_.consumer, "NX", "EX", lock_ttl}));
  if (redis::IsNil(lock.get())) {
    LogInfo("another replica is building the scoring read model");
    return false;
  }
  LogInfo("building the scoring read model from the registry");
  const std::string rebuild_key = RebuildKey();
  // The count of losses recorded so far (see CheckForLostEvents); none: a plain build.
  STP_ASSIGN_OR_RETURN(auto rebuild, redis_->Command({"GET", rebuild_key}));
  const std::string losses = redis::IsNil(rebuild.get()) ? "" : redis::StrCopy(rebuild.get());
  static const auto* renew = new redis::Script(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], "
      "ARGV[2]) end return 0");
  absl::Status built = BuildReadModel(ingestion, decorate, !losses.empty(), [&] {
    // Each page renews the lock (while it is ours), so a long build keeps it, and a dead
    // builder's lapses. A replica told to stop ends its build here and lets go of the lock.
    if (stopping_.IsSet()) return absl::CancelledError("scoring is stopping");
    return redis_->Eval(*renew, {lock_key}, {options_.consumer, lock_ttl}).status();
  });
  // Done, unless a loss was recorded while it built (its listings may predate the loss's
  // changes, and a plain build forgets nothing): then the next attempt replaces.
  static const auto* finish = new redis::Script(
      "if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end "
      "redis.call('SET', KEYS[2], ARGV[2]) redis.call('DEL', KEYS[1]) return 1");
  bool finished = false;
  if (built.ok()) {
    auto done_now = redis_->Eval(*finish, {rebuild_key, done_key}, {losses, kReadModelVersion});
    if (done_now.ok())
      finished = redis::Int(done_now->get()) == 1;
    else
      built = done_now.status();
  }
  // The lock is let go of either way (if still ours): after a failure this replica or another
  // builds again, from the start; stored records are applied again idempotently.
  static const auto* release = new redis::Script(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
      "return 0");
  (void)redis_->Eval(*release, {lock_key}, {options_.consumer});
  if (!built.ok()) return built;
  if (!finished) {
    LogWarning("events were lost while the scoring read model was built; it is built again");
  }
  return finished;
}

absl::Status ScoringEngine::BuildReadModel(
    iv1::IngestionService::StubInterface* ingestion,
    const std::function<void(grpc::ClientContext*)>& decorate, bool replace,
    const std::function<absl::Status()>& renew_lock) {
  auto call = [&](auto fn) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (decorate) decorate(&ctx);
    return FromGrpcStatus(fn(&ctx));
  };
  auto apply = [&](std::vector<ReadModelChange> changes) -> absl::Status {
    if (changes.empty()) return absl::OkStatus();
    return store_->Apply(changes).status();
  };
  // Listings carry no revision for countries, organisations and parks: a first build stores
  // them as revision 0 (any event's revision is newer); a rebuild after lost events replaces
  // what the read model holds (ReadModelChange::kReplace).
  const int64_t listed = replace ? ReadModelChange::kReplace : 0;
  int64_t counts[3] = {0, 0, 0};
  {
    iv1::ListCountriesRequest req;
    req.set_page_size(1000);
    do {
      iv1::ListCountriesResponse resp;
      STP_RETURN_IF_ERROR(
          call([&](grpc::ClientContext* c) { return ingestion->ListCountries(c, req, &resp); }));
      std::vector<ReadModelChange> changes;
      for (const auto& x : resp.countries())
        changes.push_back({ModelKind::kCountry, x.alpha2(), listed, false, x.SerializeAsString(),
                           TimeUtil::TimestampToMilliseconds(x.update_time())});
      counts[0] += changes.size();
      STP_RETURN_IF_ERROR(apply(std::move(changes)));
      req.set_page_token(resp.next_page_token());
      STP_RETURN_IF_ERROR(renew_lock());
    } while (!req.page_token().empty());
  }
  // Organisations and parks the registry lists, and those the listed projects name (a rebuild
  // forgets the difference).
  std::set<std::string> listed_inputs, named_inputs;
  const absl::Time organizations_began = absl::Now();
  {
    iv1::ListOrganizationsRequest req;
    req.set_page_size(1000);
    do {
      iv1::ListOrganizationsResponse resp;
      STP_RETURN_IF_ERROR(call(
          [&](grpc::ClientContext* c) { return ingestion->ListOrganizations(c, req, &resp); }));
      std::vector<ReadModelChange> changes;
      std::vector<ScoreStore::OrganizationCountryChange> moves;
      for (const auto& x : resp.organizations()) {
        changes.push_back({ModelKind::kOrganization, IdOfName(x.name()), listed, false,
                           x.SerializeAsString(),
                           TimeUtil::TimestampToMilliseconds(x.update_time())});
        moves.push_back({x.name(), "", x.country()});
        if (replace) listed_inputs.insert(x.name());
      }
      counts[1] += changes.size();
      STP_RETURN_IF_ERROR(apply(std::move(changes)));
      STP_RETURN_IF_ERROR(store_->UpdateDependents({}, moves));
      req.set_page_token(resp.next_page_token());
      STP_RETURN_IF_ERROR(renew_lock());
    } while (!req.page_token().empty());
  }
  const absl::Time parks_began = absl::Now();
  {
    iv1::ListParksRequest req;
    req.set_page_size(1000);
    do {
      iv1::ListParksResponse resp;
      STP_RETURN_IF_ERROR(
          call([&](grpc::ClientContext* c) { return ingestion->ListParks(c, req, &resp); }));
      std::vector<ReadModelChange> changes;
      for (const auto& x : resp.parks()) {
        changes.push_back({ModelKind::kPark, IdOfName(x.name()), listed, false,
                           x.SerializeAsString(),
                           TimeUtil::TimestampToMilliseconds(x.update_time())});
        if (replace) listed_inputs.insert(x.name());
      }
      STP_RETURN_IF_ERROR(apply(std::move(changes)));
      req.set_page_token(resp.next_page_token());
      STP_RETURN_IF_ERROR(renew_lock());
    } while (!req.page_token().empty());
  }
  {
    iv1::ListProjectsRequest req;
    req.set_page_size(1000);
    const absl::Time listing_began = absl::Now();
    std::set<std::string> listed_projects;
    do {
      iv1::ListProjectsResponse resp;
      STP_RETURN_IF_ERROR(
          call([&](grpc::ClientContext* c) { return ingestion->ListProjects(c, req, &resp); }));
      std::vector<ReadModelChange> changes;
      for (auto& x : *resp.mutable_projects()) {
        if (replace) listed_projects.insert(IdOfName(x.name()));
        ScoringModel::KeepInputsOnly(&x);
        changes.push_back(
            {ModelKind::kProject, IdOfName(x.name()), x.revision(), false, x.SerializeAsString()});
      }
      STP_RETURN_IF_ERROR(store_->Apply(changes).status());
      std::vector<ScoreStore::DependencyChange> dependency_changes;
      // Every listed project's dependencies, applied or not: a build that failed part way
      // stored some projects already, and runs again.
      for (size_t i = 0; i < changes.size(); ++i) {
        ScoreStore::DependencyChange d;
        d.project_id = changes[i].id;
        DirectDependencies(changes[i].data, &d.orgs_added, &d.countries_added);
        if (replace) named_inputs.insert(d.orgs_added.begin(), d.orgs_added.end());
        dependency_changes.push_back(std::move(d));
      }
      STP_RETURN_IF_ERROR(store_->UpdateDependents(dependency_changes));
      counts[2] += changes.size();
      req.set_page_token(resp.next_page_token());
      STP_RETURN_IF_ERROR(renew_lock());
    } while (!req.page_token().empty());
    // A rebuild after lost events: projects the read model holds that the registry no longer
    // lists were deleted in the lost window (those created since the listing began are new).
    if (replace) STP_RETURN_IF_ERROR(ForgetUnlisted(listed_projects, listing_began));
  }
  if (replace) {
    std::set<std::string> unlisted;
    std::set_difference(named_inputs.begin(), named_inputs.end(), listed_inputs.begin(),
                        listed_inputs.end(), std::inserter(unlisted, unlisted.end()));
    STP_RETURN_IF_ERROR(ForgetUnlistedInputs(unlisted, organizations_began, parks_began));
  }
  STP_ASSIGN_OR_RETURN(int material, AllProjectsRescored());
  // Today's rescore is this one.
  const std::string today = DayKey(absl::ToCivilDay(clock_(), absl::UTCTimeZone()));
  STP_RETURN_IF_ERROR(redis_->Command({"SET", today, "done", "EX", "259200"}).status());
  LogInfo("scoring read model built", {{"countries", counts[0]},
                                       {"organizations", counts[1]},
                                       {"projects", counts[2]},
                                       {"scored", material}});
  return absl::OkStatus();
}

std::string ScoringEngine::BootstrappedKey() const {
  return store_->keyspace().Global("scoring", "bootstrapped");
}

std::string ScoringEngine::RebuildKey() const {
  return store_->keyspace().Global("scoring", "rebuild");
}

std::string ScoringEngine::DayKey(absl::CivilDay day) const {
  // Per model config too: replicas started with a changed config rescore everything under it
  // at once, not at the next day.
  return store_->keyspace().Global("scoring", "rescored", absl::FormatCivilTime(day),
                                   model_->config().fingerprint);
}

absl::StatusOr<bool> ScoringEngine::RescoreForNewDay() {
  const absl::CivilDay today = absl::ToCivilDay(clock_(), absl::UTCTimeZone());
  absl::MutexLock lock(&day_mu_);
  if (today <= rescored_day_) return false;
  const std::string key = DayKey(today);
  // The day's key is a 15-minute lease while a replica rescores, then "done" for three days:
  // a replica that dies part way leaves a lease that lapses, and another does the day.
  STP_ASSIGN_OR_RETURN(auto claimed,
                       redis_->Command({"SET", key, options_.consumer, "NX", "EX", "900"}));
  if (redis::IsNil(claimed.get())) {
    STP_ASSIGN_OR_RETURN(auto value, redis_->Command({"GET", key}));
    if (!redis::IsNil(value.get()) && redis::Str(value.get()) == "done") rescored_day_ = today;
    return false;
  }
  LogInfo("rescoring every project for a new day or model config",
          {{"day", absl::FormatCivilTime(today)},
           {"model_version", model_->version()},
           {"model_fingerprint", model_->config().fingerprint}});
  absl::StatusOr<int> material = AllProjectsRescored();
  if (!material.ok()) {
    (void)redis_->Command({"DEL", key});  // another attempt, by any replica, does it again
    return material.status();
  }
  STP_RETURN_IF_ERROR(redis_->Command({"SET", key, "done", "EX", "259200"}).status());
  rescored_day_ = today;
  LogInfo("rescored every project for a new day or model config", {{"changed", *material}});
  return true;
}

absl::Status ScoringEngine::ForgetUnlisted(const std::set<std::string>& listed,
                                           absl::Time listing_began) {
  STP_ASSIGN_OR_RETURN(auto held, store_->AllProjectIds());
  std::vector<std::string> unlisted;
  for (const auto& id : held) {
    if (!listed.count(id)) unlisted.push_back(id);
  }
  if (unlisted.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto projects, store_->LoadProjects(unlisted));
  std::vector<ReadModelChange> deletions;
  for (size_t i = 0; i < unlisted.size(); ++i) {
    if (projects[i].has_value() && projects[i]->has_create_time() &&
        common::FromTimestamp(projects[i]->create_time()) >= listing_began - kClockMargin)
      continue;
    deletions.push_back({ModelKind::kProject, unlisted[i], ReadModelChange::kReplace, true, ""});
  }
  STP_RETURN_IF_ERROR(store_->Apply(deletions).status());
  for (const auto& d : deletions) STP_RETURN_IF_ERROR(store_->DeleteScore(d.id));
  if (!deletions.empty())
    LogWarning("forgot projects deleted while events were lost", {{"projects", deletions.size()}});
  return absl::OkStatus();
}

absl::Status ScoringEngine::ForgetUnlistedInputs(const std::set<std::string>& named,
                                                 absl::Time organizations_began,
                                                 absl::Time parks_began) {
  std::vector<std::string> org_names, park_names;
  for (const auto& name : named) {
    (name.rfind("parks/", 0) == 0 ? park_names : org_names).push_back(name);
  }
  // Created before its listing began, by a margin for the clocks of the pods involved: one
  // created just after may be missing from the listing and named by a listed project.
  auto created_before = [](const auto& record, absl::Time began) {
    return record.has_value() &&
           (!record->has_create_time() ||
            common::FromTimestamp(record->create_time()) < began - kClockMargin);
  };
  std::vector<ReadModelChange> deletions;
  std::vector<ScoreStore::OrganizationCountryChange> moves;
  STP_ASSIGN_OR_RETURN(auto orgs, store_->LoadOrganizations(org_names));
  for (size_t i = 0; i < org_names.size(); ++i) {
    if (!created_before(orgs[i], organizations_began)) continue;
    // Guarded by the listing's time: a state applied since (its creation event, applied by
    // another consumer) is newer and stays.
    deletions.push_back({ModelKind::kOrganization, IdOfName(org_names[i]),
                         ReadModelChange::kReplace, true, "",
                         absl::ToUnixMillis(organizations_began - kClockMargin)});
    moves.push_back({org_names[i], orgs[i]->country(), ""});
  }
  STP_ASSIGN_OR_RETURN(auto parks, store_->LoadParks(park_names));
  for (size_t i = 0; i < park_names.size(); ++i) {
    if (!created_before(parks[i], parks_began)) continue;
    deletions.push_back({ModelKind::kPark, IdOfName(park_names[i]), ReadModelChange::kReplace, true,
                         "", absl::ToUnixMillis(parks_began - kClockMargin)});
  }
  if (deletions.empty()) return absl::OkStatus();
  STP_RETURN_IF_ERROR(store_->Apply(deletions).status());
  STP_RETURN_IF_ERROR(store_->UpdateDependents({}, moves));
  LogWarning("forgot organisations and parks deleted while events were lost",
             {{"organizations", moves.size()}, {"parks", deletions.size() - moves.size()}});
  return absl::OkStatus();
}

absl::StatusOr<int> ScoringEngine::AllProjectsRescored() {
  STP_ASSIGN_OR_RETURN(auto ids, store_->AllProjectIds());
  return Rescore(ids);
}

absl::Status ScoringEngine::Ack(const std::string& stream, const std::vector<std::string>& ids) {
  return redis::Ack(*redis_, stream, options_.group, ids).status();
}

absl::Status ScoringEngine::ReclaimAndMeasure() {
  int64_t lag = 0;
  for (const auto& stream : store_->keyspace().AllEventStreams()) {
    std::string start = "0-0";
    do {
      STP_ASSIGN_OR_RETURN(auto claimed,
                           redis::AutoClaim(*redis_, stream, options_.group, options_.consumer,
                                            options_.reclaim_idle, start, options_.batch));
      if (!claimed.entries.empty()) {
        LogInfo("reclaimed pending events",
                {{"stream", stream}, {"count", claimed.entries.size()}});
        STP_RETURN_IF_ERROR(Handle(claimed.entries));
        std::vector<std::string> ids;
        for (const auto& e : claimed.entries) ids.push_back(e.id);
        STP_RETURN_IF_ERROR(Ack(stream, ids));
        handled_.fetch_add(ids.size());
      }
      STP_RETURN_IF_ERROR(RecordTrimmedPending(stream, claimed.deleted));
      start = claimed.next_start;
    } while (start != "0-0" && !stopping_.IsSet());
    STP_ASSIGN_OR_RETURN(auto group, redis::GroupPositionIn(*redis_, stream, options_.group));
    if (group.found) {
      lag += group.lag;
      STP_RETURN_IF_ERROR(CheckForLostEvents(stream, group));
    }
  }
  lag_.store(lag);
  return absl::OkStatus();
}

absl::Status ScoringEngine::CheckForLostEvents(const std::string& stream,
                                               const redis::GroupPosition& group) {
  // Entries the group never read that the stream no longer holds: trimmed (by the stream's
  // retention) while scoring lagged behind it. Their changes are missing from the read model.
  STP_ASSIGN_OR_RETURN(const redis::GroupLoss loss,
                       redis::EntriesLostToGroup(*redis_, stream, group));
  if (!loss.any) return absl::OkStatus();
  // One consumer claims each loss (named by the group's last-delivered id, which every replica
  // sees alike until one reads on) and records it in Redis in the same script: reading on
  // moves the group past the gap, after which no check can see it. The rebuild key counts
  // losses, so that a build under way does not call itself done (see Bootstrap). A consumer
  // that can list the registry rebuilds at once; every replica that can build checks the
  // bootstrapped flag now and then, so one of them takes over from a consumer that cannot
  // (a replica's second consumer, without the registry's address).
  static const auto* claim = new redis::Script(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end "
      "redis.call('SET', KEYS[1], ARGV[1]) redis.call('INCR', KEYS[2]) "
      "redis.call('DEL', KEYS[3]) return 1");
  STP_ASSIGN_OR_RETURN(
      auto mine, redis_->Eval(*claim,
                              {store_->keyspace().Global("scoring", "lost", stream), RebuildKey(),
                               BootstrappedKey()},
                              {group.last_delivered}));
  if (redis::Int(mine.get()) != 1) return absl::OkStatus();
  const std::string lost = loss.count > 0 ? absl::StrCat(loss.count) : "uncounted";
  LogError(ingestion_ != nullptr
               ? "events were trimmed from a stream before scoring read them; rebuilding the "
                 "read model"
               : "events were trimmed from a stream before scoring read them; this consumer "
                 "cannot rebuild (no registry address) and leaves the rebuild to one that can",
           {{"stream", stream}, {"lost", lost}, {"consumer", options_.consumer}});
  if (ingestion_ != nullptr) rebuild_.store(true);
  return absl::OkStatus();
}

absl::Status ScoringEngine::RecordTrimmedPending(const std::string& stream,
                                                 const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  // Only the consumer holding them sees these, so each is recorded once, without a claim. The
  // rebuild key counts the loss, so that a build under way does not call itself done.
  static const auto* record =
      new redis::Script("redis.call('INCR', KEYS[1]) redis.call('DEL', KEYS[2]) return 1");
  STP_RETURN_IF_ERROR(redis_->Eval(*record, {RebuildKey(), BootstrappedKey()}, {}).status());
  LogError(ingestion_ != nullptr
               ? "events taken by a scoring consumer were trimmed from a stream before they were "
                 "handled; rebuilding the read model"
               : "events taken by a scoring consumer were trimmed from a stream before they were "
                 "handled; this consumer cannot rebuild (no registry address) and leaves the "
                 "rebuild to one that can",
           {{"stream", stream}, {"lost", ids.size()}, {"consumer", options_.consumer}});
  if (ingestion_ != nullptr) rebuild_.store(true);
  return Ack(stream, ids);
}

void ScoringEngine::Start(std::shared_ptr<iv1::IngestionService::StubInterface> ingestion,
                          std::function<void(grpc::ClientContext*)> decorate) {
  ingestion_ = std::move(ingestion);
  decorate_ = std::move(decorate);
  thread_ = std::thread([this] { Loop(); });
}

void ScoringEngine::Stop() {
  if (!stopping_.Set()) waker_.Wake(*redis_);
  if (!thread_.joinable()) return;
  thread_.join();
  absl::Status left = redis::LeaveGroup(*redis_, store_->keyspace().AllEventStreams(),
                                        options_.group, options_.consumer);
  if (!left.ok())
    LogWarning("scoring consumer not taken out of its group",
               {{"consumer", options_.consumer}, {"error", std::string(left.message())}});
}

void ScoringEngine::RequestRescore(const std::string& project_id) {
  // Not logged nor woken here: the caller's thread (a Redis client's) must not wait, and the
  // read ends within `block`.
  absl::MutexLock lock(&requested_mu_);
  if (requested_.size() < kMaxRequested) requested_.insert(project_id);
}

void ScoringEngine::RescoreRequested() {
  std::set<std::string> ids;
  {
    absl::MutexLock lock(&requested_mu_);
    ids.swap(requested_);
  }
  if (ids.empty()) return;
  std::vector<std::string> list(ids.begin(), ids.end());
  LogWarning("stored scores unreadable; computing them again",
             {{"projects", list.size()}, {"first", list.front()}});
  // Best effort, and never in the way of the events: on failure the ids are dropped, and the
  // next read of such a score asks again.
  auto done = Rescore(list, {}, nullptr);
  if (!done.ok()) {
    LogWarning("unreadable scores not computed again",
               {{"projects", list.size()}, {"error", std::string(done.status().message())}});
  }
}

void ScoringEngine::Loop() {
  absl::Duration backoff = absl::Milliseconds(100);
  bool bootstrapped = ingestion_ == nullptr;
  absl::Time next_bootstrap_check = absl::InfinitePast();
  bool own_pending_done = false;
  std::unique_ptr<redis::Connection> conn;
  const auto streams = store_->keyspace().AllEventStreams();
  bool groups_ready = false;
  std::set<std::string> behind;  // streams whose last read came back full
  while (!stopping_.IsSet()) {
    absl::Status status = absl::OkStatus();
    if (!groups_ready) {
      status = EnsureGroups();
      groups_ready = status.ok();
    }
    // While another replica builds the read model, this one handles events, and checks now
    // and then that the build finished (or takes it over, when the builder died).
    if (status.ok() && !bootstrapped && absl::Now() >= next_bootstrap_check) {
      status = EnsureGroups();
      absl::StatusOr<bool> built = false;
      if (status.ok()) built = Bootstrap(ingestion_.get(), decorate_);
      if (!built.ok()) status = built.status();
      if (status.ok() && *built) {
        bootstrapped = true;
        LogDebug("scoring consumer ready", {{"consumer", options_.consumer}});
      } else if (status.ok()) {
        next_bootstrap_check = absl::Now() + kBootstrapCheckEvery;
      }
    }
    if (status.ok() && conn == nullptr) {
      auto opened = redis_->OpenDedicated();
      if (opened.ok()) {
        conn = std::move(*opened);
        waker_.Watch(*conn);
      } else
        status = opened.status();
    }
    if (status.ok() && clock_() >= next_reclaim_) {
      const absl::Time began = absl::Now();
      status = ReclaimAndMeasure();
      if (status.ok() && rebuild_.exchange(false)) bootstrapped = false;  // events were lost
      // Another replica may have noticed lost events (or begun an upgrade's build) and stopped
      // before finishing the build: any replica that can build takes it over.
      if (status.ok() && bootstrapped && ingestion_ != nullptr) {
        auto done = redis_->Command({"GET", BootstrappedKey()});
        if (!done.ok())
          status = done.status();
        else if (redis::IsNil(done->get()) || redis::Str(done->get()) != kReadModelVersion)
          bootstrapped = false;
      }
      if (status.ok() && bootstrapped) {
        absl::StatusOr<bool> rescored = RescoreForNewDay();
        if (!rescored.ok()) {
          status = rescored.status();
        } else if (*rescored) {
          // Its score events went into the streams this group reads, under their retention,
          // and may have trimmed what the group has not read yet: checked before the read.
          behind.insert(streams.begin(), streams.end());
        }
      }
      next_reclaim_ = clock_() + options_.reclaim_every;
      LogDebug("scoring consumer reclaimed idle entries",
               {{"consumer", options_.consumer},
                {"ms", absl::ToDoubleMilliseconds(absl::Now() - began)}});
    }
    // A full batch: this consumer is behind, and the retention may trim what it has not read
    // yet. The next read would pass over such a gap in silence, long before the periodic
    // check (above) could see it, so the streams read in full are checked first.
    if (status.ok() && !behind.empty()) {
      for (const auto& stream : behind) {
        auto group = redis::GroupPositionIn(*redis_, stream, options_.group);
        // A group that is not found has lost nothing (EntriesLostToGroup).
        status = group.ok() ? CheckForLostEvents(stream, *group) : group.status();
        if (!status.ok()) break;
      }
      if (status.ok()) behind.clear();
      if (status.ok() && rebuild_.exchange(false)) bootstrapped = false;
    }
    if (status.ok()) RescoreRequested();
    if (status.ok() && stopping_.IsSet()) break;  // right before the read: see redis::Waker
    if (status.ok()) {
      // First this consumer's own unacknowledged entries (from before a restart), then new ones.
      std::vector<std::string> ids(streams.size(), own_pending_done ? ">" : "0");
      auto batches =
          redis::ReadGroup(*conn, options_.group, options_.consumer, streams, ids, options_.batch,
                           own_pending_done ? options_.block : absl::ZeroDuration(),
                           redis_->options().command_timeout);
      if (!batches.ok()) {
        status = batches.status();
        if (absl::StrContains(status.message(), "NOGROUP")) {
          status = EnsureGroups();
        }
        waker_.Unwatch();
        conn.reset();
      } else {
        bool any = false;
        for (const auto& batch : *batches) {
          status = RecordTrimmedPending(batch.stream, batch.trimmed);
          if (!status.ok()) break;
          if (batch.entries.empty()) continue;
          any = true;
          const absl::Time began = absl::Now();
          status = Handle(batch.entries);
          if (!status.ok()) break;
          std::vector<std::string> acked;
          for (const auto& e : batch.entries) acked.push_back(e.id);
          status = Ack(batch.stream, acked);
          if (!status.ok()) break;
          handled_.fetch_add(acked.size());
          if (own_pending_done && static_cast<int>(acked.size()) >= options_.batch)
            behind.insert(batch.stream);
          if (options_.after_batch) options_.after_batch();
          LogDebug("scoring batch handled",
                   {{"consumer", options_.consumer},
                    {"stream", batch.stream},
                    {"events", acked.size()},
                    {"own_pending", !own_pending_done},
                    {"ms", absl::ToDoubleMilliseconds(absl::Now() - began)}});
        }
        if (!any && !own_pending_done) own_pending_done = true;
        if (status.ok() && rebuild_.exchange(false)) bootstrapped = false;
      }
    }
    if (absl::IsCancelled(status) && stopping_.IsSet()) break;  // cut short by Stop
    if (!status.ok()) {
      LogWarning("scoring consumer error; retrying",
                 {{"error", std::string(status.message())},
                  {"backoff_ms", absl::ToInt64Milliseconds(backoff)}});
      stopping_.SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    } else {
      backoff = absl::Milliseconds(100);
    }
  }
}

}  // namespace stp::scoring
