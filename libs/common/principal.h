// Who is calling, as established by the authenticator, and what that caller may do.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stp {

// Mirrors stp.admin.v1.AccessRole.
enum class AccessRole { kNone = 0, kReader = 1, kPartner = 2, kOperator = 3 };

const char* AccessRoleName(AccessRole role);

struct Principal {
  std::string id;  // the credential: "apiKeys/k7f3…", "cert:spiffe://…", "service:scoring"
  std::string organization;  // "organizations/{id}", empty for operators without one
  AccessRole role = AccessRole::kNone;

  bool AtLeast(AccessRole wanted) const {
    return static_cast<int>(role) >= static_cast<int>(wanted);
  }
  bool is_operator() const { return role == AccessRole::kOperator; }
  // What history and events record as the actor.
  std::string Actor() const;

  // The principal a process uses for its own writes (scoring's score events, imports run by
  // the server) and the one every call gets when authentication is switched off.
  static Principal Service(const std::string& name);
};

// PERMISSION_DENIED unless the principal has at least `wanted`.
absl::Status RequireRole(const Principal& principal, AccessRole wanted);

}  // namespace stp
