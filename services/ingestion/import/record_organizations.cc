#include "services/ingestion/import/record_organizations.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/ingestion/import/value_parsing.h"

namespace stp::ingestion {
namespace {

// ASCII letters for U+00C0..U+00FF (UTF-8 C3 80..C3 BF); ' ' where there is no sensible one.
constexpr absl::string_view kLatin1Folding =
    "aaaaaaaceeeeiiiidnooooo ouuuuy saaaaaaaceeeeiiiidnooooo ouuuuy y";
static_assert(kLatin1Folding.size() == 64);

// A pattern "first ... second": `first` as a word, then `second` later in the name.
struct SplitPattern {
  absl::string_view first;
  absl::string_view second;
};
constexpr absl::string_view kDfiWords[] = {
    " development bank ", " export import bank ", " exim bank ",          " eximbank ",
    " investment bank ",  " development fund ",   " finance corporation "};
constexpr SplitPattern kDfiSplitPatterns[] = {
    {" banque ", " de developpement "},
    {" banco ", " de desarrollo "},
    {" banco ", " de desenvolvimento "},
};

}  // namespace

std::string PendingOrganization(int index) { return absl::StrCat("pending:", index); }

std::string NormalizeOrganizationName(absl::string_view name) {
  std::string folded;
  folded.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == 0xC3 && i + 1 < name.size()) {
      unsigned char next = static_cast<unsigned char>(name[i + 1]);
      if (next >= 0x80 && next <= 0xBF) {
        folded.push_back(kLatin1Folding[next - 0x80]);
        ++i;
        continue;
      }
    }
    if (c < 0x80 && !absl::ascii_isalnum(c)) {
      folded.push_back(' ');
    } else {
      folded.push_back(static_cast<char>(absl::ascii_tolower(c)));
    }
  }
  return CollapseWhitespace(folded);
}

bool LooksLikeDevelopmentFinanceInstitution(absl::string_view name) {
  std::string padded_name = absl::StrCat(" ", NormalizeOrganizationName(name), " ");
  absl::string_view padded = padded_name;
  for (absl::string_view word : kDfiWords) {
    if (absl::StrContains(padded, word)) return true;
  }
  for (const SplitPattern& pattern : kDfiSplitPatterns) {
    size_t first = padded.find(pattern.first);
    // The patterns share their spaces, so search on from the first word's last space.
    if (first != absl::string_view::npos &&
        padded.find(pattern.second, first + pattern.first.size() - 1) != absl::string_view::npos) {
      return true;
    }
  }
  return false;
}

std::string CountryFromOrganizationRef(absl::string_view ref) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(ref);
  if (trimmed.size() < 4 || trimmed[2] != '-') return "";
  std::string prefix = absl::AsciiStrToUpper(trimmed.substr(0, 2));
  if (!IsAssignedCountryCode(prefix)) return "";
  return absl::StrCat("countries/", prefix);
}

int RecordOrganizations::Find(absl::string_view ref, absl::string_view name) const {
  if (!ref.empty()) {
    if (auto found = index_by_ref_.find(std::string(ref)); found != index_by_ref_.end()) {
      return found->second;
    }
  }
  std::string normalized = NormalizeOrganizationName(name);
  if (!normalized.empty()) {
    if (auto found = index_by_normalized_name_.find(normalized);
        found != index_by_normalized_name_.end()) {
      return found->second;
    }
  }
  return -1;
}

int RecordOrganizations::Add(ImportedOrganization organization) {
  int index = Find(organization.ref, organization.name);
  std::vector<PartnerRole> roles = std::move(organization.roles);
  if (index < 0) {
    index = size();
    organization.roles.clear();
    organizations_.push_back(std::move(organization));
  } else {
    ImportedOrganization& known = organizations_[index];
    if (known.ref.empty()) known.ref = std::move(organization.ref);
    if (known.name.empty()) known.name = std::move(organization.name);
    if (known.type == stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED) {
      known.type = organization.type;
    }
    if (known.country.empty()) known.country = std::move(organization.country);
  }
  const ImportedOrganization& added = organizations_[index];
  if (!added.ref.empty()) index_by_ref_.emplace(added.ref, index);
  std::string normalized = NormalizeOrganizationName(added.name);
  if (!normalized.empty()) index_by_normalized_name_.emplace(std::move(normalized), index);
  for (PartnerRole role : roles) AddRole(index, role);
  return index;
}

void AddRole(std::vector<PartnerRole>* roles, PartnerRole role) {
  auto position = std::lower_bound(roles->begin(), roles->end(), role);
  if (position == roles->end() || *position != role) roles->insert(position, role);
}

void RecordOrganizations::AddRole(int index, PartnerRole role) {
  stp::ingestion::AddRole(&organizations_[index].roles, role);
}

}  // namespace stp::ingestion
