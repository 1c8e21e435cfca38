// What an event is about, read from its wire form without parsing its snapshot: a reader that
// needs only some kinds of event (the scoring consumer skips score events, the registry's
// project index skips everything but projects) tells them apart for the cost of a few tag
// reads, where a full parse of a score event builds every component and reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace stp::common {

struct EventHeader {
  int type = 0;  // stp.events.v1.EventType
  std::string resource;
  std::optional<int64_t> revision;
  int snapshot_field = 0;  // the number of the snapshot oneof's field present; 0 for none
};

// nullopt when the bytes are not a well-formed message.
std::optional<EventHeader> ReadEventHeader(absl::string_view event);

}  // namespace stp::common
