// The project list index, held in memory by every ingestion replica instead of in Redis.
//
// A project has a dozen index terms (host country, stage, avenues, park, participants, model,
// title words for duplicate detection). Written into Redis sorted sets inside the write script,
// they cost Redis about two thirds of its time per write (bench/ANALYSIS.md, fifth stop). Here a
// replica keeps them itself: it applies its own writes as they are acknowledged, and every
// other replica's from the event stream. Listing by a filter and the duplicate probe read this
// index; the record each id names is still read from Redis and checked against the filter, so
// a listing never answers a project that does not match. What a listing can miss, for the few
// milliseconds until its event is read, is a project written through another replica.
//
// The list of every project (no filter) and the update-time listing stay in Redis: consumers
// that load everything (scoring, matching) rely on them to see every write before an event
// position they noted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "services/ingestion/registry_store.h"

namespace stp::ingestion {

// Project ids under each index term, in id order. An entry only moves forward in revision, so
// a write applied here when it is acknowledged and the same write read back from the event
// stream land once, in either order; a deleted project keeps a tombstone of its revision, so an
// older event cannot bring it back. The empty term (every project) is not held. Thread-safe.
class ProjectIndex {
 public:
  // Sets a project's terms as of `revision`. False, and nothing changes, unless `revision` is
  // newer than the one held for the id.
  bool Put(const std::string& id, int64_t revision, std::vector<std::string> terms);
  // Marks a project deleted as of `revision`, on the same rule.
  bool Remove(const std::string& id, int64_t revision);
  // The revision held for an id (its deletion's, for a deleted project); 0 when none.
  int64_t RevisionOf(absl::string_view id) const;

  // Ids under `term` after `after` (empty: from the start), at most `limit`.
  std::vector<std::string> After(const std::string& term, const std::string& after,
                                 int limit) const;
  // The ids under each term that holds fewer than `limit`; none under a term that holds more
  // (the duplicate probe's words too common to tell projects apart, copied for nothing).
  std::vector<std::vector<std::string>> IdsOfRareTerms(const std::vector<std::string>& terms,
                                                       int limit) const;
  // The number of ids under each term.
  std::vector<int64_t> Count(const std::vector<std::string>& terms) const;
  // Projects held, deleted ones not counted.
  size_t size() const;
  // Deleted projects whose tombstones are still held.
  size_t tombstones() const;

  // Drops the tombstones made before the previous call, and returns how many. The feed calls
  // it after a read of every stream came back short (it had read all there was), at most once
  // per check interval. So the read before a call began after the previous call, and the feed
  // has read every event written before then: a tombstone made earlier can no longer meet an
  // older event of its project. Should a late write bring an id back all the same, a listing
  // reads the record, finds none and skips it; only a term's count is one too high until the
  // next load.
  size_t EndTombstoneEpoch();

  // A reload: BeginReload, then build `fresh` from Redis, then Replace. Between the two, every
  // change this index takes is also kept aside, and Replace applies those to `fresh` (where
  // newer) before `fresh` takes this one's place: a write this replica acknowledged while
  // the load ran is not lost with the old content.
  void BeginReload();
  void Replace(ProjectIndex&& fresh);
  void AbandonReload();  // a load that failed: nothing more is kept aside

 private:
  // Each id and each term is stored once, as a key of a node map (whose keys do not move);
  // the sets and the entries' term lists point at them. 100,000 projects of 13 terms each took
  // 500 bytes per project (mallinfo), and 92 ms to free.
  struct Entry {
    int64_t revision = 0;
    bool deleted = false;
    std::vector<const std::string*> terms;  // keys of ids_, in term order
  };
  bool Set(const std::string& id, int64_t revision, bool deleted, std::vector<std::string> terms);

  struct Change {
    std::string id;
    int64_t revision;
    bool deleted;
    std::vector<std::string> terms;
  };
  bool SetLocked(const std::string& id, int64_t revision, bool deleted,
                 std::vector<std::string> terms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool reloading_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Change> during_reload_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Term -> ids under it (views of keys of entries_, which are never erased but by Replace).
  absl::node_hash_map<std::string, absl::btree_set<absl::string_view>> ids_ ABSL_GUARDED_BY(mu_);
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  // Ids deleted since the last EndTombstoneEpoch, and in the epoch before it.
  std::vector<std::string> new_tombstones_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> old_tombstones_ ABSL_GUARDED_BY(mu_);
  size_t tombstones_ ABSL_GUARDED_BY(mu_) = 0;
};

// What an event says of a project, read without parsing its snapshot: enough to tell whether
// the index needs it. nullopt for an event of another resource or one that does not parse.
struct ProjectEventHeader {
  std::string id;
  int64_t revision = 0;
  bool deleted = false;
};
std::optional<ProjectEventHeader> ReadProjectEventHeader(absl::string_view event);

// Keeps a ProjectIndex current. First it notes the end of every event partition, then loads
// every project the store lists (no filter) into a fresh index and puts it in place; from then
// on it applies every project event after the noted ends. Every few seconds, and whenever it
// falls a full read behind, it checks that no event it has not read was trimmed from a stream
// (and that no stream was recreated, as by a restore); if one was, it loads again.
class ProjectIndexFeed {
 public:
  struct Options {
    absl::Duration block = absl::Milliseconds(100);  // a read's wait; also Stop's delay
    absl::Duration check_every = absl::Seconds(5);
    // False: after its load the index takes only the writes of its own replica's store, not
    // the event stream's (for tests of that path).
    bool follow = true;
    // Called on the feed's thread once the first load is in place (readiness checks again).
    std::function<void()> on_loaded;
  };
  ProjectIndexFeed(ProjectIndex* index, RegistryStore* store, redis::RedisClient* redis,
                   redis::Keyspace keyspace, Options options);
  ~ProjectIndexFeed();

  void Start();
  void Stop();
  // Waits for the first load; false when `deadline` comes first.
  bool WaitLoaded(absl::Time deadline) const;
  bool loaded() const { return loaded_.HasBeenNotified(); }
  // Applies one serialized event (exposed for tests). False when the index did not need it.
  bool ApplyEvent(absl::string_view event);
  int64_t loads() const { return loads_.load(); }

 private:
  void Run();
  absl::Status Load();
  absl::Status LoadInto(ProjectIndex* fresh);
  absl::Status Follow();
  // Waits `d`, or less when Stop comes first.
  void Pause(absl::Duration d);

  ProjectIndex* index_;
  RegistryStore* store_;
  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  Options options_;
  std::vector<std::string> positions_;  // the feed thread's alone
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  redis::Waker waker_;  // the follower's read
  absl::Notification stop_;
  std::atomic<int64_t> loads_{0};
  absl::Notification loaded_;
};

}  // namespace stp::ingestion
