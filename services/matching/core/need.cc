#include "services/matching/core/need.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/status.h"

namespace stp::matching {
namespace {

using stp::matching::v1::PartnerNeed;

constexpr int kMaxNameLength = 200;

bool IsUpperAlpha(absl::string_view s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!absl::ascii_isupper(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsIso639_1(absl::string_view s) {
  return s.size() == 2 && absl::ascii_islower(static_cast<unsigned char>(s[0])) &&
         absl::ascii_islower(static_cast<unsigned char>(s[1]));
}

// "parks/{id}": the collection prefix, a non-empty id without '/', at most 200 characters.
bool IsResourceName(absl::string_view name, absl::string_view collection) {
  if (name.size() > kMaxNameLength || !absl::StartsWith(name, collection)) return false;
  absl::string_view id = name.substr(collection.size());
  return !id.empty() && !absl::StrContains(id, '/');
}

// Checks every field of `need`, adding a violation per problem, and fills `out`.
void CheckNeed(const PartnerNeed& need, const OrganizationIndex& index, FieldViolations& problems,
               Need& out) {
  const bool has_context = !need.park().empty() || !need.project().empty();

  if (need.host_country().empty()) {
    if (!has_context) {
      problems.Add("need.host_country", "required unless park or project is given");
    }
  } else if (!absl::StartsWith(need.host_country(), "countries/") ||
             !IsUpperAlpha(absl::string_view(need.host_country()).substr(10), 2)) {
    problems.Add("need.host_country", "must be a country resource name such as \"countries/EG\"");
  } else if (!index.HasCountry(need.host_country())) {
    problems.Add("need.host_country", absl::StrCat("unknown country ", need.host_country()));
  } else {
    out.host_country = need.host_country();
  }
  if (!need.park().empty() && !IsResourceName(need.park(), "parks/")) {
    problems.Add("need.park", "must be a park resource name such as \"parks/abc\"");
  }
  if (!need.project().empty() && !IsResourceName(need.project(), "projects/")) {
    problems.Add("need.project", "must be a project resource name such as \"projects/abc\"");
  }

  if (need.avenues().empty() && !has_context) {
    problems.Add("need.avenues", "at least one avenue is required unless park or project is given");
  }
  if (need.avenues_size() > kMaxAvenues) {
    problems.Add("need.avenues", absl::StrCat("at most ", kMaxAvenues, " avenues"));
  } else {
    for (int i = 0; i < need.avenues_size(); ++i) {
      const int avenue = need.avenues(i);
      if (avenue == stp::common::v1::AVENUE_UNSPECIFIED ||
          !stp::common::v1::Avenue_IsValid(avenue)) {
        problems.Add(absl::StrCat("need.avenues[", i, "]"),
                     absl::StrCat(avenue,
                                  " is not an avenue; use AVENUE_E_COMMERCE (1) to "
                                  "AVENUE_AGRICULTURE (5)"));
        continue;
      }
      out.avenues.push_back(static_cast<stp::common::v1::Avenue>(avenue));
    }
  }

  if (need.dac_sectors_size() > kMaxSectors) {
    problems.Add("need.dac_sectors", absl::StrCat("at most ", kMaxSectors, " sectors"));
  } else {
    for (int i = 0; i < need.dac_sectors_size(); ++i) {
      const int sector = need.dac_sectors(i);
      if (sector < 10000 || sector > 99999) {
        problems.Add(absl::StrCat("need.dac_sectors[", i, "]"),
                     absl::StrCat(sector, " is not an OECD DAC 5-digit purpose code"));
        continue;
      }
      out.dac_sectors.push_back(sector);
    }
  }

  if (need.roles().empty()) {
    problems.Add("need.roles", "at least one wanted role is required");
  } else if (need.roles_size() > kMaxRoles) {
    problems.Add("need.roles", absl::StrCat("at most ", kMaxRoles, " roles"));
  } else {
    for (int i = 0; i < need.roles_size(); ++i) {
      const int role = need.roles(i);
      const std::string field = absl::StrCat("need.roles[", i, "]");
      if (role == stp::common::v1::PARTNER_ROLE_UNSPECIFIED) {
        problems.Add(field, "PARTNER_ROLE_UNSPECIFIED is not a role");
        continue;
      }
      if (!stp::common::v1::PartnerRole_IsValid(role)) {
        problems.Add(field, absl::StrCat(role, " is not a known partner role"));
        continue;
      }
      int first = -1;
      for (int j = 0; j < i && first < 0; ++j) {
        if (need.roles(j) == role) first = j;
      }
      if (first >= 0) {
        problems.Add(field, absl::StrCat("repeats need.roles[", first, "] (",
                                         stp::common::v1::PartnerRole_Name(role), ")"));
        continue;
      }
      out.roles.push_back(static_cast<stp::common::v1::PartnerRole>(role));
    }
  }

  if (need.has_budget()) {
    const auto& budget = need.budget();
    if (budget.units() < 0 || budget.nanos() < 0 || budget.nanos() > 999'999'999) {
      problems.Add("need.budget", "must not be negative (nanos 0 to 999,999,999)");
    } else {
      out.budget = static_cast<double>(budget.units()) + budget.nanos() / 1e9;
      out.budget_currency = budget.currency_code();
      if (out.budget > 0 && !IsUpperAlpha(budget.currency_code(), 3)) {
        problems.Add("need.budget.currency_code",
                     "must be an ISO 4217 code such as \"USD\" when a budget is given");
      }
    }
  }

  if (need.languages_size() > kMaxLanguages) {
    problems.Add("need.languages", absl::StrCat("at most ", kMaxLanguages, " languages"));
  } else {
    for (int i = 0; i < need.languages_size(); ++i) {
      if (!IsIso639_1(need.languages(i))) {
        problems.Add(absl::StrCat("need.languages[", i, "]"),
                     "must be an ISO 639-1 code: two lower-case letters such as \"ar\"");
        continue;
      }
      out.languages.push_back(need.languages(i));
    }
  }

  if (need.excluded_organizations_size() > kMaxExcluded) {
    problems.Add("need.excluded_organizations",
                 absl::StrCat("at most ", kMaxExcluded, " organisations may be excluded"));
  } else {
    for (int i = 0; i < need.excluded_organizations_size(); ++i) {
      const std::string& name = need.excluded_organizations(i);
      if (!IsResourceName(name, "organizations/")) {
        problems.Add(absl::StrCat("need.excluded_organizations[", i, "]"),
                     "must be an organisation resource name such as \"organizations/abc\"");
        continue;
      }
      out.excluded.insert(name);
    }
  }
}

}  // namespace

absl::StatusOr<Need> ValidateNeed(const PartnerNeed& need, int page_size,
                                  const OrganizationIndex& index) {
  FieldViolations problems;
  Need out;
  CheckNeed(need, index, problems, out);
  if (page_size < 0 || page_size > kMaxPageSize) {
    problems.Add("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize, " (0 means ",
                                           kDefaultPageSize, ")"));
  }
  STP_RETURN_IF_ERROR(problems.ToStatus());
  return out;
}

absl::StatusOr<Need> ValidateFindPartnersRequest(
    const stp::matching::v1::FindPartnersRequest& request, const OrganizationIndex& index) {
  return ValidateNeed(request.need(), request.page_size(), index);
}

absl::StatusOr<Need> ValidateProposeConsortiaRequest(
    const stp::matching::v1::ProposeConsortiaRequest& request, const OrganizationIndex& index) {
  FieldViolations problems;
  Need out;
  CheckNeed(request.need(), index, problems, out);
  if (request.max_consortia() < 0 || request.max_consortia() > kMaxConsortia) {
    problems.Add("max_consortia", absl::StrCat("must be between 0 and ", kMaxConsortia,
                                               " (0 means ", kDefaultConsortia, ")"));
  }
  STP_RETURN_IF_ERROR(problems.ToStatus());
  out.constraints = request.constraints();
  return out;
}

}  // namespace stp::matching
