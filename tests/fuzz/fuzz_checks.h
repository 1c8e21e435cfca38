// Checks shared by the request-validator fuzz targets: what a client receives for a refused
// request must be well-formed whatever the request held.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "libs/common/status.h"

namespace stp::fuzz {

inline void Check(bool condition) {
  if (!condition) std::abort();
}

// Protobuf logs every string field that is not UTF-8 while parsing; a fuzzer makes millions.
inline void QuietProtobuf() {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)quiet;
}

// Written apart from services/ingestion/validation.cc (IsValidUtf8) on purpose: an oracle that
// shares the code under test would share its bugs.
// UTF-8 without overlong forms, surrogates or values beyond U+10FFFF (protobuf's rule for
// proto3 strings: a client cannot parse a reply that breaks it).
inline bool Utf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// A refusal: INVALID_ARGUMENT whose every field violation names a field under one of
// `prefixes`, in UTF-8, small enough to travel in gRPC trailers (libs/common/status.cc caps
// the BadRequest at about 2 KiB and each text at 200 bytes), with a short message.
inline void CheckRefusal(const absl::Status& status, const std::vector<std::string>& prefixes) {
  if (status.ok()) return;
  Check(status.code() == absl::StatusCode::kInvalidArgument);
  std::vector<FieldViolation> violations = GetFieldViolations(status);
  Check(!violations.empty());
  size_t bytes = 0;
  for (const auto& v : violations) {
    bool named = false;
    for (const auto& p : prefixes) named |= absl::StartsWith(v.field, p);
    Check(named);
    Check(Utf8(v.field) && Utf8(v.description));
    Check(v.field.size() <= 203 && v.description.size() <= 203);
    bytes += v.field.size() + v.description.size();
  }
  Check(bytes <= 2048 + 406);
  Check(status.message().size() <= 2000);
}

}  // namespace stp::fuzz
