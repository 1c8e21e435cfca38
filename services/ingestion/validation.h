// Static validation of registry resources: everything that can be checked without reading the
// store (required fields, formats, lengths, counts, enum ranges, dates, money, UTF-8). Every
// problem is added to one FieldViolations so a caller learns all of them at once. Checks that
// need the store (a country or organisation exists) are done by the registry.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "google/type/date.pb.h"
#include "google/type/money.pb.h"
#include "libs/common/status.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::ingestion {

// Resource name shapes.
bool IsCountryName(absl::string_view name);                                 // countries/EG
bool IsResourceName(absl::string_view name, absl::string_view collection);  // parks/<id>
// The id part of a resource name ("projects/abc" -> "abc"), empty when the shape is wrong.
std::string IdOf(absl::string_view name, absl::string_view collection);

bool IsValidUtf8(absl::string_view s);
// The longest prefix of `s` of at most `max_bytes` that does not cut a UTF-8 character.
std::string Utf8Prefix(absl::string_view s, size_t max_bytes);
bool IsValidDate(const google::type::Date& d);
// Days since 1970-01-01 of a valid date (for ordering and overlap checks).
int64_t DateToDays(const google::type::Date& d);

// Limits (documented in the proto comments).
inline constexpr size_t kMaxTitle = 500;
inline constexpr size_t kMaxName = 300;
inline constexpr size_t kMaxDescription = 20000;
inline constexpr size_t kMaxShortDescription = 5000;

// An ISO 3166-1 alpha-2 code in use, or XK.
bool IsCountryCode(absl::string_view code);
// True for an ISO 4217 currency code (current, or withdrawn but still found in records).
bool IsKnownCurrency(absl::string_view code);
// A new country's code must be in use (IsCountryCode). A stored one keeps its code, so that a
// country stored before a code was withdrawn, or before the check existed, can still be
// corrected: `stored_code` checks only that the code is two upper-case letters.
void ValidateCountry(const stp::ingestion::v1::Country& c, const std::string& path,
                     FieldViolations* v, bool stored_code = false);
// The shape of the code alone (two upper-case letters), at `path`: all a masked update's input
// must have before the stored country it merges into is read.
void ValidateCountryCodeShape(const std::string& code, const std::string& path, FieldViolations* v);
// The code-in-use check alone, at `path`, for a country whose code is already known to be two
// upper-case letters.
void ValidateNewCountryCode(const std::string& code, const std::string& path, FieldViolations* v);
void ValidateOrganization(const stp::ingestion::v1::Organization& o, const std::string& path,
                          FieldViolations* v);
void ValidatePark(const stp::ingestion::v1::Park& p, const std::string& path, FieldViolations* v);
// `path` is the prefix for field paths, for example "project".
void ValidateProject(const stp::ingestion::v1::Project& p, const std::string& path,
                     FieldViolations* v);

// Shared pieces, also used by other services' request validation.
void CheckString(absl::string_view value, const std::string& path, size_t max, bool required,
                 FieldViolations* v);
void CheckMoney(const google::type::Money& m, const std::string& path, FieldViolations* v);
void CheckDate(const google::type::Date& d, const std::string& path, FieldViolations* v);

}  // namespace stp::ingestion
