// Ranks organisations for a need (FindPartners) and proposes whole teams (ProposeConsortia).
#pragma once

#include "absl/status/statusor.h"
#include "services/matching/core/matching_config.h"
#include "services/matching/core/need.h"
#include "services/matching/core/organization_index.h"
#include "stp/matching/v1/matching_service.pb.h"

namespace stp::matching {

// Stateless apart from its configuration; safe to call from many threads at once. Each call
// holds the index's reader lock while it scores, so it sees one consistent index.
class Matcher {
 public:
  // `index` must outlive the matcher.
  Matcher(const OrganizationIndex* index, MatchingConfig config);

  // Candidates best first (ties by organisation name), `page_size` of them (0 means 20, at
  // most 100). Only organisations sharing a wanted avenue, sector (exactly or by 3-digit
  // category) or role with the need are scored; `considered` says how many. Organisations in
  // `need.excluded` never appear.
  absl::StatusOr<stp::matching::v1::FindPartnersResponse> FindPartners(const Need& need,
                                                                       int page_size) const;

  // Teams of one organisation per wanted role (in the order of `need.roles`), best first,
  // `max_consortia` of them (0 means 5, at most 20), honouring `need.constraints`.
  absl::StatusOr<stp::matching::v1::ProposeConsortiaResponse> ProposeConsortia(
      const Need& need, int max_consortia) const;

  const MatchingConfig& config() const { return config_; }

 private:
  const OrganizationIndex* index_;
  MatchingConfig config_;
};

}  // namespace stp::matching
