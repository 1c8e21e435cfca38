#include "libs/common/principal.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

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

namespace {

using google::protobuf::internal::WireFormatLite;

// Scans one message: records the visibility (at the top level only) and whether the names at
// `path` include `organization`. At the top level the last field of the path is a repeated
// string (every value counts); inside a message it is a singular string, where the parser keeps
// the last value, so only the last counts. False when the bytes are malformed.
bool ScanAccess(absl::string_view bytes, int visibility_field, const int* path, size_t depth,
                bool nested, const std::string& organization, SerializedAccess* out) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  bool last_names = false;
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (visibility_field > 0 && field == visibility_field &&
        type == WireFormatLite::WIRETYPE_VARINT) {
      uint32_t value = 0;
      if (!in.ReadVarint32(&value)) return false;
      out->visibility = static_cast<int>(value);
    } else if (depth > 0 && field == path[0] && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string value;
      if (!WireFormatLite::ReadString(&in, &value)) return false;
      if (depth > 1) {
        if (!ScanAccess(value, 0, path + 1, depth - 1, true, organization, out)) return false;
      } else {
        last_names = !organization.empty() && value == organization;
        if (!nested && last_names) out->names_organization = true;
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  if (nested && last_names) out->names_organization = true;
  return in.ConsumedEntireMessage();
}

}  // namespace

std::optional<SerializedAccess> ReadSerializedAccess(absl::string_view serialized,
                                                     int visibility_field,
                                                     std::initializer_list<int> organization_path,
                                                     const std::string& organization) {
  SerializedAccess access;
  if (!ScanAccess(serialized, visibility_field, organization_path.begin(), organization_path.size(),
                  false, organization, &access)) {
    return std::nullopt;
  }
  return access;
}

}  // namespace stp
