// Words and number formats shared by the reasons of every component, so that all reasons read
// alike and never depend on the process locale.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "libs/common/vocabulary.h"
#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::scoring {

// The enum labels (AvenueLabel, IncomeGroupLabel, StageLabel, ...) are the shared ones of
// libs/common/vocabulary.h.
// "one", "two", "three" (digits above).
std::string CountWord(int count);
// The country's display name, else its resource name.
std::string CountryLabel(const stp::ingestion::v1::Country* country, absl::string_view name);
// The organisation's display name, else the fallback (a participant's cached display name),
// else its resource name.
std::string OrganizationLabel(const stp::ingestion::v1::Organization* organization,
                              absl::string_view fallback, absl::string_view name);
// A ratio as a whole percentage: 0.654 → "65%".
std::string Percent(double ratio);
// An amount with thousands separators and no decimals: "USD 12,500,000".
std::string Amount(absl::string_view currency, double amount);
// An indicator value, with as many digits as it needs: 0.72, 11.2, 3,500.
std::string IndicatorValue(double value);

}  // namespace stp::scoring
