// libFuzzer target: the same input read as an Organization, a Park and a Country (whatever
// parses), through ValidateOrganization, ValidatePark and ValidateCountry. Checks every refusal
// is well-formed (fuzz_checks.h) and what is accepted keeps the documented limits.
#include <cstddef>
#include <cstdint>

#include "services/ingestion/validation.h"
#include "tests/fuzz/fuzz_checks.h"

using stp::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stp::fuzz::QuietProtobuf();
  const int n = static_cast<int>(size);
  stp::ingestion::v1::Organization org;
  if (org.ParseFromArray(data, n)) {
    stp::FieldViolations v;
    stp::ingestion::ValidateOrganization(org, "organization", &v);
    if (v.empty()) {
      Check(!org.display_name().empty() && stp::fuzz::Utf8(org.display_name()));
      Check(org.languages_size() <= 20 && org.external_ids_size() <= 20);
      Check(org.financing_capacity().units() >= 0);
    }
    stp::fuzz::CheckRefusal(v.ToStatus(), {"organization"});
  }
  stp::ingestion::v1::Park park;
  if (park.ParseFromArray(data, n)) {
    stp::FieldViolations v;
    stp::ingestion::ValidatePark(park, "park", &v);
    if (v.empty()) {
      Check(stp::ingestion::IsCountryName(park.host_country()));
      Check(park.tenant_count() >= 0);
    }
    stp::fuzz::CheckRefusal(v.ToStatus(), {"park"});
  }
  stp::ingestion::v1::Country country;
  if (country.ParseFromArray(data, n)) {
    stp::FieldViolations v;
    stp::ingestion::ValidateCountry(country, "country", &v);
    if (v.empty()) {
      Check(country.alpha2().size() == 2 && country.indicators_size() <= 200);
      for (const auto& i : country.indicators()) Check(i.value() == i.value());  // not NaN
    }
    stp::fuzz::CheckRefusal(v.ToStatus(), {"country"});
  }
  return 0;
}
