// The memory allocator behind malloc and operator new in this process.
//
// Every server links jemalloc (Debian's libjemalloc2) unless it is built with sanitizers or as
// a fuzz target, which keep the C library's allocator for the sanitizers to replace. The
// services allocate and free many small objects per call (parsed and serialized protobuf
// messages, Redis replies); on the benchmark's scoring catch-up jemalloc took the scoring
// process from 89–110 to 60–92 µs of CPU per event, and an import's leftover resident memory
// in the ingestion replica from about 3.0 to 1.9 KB per project (bench/ANALYSIS.md).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace stp {

// "jemalloc 5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c" when jemalloc serves malloc in
// this process, else "libc".
std::string AllocatorName();

// What the allocator holds, when it can tell (jemalloc only).
struct AllocatorStats {
  // Bytes the program has allocated and not yet freed.
  size_t allocated = 0;
  // Bytes of physical memory the allocator maps: the allocated bytes, its own metadata, and
  // freed pages not yet given back to the system. Far above `allocated` is fragmentation or
  // pages waiting to be returned; both near the resident set of the process, and growing, is
  // the program holding memory.
  size_t resident = 0;
};
std::optional<AllocatorStats> ReadAllocatorStats();

// Bytes allocated and not freed, by whichever allocator serves malloc here: jemalloc's count
// (after flushing the calling thread's cache of freed blocks), else the C library's (mallinfo2:
// small blocks and mmapped ones). A sanitizer brings its own allocator, whose blocks neither
// count sees. For tests and measurements: the flush costs the next allocations their cache.
size_t HeapBytesInUse();

}  // namespace stp
