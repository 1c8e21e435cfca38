// The storage behind OrganizationIndex: organisations in dense slots, the projects that make
// their track records, and the inverted indexes. OrganizationIndex owns one and guards it with
// a mutex; the matcher reads it only through OrganizationIndex::Read, under the reader lock.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "stp/common/v1/common.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::matching {

// Interned country and region ids; kNoId marks "none" (an organisation of no country, a
// country without a recorded region).
inline constexpr uint16_t kNoId = 0xFFFF;
// Enum ranges used as array sizes and bit positions.
inline constexpr int kAvenueSlots = stp::common::v1::Avenue_ARRAYSIZE;
inline constexpr int kRoleSlots = stp::common::v1::PartnerRole_ARRAYSIZE;

constexpr uint16_t RoleBit(stp::common::v1::PartnerRole role) {
  return static_cast<uint16_t>(1u << static_cast<unsigned>(role));
}
constexpr uint8_t AvenueBit(stp::common::v1::Avenue avenue) {
  return static_cast<uint8_t>(1u << static_cast<unsigned>(avenue));
}

// An ISO 639-1 code packed into 16 bits ("en" -> 'e' << 8 | 'n'); 0 for anything that is not
// two ASCII letters.
uint16_t PackLanguage(const std::string& code);
std::string UnpackLanguage(uint16_t packed);
// An ISO 4217 code packed into 32 bits; 0 for anything that is not three ASCII letters.
uint32_t PackCurrency(const std::string& code);

struct CountryEntry {
  std::string name;  // "countries/EG"
  std::string display_name;
  stp::common::v1::IncomeGroup income_group = stp::common::v1::INCOME_GROUP_UNSPECIFIED;
  uint16_t region = kNoId;
  uint16_t sub_region = kNoId;
  // Its entry in IndexData::host_zones; kNoId when it has neither region nor sub-region.
  uint16_t zone = kNoId;
  // False while the country is only named by an organisation or project, not yet upserted.
  bool known = false;
};

// The countries that share one (region, sub-region) pair, as hosts: per organisation slot, how
// many of its visible projects they host. A query reads host experience in the host's
// sub-region and region from the few zones there are, in slot order, instead of walking every
// country's postings (a region can hold a third of all participations).
struct HostZone {
  uint16_t region = kNoId;
  uint16_t sub_region = kNoId;
  std::vector<uint32_t> projects;  // by slot; may be shorter than the slot array (zeros)
};

// What ranking reads for every candidate, packed into one cache line per organisation and
// kept in its own array: a query streams through 56 bytes per candidate instead of chasing
// strings and vectors. Everything else lives in OrganizationEntry.
struct OrganizationHot {
  uint8_t avenue_mask = 0;
  // False for an organisation only named as a project participant so far (or removed while
  // projects still name it): it keeps its track record but is never a candidate.
  bool present = false;
  // Roles it declares, plus FINANCIER for a development finance institution.
  uint16_t role_mask = 0;
  // Roles its type usually plays but it does not declare (a multilateral body as triangular
  // partner, a university as research partner, a government as host government).
  uint16_t implied_role_mask = 0;
  uint16_t country = kNoId;

  // Track record over visible (non-PARTICIPANTS) projects. Scores are kept in thousandths of
  // a point so that adding and removing projects in any order gives exactly the same sums.
  uint32_t project_count = 0;
  uint32_t scored_count = 0;
  // Projects in the APPROVED, FINANCED or IMPLEMENTATION stage.
  uint32_t active_count = 0;
  uint32_t capacity_currency = 0;  // PackCurrency; 0 when no capacity is recorded
  int64_t score_milli_sum = 0;
  // Financing capacity per project; 0 when unknown.
  double financing_capacity = 0;

  // The first four working languages (packed ISO 639-1, sorted); OrganizationEntry has all.
  std::array<uint16_t, 4> languages{};
  uint8_t language_count = 0;
  bool dfi = false;
};

static_assert(sizeof(OrganizationHot) <= 64, "one cache line per candidate");

// The rest of an organisation: names and lists, read only for the few candidates that get
// past the score bound, to explain those shown, and to maintain the indexes.
struct OrganizationEntry {
  std::string name;  // "organizations/{id}"
  std::string display_name;
  stp::ingestion::v1::OrganizationType type = stp::ingestion::v1::ORGANIZATION_TYPE_UNSPECIFIED;
  std::vector<int32_t> sectors;     // DAC 5-digit codes, sorted, unique
  std::vector<uint16_t> languages;  // packed ISO 639-1, sorted, unique (all of them)
  std::string capacity_currency;
};

struct ProjectEntry {
  uint16_t host_country = kNoId;
  bool active = false;                 // APPROVED, FINANCED or IMPLEMENTATION
  std::vector<uint32_t> participants;  // organisation slots, unique
};

// Sorted organisation slots.
using Posting = std::vector<uint32_t>;

struct IndexData {
  std::vector<CountryEntry> countries;
  absl::flat_hash_map<std::string, uint16_t> country_ids;
  std::vector<std::string> regions;  // regions and sub-regions share one id space
  absl::flat_hash_map<std::string, uint16_t> region_ids;

  std::vector<OrganizationHot> hot;              // by slot
  std::vector<OrganizationEntry> organizations;  // by slot
  absl::flat_hash_map<std::string, uint32_t> organization_slots;
  std::vector<uint32_t> free_slots;
  size_t present_count = 0;

  absl::flat_hash_map<std::string, ProjectEntry> projects;  // visible projects only
  // Latest score per project, in thousandths of a point. Also holds scores of projects not
  // indexed: those that arrive before their project (events from different streams are not
  // ordered with each other) and those of hidden projects, which are applied only if the
  // project is made public. RemoveProject drops the entry.
  absl::flat_hash_map<std::string, int64_t> project_score_milli;

  // Inverted indexes over present organisations. A role posting holds declared, DFI and
  // type-implied roles.
  std::array<Posting, kAvenueSlots> by_avenue;
  std::array<Posting, kRoleSlots> by_role;
  absl::flat_hash_map<int32_t, Posting> by_sector;        // exact 5-digit code
  absl::flat_hash_map<int32_t, Posting> by_sector_group;  // 3-digit DAC category (code / 100)
  std::vector<Posting> by_country;                        // organisations based there
  // Per host country: organisation slot -> how many of its visible projects that country
  // hosts. A query sums host experience from the postings of the host's region at once,
  // rather than walking each candidate's projects.
  std::vector<absl::flat_hash_map<uint32_t, uint32_t>> by_host_country;
  std::vector<HostZone> host_zones;

  const CountryEntry* country(uint16_t id) const {
    return id == kNoId || id >= countries.size() ? nullptr : &countries[id];
  }
  uint16_t FindCountry(const std::string& name) const {
    auto it = country_ids.find(name);
    return it == country_ids.end() ? kNoId : it->second;
  }
};

}  // namespace stp::matching
