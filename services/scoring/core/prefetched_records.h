// Organisations and countries held by value, and a ScoringContext that looks them up. The
// scoring service fills one with what ScoringModel::Dependencies names (one round trip), then
// scores; tests fill one by hand.
#pragma once

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "services/scoring/core/scoring_context.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::scoring {

class PrefetchedRecords {
 public:
  // Adds or replaces a record, keyed by its resource name.
  void AddOrganization(stp::ingestion::v1::Organization organization);
  void AddCountry(stp::ingestion::v1::Country country);
  void AddPark(stp::ingestion::v1::Park park);

  // nullptr when unknown.
  const stp::ingestion::v1::Organization* FindOrganization(absl::string_view name) const;
  const stp::ingestion::v1::Country* FindCountry(absl::string_view name) const;
  const stp::ingestion::v1::Park* FindPark(absl::string_view name) const;

  // A context over these records. It points into this object, which must outlive it; records
  // added later are seen by it.
  ScoringContext Context(absl::CivilDay today) const;

 private:
  std::map<std::string, stp::ingestion::v1::Organization> organizations_;
  std::map<std::string, stp::ingestion::v1::Country> countries_;
  std::map<std::string, stp::ingestion::v1::Park> parks_;
};

}  // namespace stp::scoring
