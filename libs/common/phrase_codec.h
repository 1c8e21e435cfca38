// How scores travel through Redis: a serialized protobuf message (a Score, or an Event carrying
// one) compressed with zstd against a fixed dictionary of the scoring model's phrases. A
// score's reasons are most of its bytes and are built from the same few hundred phrases, so a
// score keeps about a third of its size, and Redis's memory and append-only file per score
// shrink with it (bench/ANALYSIS.md, twentieth and twenty-first stops). Stored scores are
// packed, and so is the current score of each SCORE_CHANGED event in the event streams (the
// same packed bytes; see event_header.h).
//
// The packed form is a format byte, then the frame. A plain serialized message starts with a
// field tag, never with a format byte (field number 0 is not valid protobuf), so both forms are
// read. The dictionary of a format is frozen: a value packed today must unpack in every later
// build. A new dictionary comes with a new format byte.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stp::common {

// The packed form of a serialized message: format 1 (zstd against dictionary 1). Should
// compression fail, the plain serialized message is returned, which reads back as well.
std::string PackPhrases(absl::string_view serialized);

// The serialized message a value holds: unpacked when packed, as it is when plain. An error
// (DATA_LOSS) for a packed value that does not unpack.
absl::StatusOr<std::string> UnpackPhrases(absl::string_view value);

// Whether a value is packed (and so carries a checksum of what it holds), not plain.
bool IsPacked(absl::string_view value);

// Dictionary 1's bytes: the test that keeps it frozen reads them.
absl::string_view PhraseDictionaryV1();

}  // namespace stp::common
