// Who is calling, as established by the authenticator, and what that caller may do.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

// What decides whether a caller sees a stored resource, read from its serialized bytes
// without parsing the rest (reads that answer with the stored bytes as they are): the value of
// its visibility enum field, and whether `organization` is among the names at
// `organization_path`: a repeated string field ({27}), or a string field of a repeated message
// field ({participants, organization}). nullopt when the bytes are not a well-formed message.
struct SerializedAccess {
  int visibility = 0;
  bool names_organization = false;

  // The rule every read applies: a resource whose visibility is `participants_only` shows to
  // operators and to its participants' organisations only.
  bool VisibleTo(const Principal& principal, int participants_only) const {
    return visibility != participants_only || principal.is_operator() || names_organization;
  }
};
std::optional<SerializedAccess> ReadSerializedAccess(absl::string_view serialized,
                                                     int visibility_field,
                                                     std::initializer_list<int> organization_path,
                                                     const std::string& organization);

// PERMISSION_DENIED unless the principal has at least `wanted`.
absl::Status RequireRole(const Principal& principal, AccessRole wanted);

}  // namespace stp
