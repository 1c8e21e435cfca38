#include "services/scoring/core/prefetched_records.h"

#include <utility>

namespace stp::scoring {

void PrefetchedRecords::AddOrganization(stp::ingestion::v1::Organization organization) {
  std::string name = organization.name();
  organizations_[std::move(name)] = std::move(organization);
}

void PrefetchedRecords::AddCountry(stp::ingestion::v1::Country country) {
  std::string name = country.name();
  countries_[std::move(name)] = std::move(country);
}

void PrefetchedRecords::AddPark(stp::ingestion::v1::Park park) {
  std::string name = park.name();
  parks_[std::move(name)] = std::move(park);
}

const stp::ingestion::v1::Park* PrefetchedRecords::FindPark(absl::string_view name) const {
  auto it = parks_.find(std::string(name));
  return it == parks_.end() ? nullptr : &it->second;
}

const stp::ingestion::v1::Organization* PrefetchedRecords::FindOrganization(
    absl::string_view name) const {
  auto it = organizations_.find(std::string(name));
  return it == organizations_.end() ? nullptr : &it->second;
}

const stp::ingestion::v1::Country* PrefetchedRecords::FindCountry(absl::string_view name) const {
  auto it = countries_.find(std::string(name));
  return it == countries_.end() ? nullptr : &it->second;
}

ScoringContext PrefetchedRecords::Context(absl::CivilDay today) const {
  ScoringContext context;
  context.organization = [this](absl::string_view name) { return FindOrganization(name); };
  context.country = [this](absl::string_view name) { return FindCountry(name); };
  context.park = [this](absl::string_view name) { return FindPark(name); };
  context.today = today;
  return context;
}

}  // namespace stp::scoring
