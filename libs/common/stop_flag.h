// A stop request that a background loop both polls and sleeps on: Set wakes a loop waiting out
// a retry backoff or a poll interval at once, so that Stop returns in the time the loop's
// current step takes, not that step plus the rest of its sleep. An absl::Notification that may
// be set more than once (Stop runs again from destructors).
#pragma once

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace stp {

class StopFlag {
 public:
  // Sets the flag and wakes every sleeper; true if it was already set.
  bool Set() {
    if (set_.exchange(true)) return true;
    notification_.Notify();
    return false;
  }
  bool IsSet() const { return set_.load(); }
  // Sleeps for `d` or until Set, whichever comes first; true when set.
  bool SleepFor(absl::Duration d) {
    notification_.WaitForNotificationWithTimeout(d);
    return IsSet();
  }

 private:
  std::atomic<bool> set_{false};
  absl::Notification notification_;
};

}  // namespace stp
