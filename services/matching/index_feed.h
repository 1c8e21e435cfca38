// Keeps a replica's organisation index current. At start it loads the index from a snapshot
// file (when its cursor is still within the event retention) or from the registry's and the
// scoring service's listings, after noting the end of every event partition; then it reads
// every event from its own cursor (every replica reads every event). The snapshot is written
// periodically and at shutdown, so a restart catches up from its cursor without a full reload.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/stop_flag.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "services/matching/core/organization_index.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/scoring/v1/scoring_service.grpc.pb.h"

namespace stp::matching {

struct FeedOptions {
  std::string snapshot_file;  // empty: no snapshot, a restart reloads in full
  absl::Duration snapshot_every = absl::Minutes(5);
  absl::Duration block = absl::Seconds(1);
};

class IndexFeed {
 public:
  using Decorate = std::function<void(grpc::ClientContext*)>;
  IndexFeed(OrganizationIndex* index, redis::RedisClient* redis, redis::Keyspace keyspace,
            FeedOptions options);
  ~IndexFeed();

  // Loads and then follows events on a thread. `ingestion` and `scoring` serve the full load.
  void Start(std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion,
             std::shared_ptr<stp::scoring::v1::ScoringService::StubInterface> scoring,
             Decorate decorate);
  // Stops following and writes a last snapshot.
  void Stop();

  bool loaded() const { return loaded_.load(); }
  // Applies one event to the index (and the snapshot state). Exposed for tests.
  void Apply(const stp::events::v1::Event& event);
  // How the last load went: "snapshot", "full", or "" before it ends.
  std::string load_kind();
  int64_t events_applied() const { return applied_.load(); }

  absl::Status WriteSnapshot();

 private:
  void Run();
  absl::Status LoadFromSnapshot(bool* used);
  // When events after `positions` were trimmed before this feed read them, reloads the index
  // in full from nothing.
  absl::Status ReloadIfEventsWereTrimmed(const std::vector<std::string>& positions);
  absl::Status LoadFull();
  absl::Status Follow();

  OrganizationIndex* index_;
  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  FeedOptions options_;
  std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion_;
  std::shared_ptr<stp::scoring::v1::ScoringService::StubInterface> scoring_;
  Decorate decorate_;
  std::thread thread_;
  StopFlag stopping_;
  redis::Waker waker_;  // the follower's read
  std::atomic<bool> loaded_{false};
  std::atomic<int64_t> applied_{0};

  absl::Mutex mu_;
  std::vector<std::string> positions_ ABSL_GUARDED_BY(mu_);
  std::string load_kind_ ABSL_GUARDED_BY(mu_);
  // The latest state of every resource the index holds, as compact events, kept only when a
  // snapshot file is configured: this is what the snapshot writes.
  std::map<std::string, std::string> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stp::matching
