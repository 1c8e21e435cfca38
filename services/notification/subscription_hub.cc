#include "services/notification/subscription_hub.h"

#include "absl/time/clock.h"
#include "libs/common/event_header.h"
#include "libs/common/logging.h"
#include "libs/redis/streams.h"

namespace stp::notification {

SubscriptionHub::SubscriptionHub(redis::RedisClient* redis, redis::Keyspace keyspace,
                                 Options options)
    : redis_(redis), keyspace_(std::move(keyspace)), options_(options) {
  for (int p = 0; p < keyspace_.partitions(); ++p) {
    rings_.push_back(std::make_unique<Ring>());
    wakers_.emplace_back();
  }
}

SubscriptionHub::~SubscriptionHub() { Stop(); }

absl::Status SubscriptionHub::Start() {
  for (int p = 0; p < keyspace_.partitions(); ++p) {
    auto info = redis::Info(*redis_, keyspace_.Events(p));
    if (!info.ok()) return info.status();
    Ring& ring = *rings_[p];
    absl::MutexLock lock(&ring.mu);
    ring.floor = ring.last = info->last_id.empty() ? "0-0" : info->last_id;
  }
  for (int p = 0; p < keyspace_.partitions(); ++p)
    threads_.emplace_back([this, p] { ReadLoop(p); });
  threads_.emplace_back([this] { TickLoop(); });
  return absl::OkStatus();
}

void SubscriptionHub::Stop() {
  if (!stopping_.Set()) {
    for (auto& waker : wakers_) waker.Wake(*redis_);
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void SubscriptionHub::Add(Listener* listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.insert(listener);
}

void SubscriptionHub::Remove(Listener* listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(listener);
}

size_t SubscriptionHub::subscribers() {
  absl::MutexLock lock(&listeners_mu_);
  return listeners_.size();
}

std::vector<std::string> SubscriptionHub::Positions() {
  std::vector<std::string> out;
  for (auto& ring : rings_) {
    absl::MutexLock lock(&ring->mu);
    out.push_back(ring->last);
  }
  return out;
}

SubscriptionHub::Found SubscriptionHub::Next(int partition, const std::string& after,
                                             std::shared_ptr<const HubEvent>* out) {
  Ring& ring = *rings_[partition];
  absl::MutexLock lock(&ring.mu);
  if (redis::CompareStreamIds(after, ring.floor) < 0) return Found::kBehind;
  if (redis::CompareStreamIds(after, ring.last) >= 0) return Found::kCaughtUp;
  // The ring is ordered by id: binary search for the first entry after `after`.
  auto it = std::upper_bound(ring.events.begin(), ring.events.end(), after,
                             [](const std::string& id, const std::shared_ptr<const HubEvent>& e) {
                               return redis::CompareStreamIds(id, e->id) < 0;
                             });
  if (it == ring.events.end()) return Found::kCaughtUp;
  *out = *it;
  return Found::kEvent;
}

std::shared_ptr<const HubEvent> SubscriptionHub::Parse(int partition, const std::string& id,
                                                       const std::string& payload) {
  auto e = std::make_shared<HubEvent>();
  if (!e->event.ParseFromString(payload)) return nullptr;
  e->partition = partition;
  e->id = id;
  e->event.set_id(id);
  e->facts = FactsOf(e->event);
  return e;
}

void SubscriptionHub::Notify() {
  absl::MutexLock lock(&listeners_mu_);
  for (Listener* l : listeners_) l->OnEvents();
}

void SubscriptionHub::ReadLoop(int partition) {
  Ring& ring = *rings_[partition];
  std::unique_ptr<redis::Connection> conn;
  absl::Duration backoff = absl::Milliseconds(100);
  const std::string stream = keyspace_.Events(partition);
  while (!stopping_.IsSet()) {
    if (conn == nullptr) {
      auto opened = redis_->OpenDedicated();
      if (!opened.ok()) {
        stopping_.SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      conn = std::move(*opened);
      wakers_[partition].Watch(*conn);
    }
    std::string last;
    {
      absl::MutexLock lock(&ring.mu);
      last = ring.last;
    }
    if (stopping_.IsSet()) break;  // right before the read: see redis::Waker
    auto batches = redis::Read(*conn, {stream}, {last}, 1000, options_.block,
                               redis_->options().command_timeout);
    if (!batches.ok()) {
      LogWarning("event reader lost Redis; reconnecting",
                 {{"partition", partition}, {"error", std::string(batches.status().message())}});
      wakers_[partition].Unwatch();
      conn.reset();
      stopping_.SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(100);
    bool any = false;
    for (const auto& batch : *batches) {
      absl::MutexLock lock(&ring.mu);
      for (const auto& entry : batch.entries) {
        std::string unpacked;
        const std::string* payload = common::EventPayload(entry.Field("e"), &unpacked);
        auto e = payload ? Parse(partition, entry.id, *payload) : nullptr;
        ring.last = entry.id;
        any = true;
        if (e == nullptr) continue;  // unreadable: skipped, the position still moves
        ring.events.push_back(std::move(e));
        while (ring.events.size() > options_.ring_capacity) {
          ring.floor = ring.events.front()->id;
          ring.events.pop_front();
        }
      }
    }
    if (any) Notify();
  }
}

void SubscriptionHub::TickLoop() {
  while (!stopping_.SleepFor(options_.tick)) {
    absl::Time now = absl::Now();
    absl::MutexLock lock(&listeners_mu_);
    for (Listener* l : listeners_) l->OnTick(now);
  }
}

}  // namespace stp::notification
