#include "services/scoring/core/reason_text.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stp::scoring {
namespace {

// Groups the digits of a non-negative whole number in threes: 12500000 → "12,500,000".
std::string GroupThousands(double whole) {
  std::string digits = absl::StrFormat("%.0f", whole);
  std::string grouped;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0) grouped.insert(grouped.begin(), ',');
    grouped.insert(grouped.begin(), *it);
    ++count;
  }
  return grouped;
}

}  // namespace

std::string CountWord(int count) {
  static constexpr const char* kWords[] = {"zero", "one", "two", "three"};
  if (count >= 0 && count <= 3) return kWords[count];
  return absl::StrCat(count);
}

std::string CountryLabel(const stp::ingestion::v1::Country* country, absl::string_view name) {
  if (country != nullptr && !country->display_name().empty()) return country->display_name();
  return std::string(name);
}

std::string OrganizationLabel(const stp::ingestion::v1::Organization* organization,
                              absl::string_view fallback, absl::string_view name) {
  if (organization != nullptr && !organization->display_name().empty()) {
    return organization->display_name();
  }
  if (!fallback.empty()) return std::string(fallback);
  return std::string(name);
}

std::string Percent(double ratio) { return absl::StrFormat("%.0f%%", ratio * 100); }

std::string Amount(absl::string_view currency, double amount) {
  return FormatMoney(amount, currency);
}

std::string IndicatorValue(double value) {
  double magnitude = std::fabs(value);
  std::string sign = value < 0 ? "-" : "";
  if (magnitude >= 1000) return sign + GroupThousands(std::round(magnitude));
  if (magnitude >= 100) return absl::StrFormat("%.0f", value);
  if (magnitude >= 1) {
    // Whole numbers read better without a trailing ".0".
    if (std::fabs(value - std::round(value)) < 0.05) return absl::StrFormat("%.0f", value);
    return absl::StrFormat("%.1f", value);
  }
  return absl::StrFormat("%.2g", value);
}

}  // namespace stp::scoring
