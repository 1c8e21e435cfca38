// absl::Time to and from google.protobuf.Timestamp, at the Timestamp's nanosecond precision.
#pragma once

#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include "absl/time/time.h"

namespace stp::common {

inline google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  // The utility normalises times before 1970 (negative seconds, non-negative nanos).
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(ts));
}

}  // namespace stp::common
