// A Jepsen-style record of what clients asked for and what they were told, checked at the end
// against what Redis holds and what the event stream says happened. The checker never trusts
// the service's own view: it reads the stored records and the stream straight from Redis.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stp/events/v1/events.pb.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::reliability {

enum class Outcome {
  kOk,        // the client got an answer: the write is acknowledged
  kRejected,  // a definite refusal (INVALID_ARGUMENT, ABORTED, NOT_FOUND, ...): nothing written
  kUnknown,   // the client gave up without a definite answer: written at most once
};

struct Operation {
  std::string request_id;
  std::string kind;      // "create", "update", "delete", "invalid", "setup"
  std::string resource;  // "projects/..." (for creates: from the answer, when there was one)
  Outcome outcome = Outcome::kUnknown;
  grpc::StatusCode last_code = grpc::StatusCode::OK;
  std::string last_message;
  int attempts = 0;
  int64_t revision = 0;  // the revision the answer carried
  absl::Duration latency;
};

// Thread-safe log of operations.
class History {
 public:
  void Add(Operation op);
  std::vector<Operation> operations() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<Operation> ops_ ABSL_GUARDED_BY(mu_);
};

// What Redis holds at the end: every stored project, the event streams of every partition,
// and the names the ListProjects index returns.
struct StoreState {
  std::map<std::string, stp::ingestion::v1::Project> projects;  // by name
  std::vector<stp::events::v1::Event> events;                   // stream order, ids set
  std::optional<std::vector<std::string>> listed;               // ListProjects, every page
};

struct CheckReport {
  std::vector<std::string> violations;  // empty when every invariant holds
  int ok = 0, rejected = 0, unknown = 0;
  int retried = 0;          // operations that needed more than one attempt
  int replayed_later = 0;   // acked answers that carried a newer revision than their own write
  int unknown_written = 0;  // unknown outcomes that did happen (exactly once)
  int events_checked = 0;
  std::string Summary() const;
};

// The invariants of SPEC §5.1 over project writes:
//  - an acknowledged write is never lost: its event exists, and a created project is stored
//    unless a later delete event removed it;
//  - an acknowledged write has exactly one event (found by its request id);
//  - a rejected write has no event; an unknown one at most one;
//  - every event with a request id belongs to an operation of the history (no phantom writes);
//  - per resource, event revisions run 1..N with no gap or repeat, and the stored record is the
//    snapshot of the last event (no write without its event, no event without its write);
//  - the ListProjects index names exactly the stored projects.
CheckReport CheckProjectHistory(const std::vector<Operation>& ops, const StoreState& state);

// The part that needs no history (imports, where request ids are derived per record): per
// resource, revisions 1..N and the stored record equal to the last snapshot; nothing stored
// without an event; the index agrees. Adds to `report`.
void CheckStoreMatchesEvents(const StoreState& state, CheckReport* report);

// Reads StoreState from Redis (SCAN over project keys, XRANGE over every partition).
// `list_projects` pages ListProjects through the service.
absl::StatusOr<StoreState> ReadStoreState(
    const std::string& redis_address, int partitions,
    const std::function<absl::StatusOr<std::vector<std::string>>()>& list_projects);

// Checks what a subscriber received against the stream: `expected` is every matching event
// after its starting cursor, `received` what arrived across every reconnection, in order.
// No gap: every expected event arrived. Order: per partition, first arrivals follow stream
// order. Repeats are counted (the contract is at least once; resuming from the cursor of the
// last message should give none).
struct DeliveryReport {
  std::vector<std::string> violations;
  int expected = 0, received = 0, repeats = 0, unexpected = 0;
};
DeliveryReport CheckDelivery(const std::vector<stp::events::v1::Event>& expected,
                             const std::vector<stp::events::v1::Event>& received);

}  // namespace stp::reliability
