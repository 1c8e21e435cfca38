#include "libs/runtime/allocator.h"

#include <malloc.h>

#include <cstdint>

#ifdef STP_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>

// Read by jemalloc when the process starts. A background thread gives freed pages back to the
// system on its own schedule, so an idle replica's resident set comes down after a burst (an
// import, a rescore) instead of waiting for its next allocations. MALLOC_CONF in the
// environment adds to it or overrides it (docs/operations.md).
const char* malloc_conf = "background_thread:true";
#endif

namespace stp {

#ifdef STP_WITH_JEMALLOC

std::string AllocatorName() {
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) {
    return "jemalloc";
  }
  return std::string("jemalloc ") + version;
}

std::optional<AllocatorStats> ReadAllocatorStats() {
  // jemalloc's statistics are a snapshot taken when the epoch advances.
  uint64_t epoch = 1;
  size_t size = sizeof(epoch);
  if (mallctl("epoch", &epoch, &size, &epoch, size) != 0) return std::nullopt;
  AllocatorStats stats;
  size = sizeof(size_t);
  if (mallctl("stats.allocated", &stats.allocated, &size, nullptr, 0) != 0) return std::nullopt;
  size = sizeof(size_t);
  if (mallctl("stats.resident", &stats.resident, &size, nullptr, 0) != 0) return std::nullopt;
  return stats;
}

#else

std::string AllocatorName() { return "libc"; }

std::optional<AllocatorStats> ReadAllocatorStats() { return std::nullopt; }

#endif

size_t HeapBytesInUse() {
#ifdef STP_WITH_JEMALLOC
  // Blocks freed into this thread's cache still count as allocated until it is flushed.
  mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  if (auto stats = ReadAllocatorStats()) return stats->allocated;
#endif
  // The C library's blocks in use: small ones, and mmapped ones.
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

}  // namespace stp
