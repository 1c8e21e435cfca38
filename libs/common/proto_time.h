// absl::Time to and from google.protobuf.Timestamp, at the Timestamp's nanosecond precision.
#pragma once

#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"

namespace stp::common {

// Times outside a Timestamp's range (years 1 to 9999; the infinite times among them) give its
// first or last second.
inline google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  using google::protobuf::util::TimeUtil;
  google::protobuf::Timestamp ts;
  // Seconds towards the past, then the nanoseconds after them: no int64 of nanoseconds, which
  // would end in 2262.
  const int64_t seconds = absl::ToUnixSeconds(t);
  const int64_t first = TimeUtil::kTimestampMinSeconds, last = TimeUtil::kTimestampMaxSeconds;
  if (seconds < first || seconds > last) {
    ts.set_seconds(std::clamp(seconds, first, last));
    return ts;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return ts;
}

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace stp::common
