// libFuzzer target: the input as a FindPartnersRequest and as a ProposeConsortiaRequest,
// through ValidateFindPartnersRequest / ValidateProposeConsortiaRequest against an index that
// knows three countries. Checks refusals are well-formed (fuzz_checks.h) and an accepted need
// keeps the documented limits.
#include <cstddef>
#include <cstdint>
#include <set>

#include "services/matching/core/need.h"
#include "tests/fuzz/fuzz_checks.h"

using stp::fuzz::Check;

namespace {

const stp::matching::OrganizationIndex& Index() {
  static const auto* index = [] {
    auto* out = new stp::matching::OrganizationIndex();
    for (const char* cc : {"EG", "KE", "CN"}) {
      stp::ingestion::v1::Country c;
      c.set_alpha2(cc);
      c.set_name(std::string("countries/") + cc);
      c.set_income_group(stp::common::v1::INCOME_GROUP_LOWER_MIDDLE);
      out->UpsertCountry(c);
    }
    return out;
  }();
  return *index;
}

void CheckNeed(const absl::StatusOr<stp::matching::Need>& need) {
  if (!need.ok()) {
    stp::fuzz::CheckRefusal(need.status(), {"need", "page_size", "max_consortia"});
    return;
  }
  Check(!need->roles.empty() && need->roles.size() <= stp::matching::kMaxRoles);
  std::set<int> roles;
  for (auto r : need->roles) {
    Check(r != stp::common::v1::PARTNER_ROLE_UNSPECIFIED && roles.insert(r).second);
  }
  Check(need->avenues.size() <= stp::matching::kMaxAvenues);
  Check(need->budget >= 0 && need->excluded.size() <= stp::matching::kMaxExcluded);
  Check(need->host_country.empty() || Index().HasCountry(need->host_country));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stp::fuzz::QuietProtobuf();
  const int n = static_cast<int>(size);
  stp::matching::v1::FindPartnersRequest find;
  if (find.ParseFromArray(data, n)) {
    CheckNeed(stp::matching::ValidateFindPartnersRequest(find, Index()));
  }
  stp::matching::v1::ProposeConsortiaRequest propose;
  if (propose.ParseFromArray(data, n)) {
    CheckNeed(stp::matching::ValidateProposeConsortiaRequest(propose, Index()));
  }
  return 0;
}
