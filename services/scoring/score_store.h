// The scoring service's own keys: a read model of the inputs it scores from (projects,
// organisations, countries, parks, kept from events), who depends on what, and the scores
// themselves with their history — each score write atomic with its SCORE_CHANGED event.
//
//   stp:{p}:scoring:rm:<kind>:<id>     HASH pb, rev, deleted, ut (registry write time, ms)
//                                      (kind: project, org, country, park)
//   stp:{p}:scoring:projects           SET every project id of the partition
//   stp:{p}:scoring:dep:org:<id>       SET projects that read this organisation
//   stp:{p}:scoring:dep:country:<cc>   SET projects that read this country
//   stp:{p}:scoring:dep:park:<id>      SET projects in this park (its IASP membership counts)
//   stp:{p}:scoring:score:<id>         HASH pb (full Score), rev (project revision)
//   stp:{p}:scoring:facts              HASH id -> Score without components (rankings, portfolios)
//   stp:{p}:scoring:hist:<id>          LIST past scores without components, newest first (100)
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/resources.pb.h"
#include "stp/scoring/v1/score.pb.h"

namespace stp::scoring {

enum class ModelKind { kProject, kOrganization, kCountry, kPark };

// One change to the read model, from an event or a bootstrap listing.
struct ReadModelChange {
  ModelKind kind = ModelKind::kProject;
  std::string id;        // resource id ("EG" for countries)
  int64_t revision = 0;  // applied only when newer than what is stored, or kReplace
  // Replaces the stored data whatever its revision, keeping the stored revision (a rebuild
  // from listings that carry no revision).
  static constexpr int64_t kReplace = -1;
  bool deleted = false;
  std::string data;  // serialized resource (empty when deleted)
  // When the registry wrote this state (an event's time, a listed resource's update_time), in
  // Unix milliseconds; 0 when unknown. A kReplace older than the stored state's is not applied:
  // a rebuild's listing, read before an event that the read model has applied since, must not
  // put the older state back.
  int64_t update_millis = 0;
};

struct AppliedChange {
  bool applied = false;
  std::string previous;  // serialized previous state, when there was one
};

// A computed score to store.
struct ScoreWrite {
  std::string project_id;
  stp::scoring::v1::Score score;
  // The stored score again (same digest), computed from inputs that saw more: only what the
  // stored score saw moves, so that a score from older inputs cannot land over it later.
  bool touch = false;
  bool emit = false;  // write a SCORE_CHANGED event with it
  // When emit: the serialized event without its current score, which the store adds (the
  // score, serialized and packed once for both).
  std::string event;
  std::string digest;  // ScoreDigest(score); computed by WriteScores when empty
  // When not empty: `score` serialized without its compute time, as ScoreDigest left it (the
  // score unchanged since but for its compute time), which WriteScores completes instead of
  // serializing the score again.
  std::string serialized;
  // When not empty: the stored score could not be read, and this is the SHA-1 of its value
  // (StoredScore::unreadable_sha1). The write replaces that value even when the digests say it
  // is the same score, and only that value: a write that replaced it first wins.
  std::string replace_unreadable;
  std::string inputs;  // InputGenerations() read before the score's inputs were
  // The stored score the write was decided against (BasedOn): whether it emits, and the
  // previous score its event carries, were read from it. When the stored score has changed
  // since, the write is computed again (kComputeAgain) rather than tell subscribers of a
  // change from a score that is no longer the one before. Unset: not checked.
  std::optional<std::string> based_on;
};

enum class WriteOutcome {
  kWritten,
  kNotWritten,    // the same score was there, a fresher one was, or the project is deleted
  kComputeAgain,  // the stored score saw a change this one did not, and the other way round
};

// A stored score and the digest it was stored with (empty for scores stored before digests).
struct StoredScore {
  stp::scoring::v1::Score score;
  std::string digest;
  int64_t revision = 0;  // the project revision it was computed from
  std::string inputs;    // the input generations it saw ("g0,g1,...")
  // Stored, but its score does not unpack or parse (damaged in Redis): `score` is empty. The
  // digest and what it saw are still read, so that only a rescore can replace it.
  bool unreadable = false;
  std::string unreadable_sha1;  // redis::Sha1Hex of the stored value, when unreadable
};

// What a freshly computed score needs written, given the stored one: nothing when the stored
// one is the same score and saw at least as much; only the stored one's view of its inputs
// when it is the same score but this one saw more (kTouch); otherwise the score.
enum class ScoreWriteNeed { kNothing, kTouch, kScore };
ScoreWriteNeed WriteNeeded(const StoredScore* stored, const std::string& digest,
                           int64_t project_revision, const std::string& inputs);

// ScoreWrite::based_on for a write decided against `stored` (null: no score was stored).
std::string BasedOn(const StoredScore* stored);

class ScoreStore {
 public:
  ScoreStore(redis::RedisClient* redis, redis::Keyspace keyspace, int64_t stream_retention);

  absl::StatusOr<std::vector<AppliedChange>> Apply(const std::vector<ReadModelChange>& changes,
                                                   absl::Time deadline = absl::InfiniteFuture());
  // Which organisations and countries a project reads, and no longer reads.
  struct DependencyChange {
    std::string project_id;
    std::vector<std::string> orgs_removed, orgs_added, countries_removed, countries_added;
  };
  // An organisation's country, before and after a change ("countries/EG"; empty: none).
  struct OrganizationCountryChange {
    std::string organization;  // "organizations/x"
    std::string country_removed, country_added;
  };
  // Records many projects' dependency changes, and organisations' moves between countries, in
  // one round trip.
  absl::Status UpdateDependents(const std::vector<DependencyChange>& changes,
                                const std::vector<OrganizationCountryChange>& moves = {});
  // Projects that read an organisation ("organizations/x") or a country ("countries/EG"). A
  // country is read by the projects it hosts and by the projects of its organisations (a
  // partner's income group counts in absorptive fit and the bridging test).
  absl::StatusOr<std::vector<std::string>> Dependents(const std::string& resource_name);

  absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Project>>> LoadProjects(
      const std::vector<std::string>& ids, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Organization>>> LoadOrganizations(
      const std::vector<std::string>& names, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Country>>> LoadCountries(
      const std::vector<std::string>& names, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<std::optional<stp::ingestion::v1::Park>>> LoadParks(
      const std::vector<std::string>& names, absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<std::string>> AllProjectIds();

  absl::StatusOr<std::vector<std::optional<stp::scoring::v1::Score>>> LoadScores(
      const std::vector<std::string>& project_ids, absl::Time deadline = absl::InfiniteFuture());
  // The same with each score's stored digest, one round trip; a score that cannot be read is
  // there, marked unreadable.
  absl::StatusOr<std::vector<std::optional<StoredScore>>> LoadStoredScores(
      const std::vector<std::string>& project_ids, absl::Time deadline = absl::InfiniteFuture());
  // One project's score, answered on a Redis client round-trip thread without holding
  // the caller's (see RedisClient::SharedPipelineAsync): `done` must not block.
  // The serialized Score (unpacked, see libs/common/phrase_codec.h), which is what GetProjectScore
  // sends; none for a stored score that does not unpack (reported to on_unreadable).
  void LoadSerializedScoreAsync(
      const std::string& id, absl::Time deadline,
      std::function<void(absl::StatusOr<std::optional<std::string>>)> done);
  // What each partition's read model has seen of organisations, countries and parks: read
  // before a score's inputs, and written with it (see WriteScores).
  absl::StatusOr<std::string> InputGenerations(absl::Time deadline = absl::InfiniteFuture());
  // Each write atomic with its event. A write computed from older inputs than the stored
  // score's (an older project revision, or fewer organisation and country changes seen) is
  // skipped; one that saw some changes the stored score did not and missed others is to be
  // computed again.
  absl::StatusOr<std::vector<WriteOutcome>> WriteScores(
      std::vector<ScoreWrite> writes, absl::Time deadline = absl::InfiniteFuture());
  absl::Status DeleteScore(const std::string& project_id);
  // Every stored score without components, all partitions.
  absl::StatusOr<std::vector<stp::scoring::v1::Score>> AllFacts(
      absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<stp::scoring::v1::Score>> History(const std::string& project_id,
                                                               int offset, int limit,
                                                               absl::Time deadline);

  const redis::Keyspace& keyspace() const { return keyspace_; }
  int64_t stream_retention() const { return stream_retention_; }
  // SCORE_CHANGED events go into the streams packed (common::PackScoreEvent), or plain, which
  // readers of builds before packed events read: off while such readers run
  // (docs/operations.md). Set before the first write.
  void set_pack_events(bool pack) { pack_events_ = pack; }
  // Called with a project's id when a read for a caller (LoadScores, LoadSerializedScoreAsync)
  // finds its stored score unreadable, so that it can be computed again; from a Redis client
  // round-trip thread, so it must not block.
  class UnreadableHook {
   public:
    void Set(std::function<void(const std::string& id)> f) {
      absl::MutexLock lock(&mu_);
      f_ = std::move(f);
    }
    void Report(const std::string& id) {
      absl::MutexLock lock(&mu_);
      if (f_) f_(id);
    }

   private:
    absl::Mutex mu_;
    std::function<void(const std::string& id)> f_ ABSL_GUARDED_BY(mu_);
  };
  // Setting it again (to nothing, before what it calls goes away) waits for a report under
  // way: none reaches the old one afterwards.
  void set_on_unreadable(std::function<void(const std::string& id)> f) {
    on_unreadable_->Set(std::move(f));
  }
  void ReportUnreadable(const std::string& id) const { on_unreadable_->Report(id); }
  // The hook itself, for a callback that may run after the store is gone (a Redis round trip
  // answered while the process stops) to hold instead of the store.
  std::shared_ptr<UnreadableHook> unreadable_hook() const { return on_unreadable_; }

 private:
  template <typename M>
  absl::StatusOr<std::vector<std::optional<M>>> Load(ModelKind kind,
                                                     const std::vector<std::string>& ids,
                                                     absl::Time deadline);
  std::string ModelKey(ModelKind kind, const std::string& id) const;
  std::string GenerationKey(int partition) const;
  // The set of projects (or, for kind "orgs", organisations) that read `name`.
  std::string DependentsKey(const char* kind, const std::string& name) const;

  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  int64_t stream_retention_;
  bool pack_events_ = true;
  std::shared_ptr<UnreadableHook> on_unreadable_ = std::make_shared<UnreadableHook>();
};

// The resource id in a name: "projects/abc" -> "abc", "countries/EG" -> "EG".
std::string IdOfName(const std::string& name);
// A digest of the score without its compute time: equal digests, equal scores. Digests may
// change between versions (a stored score with another digest is written again, without an
// event). When `serialized` is given, the serialized score without its compute time is left
// there (see ScoreWrite::serialized).
std::string ScoreDigest(const stp::scoring::v1::Score& score, std::string* serialized = nullptr);
// A score without components, for facts and history.
stp::scoring::v1::Score Compact(const stp::scoring::v1::Score& score);

}  // namespace stp::scoring
