// What an event is about, read from its wire form without parsing its snapshot: a reader that
// needs only some kinds of event (the scoring consumer skips score events, the registry's
// project index skips everything but projects) tells them apart for the cost of a few tag
// reads, where a full parse of a score event builds every component and reason. And how score
// events are packed in the streams, and read back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stp::common {

struct EventHeader {
  int type = 0;  // stp.events.v1.EventType
  std::string resource;
  std::optional<int64_t> revision;
  int snapshot_field = 0;  // the number of the snapshot oneof's field present; 0 for none
};

// nullopt when the bytes are not a well-formed message. Reads a packed score event's header
// (see PackScoreEvent) without unpacking it.
std::optional<EventHeader> ReadEventHeader(absl::string_view event);

// How a SCORE_CHANGED event is kept in the event streams: a format byte (2; no plain message
// starts with it, field number 0 being invalid), the length of `rest` as a varint, `rest` (the
// serialized event without its current score, plain, so that a reader that needs only the
// header reads it without unpacking), then the current score packed as the stored score is
// (PackPhrases of the serialized Score: the same bytes, packed once). Less than half the
// plain event; the reasons are most of its bytes.
std::string PackScoreEvent(absl::string_view rest, absl::string_view packed_score);

// The same event plain: `rest` followed by `score_change { current: <score> }`. Protobuf
// merges the two occurrences of `score_change`, so every reader, of any build or language,
// parses the full event.
std::string PlainScoreEvent(absl::string_view rest, absl::string_view serialized_score);

// Whether an event stream payload is a packed score event.
bool IsPackedEvent(absl::string_view payload);

// The serialized Event a payload holds: as it is when plain, unpacked when packed. DATA_LOSS
// for a packed one that is cut short or does not unpack.
absl::StatusOr<std::string> UnpackEvent(absl::string_view payload);

// The serialized Event a payload holds: the payload itself when plain, or unpacked into
// `scratch` when packed. nullopt for a packed one that does not unpack: unreadable, as a
// payload that does not parse.
std::optional<absl::string_view> EventBytes(absl::string_view payload, std::string* scratch);

// The same for an event stream entry's payload (field "e", nullptr when absent): the payload itself
// when plain, or unpacked into `scratch` when packed. nullptr for no payload, or a packed one
// that does not unpack: such an entry is unreadable, as one that does not parse.
const std::string* EventPayload(const std::string* field, std::string* scratch);

}  // namespace stp::common
