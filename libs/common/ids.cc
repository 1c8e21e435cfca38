#include "libs/common/ids.h"

#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"

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

std::string MessageFingerprint(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return absl::StrCat(absl::Hex(StableHash(bytes), absl::kZeroPad16));
}

uint64_t ContentHash(absl::string_view data) {
  // Each step takes one little-endian word into one of two lanes (independent, so their
  // multiplies overlap): the lane xor the word, times an odd constant, the product's 128 bits
  // folded to 64. A changed bit changes the product by an amount whose carries depend on the
  // lane's state, so a later word cannot cancel it (with a plain 64-bit multiply, a flipped top
  // bit leaves the same difference whatever the state, and the next word can undo it). The
  // length goes in first, so a shorter input's zero-padded tail differs from a longer one's
  // zero bytes. One lane is finished before the other joins it: joined as they are, the same
  // change to the last word of either lane could give the same hash.
  constexpr uint64_t kMultiplier = 0x9fb21c651e98df25ULL;
  auto load = [](const char* p, size_t n) {
    uint64_t w = 0;
    if (n == 8 && std::endian::native == std::endian::little) {
      std::memcpy(&w, p, 8);
      return w;
    }
    for (size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    return w;
  };
  auto mix = [](uint64_t h, uint64_t w) {
    const unsigned __int128 product = static_cast<unsigned __int128>(h ^ w) * kMultiplier;
    // The lane itself too: a word equal to the lane would otherwise zero the product and
    // with it everything before.
    return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64) ^ h;
  };
  auto finish = [](uint64_t h) {  // every output bit depends on every input bit
    h ^= h >> 31;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 29;
    h *= kMultiplier;
    return h ^ (h >> 32);
  };
  uint64_t a = 0x2545f4914f6cdd1dULL ^ (data.size() * kMultiplier), b = 0x8b8b7e5b5ae3b1c3ULL;
  const char* p = data.data();
  size_t n = data.size();
  for (; n >= 16; p += 16, n -= 16) {
    a = mix(a, load(p, 8));
    b = mix(b, load(p + 8, 8));
  }
  if (n >= 8) {
    a = mix(a, load(p, 8));
    p += 8;
    n -= 8;
  }
  if (n > 0) b = mix(b, load(p, n));
  return finish(mix(finish(a), b));
}

}  // namespace stp
