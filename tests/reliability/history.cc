#include "tests/reliability/history.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/common/event_header.h"
#include "libs/redis/redis.h"
#include "libs/redis/streams.h"

namespace stp::reliability {

namespace ev = stp::events::v1;
namespace iv1 = stp::ingestion::v1;

void History::Add(Operation op) {
  absl::MutexLock lock(&mu_);
  ops_.push_back(std::move(op));
}

std::vector<Operation> History::operations() const {
  absl::MutexLock lock(&mu_);
  return ops_;
}

std::string CheckReport::Summary() const {
  return absl::StrCat(ok + rejected + unknown, " operations: ", ok, " acknowledged, ", rejected,
                      " rejected, ", unknown, " unknown (", unknown_written, " of them written); ",
                      retried, " needed retries; ", events_checked, " events checked; ",
                      replayed_later, " retried answers carried a later revision; ",
                      violations.size(), " violations");
}

namespace {

bool IsProjectEvent(const ev::Event& e) { return e.snapshot_case() == ev::Event::kProject; }

// At most this many violations are kept: the first ones say what broke.
void Violation(CheckReport* r, std::string text) {
  if (r->violations.size() < 50) r->violations.push_back(std::move(text));
}

}  // namespace

void CheckStoreMatchesEvents(const StoreState& state, CheckReport* report) {
  CheckReport& r = *report;
  std::map<std::string, std::vector<const ev::Event*>> by_resource;
  for (const auto& e : state.events) {
    if (IsProjectEvent(e)) by_resource[e.resource()].push_back(&e);
  }
  // Per resource: revisions 1..N in stream order, the stored record is the last snapshot.
  for (const auto& [name, events] : by_resource) {
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i]->revision() != static_cast<int64_t>(i + 1)) {
        std::vector<std::string> revs;
        for (const auto* e : events) revs.push_back(absl::StrCat(e->revision()));
        Violation(&r, absl::StrCat(name, ": event revisions ", absl::StrJoin(revs, ","),
                                   " are not 1..N"));
        break;
      }
    }
    const ev::Event& last = *events.back();
    auto stored = state.projects.find(name);
    if (last.type() == ev::EVENT_TYPE_PROJECT_DELETED) {
      if (stored != state.projects.end())
        Violation(&r, absl::StrCat(name, " is stored but its last event deleted it"));
      continue;
    }
    if (stored == state.projects.end()) {
      Violation(&r, absl::StrCat(name, " has ", events.size(), " events but is not stored"));
      continue;
    }
    if (stored->second.revision() != last.revision()) {
      Violation(&r, absl::StrCat(name, " is stored at revision ", stored->second.revision(),
                                 " but its last event has revision ", last.revision()));
    } else if (!google::protobuf::util::MessageDifferencer::Equals(stored->second,
                                                                   last.project())) {
      Violation(&r, absl::StrCat(name, " differs from the snapshot of its last event"));
    }
  }
  for (const auto& [name, project] : state.projects) {
    if (!by_resource.count(name)) Violation(&r, absl::StrCat(name, " is stored without an event"));
  }
  if (!state.listed.has_value()) return;
  std::set<std::string> listed(state.listed->begin(), state.listed->end());
  if (listed.size() != state.listed->size()) Violation(&r, "ListProjects repeats a project");
  for (const auto& [name, project] : state.projects) {
    if (!listed.count(name)) Violation(&r, absl::StrCat(name, " is stored but not listed"));
  }
  for (const auto& name : listed) {
    if (!state.projects.count(name)) Violation(&r, absl::StrCat(name, " is listed, not stored"));
  }
}

CheckReport CheckProjectHistory(const std::vector<Operation>& ops, const StoreState& state) {
  CheckReport r;
  std::map<std::string, std::vector<const ev::Event*>> by_request, by_resource;
  for (const auto& e : state.events) {
    if (!IsProjectEvent(e)) continue;
    ++r.events_checked;
    if (!e.request_id().empty()) by_request[e.request_id()].push_back(&e);
    by_resource[e.resource()].push_back(&e);
  }
  std::set<std::string> known_requests;
  for (const auto& op : ops) {
    known_requests.insert(op.request_id);
    if (op.attempts > 1) ++r.retried;
    auto found = by_request.find(op.request_id);
    size_t events = found == by_request.end() ? 0 : found->second.size();
    std::string who = absl::StrCat(op.kind, " ", op.request_id, " (", op.resource, ")");
    if (op.kind == "setup") continue;
    switch (op.outcome) {
      case Outcome::kOk: {
        ++r.ok;
        if (events != 1) {
          Violation(&r, absl::StrCat("acknowledged ", who, " has ", events, " events, not 1"));
          break;
        }
        const ev::Event& e = *found->second[0];
        if (e.resource() != op.resource) {
          Violation(&r, absl::StrCat(who, ": its event is about ", e.resource()));
        }
        // A retry answered from the first write reads the resource as it is now. Deletes
        // answer no revision.
        if (op.kind != "delete" && op.revision > e.revision()) ++r.replayed_later;
        if (op.kind != "delete" && op.revision < e.revision()) {
          Violation(&r, absl::StrCat(who, " was answered with revision ", op.revision,
                                     " but wrote revision ", e.revision()));
        }
        if (op.kind == "create" && e.type() != ev::EVENT_TYPE_PROJECT_CREATED) {
          Violation(&r, absl::StrCat(who, ": event type ", ev::EventType_Name(e.type())));
        }
        if (op.kind == "delete" && e.type() != ev::EVENT_TYPE_PROJECT_DELETED) {
          Violation(&r, absl::StrCat(who, ": event type ", ev::EventType_Name(e.type())));
        }
        break;
      }
      case Outcome::kRejected:
        ++r.rejected;
        if (events != 0) {
          Violation(&r, absl::StrCat("rejected ", who, " (", op.last_code, " ", op.last_message,
                                     ") has ", events, " events"));
        }
        break;
      case Outcome::kUnknown:
        ++r.unknown;
        if (events > 1) Violation(&r, absl::StrCat("unknown ", who, " has ", events, " events"));
        if (events == 1) ++r.unknown_written;
        break;
    }
  }
  // No phantom writes: every project event was asked for by someone.
  for (const auto& [request_id, events] : by_request) {
    if (!known_requests.count(request_id)) {
      Violation(&r, absl::StrCat(events.size(), " events carry request id ", request_id,
                                 " that no client sent"));
    }
  }
  for (const auto& e : state.events) {
    if (IsProjectEvent(e) && e.request_id().empty()) {
      Violation(&r, absl::StrCat("event ", e.id(), " about ", e.resource(), " has no request id"));
    }
  }
  CheckStoreMatchesEvents(state, &r);
  // Every acknowledged create is still there unless an event deleted it.
  for (const auto& op : ops) {
    if (op.outcome != Outcome::kOk || op.kind != "create") continue;
    auto events = by_resource.find(op.resource);
    bool deleted = events != by_resource.end() &&
                   events->second.back()->type() == ev::EVENT_TYPE_PROJECT_DELETED;
    if (!deleted && !state.projects.count(op.resource)) {
      Violation(
          &r, absl::StrCat("acknowledged create ", op.request_id, " of ", op.resource, " is lost"));
    }
  }
  return r;
}

absl::StatusOr<StoreState> ReadStoreState(
    const std::string& redis_address, int partitions,
    const std::function<absl::StatusOr<std::vector<std::string>>()>& list_projects) {
  redis::RedisOptions options;
  options.address = redis_address;
  options.command_timeout = absl::Seconds(10);
  redis::RedisClient client(options);
  StoreState state;
  for (int p = 0; p < partitions; ++p) {
    std::string stream = absl::StrCat("stp:{p", p, "}:events");
    auto entries = redis::Range(client, stream, "-", "+", 10000000);
    if (!entries.ok()) return entries.status();
    for (const auto& entry : *entries) {
      ev::Event e;
      std::string unpacked;
      const std::string* payload = common::EventPayload(entry.Field("e"), &unpacked);
      if (payload == nullptr || !e.ParseFromString(*payload)) {
        return absl::DataLossError(absl::StrCat("unreadable event ", entry.id));
      }
      e.set_id(entry.id);
      state.events.push_back(std::move(e));
    }
    std::string cursor = "0";
    do {
      auto reply = client.Command(
          {"SCAN", cursor, "MATCH", absl::StrCat("stp:{p", p, "}:project:*"), "COUNT", "1000"});
      if (!reply.ok()) return reply.status();
      cursor = redis::StrCopy(redis::At(reply->get(), 0));
      const redisReply* keys = redis::At(reply->get(), 1);
      for (size_t i = 0; i < redis::Size(keys); ++i) {
        std::string key = redis::StrCopy(redis::At(keys, i));
        auto pb = client.Command({"HGET", key, "pb"});
        if (!pb.ok()) return pb.status();
        iv1::Project project;
        if (redis::IsNil(pb->get()) || !project.ParseFromString(redis::StrCopy(pb->get()))) {
          return absl::DataLossError("half-written or unreadable record " + key);
        }
        std::string name = project.name();
        state.projects[name] = std::move(project);
      }
    } while (cursor != "0");
  }
  if (list_projects) {
    auto listed = list_projects();
    if (!listed.ok()) return listed.status();
    state.listed = *std::move(listed);
  }
  return state;
}

DeliveryReport CheckDelivery(const std::vector<ev::Event>& expected,
                             const std::vector<ev::Event>& received) {
  DeliveryReport r;
  r.expected = static_cast<int>(expected.size());
  r.received = static_cast<int>(received.size());
  std::set<std::string> wanted;
  std::map<int, std::vector<std::string>> expected_order, received_order;
  for (const auto& e : expected) {
    wanted.insert(e.id());
    expected_order[e.partition()].push_back(e.id());
  }
  std::set<std::string> seen;
  for (const auto& e : received) {
    if (!seen.insert(e.id()).second) {
      ++r.repeats;
      continue;
    }
    if (!wanted.count(e.id())) {
      ++r.unexpected;
      if (r.violations.size() < 20)
        r.violations.push_back(absl::StrCat("event ", e.id(), " (", e.resource(),
                                            ") arrived but does not match the filter"));
      continue;
    }
    received_order[e.partition()].push_back(e.id());
  }
  for (const auto& e : expected) {
    if (!seen.count(e.id()) && r.violations.size() < 20) {
      r.violations.push_back(absl::StrCat("gap: event ", e.id(), " (", e.resource(), " revision ",
                                          e.revision(), ") never arrived"));
    }
  }
  for (const auto& [partition, order] : received_order) {
    const auto& want = expected_order[partition];
    // The received ids are a subset of the expected ones; in order they form a subsequence.
    size_t j = 0;
    for (const auto& id : order) {
      while (j < want.size() && want[j] != id) ++j;
      if (j == want.size()) {
        r.violations.push_back(
            absl::StrCat("partition ", partition, ": event ", id, " arrived out of stream order"));
        break;
      }
      ++j;
    }
  }
  return r;
}

}  // namespace stp::reliability
