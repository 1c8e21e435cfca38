// Identifiers: server-assigned resource ids, request ids and trace ids.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace google::protobuf {
class Message;
}

namespace stp {

// `n` random bytes as 2n lowercase hex digits (from a per-thread CSPRNG-seeded generator).
std::string RandomHex(size_t n);
// `n` bytes from the OS's cryptographic source (for secrets such as API keys).
std::string SecureRandomBytes(size_t n);

// A new resource id: 16 characters of lowercase Crockford base32, the first 10 encoding the
// creation time in milliseconds, so ids sort by creation time; the last 6 are random. Within a
// process, ids never repeat and each sorts after the one before (several in one millisecond,
// or a clock that went back, take the last id's millisecond and a larger random part).
std::string NewResourceId(absl::Time now);
// True for strings NewResourceId could have made (used to validate names cheaply).
bool IsResourceId(absl::string_view id);

// FNV-1a 64-bit: stable across processes and versions (used for partitioning).
uint64_t StableHash(absl::string_view data);
// A message's deterministic serialization, hashed with StableHash: 16 hex digits that name a
// request or a filter (request records, page tokens).
std::string MessageFingerprint(const google::protobuf::Message& message);

// A 64-bit hash of content, eight bytes at a time (several times faster than StableHash on
// kilobytes): the same on every machine, but only for digests that may change with a version
// (a score's digest), never for partitions or anything a client keeps.
uint64_t ContentHash(absl::string_view data);

// Lowercase hex of bytes.
std::string HexEncode(absl::string_view bytes);

}  // namespace stp
