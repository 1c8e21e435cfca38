// What a caller asks the matcher for, and the validation of the request fields it comes from.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "services/matching/core/organization_index.h"
#include "stp/common/v1/common.pb.h"
#include "stp/matching/v1/matching_service.pb.h"

namespace stp::matching {

// Request limits (the protos' documented ranges).
inline constexpr int kMaxRoles = 8;
inline constexpr int kMaxExcluded = 1000;
inline constexpr int kMaxSectors = 100;
inline constexpr int kMaxLanguages = 20;
inline constexpr int kMaxAvenues = 5;
inline constexpr int kMaxPageSize = 100;
inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxConsortia = 20;
inline constexpr int kDefaultConsortia = 5;

// A need with park/project already resolved by the caller: the caller fills avenues and sectors
// from the park or project when the request left them empty, and adds the project's existing
// participants to `excluded`.
struct Need {
  std::string host_country;  // "countries/EG"
  std::vector<stp::common::v1::Avenue> avenues;
  std::vector<int> dac_sectors;
  std::vector<stp::common::v1::PartnerRole> roles;  // wanted roles, in the caller's order
  double budget = 0;                                // 0 = no budget given
  std::string budget_currency;
  std::vector<std::string> languages;         // ISO 639-1
  absl::flat_hash_set<std::string> excluded;  // organisation names never to return
  stp::matching::v1::ConsortiumConstraints constraints;
};

// Validates a PartnerNeed's own fields into a Need: roles non-empty, at most 8, no repeats, no
// UNSPECIFIED; page size 0..100; a known host country (via the index) when one is given; the
// host country or a park/project to take it from; avenues (required unless a park or project
// is named) and roles within their enum ranges; 5-digit DAC codes; a non-negative budget with
// an ISO 4217 currency; languages of ISO 639-1 shape; at most 1,000 exclusions. Every problem
// is one BadRequest field violation ("need.roles[2]", "page_size") of a single
// INVALID_ARGUMENT. The park and project themselves are left to the caller to resolve.
absl::StatusOr<Need> ValidateNeed(const stp::matching::v1::PartnerNeed& need, int page_size,
                                  const OrganizationIndex& index);

// The same for a whole request, with each method's own fields ("max_consortia").
absl::StatusOr<Need> ValidateFindPartnersRequest(
    const stp::matching::v1::FindPartnersRequest& request, const OrganizationIndex& index);
absl::StatusOr<Need> ValidateProposeConsortiaRequest(
    const stp::matching::v1::ProposeConsortiaRequest& request, const OrganizationIndex& index);

}  // namespace stp::matching
