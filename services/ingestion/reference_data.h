// Reference data: countries with ISO codes, UN regions, World Bank income groups, Belt and Road
// membership and indicators, read from CSV so that a fresh install knows every country.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::ingestion {

// RFC 4180 rows (quoted fields with commas, quotes and newlines; a UTF-8 BOM is skipped).
std::vector<std::vector<std::string>> ParseCsv(absl::string_view text);

// The project's own country file: a header row with alpha2, alpha3, name, region, sub_region,
// income_group (LOW, LOWER_MIDDLE, UPPER_MIDDLE, HIGH or empty), bri_join_date, bri_exit_date
// (YYYY-MM-DD or empty), indicator_year, then any number of indicator columns whose header is
// the indicator name (internet_users_pct, ...) and whose empty cells mean "not known".
absl::StatusOr<std::vector<stp::ingestion::v1::Country>> ParseCountryTable(absl::string_view csv);

// The three public files together: ISO 3166 with UN regions (lukes/ISO-3166-Countries-with-
// Regional-Codes all.csv), World Bank country metadata (Country Code, Region, IncomeGroup), and
// the Green Finance & Development Center's BRI country list (iso3, likely_join_date,
// likely_exit_date). Countries are those of the ISO file; the others add to them.
absl::StatusOr<std::vector<stp::ingestion::v1::Country>> JoinOfficialCountryFiles(
    absl::string_view iso_csv, absl::string_view wb_csv, absl::string_view bri_csv);

}  // namespace stp::ingestion
