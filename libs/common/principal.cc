#include "libs/common/principal.h"

#include "absl/strings/str_cat.h"
#include "libs/common/status.h"

namespace stp {

const char* AccessRoleName(AccessRole role) {
  switch (role) {
    case AccessRole::kReader:
      return "READER";
    case AccessRole::kPartner:
      return "PARTNER";
    case AccessRole::kOperator:
      return "OPERATOR";
    case AccessRole::kNone:
      break;
  }
  return "NONE";
}

std::string Principal::Actor() const {
  if (organization.empty()) return id;
  return absl::StrCat(organization, " via ", id);
}

Principal Principal::Service(const std::string& name) {
  Principal p;
  p.id = "service:" + name;
  p.role = AccessRole::kOperator;
  return p;
}

absl::Status RequireRole(const Principal& principal, AccessRole wanted) {
  if (principal.AtLeast(wanted)) return absl::OkStatus();
  return WithErrorInfo(
      absl::PermissionDeniedError(absl::StrCat("this method needs the ", AccessRoleName(wanted),
                                               " role; the credential ", principal.id, " has ",
                                               AccessRoleName(principal.role))),
      "ROLE_TOO_LOW", {{"required_role", AccessRoleName(wanted)}});
}

}  // namespace stp
