#include "services/ingestion/project_index.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "libs/common/event_header.h"
#include "libs/common/logging.h"
#include "libs/common/status.h"
#include "libs/redis/streams.h"
#include "services/ingestion/registry.h"

namespace stp::ingestion {

namespace ev = stp::events::v1;

// ------------------------------------------------------------------ ProjectIndex

bool ProjectIndex::Put(const std::string& id, int64_t revision, std::vector<std::string> terms) {
  terms.erase(std::remove(terms.begin(), terms.end(), std::string()), terms.end());
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  return Set(id, revision, false, std::move(terms));
}

bool ProjectIndex::Remove(const std::string& id, int64_t revision) {
  return Set(id, revision, true, {});
}

bool ProjectIndex::Set(const std::string& id, int64_t revision, bool deleted,
                       std::vector<std::string> terms) {
  absl::MutexLock lock(&mu_);
  if (reloading_) during_reload_.push_back({id, revision, deleted, terms});
  return SetLocked(id, revision, deleted, std::move(terms));
}

bool ProjectIndex::SetLocked(const std::string& id, int64_t revision, bool deleted,
                             std::vector<std::string> terms) {
  auto [slot, inserted] = entries_.try_emplace(id);
  Entry& entry = slot->second;
  const absl::string_view key = slot->first;  // stable: the sets hold this view
  if (!inserted && entry.revision >= revision) return false;
  if (!inserted) --(entry.deleted ? tombstones_ : live_);
  // Both term lists are sorted: walk them together, touching only what changed.
  std::vector<const std::string*> kept;
  kept.reserve(terms.size());
  auto old_it = entry.terms.begin();
  auto new_it = terms.begin();
  while (old_it != entry.terms.end() || new_it != terms.end()) {
    if (new_it == terms.end() || (old_it != entry.terms.end() && **old_it < *new_it)) {
      auto set = ids_.find(**old_it);
      set->second.erase(key);
      if (set->second.empty()) ids_.erase(set);
      ++old_it;
    } else if (old_it == entry.terms.end() || *new_it < **old_it) {
      auto set = ids_.try_emplace(std::move(*new_it)).first;
      set->second.insert(key);
      kept.push_back(&set->first);
      ++new_it;
    } else {
      kept.push_back(*old_it);
      ++old_it;
      ++new_it;
    }
  }
  entry.revision = revision;
  entry.deleted = deleted;
  entry.terms = std::move(kept);
  ++(deleted ? tombstones_ : live_);
  if (deleted) new_tombstones_.push_back(id);
  return true;
}

size_t ProjectIndex::EndTombstoneEpoch() {
  std::vector<std::string> expired;
  absl::MutexLock lock(&mu_);
  expired.swap(old_tombstones_);
  old_tombstones_.swap(new_tombstones_);
  size_t dropped = 0;
  for (const std::string& id : expired) {
    auto it = entries_.find(id);
    // Still a tombstone (a later revision may have brought the id back); it is under no term.
    if (it == entries_.end() || !it->second.deleted) continue;
    entries_.erase(it);
    --tombstones_;
    ++dropped;
  }
  return dropped;
}

int64_t ProjectIndex::RevisionOf(absl::string_view id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(id);
  return it == entries_.end() ? 0 : it->second.revision;
}

std::vector<std::string> ProjectIndex::After(const std::string& term, const std::string& after,
                                             int limit) const {
  std::vector<std::string> out;
  absl::ReaderMutexLock lock(&mu_);
  auto set = ids_.find(term);
  if (set == ids_.end()) return out;
  for (auto it = set->second.upper_bound(after);
       it != set->second.end() && static_cast<int>(out.size()) < limit; ++it) {
    out.emplace_back(*it);
  }
  return out;
}

std::vector<std::vector<std::string>> ProjectIndex::IdsOfRareTerms(
    const std::vector<std::string>& terms, int limit) const {
  std::vector<std::vector<std::string>> out(terms.size());
  absl::ReaderMutexLock lock(&mu_);
  for (size_t i = 0; i < terms.size(); ++i) {
    auto set = ids_.find(terms[i]);
    if (set == ids_.end() || static_cast<int64_t>(set->second.size()) >= limit) continue;
    out[i].reserve(set->second.size());
    for (absl::string_view id : set->second) out[i].emplace_back(id);
  }
  return out;
}

std::vector<int64_t> ProjectIndex::Count(const std::vector<std::string>& terms) const {
  std::vector<int64_t> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& term : terms) {
    auto set = ids_.find(term);
    out.push_back(set == ids_.end() ? 0 : static_cast<int64_t>(set->second.size()));
  }
  return out;
}

size_t ProjectIndex::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return live_;
}

size_t ProjectIndex::tombstones() const {
  absl::ReaderMutexLock lock(&mu_);
  return tombstones_;
}

void ProjectIndex::BeginReload() {
  absl::MutexLock lock(&mu_);
  reloading_ = true;
  during_reload_.clear();
}

void ProjectIndex::Replace(ProjectIndex&& fresh) {
  absl::node_hash_map<std::string, Entry> entries;
  absl::node_hash_map<std::string, absl::btree_set<absl::string_view>> ids;
  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock fresh_lock(&fresh.mu_);
    for (Change& c : during_reload_) {
      fresh.SetLocked(c.id, c.revision, c.deleted, std::move(c.terms));
    }
    entries.swap(fresh.entries_);
    ids.swap(fresh.ids_);
    live_ = fresh.live_;
    tombstones_ = fresh.tombstones_;
    new_tombstones_ = std::move(fresh.new_tombstones_);
    old_tombstones_ = std::move(fresh.old_tombstones_);
  }
  reloading_ = false;
  during_reload_.clear();
  entries_.swap(entries);
  ids_.swap(ids);
}  // the lock goes first, then the old content: freed outside it

void ProjectIndex::AbandonReload() {
  absl::MutexLock lock(&mu_);
  reloading_ = false;
  during_reload_.clear();
}

// ------------------------------------------------------------------ events

std::optional<ProjectEventHeader> ReadProjectEventHeader(absl::string_view event) {
  auto read = common::ReadEventHeader(event);
  constexpr absl::string_view kPrefix = "projects/";
  if (!read.has_value() || !read->revision.has_value() ||
      !absl::StartsWith(read->resource, kPrefix)) {
    return std::nullopt;
  }
  if (read->type == ev::EVENT_TYPE_SCORE_CHANGED) return std::nullopt;  // names a project too
  ProjectEventHeader header;
  header.id = read->resource.substr(kPrefix.size());
  header.revision = *read->revision;
  header.deleted = read->type == ev::EVENT_TYPE_PROJECT_DELETED;
  return header;
}

// ------------------------------------------------------------------ ProjectIndexFeed

ProjectIndexFeed::ProjectIndexFeed(ProjectIndex* index, RegistryStore* store,
                                   redis::RedisClient* redis, redis::Keyspace keyspace,
                                   Options options)
    : index_(index),
      store_(store),
      redis_(redis),
      keyspace_(std::move(keyspace)),
      options_(options) {}

ProjectIndexFeed::~ProjectIndexFeed() { Stop(); }

void ProjectIndexFeed::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ProjectIndexFeed::Stop() {
  if (!stopping_.exchange(true)) {
    stop_.Notify();
    waker_.Wake(*redis_);
  }
  if (thread_.joinable()) thread_.join();
}

void ProjectIndexFeed::Pause(absl::Duration d) { stop_.WaitForNotificationWithTimeout(d); }

bool ProjectIndexFeed::WaitLoaded(absl::Time deadline) const {
  return loaded_.WaitForNotificationWithDeadline(deadline);
}

bool ProjectIndexFeed::ApplyEvent(absl::string_view bytes) {
  auto header = ReadProjectEventHeader(bytes);
  if (!header.has_value() || header->revision <= index_->RevisionOf(header->id)) return false;
  if (header->deleted) return index_->Remove(header->id, header->revision);
  std::string unpacked;
  auto full = common::EventBytes(bytes, &unpacked);
  ev::Event event;
  if (!full.has_value() || !event.ParseFromArray(full->data(), static_cast<int>(full->size())) ||
      !event.has_project()) {
    return false;
  }
  return index_->Put(header->id, header->revision, IndexTerms(event.project()));
}

absl::Status ProjectIndexFeed::Load() {
  // The end of every partition first: every change after it arrives as an event.
  STP_ASSIGN_OR_RETURN(auto positions, redis::StreamEnds(*redis_, keyspace_.AllEventStreams()));
  index_->BeginReload();
  ProjectIndex fresh;
  absl::Status s = LoadInto(&fresh);
  if (!s.ok()) {
    index_->AbandonReload();
    return s;
  }
  index_->Replace(std::move(fresh));
  positions_ = std::move(positions);
  loads_.fetch_add(1);
  LogInfo("project index loaded", {{"projects", static_cast<int64_t>(index_->size())}});
  return absl::OkStatus();
}

absl::Status ProjectIndexFeed::LoadInto(ProjectIndex* fresh) {
  std::string after;
  while (true) {
    if (stopping_.load()) return absl::CancelledError("stopping");
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    STP_ASSIGN_OR_RETURN(auto ids, store_->ListIds(Kind::kProject, "", after, 1000, deadline));
    if (ids.empty()) return absl::OkStatus();
    STP_ASSIGN_OR_RETURN(auto found, store_->GetMany(Kind::kProject, ids, deadline));
    for (size_t i = 0; i < ids.size(); ++i) {
      v1::Project project;
      if (!found[i].has_value() || !project.ParseFromString(found[i]->data)) continue;
      fresh->Put(ids[i], found[i]->revision, IndexTerms(project));
    }
    after = ids.back();
  }
}

absl::Status ProjectIndexFeed::Follow() {
  STP_ASSIGN_OR_RETURN(auto conn, redis_->OpenDedicated());
  waker_.Watch(*conn);
  absl::Cleanup unwatch = [this] { waker_.Unwatch(); };
  const auto streams = keyspace_.AllEventStreams();
  absl::Time next_check = absl::Now() + options_.check_every;
  absl::Time next_epoch = next_check;  // see ProjectIndex::EndTombstoneEpoch
  while (!stopping_.load()) {
    if (absl::Now() >= next_check) {
      STP_ASSIGN_OR_RETURN(bool retained, redis::CursorsRetained(*redis_, streams, positions_));
      if (!retained) {
        LogWarning("project index missed events (trimmed or recreated streams); reloading");
        STP_RETURN_IF_ERROR(Load());
      }
      next_check = absl::Now() + options_.check_every;
    }
    constexpr int kReadCount = 1000;
    if (stopping_.load()) break;  // right before the read: see redis::Waker
    STP_ASSIGN_OR_RETURN(auto batches,
                         redis::Read(*conn, streams, positions_, kReadCount, options_.block,
                                     redis_->options().command_timeout));
    bool caught_up = true;  // every stream read to its end
    for (const auto& batch : batches) {
      const size_t p = std::find(streams.begin(), streams.end(), batch.stream) - streams.begin();
      if (p == streams.size() || batch.entries.empty()) continue;
      for (const auto& entry : batch.entries) {
        if (const std::string* payload = entry.Field("e")) ApplyEvent(*payload);
      }
      positions_[p] = batch.entries.back().id;
      // A full read: this replica is behind, and the oldest events may be trimmed next.
      if (batch.entries.size() == kReadCount) {
        next_check = absl::Now();
        caught_up = false;
      }
    }
    if (caught_up && absl::Now() >= next_epoch) {
      index_->EndTombstoneEpoch();
      next_epoch = absl::Now() + options_.check_every;
    }
  }
  return absl::OkStatus();
}

void ProjectIndexFeed::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stopping_.load()) {
    absl::Status s = loaded_.HasBeenNotified() ? Follow() : Load();
    if (s.ok()) {
      if (!loaded_.HasBeenNotified()) {
        loaded_.Notify();
        if (options_.on_loaded) options_.on_loaded();
      }
      if (!options_.follow) break;
      backoff = absl::Milliseconds(100);
      continue;
    }
    if (stopping_.load()) break;
    LogWarning("project index cannot reach Redis; retrying", {{"error", std::string(s.message())}});
    Pause(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace stp::ingestion
