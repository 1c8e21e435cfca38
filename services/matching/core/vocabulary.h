// Plain-language words for the shared enums, used in the reasons a person reads.
#pragma once

#include <string>

#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::matching {

// "green growth", "technology partner", "lower-middle income", "development finance institution".
std::string AvenueLabel(stp::common::v1::Avenue avenue);
std::string RoleLabel(stp::common::v1::PartnerRole role);
std::string IncomeGroupLabel(stp::common::v1::IncomeGroup income_group);
std::string OrganizationTypeLabel(stp::ingestion::v1::OrganizationType type);

// "USD 20,000,000" (whole units, thousands separated).
std::string FormatMoney(double amount, const std::string& currency);

}  // namespace stp::matching
