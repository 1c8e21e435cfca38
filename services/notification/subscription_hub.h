// One reader per event partition fans events out to every local subscriber: the reader keeps a
// bounded ring of recent events per partition, and subscribers walk the ring from their own
// positions. A subscriber costs a cursor and a filter, not a queue; one that falls out of the
// ring while live is too slow and is cut off with its cursor. Catching up from an older cursor
// reads Redis for that subscriber until it reaches the ring.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/stop_flag.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "services/notification/event_filter.h"

namespace stp::notification {

struct HubEvent {
  int partition = 0;
  std::string id;
  EventFacts facts;
  stp::events::v1::Event event;  // with id set
};

class SubscriptionHub {
 public:
  struct Options {
    size_t ring_capacity = 10000;  // events kept per partition
    absl::Duration block = absl::Seconds(1);
    absl::Duration tick = absl::Milliseconds(250);
  };

  // Told when events arrive and on every tick. Calls come from hub threads and must not block.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void OnEvents() = 0;
    virtual void OnTick(absl::Time now) = 0;
  };

  SubscriptionHub(redis::RedisClient* redis, redis::Keyspace keyspace, Options options);
  ~SubscriptionHub();

  // Starts after the current end of every partition.
  absl::Status Start();
  void Stop();

  // After Remove returns, the listener is not called again.
  void Add(Listener* listener);
  void Remove(Listener* listener);

  // The newest id of each partition the hub has seen.
  std::vector<std::string> Positions();

  enum class Found { kEvent, kCaughtUp, kBehind };
  // The first event after `after` in a partition's ring.
  Found Next(int partition, const std::string& after, std::shared_ptr<const HubEvent>* out);

  // Parses a stream entry into a hub event (nullptr when unreadable).
  static std::shared_ptr<const HubEvent> Parse(int partition, const std::string& id,
                                               const std::string& payload);

  int partitions() const { return keyspace_.partitions(); }
  size_t subscribers();
  redis::RedisClient* redis() { return redis_; }
  const redis::Keyspace& keyspace() const { return keyspace_; }

 private:
  struct Ring {
    absl::Mutex mu;
    std::deque<std::shared_ptr<const HubEvent>> events ABSL_GUARDED_BY(mu);
    std::string floor ABSL_GUARDED_BY(mu);  // everything after it is in `events`
    std::string last ABSL_GUARDED_BY(mu);   // the newest id seen
  };

  void ReadLoop(int partition);
  void TickLoop();
  void Notify();

  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  Options options_;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::deque<redis::Waker> wakers_;  // one per partition's reader
  std::vector<std::thread> threads_;
  StopFlag stopping_;
  absl::Mutex listeners_mu_;
  std::set<Listener*> listeners_ ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace stp::notification
