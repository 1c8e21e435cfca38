// How a score is kept in Redis: its serialized protobuf compressed with zstd against a fixed
// dictionary of the model's words. A score's reasons are most of its bytes and are built from
// the same few hundred phrases, so a score keeps about a third of its size; Redis's memory and
// append-only file per score shrink with it (bench/ANALYSIS.md, twentieth stop).
//
// The stored form is a format byte, then the frame. A plain serialized Score (as stored before
// scores were packed) starts with a field tag, never with a format byte (field number 0 is not
// valid protobuf), so both forms are read. The dictionary of a format is frozen: a value packed
// today must unpack in every later build. A new dictionary comes with a new format byte.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stp::scoring {

// The stored form of a serialized Score: format 1 (zstd against dictionary 1). Should
// compression fail, the plain serialized score is stored, which reads back as well.
std::string PackScore(absl::string_view serialized);

// The serialized Score a stored value holds: unpacked when packed, as it is when plain. An
// error (DATA_LOSS) for a packed value that does not unpack.
absl::StatusOr<std::string> UnpackScore(absl::string_view stored);

// Dictionary 1's bytes: the test that keeps it frozen reads them.
absl::string_view ScoreDictionaryV1();

}  // namespace stp::scoring
