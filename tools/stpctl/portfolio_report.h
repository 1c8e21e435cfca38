// The portfolio report written by `stpctl portfolio --html FILE`: one self-contained HTML page
// (inline CSS and SVG; no script, no external resource) that a person can open anywhere or
// mail around: tier distribution per country and per avenue as stacked bars, a map-like view
// of mean scores by region, and the best projects with the reasons for their scores.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "stp/ingestion/v1/resources.pb.h"
#include "stp/scoring/v1/scoring_service.pb.h"

namespace stp::stpctl {

struct PortfolioReport {
  std::string title = "STP cooperation portfolio";
  absl::Time generated;
  std::string filter_description;  // "host country EG, avenue green growth", or empty
  stp::scoring::v1::PortfolioSummary by_country;
  stp::scoring::v1::PortfolioSummary by_avenue;
  // The grouping asked for with --by when it is neither country nor avenue (model, park).
  stp::scoring::v1::GroupBy extra_group_by = stp::scoring::v1::GROUP_BY_UNSPECIFIED;
  stp::scoring::v1::PortfolioSummary extra;
  // The best projects, with components and reasons.
  std::vector<stp::scoring::v1::Score> top_projects;
  // Countries by resource name, for names and regions.
  std::map<std::string, stp::ingestion::v1::Country> countries;
};

std::string RenderPortfolioReport(const PortfolioReport& report);

// Text safe inside HTML elements and attribute values.
std::string HtmlEscape(const std::string& text);

}  // namespace stp::stpctl
