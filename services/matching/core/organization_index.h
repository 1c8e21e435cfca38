// The in-memory index of organisations that the matcher ranks: who works in which avenues
// and sectors, who plays which roles, and each organisation's track record from the projects
// it takes part in. The service layer fills it from a startup listing and keeps it current
// from events.
#pragma once

#include <cstddef>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "services/matching/core/index_data.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::matching {

// Thread-safe: many concurrent readers (queries) with occasional writers (events). Every
// write is applied whole under the writer lock, so a query sees the index before or after
// an event, never half of one.
class OrganizationIndex {
 public:
  OrganizationIndex() = default;
  OrganizationIndex(const OrganizationIndex&) = delete;
  OrganizationIndex& operator=(const OrganizationIndex&) = delete;

  // Countries give organisations and hosts their income group and (sub-)region.
  void UpsertCountry(const stp::ingestion::v1::Country& country);
  bool HasCountry(absl::string_view name) const;

  void UpsertOrganization(const stp::ingestion::v1::Organization& org);
  // The organisation stops being a candidate at once. Its track record is kept while projects
  // still name it, so that re-adding it restores the same history.
  void RemoveOrganization(absl::string_view name);

  // Track records: which organisations take part in which projects (host country, stage).
  // Projects with visibility PARTICIPANTS are ignored entirely, and a project that turns
  // PARTICIPANTS is removed, so hidden projects never leak through matching.
  void UpsertProject(const stp::ingestion::v1::Project& project);
  void RemoveProject(absl::string_view name);
  // The project's current score total (0-100) from SCORE_CHANGED events. A score that arrives
  // before its project is kept until the project does; a hidden project's score is kept but
  // never applied.
  void SetProjectScore(absl::string_view project, double total);
  // Forgets everything (before a full reload that must not build over what was held).
  void Clear();

  // Organisations that can be candidates (upserted and not removed).
  size_t organization_count() const;
  // Estimated heap and inline bytes held by the whole index: every container's capacity,
  // every string longer than the inline buffer, hash-table control bytes, and glibc malloc's
  // per-block overhead (8 bytes, 16-byte granularity, 32-byte minimum; jemalloc, which the
  // servers link, rounds to size classes instead: 3.5 % above its count). It walks
  // the index (O(organisations + projects)), so call it for metrics, not per query. The unit
  // test compares it with the heap growth the allocator reports (HeapBytesInUse) while an
  // index is filled.
  size_t ApproximateMemoryBytes() const;
  // ApproximateMemoryBytes() / organization_count(): the figure docs/matching.md reports.
  size_t ApproximateBytesPerOrganization() const;

  // Runs `reader(const IndexData&)` under the reader lock and returns what it returns. The
  // matcher's way in; `reader` must not call back into the index.
  template <typename Reader>
  auto Read(Reader&& reader) const {
    absl::ReaderMutexLock lock(&mu_);
    return std::forward<Reader>(reader)(static_cast<const IndexData&>(data_));
  }

 private:
  uint16_t InternCountry(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint16_t InternRegion(const std::string& region) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The host zone of a (region, sub-region) pair, made on first use; kNoId for neither.
  uint16_t ZoneFor(uint16_t region, uint16_t sub_region) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds `projects` (may be negative) to the slot's count in the zone; kNoId does nothing.
  void AddToZone(uint16_t zone, uint32_t slot, int64_t projects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t SlotFor(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseIfUnused(uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddPostings(uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemovePostings(uint32_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds (sign +1) or takes away (sign -1) one project's part in its participants' records.
  void ApplyProject(const std::string& project_name, const ProjectEntry& project, int sign)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseProject(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  IndexData data_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stp::matching
