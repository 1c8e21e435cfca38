#include "libs/common/vocabulary.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace stp {

std::string AvenueLabel(stp::common::v1::Avenue avenue) {
  switch (avenue) {
    case stp::common::v1::AVENUE_E_COMMERCE:
      return "e-commerce";
    case stp::common::v1::AVENUE_E_MANUFACTURING:
      return "e-manufacturing";
    case stp::common::v1::AVENUE_PUBLIC_HEALTH:
      return "public health";
    case stp::common::v1::AVENUE_GREEN_GROWTH:
      return "green growth";
    case stp::common::v1::AVENUE_AGRICULTURE:
      return "agricultural development";
    default:
      return "an unspecified avenue";
  }
}

std::string RoleLabel(stp::common::v1::PartnerRole role) {
  switch (role) {
    case stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER:
      return "technology partner";
    case stp::common::v1::PARTNER_ROLE_FINANCIER:
      return "financier";
    case stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER:
      return "triangular partner";
    case stp::common::v1::PARTNER_ROLE_ANCHOR_TENANT:
      return "anchor tenant";
    case stp::common::v1::PARTNER_ROLE_OPERATOR:
      return "park operator";
    case stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT:
      return "host government";
    case stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER:
      return "research partner";
    case stp::common::v1::PARTNER_ROLE_IMPLEMENTER:
      return "implementer";
    case stp::common::v1::PARTNER_ROLE_ACCOUNTABLE:
      return "accountable organisation";
    default:
      return "no particular role";
  }
}

std::string IncomeGroupLabel(stp::common::v1::IncomeGroup income_group) {
  switch (income_group) {
    case stp::common::v1::INCOME_GROUP_LOW:
      return "low income";
    case stp::common::v1::INCOME_GROUP_LOWER_MIDDLE:
      return "lower-middle income";
    case stp::common::v1::INCOME_GROUP_UPPER_MIDDLE:
      return "upper-middle income";
    case stp::common::v1::INCOME_GROUP_HIGH:
      return "high income";
    default:
      return "unknown income group";
  }
}

std::string OrganizationTypeLabel(stp::ingestion::v1::OrganizationType type) {
  switch (type) {
    case stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT:
      return "government";
    case stp::ingestion::v1::ORGANIZATION_TYPE_LOCAL_GOVERNMENT:
      return "local government";
    case stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL:
      return "multilateral body";
    case stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC:
      return "academic or research institution";
    case stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR:
      return "park operator";
    case stp::ingestion::v1::ORGANIZATION_TYPE_DFI:
      return "development finance institution";
    case stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL:
      return "multinational company";
    case stp::ingestion::v1::ORGANIZATION_TYPE_FOUNDATION:
      return "foundation";
    default:
      return "organisation";
  }
}

std::string StageLabel(stp::ingestion::v1::ProjectStage stage) {
  switch (stage) {
    case stp::ingestion::v1::PROJECT_STAGE_PROPOSED:
      return "proposed";
    case stp::ingestion::v1::PROJECT_STAGE_APPROVED:
      return "approved";
    case stp::ingestion::v1::PROJECT_STAGE_FINANCED:
      return "financed";
    case stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION:
      return "in implementation";
    case stp::ingestion::v1::PROJECT_STAGE_COMPLETED:
      return "completed";
    case stp::ingestion::v1::PROJECT_STAGE_SUSPENDED:
      return "suspended";
    case stp::ingestion::v1::PROJECT_STAGE_CANCELLED:
      return "cancelled";
    default:
      return "at an unknown stage";
  }
}

std::string FormatMoney(double amount, absl::string_view currency) {
  const uint64_t whole = static_cast<uint64_t>(std::llround(std::fabs(amount)));
  std::string digits = absl::StrCat(whole);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  return currency.empty() ? grouped : absl::StrCat(currency, " ", grouped);
}

}  // namespace stp
