// Small, strict readers for the values import files carry (decimals, ISO dates, codes) and the
// text clean-up both parsers need. Strict on purpose: a value that does not read cleanly is
// reported, never guessed.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/type/date.pb.h"
#include "google/type/money.pb.h"

namespace stp::ingestion {

// An xsd:decimal such as "1234.5", "-3" or " 7.25 " as Money in `currency_code`. Digits after
// the ninth decimal are dropped (Money has nano precision). Exponents, thousands separators
// and amounts beyond int64 units are errors.
absl::StatusOr<google::type::Money> ParseDecimalMoney(absl::string_view text,
                                                      absl::string_view currency_code);

// total += amount (the currencies are the caller's business). False on overflow.
bool AddMoney(const google::type::Money& amount, google::type::Money* total);

bool IsNegative(const google::type::Money& money);
bool IsZero(const google::type::Money& money);

// "YYYY-MM-DD", optionally followed by a time part ("T10:00:00Z", " 00:00") that is ignored.
absl::StatusOr<google::type::Date> ParseIsoDate(absl::string_view text);

// A finite decimal number ("12", "-0.5", "1e3"); nullopt otherwise.
std::optional<double> ParseNumber(absl::string_view text);

// An ISO 4217-shaped code: three ASCII upper-case letters.
bool IsCurrencyCode(absl::string_view code);

// An assigned ISO 3166-1 alpha-2 code (upper case). User-assigned codes (AA, QM-QZ, XA-XZ,
// ZZ, used by IATI for "XM-DAC" and friends) are not.
bool IsAssignedCountryCode(absl::string_view code);

// Trims and turns every run of whitespace into one space.
std::string CollapseWhitespace(absl::string_view text);

// `text` with each invalid UTF-8 sequence replaced by U+FFFD; *repaired tells if any was.
std::string RepairUtf8(absl::string_view text, bool* repaired);

}  // namespace stp::ingestion
