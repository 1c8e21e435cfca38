// A stop request that a background loop both polls and sleeps on: Set wakes a loop waiting out
// a retry backoff or a poll interval at once, so that Stop returns in the time the loop's
// current step takes, not that step plus the rest of its sleep.
#pragma once

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stp {

class StopFlag {
 public:
  // Sets the flag and wakes every sleeper; true if it was already set.
  bool Set() {
    absl::MutexLock lock(&mu_);
    return set_.exchange(true);
  }
  bool IsSet() const { return set_.load(); }
  // Sleeps for `d` or until Set, whichever comes first; true when set.
  bool SleepFor(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&StopFlag::Stopped, &set_), d);
    return set_.load();
  }

 private:
  static bool Stopped(std::atomic<bool>* set) { return set->load(); }

  absl::Mutex mu_;
  std::atomic<bool> set_{false};
};

}  // namespace stp
