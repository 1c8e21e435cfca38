// A fixed set of threads with a bounded queue. Services run every blocking step (Redis,
// downstream calls) here, never on gRPC's callback threads; when the queue is full, TrySubmit
// refuses and the caller answers RESOURCE_EXHAUSTED instead of queueing without bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stp {

class WorkerPool {
 public:
  WorkerPool(std::string name, size_t threads, size_t max_queue);
  ~WorkerPool();  // runs what is queued, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> task);
  // Stops accepting work, finishes what is queued and joins the threads.
  void Shutdown();

  size_t queue_depth() const;
  size_t busy() const { return busy_.load(std::memory_order_relaxed); }
  size_t threads() const { return threads_.size(); }
  size_t max_queue() const { return max_queue_; }
  const std::string& name() const { return name_; }

 private:
  void Run();

  const std::string name_;
  const size_t max_queue_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> busy_{0};
  std::vector<std::thread> threads_;
};

}  // namespace stp
