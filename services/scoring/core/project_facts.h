// A project with everything the model reads about it looked up once: the host country, each
// participant's organisation and country, the lead technology partner, the organisations
// financial flows come from. Components read facts from here instead of calling the context,
// so each name is looked up once and every component sees the same answer.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "services/scoring/core/scoring_context.h"
#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::scoring {

// One participant of the project with its organisation and that organisation's country.
struct ResolvedParticipant {
  const stp::ingestion::v1::Participant* participant = nullptr;
  const stp::ingestion::v1::Organization* organization = nullptr;  // nullptr when unknown
  const stp::ingestion::v1::Country* country = nullptr;            // nullptr when none or unknown
  stp::common::v1::IncomeGroup income_group = stp::common::v1::INCOME_GROUP_UNSPECIFIED;
  std::string label;  // a name a person recognises
};

// The newest value of one indicator of a country.
struct IndicatorReading {
  double value = 0;
  int year = 0;  // 0 when the value carries no date
};

// Newest finite value of the indicator `name` of `country`, if it has one. Among values of the
// same date the later entry wins.
std::optional<IndicatorReading> NewestIndicator(const stp::ingestion::v1::Country* country,
                                                absl::string_view name);

// A google.type.Date as the last day it can mean: a year-only date is December 31st, a
// year-month date the last day of that month. nullopt when the year is not set.
std::optional<absl::CivilDay> LastDayOf(const google::type::Date& date);

class ProjectFacts {
 public:
  ProjectFacts(const stp::ingestion::v1::Project& project, const ScoringContext& context);

  const stp::ingestion::v1::Project& project() const { return project_; }
  absl::CivilDay today() const { return today_; }

  // The host country; nullptr when unknown.
  const stp::ingestion::v1::Country* host() const { return host_; }
  stp::common::v1::IncomeGroup host_income_group() const { return host_income_group_; }
  const std::string& host_label() const { return host_label_; }

  // The project's park; nullptr when it names none or the park is unknown.
  const stp::ingestion::v1::Park* park() const { return park_; }

  // Participants in project order.
  const std::vector<ResolvedParticipant>& participants() const { return participants_; }
  // The participant with role TECHNOLOGY_PARTNER and lead set, else the first with that role;
  // nullptr when there is none.
  const ResolvedParticipant* lead_technology_partner() const {
    return lead_index_ < 0 ? nullptr : &participants_[static_cast<size_t>(lead_index_)];
  }
  // True for the lead technology partner and for any other entry naming its organisation (an
  // organisation may take part in several roles): the lead is never its own third party or
  // bridge.
  bool IsLeadTechnologyPartner(const ResolvedParticipant& participant) const {
    const ResolvedParticipant* lead = lead_technology_partner();
    if (lead == nullptr) return false;
    if (&participant == lead) return true;
    const std::string& organization = participant.participant->organization();
    return !organization.empty() && organization == lead->participant->organization();
  }

  // An organisation the project names (as participant or flow source); nullptr when unknown.
  const stp::ingestion::v1::Organization* FindOrganization(absl::string_view name) const;

  // The project's avenues, each once, in the order given, without AVENUE_UNSPECIFIED.
  const std::vector<stp::common::v1::Avenue>& avenues() const { return avenues_; }
  bool HasAvenue(stp::common::v1::Avenue avenue) const;

 private:
  const stp::ingestion::v1::Project& project_;
  absl::CivilDay today_;
  const stp::ingestion::v1::Park* park_ = nullptr;
  const stp::ingestion::v1::Country* host_ = nullptr;
  stp::common::v1::IncomeGroup host_income_group_ = stp::common::v1::INCOME_GROUP_UNSPECIFIED;
  std::string host_label_;
  std::vector<ResolvedParticipant> participants_;
  int lead_index_ = -1;
  std::map<std::string, const stp::ingestion::v1::Organization*> organizations_;
  std::vector<stp::common::v1::Avenue> avenues_;
};

}  // namespace stp::scoring
