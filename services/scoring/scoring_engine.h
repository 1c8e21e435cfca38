// Keeps scores current. A Redis Streams consumer group over every event partition feeds the
// read model; each accepted change rescores what depends on it (a project change its project,
// an organisation change its projects, a country change every project that reads the country)
// and writes changed scores with their SCORE_CHANGED events. Replicas share the work through
// the group; a crashed replica's pending events are reclaimed after an idle time; replaying an
// event changes nothing.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "libs/common/stop_flag.h"
#include "libs/redis/streams.h"
#include "services/scoring/core/scoring_model.h"
#include "services/scoring/score_store.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"

namespace stp::scoring {

struct EngineOptions {
  std::string group = "scoring";
  std::string consumer;  // unique per replica; defaults to host-pid
  int batch = 256;
  absl::Duration block = absl::Seconds(1);
  absl::Duration reclaim_idle = absl::Seconds(30);
  absl::Duration reclaim_every = absl::Seconds(5);
  std::function<void()> after_batch;  // tests: runs after each batch read is acknowledged
};

class ScoringEngine {
 public:
  using Clock = std::function<absl::Time()>;
  ScoringEngine(ScoreStore* store, const ScoringModel* model, redis::RedisClient* redis,
                EngineOptions options, Clock clock);
  ~ScoringEngine();

  // host-pid: the consumer name when none is configured.
  static std::string DefaultConsumer();

  // Creates the consumer groups (at the end of each stream) if they do not exist.
  absl::Status EnsureGroups();
  // Applies stream entries to the read model and rescores what they affect. Does not ack.
  absl::Status Handle(const std::vector<redis::StreamEntry>& entries);
  // Project id -> its current read-model state, when the caller holds it already.
  using ProjectSnapshots = absl::flat_hash_map<std::string, const stp::ingestion::v1::Project*>;
  // Scores the given projects from the read model (or `snapshots`, for the projects they
  // hold); writes what changed. Returns how many scores changed materially (and so emitted
  // SCORE_CHANGED).
  absl::StatusOr<int> Rescore(const std::vector<std::string>& project_ids,
                              const std::map<std::string, std::string>& traceparents = {},
                              const ProjectSnapshots* snapshots = nullptr);
  // Handle's last step for a batch's recorded dependency changes (one per project change of
  // `changes`, in order): a project whose removals a consumer applying a later revision may
  // have overtaken gets its current dependencies added back.
  absl::Status RestoreOvertakenDependencies(
      const std::vector<ScoreStore::DependencyChange>& recorded,
      const std::vector<ReadModelChange>& changes);
  // The same for organisations that changed country: a consumer applying a later move may have
  // recorded it before this one recorded an earlier move's removal (an organisation moving
  // from B to A and back to B would drop out of B's set). Each moved organisation is added
  // again to the set of the country the read model holds for it now; an extra membership costs
  // a needless rescore, a lost one would miss rescores.
  absl::Status RestoreMovedOrganizations(
      const std::vector<ScoreStore::OrganizationCountryChange>& moves);
  // Builds the read model from the ingestion service's listings and scores everything, once
  // per deployment (guarded by a flag and a lock in Redis). Events that arrive meanwhile wait in
  // the consumer group, created before the listing starts, so none is missed. True when the
  // read model is built (now or before); false while another replica holds the lock. A failed
  // build lets go of the lock and answers its error; a dead builder's lock lapses after
  // kBootstrapLockTtl.
  absl::StatusOr<bool> Bootstrap(stp::ingestion::v1::IngestionService::StubInterface* ingestion,
                                 const std::function<void(grpc::ClientContext*)>& decorate);
  // Once per calendar day (UTC) across the replicas: rescores every project, so that what the
  // date alone changes (a milestone falling due) shows without waiting for an event. True when
  // this call did the day's rescore; false when it was done already (by any replica).
  absl::StatusOr<bool> RescoreForNewDay();
  static constexpr absl::Duration kBootstrapLockTtl = absl::Minutes(10);
  // The value of the "built" flag: a read model built by a version with another value is
  // built again (2: organisations are kept per country; 3: projects' parks are recorded as
  // dependencies).
  static constexpr char kReadModelVersion[] = "3";
  static constexpr absl::Duration kBootstrapCheckEvery = absl::Seconds(5);

  // Runs the consumer loop (and bootstrap first, when a stub is given) on a thread.
  void Start(std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion,
             std::function<void(grpc::ClientContext*)> decorate);
  void Stop();

  // Entries handled, and entries not yet delivered to the group (approximate, refreshed on
  // each reclaim round).
  int64_t handled() const { return handled_.load(); }
  // Has a project scored again on this consumer's thread before its next read: for a stored
  // score found unreadable. Does not block; at most kMaxRequested wait, and more are dropped (a
  // later read asks again).
  void RequestRescore(const std::string& project_id);
  int64_t lag() const { return lag_.load(); }
  const EngineOptions& options() const { return options_; }

 private:
  // Rescore for one chunk of at most a few hundred projects.
  absl::StatusOr<int> RescoreChunk(const std::vector<std::string>& chunk,
                                   const std::map<std::string, std::string>& traceparents,
                                   const ProjectSnapshots* snapshots, int attempt = 1);
  static constexpr int kMaxScoreAttempts = 3;
  void Loop();
  void RescoreRequested();
  static constexpr size_t kMaxRequested = 1000;
  absl::Status ReclaimAndMeasure();
  // Detects events of `stream` that were trimmed before the group read them, and then has
  // the read model built again from the registry (by one replica, once per loss).
  absl::Status CheckForLostEvents(const std::string& stream, const redis::GroupPosition& group);
  // Pending entries (taken by this consumer, or reclaimed from another) that were trimmed
  // before they were handled: their changes are missing from the read model, so it is built
  // again; then they are acknowledged.
  absl::Status RecordTrimmedPending(const std::string& stream, const std::vector<std::string>& ids);
  // Marks deleted the read model's projects that are not in `listed` and were created before
  // `listing_began`, and drops their scores.
  absl::Status ForgetUnlisted(const std::set<std::string>& listed, absl::Time listing_began);
  // The same for organisations and parks that the listed projects name (`named`, resource
  // names) but the registry no longer lists: deleted in the lost window, they must read as
  // missing, as their deletion events would have left them. Those the listings began before
  // (`organizations_began`, `parks_began`) and which were created since are kept.
  absl::Status ForgetUnlistedInputs(const std::set<std::string>& named,
                                    absl::Time organizations_began, absl::Time parks_began);
  // The flag of a day's rescore under this model config.
  std::string DayKey(absl::CivilDay day) const;
  // Set once the read model is built (its value is the read-model version).
  std::string BootstrappedKey() const;
  // Set while the next build must replace what the read model holds (after lost events).
  std::string RebuildKey() const;
  absl::StatusOr<int> AllProjectsRescored();
  // Bootstrap's work under the lock: reads every listing into the read model, then scores
  // every project. Calls `renew_lock` after each page. With `replace`, listed countries,
  // organisations and parks replace what the read model holds (a rebuild after lost events).
  absl::Status BuildReadModel(stp::ingestion::v1::IngestionService::StubInterface* ingestion,
                              const std::function<void(grpc::ClientContext*)>& decorate,
                              bool replace, const std::function<absl::Status()>& renew_lock);
  absl::Status Ack(const std::string& stream, const std::vector<std::string>& ids);

  ScoreStore* store_;
  const ScoringModel* model_;
  redis::RedisClient* redis_;
  EngineOptions options_;
  Clock clock_;
  std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion_;
  std::function<void(grpc::ClientContext*)> decorate_;
  StopFlag stopping_;
  redis::Waker waker_;  // the consumer's read
  std::thread thread_;
  std::atomic<int64_t> handled_{0};
  std::atomic<int64_t> lag_{0};
  std::atomic<bool> rebuild_{false};  // the loop is to build the read model again
  // The last day this replica knows rescored (the loop's thread and callers of
  // RescoreForNewDay).
  absl::Mutex day_mu_;
  absl::CivilDay rescored_day_ ABSL_GUARDED_BY(day_mu_) = absl::CivilDay(1970, 1, 1);
  absl::Time next_reclaim_ = absl::InfinitePast();
  absl::Mutex requested_mu_;
  std::set<std::string> requested_ ABSL_GUARDED_BY(requested_mu_);  // see RequestRescore
};

}  // namespace stp::scoring
