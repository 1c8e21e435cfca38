#include "services/scoring/core/project_facts.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "services/scoring/core/reason_text.h"

namespace stp::scoring {

using stp::common::v1::IncomeGroup;
using stp::ingestion::v1::Country;
using stp::ingestion::v1::Organization;

namespace {

// An income group the model can compare; values outside LOW..HIGH (a newer or corrupt enum
// value) count as unknown.
IncomeGroup ComparableIncomeGroup(const Country* country) {
  if (country == nullptr) return stp::common::v1::INCOME_GROUP_UNSPECIFIED;
  IncomeGroup group = country->income_group();
  return group >= stp::common::v1::INCOME_GROUP_LOW && group <= stp::common::v1::INCOME_GROUP_HIGH
             ? group
             : stp::common::v1::INCOME_GROUP_UNSPECIFIED;
}

}  // namespace

std::optional<IndicatorReading> NewestIndicator(const Country* country, absl::string_view name) {
  if (country == nullptr) return std::nullopt;
  const stp::ingestion::v1::Indicator* newest = nullptr;
  auto date_of = [](const stp::ingestion::v1::Indicator& indicator) {
    return std::make_tuple(indicator.as_of().year(), indicator.as_of().month(),
                           indicator.as_of().day());
  };
  for (const auto& indicator : country->indicators()) {
    if (indicator.name() != name || !std::isfinite(indicator.value())) continue;
    if (newest == nullptr || date_of(indicator) >= date_of(*newest)) newest = &indicator;
  }
  if (newest == nullptr) return std::nullopt;
  return IndicatorReading{newest->value(), newest->as_of().year()};
}

std::optional<absl::CivilDay> LastDayOf(const google::type::Date& date) {
  if (date.year() <= 0) return std::nullopt;
  if (date.month() < 1 || date.month() > 12) return absl::CivilDay(date.year(), 12, 31);
  if (date.day() < 1) {
    // The day before the first of the next month (CivilDay normalises month 13).
    return absl::CivilDay(date.year(), date.month() + 1, 1) - 1;
  }
  return absl::CivilDay(date.year(), date.month(), date.day());
}

ProjectFacts::ProjectFacts(const stp::ingestion::v1::Project& project,
                           const ScoringContext& context)
    : project_(project), today_(context.today) {
  auto find_country = [&](absl::string_view name) -> const Country* {
    if (name.empty() || !context.country) return nullptr;
    return context.country(name);
  };
  auto find_organization = [&](const std::string& name) -> const Organization* {
    if (name.empty()) return nullptr;
    auto it = organizations_.find(name);
    if (it != organizations_.end()) return it->second;
    const Organization* organization = context.organization ? context.organization(name) : nullptr;
    organizations_.emplace(name, organization);
    return organization;
  };

  if (!project.park().empty() && context.park) park_ = context.park(project.park());
  host_ = find_country(project.host_country());
  host_income_group_ = ComparableIncomeGroup(host_);
  host_label_ = CountryLabel(host_, project.host_country());

  participants_.reserve(static_cast<size_t>(project.participants_size()));
  for (const auto& participant : project.participants()) {
    ResolvedParticipant resolved;
    resolved.participant = &participant;
    resolved.organization = find_organization(participant.organization());
    if (resolved.organization != nullptr) {
      resolved.country = find_country(resolved.organization->country());
      resolved.income_group = ComparableIncomeGroup(resolved.country);
    }
    resolved.label = OrganizationLabel(resolved.organization, participant.display_name(),
                                       participant.organization());
    participants_.push_back(std::move(resolved));
  }
  for (size_t i = 0; i < participants_.size(); ++i) {
    const auto& participant = *participants_[i].participant;
    if (participant.role() != stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER) continue;
    if (participant.lead()) {
      lead_index_ = static_cast<int>(i);
      break;
    }
    if (lead_index_ < 0) lead_index_ = static_cast<int>(i);
  }

  for (const auto& flow : project.financing().commitments()) {
    find_organization(flow.source_organization());
  }
  for (const auto& flow : project.financing().disbursements()) {
    find_organization(flow.source_organization());
  }

  for (int avenue : project.avenues()) {
    auto value = static_cast<stp::common::v1::Avenue>(avenue);
    if (value == stp::common::v1::AVENUE_UNSPECIFIED || !stp::common::v1::Avenue_IsValid(avenue) ||
        std::find(avenues_.begin(), avenues_.end(), value) != avenues_.end()) {
      continue;
    }
    avenues_.push_back(value);
  }
}

const Organization* ProjectFacts::FindOrganization(absl::string_view name) const {
  auto it = organizations_.find(std::string(name));
  return it == organizations_.end() ? nullptr : it->second;
}

bool ProjectFacts::HasAvenue(stp::common::v1::Avenue avenue) const {
  return std::find(avenues_.begin(), avenues_.end(), avenue) != avenues_.end();
}

}  // namespace stp::scoring
