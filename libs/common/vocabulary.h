// Plain-language words for the shared enums and amounts, used in every reason a person reads,
// so that scoring, matching and reports speak alike and never depend on the process locale.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp {

// "e-commerce", "e-manufacturing", "public health", "green growth", "agricultural development".
std::string AvenueLabel(stp::common::v1::Avenue avenue);
// "technology partner", "financier", "triangular partner", ...
std::string RoleLabel(stp::common::v1::PartnerRole role);
// "low income", "lower-middle income", "upper-middle income", "high income".
std::string IncomeGroupLabel(stp::common::v1::IncomeGroup income_group);
// "government", "multilateral body", "development finance institution", ...
std::string OrganizationTypeLabel(stp::ingestion::v1::OrganizationType type);
// "proposed", "in implementation", "cancelled", ...
std::string StageLabel(stp::ingestion::v1::ProjectStage stage);
// Whole units with thousands separators: "USD 12,500,000" (just the digits without a currency).
std::string FormatMoney(double amount, absl::string_view currency);

}  // namespace stp
