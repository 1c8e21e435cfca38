#include "libs/common/ids.h"

#include <openssl/rand.h>

#include <algorithm>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stp {
namespace {

constexpr char kBase32[] = "0123456789abcdefghjkmnpqrstvwxyz";

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng([] {
    uint64_t seed;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) != 1) {
      seed = std::random_device{}();
    }
    return seed;
  }());
  return rng;
}

}  // namespace

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string RandomHex(size_t n) {
  std::string bytes(n, '\0');
  auto& rng = ThreadRng();
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) bytes[i + j] = static_cast<char>(r >> (8 * j));
  }
  return HexEncode(bytes);
}

std::string SecureRandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::random_device rd;
    for (auto& c : out) c = static_cast<char>(rd());
  }
  return out;
}

std::string NewResourceId(absl::Time now) {
  // Ids of one process never repeat and always increase: an id in the millisecond of the last
  // one (or in an earlier one, when the clock went back) takes that millisecond and a random
  // part a little above the last one's. Two creates of one batch would otherwise meet with a
  // chance of 1 in 2^30 per pair within a millisecond, and the second would fail as existing.
  constexpr uint64_t kRandomBits = 30;
  constexpr uint64_t kRandomMask = (uint64_t{1} << kRandomBits) - 1;
  ABSL_CONST_INIT static absl::Mutex mu(absl::kConstInit);
  static uint64_t last_ms ABSL_GUARDED_BY(mu) = 0;
  static uint64_t last_random ABSL_GUARDED_BY(mu) = 0;
  uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(now)));
  uint64_t r = ThreadRng()();
  {
    absl::MutexLock lock(&mu);
    if (ms <= last_ms) {
      ms = last_ms;
      r = last_random + 1 + (r & 0xffff);
      if (r > kRandomMask) {  // the millisecond is full: the next one
        ++ms;
        r &= kRandomMask >> 1;
      }
    } else {
      r &= kRandomMask;
    }
    last_ms = ms;
    last_random = r;
  }
  std::string id(16, '0');
  for (int i = 9; i >= 0; --i) {
    id[i] = kBase32[ms & 31];
    ms >>= 5;
  }
  for (int i = 15; i >= 10; --i) {
    id[i] = kBase32[r & 31];
    r >>= 5;
  }
  return id;
}

bool IsResourceId(absl::string_view id) {
  if (id.size() != 16) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z' && c != 'i' && c != 'l' && c != 'o' && c != 'u');
    if (!ok) return false;
  }
  return true;
}

uint64_t StableHash(absl::string_view data) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace stp
