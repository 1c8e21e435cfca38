#include "services/matching/core/organization_index.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace stp::matching {
namespace {

using stp::common::v1::PartnerRole;
using stp::ingestion::v1::OrganizationType;

bool IsActiveStage(stp::ingestion::v1::ProjectStage stage) {
  return stage == stp::ingestion::v1::PROJECT_STAGE_APPROVED ||
         stage == stp::ingestion::v1::PROJECT_STAGE_FINANCED ||
         stage == stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION;
}

// Roles an organisation's type usually plays. Declared roles count in full; these count as a
// partial fit (MatchingConfig::implied_role_fit) so that, for example, a multilateral body that
// forgot to list "triangular partner" is still found for it.
uint16_t ImpliedRoles(OrganizationType type) {
  switch (type) {
    case stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL:
    case stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL:
      return RoleBit(stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER);
    case stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC:
      return RoleBit(stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER);
    case stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR:
      return RoleBit(stp::common::v1::PARTNER_ROLE_OPERATOR);
    case stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT:
    case stp::ingestion::v1::ORGANIZATION_TYPE_LOCAL_GOVERNMENT:
      return RoleBit(stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT);
    default:
      return 0;
  }
}

void InsertSorted(Posting& posting, uint32_t slot) {
  auto it = std::lower_bound(posting.begin(), posting.end(), slot);
  if (it == posting.end() || *it != slot) posting.insert(it, slot);
}

void EraseSorted(Posting& posting, uint32_t slot) {
  auto it = std::lower_bound(posting.begin(), posting.end(), slot);
  if (it != posting.end() && *it == slot) posting.erase(it);
}

// Removes a posting list from its map when it empties, so that codes nobody uses any more
// do not keep their buckets.
void EraseFromMap(absl::flat_hash_map<int32_t, Posting>& map, int32_t key, uint32_t slot) {
  auto it = map.find(key);
  if (it == map.end()) return;
  EraseSorted(it->second, slot);
  if (it->second.empty()) map.erase(it);
}

// ---- Memory estimate -------------------------------------------------------------------

// One glibc malloc block for a request of `bytes`: 8 bytes of header, 16-byte granularity,
// 32 bytes at least.
size_t MallocBlock(size_t bytes) {
  if (bytes == 0) return 0;
  return std::max<size_t>(32, (bytes + 8 + 15) & ~size_t{15});
}

size_t HeapBytes(const std::string& s) {
  // libstdc++ keeps up to 15 characters inside the string object.
  return s.capacity() > 15 ? MallocBlock(s.capacity() + 1) : 0;
}

template <typename T>
size_t HeapBytes(const std::vector<T>& v) {
  return MallocBlock(v.capacity() * sizeof(T));
}

// Abseil's Swiss tables: one block of slots plus one control byte per slot and a group of
// sentinel bytes.
template <typename Map>
size_t TableBytes(const Map& map) {
  if (map.capacity() == 0) return 0;
  return MallocBlock(map.capacity() * (sizeof(typename Map::value_type) + 1) + 16);
}

}  // namespace

uint16_t PackLanguage(const std::string& code) {
  if (code.size() != 2) return 0;
  auto lower = [](char c) -> int {
    if (c >= 'a' && c <= 'z') return c;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 'a';
    return -1;
  };
  const int a = lower(code[0]);
  const int b = lower(code[1]);
  if (a < 0 || b < 0) return 0;
  return static_cast<uint16_t>(a << 8 | b);
}

uint32_t PackCurrency(const std::string& code) {
  if (code.size() != 3) return 0;
  uint32_t packed = 0;
  for (char c : code) {
    const char upper = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    if (upper < 'A' || upper > 'Z') return 0;
    packed = packed << 8 | static_cast<uint8_t>(upper);
  }
  return packed;
}

std::string UnpackLanguage(uint16_t packed) {
  return std::string{static_cast<char>(packed >> 8), static_cast<char>(packed & 0xFF)};
}

uint16_t OrganizationIndex::InternCountry(const std::string& name) {
  auto [it, inserted] = data_.country_ids.try_emplace(name, kNoId);
  if (inserted) {
    // Past 65,534 countries every further name shares "none": far beyond any real registry.
    if (data_.countries.size() >= kNoId) return kNoId;
    it->second = static_cast<uint16_t>(data_.countries.size());
    CountryEntry entry;
    entry.name = name;
    data_.countries.push_back(std::move(entry));
    data_.by_country.emplace_back();
    data_.by_host_country.emplace_back();
  }
  return it->second;
}

uint16_t OrganizationIndex::InternRegion(const std::string& region) {
  if (region.empty()) return kNoId;
  auto [it, inserted] = data_.region_ids.try_emplace(region, kNoId);
  if (inserted && data_.regions.size() < kNoId) {
    it->second = static_cast<uint16_t>(data_.regions.size());
    data_.regions.push_back(region);
  }
  return it->second;
}

void OrganizationIndex::UpsertCountry(const stp::ingestion::v1::Country& country) {
  if (country.name().empty()) return;
  absl::MutexLock lock(&mu_);
  const uint16_t id = InternCountry(country.name());
  if (id == kNoId) return;
  CountryEntry& entry = data_.countries[id];
  entry.display_name = country.display_name();
  entry.income_group = country.income_group();
  entry.region = InternRegion(country.region());
  entry.sub_region = InternRegion(country.sub_region());
  entry.known = true;
  const uint16_t zone = ZoneFor(entry.region, entry.sub_region);
  if (zone != entry.zone) {
    // The projects it hosts move to the zone of its new region.
    for (const auto& [slot, projects] : data_.by_host_country[id]) {
      AddToZone(entry.zone, slot, -static_cast<int64_t>(projects));
      AddToZone(zone, slot, projects);
    }
    entry.zone = zone;
  }
}

uint16_t OrganizationIndex::ZoneFor(uint16_t region, uint16_t sub_region) {
  if (region == kNoId && sub_region == kNoId) return kNoId;
  for (size_t z = 0; z < data_.host_zones.size(); ++z) {
    const HostZone& zone = data_.host_zones[z];
    if (zone.region == region && zone.sub_region == sub_region) return static_cast<uint16_t>(z);
  }
  if (data_.host_zones.size() >= kNoId) return kNoId;
  HostZone zone;
  zone.region = region;
  zone.sub_region = sub_region;
  data_.host_zones.push_back(std::move(zone));
  return static_cast<uint16_t>(data_.host_zones.size() - 1);
}

void OrganizationIndex::AddToZone(uint16_t zone, uint32_t slot, int64_t projects) {
  if (zone == kNoId || projects == 0) return;
  std::vector<uint32_t>& counts = data_.host_zones[zone].projects;
  if (slot >= counts.size()) counts.resize(std::max<size_t>(slot + 1, data_.hot.size()), 0);
  counts[slot] += static_cast<uint32_t>(projects);  // wraps back for a negative step
}

bool OrganizationIndex::HasCountry(absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  const uint16_t id = data_.FindCountry(std::string(name));
  return id != kNoId && data_.countries[id].known;
}

uint32_t OrganizationIndex::SlotFor(const std::string& name) {
  auto it = data_.organization_slots.find(name);
  if (it != data_.organization_slots.end()) return it->second;
  uint32_t slot;
  if (!data_.free_slots.empty()) {
    slot = data_.free_slots.back();
    data_.free_slots.pop_back();
  } else {
    slot = static_cast<uint32_t>(data_.organizations.size());
    data_.organizations.emplace_back();
    data_.hot.emplace_back();
  }
  data_.organizations[slot].name = name;
  data_.organization_slots.emplace(name, slot);
  return slot;
}

void OrganizationIndex::ReleaseIfUnused(uint32_t slot) {
  const OrganizationHot& hot = data_.hot[slot];
  if (hot.present || hot.project_count > 0) return;
  data_.organization_slots.erase(data_.organizations[slot].name);
  data_.organizations[slot] = OrganizationEntry{};
  data_.hot[slot] = OrganizationHot{};
  data_.free_slots.push_back(slot);
}

void OrganizationIndex::AddPostings(uint32_t slot) {
  const OrganizationEntry& entry = data_.organizations[slot];
  const OrganizationHot& hot = data_.hot[slot];
  for (int a = 1; a < kAvenueSlots; ++a) {
    if (hot.avenue_mask & (1u << a)) InsertSorted(data_.by_avenue[a], slot);
  }
  const uint16_t roles = hot.role_mask | hot.implied_role_mask;
  for (int r = 1; r < kRoleSlots; ++r) {
    if (roles & (1u << r)) InsertSorted(data_.by_role[r], slot);
  }
  for (int32_t sector : entry.sectors) {
    InsertSorted(data_.by_sector[sector], slot);
    InsertSorted(data_.by_sector_group[sector / 100], slot);
  }
  if (hot.country != kNoId) InsertSorted(data_.by_country[hot.country], slot);
}

void OrganizationIndex::RemovePostings(uint32_t slot) {
  const OrganizationEntry& entry = data_.organizations[slot];
  const OrganizationHot& hot = data_.hot[slot];
  for (int a = 1; a < kAvenueSlots; ++a) {
    if (hot.avenue_mask & (1u << a)) EraseSorted(data_.by_avenue[a], slot);
  }
  const uint16_t roles = hot.role_mask | hot.implied_role_mask;
  for (int r = 1; r < kRoleSlots; ++r) {
    if (roles & (1u << r)) EraseSorted(data_.by_role[r], slot);
  }
  for (int32_t sector : entry.sectors) {
    EraseFromMap(data_.by_sector, sector, slot);
    EraseFromMap(data_.by_sector_group, sector / 100, slot);
  }
  if (hot.country != kNoId) EraseSorted(data_.by_country[hot.country], slot);
}

void OrganizationIndex::UpsertOrganization(const stp::ingestion::v1::Organization& org) {
  if (org.name().empty()) return;
  absl::MutexLock lock(&mu_);
  const uint32_t slot = SlotFor(org.name());
  if (data_.hot[slot].present) {
    RemovePostings(slot);
  } else {
    ++data_.present_count;
  }
  // Country first: interning may grow `countries`, never `organizations`, so references into
  // the organisation arrays stay valid below.
  const uint16_t country = org.country().empty() ? kNoId : InternCountry(org.country());
  OrganizationEntry& entry = data_.organizations[slot];
  OrganizationHot& hot = data_.hot[slot];
  hot.present = true;
  hot.country = country;
  hot.dfi = org.type() == stp::ingestion::v1::ORGANIZATION_TYPE_DFI;
  entry.display_name = org.display_name();
  entry.type = org.type();

  hot.avenue_mask = 0;
  for (int avenue : org.avenues()) {
    if (avenue > 0 && avenue < kAvenueSlots) hot.avenue_mask |= 1u << avenue;
  }
  hot.role_mask = 0;
  for (int role : org.roles()) {
    if (role > 0 && role < kRoleSlots) hot.role_mask |= 1u << role;
  }
  // A development finance institution is a financier whether or not it says so.
  if (hot.dfi) hot.role_mask |= RoleBit(stp::common::v1::PARTNER_ROLE_FINANCIER);
  hot.implied_role_mask = ImpliedRoles(org.type()) & ~hot.role_mask;

  entry.sectors.assign(org.dac_sectors().begin(), org.dac_sectors().end());
  entry.sectors.erase(
      std::remove_if(entry.sectors.begin(), entry.sectors.end(), [](int32_t s) { return s <= 0; }),
      entry.sectors.end());
  std::sort(entry.sectors.begin(), entry.sectors.end());
  entry.sectors.erase(std::unique(entry.sectors.begin(), entry.sectors.end()), entry.sectors.end());
  entry.sectors.shrink_to_fit();

  entry.languages.clear();
  for (const std::string& language : org.languages()) {
    const uint16_t packed = PackLanguage(language);
    if (packed != 0) entry.languages.push_back(packed);
  }
  std::sort(entry.languages.begin(), entry.languages.end());
  entry.languages.erase(std::unique(entry.languages.begin(), entry.languages.end()),
                        entry.languages.end());
  entry.languages.shrink_to_fit();
  hot.languages = {};
  hot.language_count = static_cast<uint8_t>(std::min<size_t>(entry.languages.size(), 255));
  std::copy_n(entry.languages.begin(), std::min(entry.languages.size(), hot.languages.size()),
              hot.languages.begin());

  const auto& capacity = org.financing_capacity();
  const double amount = static_cast<double>(capacity.units()) + capacity.nanos() / 1e9;
  hot.financing_capacity = std::isfinite(amount) && amount > 0 ? amount : 0;
  // Capacities are recorded in USD unless a currency says otherwise.
  entry.capacity_currency = hot.financing_capacity <= 0        ? ""
                            : capacity.currency_code().empty() ? "USD"
                                                               : capacity.currency_code();
  hot.capacity_currency = PackCurrency(entry.capacity_currency);

  AddPostings(slot);
}

void OrganizationIndex::RemoveOrganization(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = data_.organization_slots.find(name);
  if (it == data_.organization_slots.end()) return;
  const uint32_t slot = it->second;
  OrganizationHot& hot = data_.hot[slot];
  if (!hot.present) return;
  RemovePostings(slot);
  --data_.present_count;
  // Keep only the track record; the rest comes back with the next upsert.
  OrganizationHot record;
  record.project_count = hot.project_count;
  record.scored_count = hot.scored_count;
  record.active_count = hot.active_count;
  record.score_milli_sum = hot.score_milli_sum;
  hot = record;
  OrganizationEntry& entry = data_.organizations[slot];
  OrganizationEntry kept;
  kept.name = std::move(entry.name);
  entry = std::move(kept);
  ReleaseIfUnused(slot);
}

void OrganizationIndex::ApplyProject(const std::string& project_name, const ProjectEntry& project,
                                     int sign) {
  auto score = data_.project_score_milli.find(project_name);
  const bool scored = score != data_.project_score_milli.end();
  const uint32_t step = static_cast<uint32_t>(sign);  // +1 or, by wrap-around, -1
  for (uint32_t slot : project.participants) {
    OrganizationHot& hot = data_.hot[slot];
    hot.project_count += step;
    if (scored) {
      hot.scored_count += step;
      hot.score_milli_sum += sign * score->second;
    }
    if (project.active) hot.active_count += step;
    if (project.host_country != kNoId) {
      auto& hosted = data_.by_host_country[project.host_country];
      auto [it, inserted] = hosted.try_emplace(slot, 0);
      it->second += step;
      if (it->second == 0) hosted.erase(it);
      AddToZone(data_.countries[project.host_country].zone, slot, sign);
    }
    if (sign < 0) ReleaseIfUnused(slot);
  }
}

void OrganizationIndex::EraseProject(const std::string& name) {
  auto it = data_.projects.find(name);
  if (it == data_.projects.end()) return;
  ApplyProject(name, it->second, -1);
  data_.projects.erase(it);
}

void OrganizationIndex::UpsertProject(const stp::ingestion::v1::Project& project) {
  if (project.name().empty()) return;
  absl::MutexLock lock(&mu_);
  const std::string& name = project.name();
  EraseProject(name);
  // A hidden project is not indexed at all. Its score, if any, stays in the score table,
  // where nothing reads it unless the project is made public again.
  if (project.visibility() == stp::ingestion::v1::VISIBILITY_PARTICIPANTS) return;

  ProjectEntry entry;
  entry.host_country =
      project.host_country().empty() ? kNoId : InternCountry(project.host_country());
  entry.active = IsActiveStage(project.stage());
  for (const auto& participant : project.participants()) {
    if (participant.organization().empty()) continue;
    entry.participants.push_back(SlotFor(participant.organization()));
  }
  // One organisation in two roles is still one project on its record.
  std::sort(entry.participants.begin(), entry.participants.end());
  entry.participants.erase(std::unique(entry.participants.begin(), entry.participants.end()),
                           entry.participants.end());
  entry.participants.shrink_to_fit();
  ApplyProject(name, entry, +1);
  data_.projects.emplace(name, std::move(entry));
}

void OrganizationIndex::RemoveProject(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  const std::string key(name);
  EraseProject(key);
  data_.project_score_milli.erase(key);
}

void OrganizationIndex::SetProjectScore(absl::string_view project, double total) {
  if (!std::isfinite(total)) return;
  const int64_t milli = std::llround(std::clamp(total, 0.0, 100.0) * 1000);
  absl::MutexLock lock(&mu_);
  const std::string key(project);
  auto [score, inserted] = data_.project_score_milli.try_emplace(key, milli);
  const int64_t previous = inserted ? 0 : score->second;
  score->second = milli;
  auto it = data_.projects.find(key);
  if (it == data_.projects.end()) return;  // kept until the project arrives or is public
  for (uint32_t slot : it->second.participants) {
    OrganizationHot& hot = data_.hot[slot];
    if (inserted) ++hot.scored_count;
    hot.score_milli_sum += milli - previous;
  }
}

void OrganizationIndex::Clear() {
  absl::MutexLock lock(&mu_);
  data_ = IndexData{};
}

size_t OrganizationIndex::organization_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return data_.present_count;
}

size_t OrganizationIndex::ApproximateMemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  size_t bytes = sizeof(*this);
  bytes += HeapBytes(data_.countries) + TableBytes(data_.country_ids);
  for (const CountryEntry& c : data_.countries) {
    bytes += HeapBytes(c.name) + HeapBytes(c.display_name);
  }
  for (const auto& [name, id] : data_.country_ids) bytes += HeapBytes(name);
  bytes += HeapBytes(data_.regions) + TableBytes(data_.region_ids);
  for (const std::string& r : data_.regions) bytes += 2 * HeapBytes(r);  // vector and map key

  bytes += HeapBytes(data_.hot) + HeapBytes(data_.organizations) +
           TableBytes(data_.organization_slots) + HeapBytes(data_.free_slots);
  for (const OrganizationEntry& e : data_.organizations) {
    bytes += HeapBytes(e.name) + HeapBytes(e.display_name) + HeapBytes(e.capacity_currency) +
             HeapBytes(e.sectors) + HeapBytes(e.languages);
  }
  for (const auto& [name, slot] : data_.organization_slots) bytes += HeapBytes(name);

  bytes += TableBytes(data_.projects);
  for (const auto& [name, project] : data_.projects) {
    bytes += HeapBytes(name) + HeapBytes(project.participants);
  }
  bytes += TableBytes(data_.project_score_milli);
  for (const auto& [name, score] : data_.project_score_milli) bytes += HeapBytes(name);

  for (const Posting& p : data_.by_avenue) bytes += HeapBytes(p);
  for (const Posting& p : data_.by_role) bytes += HeapBytes(p);
  bytes += TableBytes(data_.by_sector) + TableBytes(data_.by_sector_group);
  for (const auto& [sector, p] : data_.by_sector) bytes += HeapBytes(p);
  for (const auto& [group, p] : data_.by_sector_group) bytes += HeapBytes(p);
  bytes += HeapBytes(data_.by_country);
  for (const Posting& p : data_.by_country) bytes += HeapBytes(p);
  bytes += HeapBytes(data_.by_host_country);
  for (const auto& hosted : data_.by_host_country) bytes += TableBytes(hosted);
  bytes += HeapBytes(data_.host_zones);
  for (const HostZone& zone : data_.host_zones) bytes += HeapBytes(zone.projects);

  return bytes;
}

size_t OrganizationIndex::ApproximateBytesPerOrganization() const {
  const size_t count = organization_count();
  return count == 0 ? 0 : ApproximateMemoryBytes() / count;
}

}  // namespace stp::matching
