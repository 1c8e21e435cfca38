#include "services/matching/index_feed.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/common/event_header.h"
#include "libs/common/grpc_status.h"
#include "libs/common/logging.h"
#include "libs/redis/streams.h"

namespace stp::matching {

namespace ev = stp::events::v1;
namespace iv1 = stp::ingestion::v1;

namespace {

// v2: snapshots written by v1 after a restart from a snapshot hold records merged into each
// other (see LoadFromSnapshot), so a v1 file is not trusted: the index reloads in full once.
constexpr char kSnapshotMagic[] = "stp-matching-snapshot v2";

// How often a following feed checks that no event it has yet to read was trimmed.
constexpr absl::Duration kRetentionCheckEvery = absl::Seconds(30);

// Only what the index reads of a project: participants, host, stage, visibility.
iv1::Project Trim(const iv1::Project& p) {
  iv1::Project t;
  t.set_name(p.name());
  t.set_host_country(p.host_country());
  t.set_stage(p.stage());
  t.set_visibility(p.visibility());
  for (const auto& part : p.participants()) {
    auto* x = t.add_participants();
    x->set_organization(part.organization());
    x->set_role(part.role());
    x->set_lead(part.lead());
  }
  for (int a : p.avenues()) t.add_avenues(static_cast<stp::common::v1::Avenue>(a));
  return t;
}

}  // namespace

IndexFeed::IndexFeed(OrganizationIndex* index, redis::RedisClient* redis, redis::Keyspace keyspace,
                     FeedOptions options)
    : index_(index), redis_(redis), keyspace_(std::move(keyspace)), options_(std::move(options)) {}

IndexFeed::~IndexFeed() { Stop(); }

std::string IndexFeed::load_kind() {
  absl::MutexLock lock(&mu_);
  return load_kind_;
}

void IndexFeed::Start(std::shared_ptr<iv1::IngestionService::StubInterface> ingestion,
                      std::shared_ptr<stp::scoring::v1::ScoringService::StubInterface> scoring,
                      Decorate decorate) {
  ingestion_ = std::move(ingestion);
  scoring_ = std::move(scoring);
  decorate_ = std::move(decorate);
  thread_ = std::thread([this] { Run(); });
}

void IndexFeed::Stop() {
  if (stopping_.Set()) return;
  waker_.Wake(*redis_);
  if (thread_.joinable()) thread_.join();
  if (loaded_.load() && !options_.snapshot_file.empty()) {
    absl::Status s = WriteSnapshot();
    if (!s.ok()) LogWarning("matching snapshot not written", {{"error", std::string(s.message())}});
  }
}

void IndexFeed::Apply(const ev::Event& e) {
  const bool keep = !options_.snapshot_file.empty();
  std::string compact;
  switch (e.snapshot_case()) {
    case ev::Event::kCountry:
      index_->UpsertCountry(e.country());
      if (keep) compact = e.SerializeAsString();
      break;
    case ev::Event::kOrganization:
      if (e.type() == ev::EVENT_TYPE_ORGANIZATION_DELETED) {
        index_->RemoveOrganization(e.organization().name());
      } else {
        index_->UpsertOrganization(e.organization());
        if (keep) compact = e.SerializeAsString();
      }
      break;
    case ev::Event::kProject:
      if (e.type() == ev::EVENT_TYPE_PROJECT_DELETED) {
        index_->RemoveProject(e.project().name());
      } else {
        index_->UpsertProject(e.project());
        if (keep) {
          ev::Event t;
          t.set_type(e.type());
          t.set_resource(e.resource());
          *t.mutable_project() = Trim(e.project());
          compact = t.SerializeAsString();
        }
      }
      break;
    case ev::Event::kScoreChange:
      index_->SetProjectScore(e.score_change().current().project(),
                              e.score_change().current().total());
      if (keep) {
        ev::Event t;
        t.set_type(e.type());
        auto* s = t.mutable_score_change()->mutable_current();
        s->set_project(e.score_change().current().project());
        s->set_total(e.score_change().current().total());
        compact = t.SerializeAsString();
      }
      break;
    default:
      return;
  }
  applied_.fetch_add(1);
  if (!keep) return;
  std::string key = e.snapshot_case() == ev::Event::kScoreChange
                        ? "score:" + e.score_change().current().project()
                        : e.resource();
  absl::MutexLock lock(&mu_);
  if (compact.empty()) {
    state_.erase(key);
    // The index forgets a deleted project's score with the project; so does the snapshot.
    if (e.snapshot_case() == ev::Event::kProject) state_.erase("score:" + e.project().name());
  } else {
    state_[key] = std::move(compact);
  }
}

absl::Status IndexFeed::WriteSnapshot() {
  std::string tmp = options_.snapshot_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::UnavailableError("cannot write " + tmp);
    absl::MutexLock lock(&mu_);
    out << kSnapshotMagic << "\n" << absl::StrJoin(positions_, ",") << "\n";
    bool written = true;
    {
      google::protobuf::io::OstreamOutputStream stream(&out);
      for (const auto& [key, bytes] : state_) {
        ev::Event e;
        e.ParseFromString(bytes);
        written = written && google::protobuf::util::SerializeDelimitedToZeroCopyStream(e, &stream);
      }
    }  // the stream hands its last buffer to `out` here
    out.flush();
    // A short write (a full disk) must not replace the good snapshot with a truncated one.
    if (!written || !out) {
      out.close();
      std::remove(tmp.c_str());
      return absl::UnavailableError("cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), options_.snapshot_file.c_str()) != 0) {
    return absl::UnavailableError("cannot rename " + tmp);
  }
  return absl::OkStatus();
}

absl::Status IndexFeed::LoadFromSnapshot(bool* used) {
  *used = false;
  if (options_.snapshot_file.empty()) return absl::OkStatus();
  std::ifstream in(options_.snapshot_file, std::ios::binary);
  if (!in) return absl::OkStatus();
  std::string magic, cursor;
  std::getline(in, magic);
  std::getline(in, cursor);
  std::vector<std::string> positions = absl::StrSplit(cursor, ',');
  if (magic != kSnapshotMagic && absl::StartsWith(magic, "stp-matching-snapshot ")) {
    LogWarning("matching snapshot of an older format ignored; reloading in full",
               {{"format", magic}});
    return absl::OkStatus();
  }
  if (magic != kSnapshotMagic || static_cast<int>(positions.size()) != keyspace_.partitions()) {
    LogWarning("matching snapshot ignored: unreadable or from another partition count");
    return absl::OkStatus();
  }
  auto retained = redis::CursorsRetained(*redis_, keyspace_.AllEventStreams(), positions);
  if (!retained.ok() || !*retained) {
    LogInfo("matching snapshot too old for the event retention; reloading in full");
    return absl::OkStatus();
  }
  // Two passes: the records are applied only once the whole file has read cleanly, so a
  // truncated snapshot leaves nothing behind for the full reload to build over.
  const std::streampos records_begin = in.tellg();
  auto read_records = [&](bool apply) {
    google::protobuf::io::IstreamInputStream stream(&in);
    ev::Event e;
    bool clean_eof = false;
    int64_t n = 0;
    // ParseDelimitedFromZeroCopyStream merges into the message it is given: each record starts
    // from an empty one, or it would take the fields of the records before it.
    auto next = [&] {
      e.Clear();
      return google::protobuf::util::ParseDelimitedFromZeroCopyStream(&e, &stream, &clean_eof);
    };
    while (next()) {
      if (apply) Apply(e);
      ++n;
    }
    return clean_eof ? n : int64_t{-1};
  };
  if (read_records(/*apply=*/false) < 0) {
    LogWarning("matching snapshot truncated; reloading in full");
    return absl::OkStatus();
  }
  in.clear();
  in.seekg(records_begin);
  const int64_t n = read_records(/*apply=*/true);
  if (n < 0) return absl::DataLossError("the matching snapshot changed while it was read");
  absl::MutexLock lock(&mu_);
  positions_ = positions;
  load_kind_ = "snapshot";
  *used = true;
  LogInfo("matching index loaded from snapshot", {{"records", n}});
  return absl::OkStatus();
}

absl::Status IndexFeed::LoadFull() {
  if (ingestion_ == nullptr)
    return absl::FailedPreconditionError("no ingestion service to load the index from");
  // Note the end of every partition first: every change after it arrives as an event.
  STP_ASSIGN_OR_RETURN(auto positions, redis::StreamEnds(*redis_, keyspace_.AllEventStreams()));
  auto call = [&](auto fn) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (decorate_) decorate_(&ctx);
    return FromGrpcStatus(fn(&ctx));
  };
  auto wrap = [](auto setter) {
    ev::Event e;
    setter(&e);
    return e;
  };
  int64_t orgs = 0, projects = 0, scores = 0;
  {
    iv1::ListCountriesRequest req;
    req.set_page_size(1000);
    do {
      iv1::ListCountriesResponse resp;
      STP_RETURN_IF_ERROR(
          call([&](grpc::ClientContext* c) { return ingestion_->ListCountries(c, req, &resp); }));
      for (const auto& x : resp.countries()) {
        Apply(wrap([&](ev::Event* e) {
          e->set_type(ev::EVENT_TYPE_COUNTRY_UPDATED);
          e->set_resource(x.name());
          *e->mutable_country() = x;
        }));
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty() && !stopping_.IsSet());
  }
  {
    iv1::ListOrganizationsRequest req;
    req.set_page_size(1000);
    do {
      iv1::ListOrganizationsResponse resp;
      STP_RETURN_IF_ERROR(call(
          [&](grpc::ClientContext* c) { return ingestion_->ListOrganizations(c, req, &resp); }));
      for (const auto& x : resp.organizations()) {
        Apply(wrap([&](ev::Event* e) {
          e->set_type(ev::EVENT_TYPE_ORGANIZATION_UPDATED);
          e->set_resource(x.name());
          *e->mutable_organization() = x;
        }));
        ++orgs;
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty() && !stopping_.IsSet());
  }
  {
    iv1::ListProjectsRequest req;
    req.set_page_size(1000);
    do {
      iv1::ListProjectsResponse resp;
      STP_RETURN_IF_ERROR(
          call([&](grpc::ClientContext* c) { return ingestion_->ListProjects(c, req, &resp); }));
      for (const auto& x : resp.projects()) {
        Apply(wrap([&](ev::Event* e) {
          e->set_type(ev::EVENT_TYPE_PROJECT_UPDATED);
          e->set_resource(x.name());
          *e->mutable_project() = x;
        }));
        ++projects;
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty() && !stopping_.IsSet());
  }
  if (scoring_ != nullptr) {
    stp::scoring::v1::RankProjectsRequest req;
    req.set_page_size(1000);
    do {
      stp::scoring::v1::RankProjectsResponse resp;
      absl::Status s =
          call([&](grpc::ClientContext* c) { return scoring_->RankProjects(c, req, &resp); });
      if (!s.ok()) {
        // Scores also arrive as events; a missing scoring service only delays track records.
        LogWarning("scores not loaded; track records start at the base rate",
                   {{"error", std::string(s.message())}});
        break;
      }
      for (const auto& x : resp.scores()) {
        Apply(wrap([&](ev::Event* e) {
          e->set_type(ev::EVENT_TYPE_SCORE_CHANGED);
          e->set_resource(x.project());
          *e->mutable_score_change()->mutable_current() = x;
        }));
        ++scores;
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty() && !stopping_.IsSet());
  }
  // A load cut short by Stop is not an index: it must not be marked loaded, nor be written as
  // a snapshot with cursors that claim everything before them was read.
  if (stopping_.IsSet()) return absl::CancelledError("stopped before the index was loaded");
  absl::MutexLock lock(&mu_);
  positions_ = positions;
  load_kind_ = "full";
  LogInfo("matching index loaded",
          {{"organizations", orgs}, {"projects", projects}, {"scores", scores}});
  return absl::OkStatus();
}

absl::Status IndexFeed::ReloadIfEventsWereTrimmed(const std::vector<std::string>& positions) {
  STP_ASSIGN_OR_RETURN(bool retained,
                       redis::CursorsRetained(*redis_, keyspace_.AllEventStreams(), positions));
  if (retained) return absl::OkStatus();
  // Reading on would skip the trimmed events for good (deletions among them): start again
  // from the registry, from nothing. The pod is not ready meanwhile.
  LogError("matching fell behind the event retention; reloading the index in full");
  loaded_.store(false);
  index_->Clear();
  {
    absl::MutexLock lock(&mu_);
    state_.clear();
  }
  STP_RETURN_IF_ERROR(LoadFull());
  loaded_.store(true);
  return absl::OkStatus();
}

absl::Status IndexFeed::Follow() {
  STP_ASSIGN_OR_RETURN(auto conn, redis_->OpenDedicated());
  waker_.Watch(*conn);
  absl::Cleanup unwatch = [this] { waker_.Unwatch(); };
  const auto streams = keyspace_.AllEventStreams();
  absl::Time next_snapshot = absl::Now() + options_.snapshot_every;
  absl::Time next_retention_check = absl::InfinitePast();  // at once after each (re)connect
  while (!stopping_.IsSet()) {
    std::vector<std::string> positions;
    {
      absl::MutexLock lock(&mu_);
      positions = positions_;
    }
    if (absl::Now() >= next_retention_check) {
      STP_RETURN_IF_ERROR(ReloadIfEventsWereTrimmed(positions));
      next_retention_check = absl::Now() + kRetentionCheckEvery;
      absl::MutexLock lock(&mu_);
      positions = positions_;
    }
    if (stopping_.IsSet()) break;  // right before the read: see redis::Waker
    STP_ASSIGN_OR_RETURN(auto batches, redis::Read(*conn, streams, positions, 1000, options_.block,
                                                   redis_->options().command_timeout));
    for (const auto& batch : batches) {
      int p = 0;
      while (p < static_cast<int>(streams.size()) && streams[p] != batch.stream) ++p;
      for (const auto& entry : batch.entries) {
        ev::Event e;
        std::string unpacked;
        const std::string* payload = common::EventPayload(entry.Field("e"), &unpacked);
        if (payload != nullptr && e.ParseFromString(*payload)) Apply(e);
        absl::MutexLock lock(&mu_);
        positions_[p] = entry.id;
      }
    }
    if (!options_.snapshot_file.empty() && absl::Now() >= next_snapshot) {
      absl::Status s = WriteSnapshot();
      if (!s.ok())
        LogWarning("matching snapshot not written", {{"error", std::string(s.message())}});
      next_snapshot = absl::Now() + options_.snapshot_every;
    }
  }
  return absl::OkStatus();
}

void IndexFeed::Run() {
  absl::Duration backoff = absl::Milliseconds(200);
  while (!stopping_.IsSet() && !loaded_.load()) {
    bool used = false;
    absl::Status s = LoadFromSnapshot(&used);
    if (s.ok() && !used) s = LoadFull();
    if (s.ok()) {
      loaded_.store(true);
      break;
    }
    if (absl::IsCancelled(s) && stopping_.IsSet()) return;  // cut short by Stop
    LogWarning("matching index load failed; retrying", {{"error", std::string(s.message())}});
    stopping_.SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
  backoff = absl::Milliseconds(200);
  while (!stopping_.IsSet()) {
    absl::Status s = Follow();
    if (s.ok()) break;
    LogWarning("matching event feed lost Redis; retrying", {{"error", std::string(s.message())}});
    stopping_.SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace stp::matching
