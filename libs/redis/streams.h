// Redis Streams helpers: the event outbox, consumer groups, and reclaiming work from crashed
// consumers.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/redis/redis.h"

namespace stp::redis {

struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  // The value of a field, or nullptr.
  const std::string* Field(absl::string_view name) const;
};

struct StreamBatch {
  std::string stream;
  std::vector<StreamEntry> entries;
  // Pending ids whose entries were trimmed away: what a consumer reading its own pending
  // entries ("0") had taken and never acknowledged, and can no longer read.
  std::vector<std::string> trimmed;
};

// Parses an XRANGE-style array of entries, and an XREAD/XREADGROUP reply of streams. Entries
// that come back without fields (trimmed while pending) are left out, and their ids put in
// `trimmed` when it is given.
std::vector<StreamEntry> ParseEntries(const redisReply* reply,
                                      std::vector<std::string>* trimmed = nullptr);
std::vector<StreamBatch> ParseStreams(const redisReply* reply);

// Compares stream ids "ms-seq" numerically; -1, 0 or 1.
int CompareStreamIds(absl::string_view a, absl::string_view b);

// XADD with approximate MAXLEN trimming (maxlen 0: no trimming). Returns the new id.
absl::StatusOr<std::string> XAdd(RedisClient& client, const std::string& stream,
                                 const std::vector<std::pair<std::string, std::string>>& fields,
                                 long long maxlen, absl::Time deadline = absl::InfiniteFuture());

// XGROUP CREATE ... MKSTREAM, treating an existing group as success.
absl::Status EnsureGroup(RedisClient& client, const std::string& stream, const std::string& group,
                         const std::string& start_id = "0");

// XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS s... id... on a dedicated connection.
absl::StatusOr<std::vector<StreamBatch>> ReadGroup(Connection& conn, const std::string& group,
                                                   const std::string& consumer,
                                                   const std::vector<std::string>& streams,
                                                   const std::vector<std::string>& ids, int count,
                                                   absl::Duration block, absl::Duration timeout);

// XREAD COUNT n [BLOCK ms] STREAMS s... id... on a dedicated connection.
absl::StatusOr<std::vector<StreamBatch>> Read(Connection& conn,
                                              const std::vector<std::string>& streams,
                                              const std::vector<std::string>& ids, int count,
                                              absl::Duration block, absl::Duration timeout);

absl::StatusOr<long long> Ack(RedisClient& client, const std::string& stream,
                              const std::string& group, const std::vector<std::string>& ids);

// Takes `consumer` out of `group` on each stream where it holds no pending entries (a stopped
// consumer's name would otherwise stay in XINFO CONSUMERS for good; one with pending entries
// stays, so that they are reclaimed). Call only once the consumer reads no more.
absl::Status LeaveGroup(RedisClient& client, const std::vector<std::string>& streams,
                        const std::string& group, const std::string& consumer);

struct AutoClaimResult {
  std::string next_start;            // "0-0" when the scan is complete
  std::vector<StreamEntry> entries;  // claimed entries still in the stream
  std::vector<std::string> deleted;  // pending ids whose entries were trimmed away
};
// XAUTOCLAIM stream group consumer min-idle start COUNT n.
absl::StatusOr<AutoClaimResult> AutoClaim(RedisClient& client, const std::string& stream,
                                          const std::string& group, const std::string& consumer,
                                          absl::Duration min_idle, const std::string& start,
                                          int count);

// XRANGE stream (start end COUNT n; use "(" + id for an exclusive start.
absl::StatusOr<std::vector<StreamEntry>> Range(RedisClient& client, const std::string& stream,
                                               const std::string& start, const std::string& end,
                                               int count,
                                               absl::Time deadline = absl::InfiniteFuture());

struct StreamInfo {
  long long length = 0;
  std::string first_id;         // empty when the stream is empty or missing
  std::string last_id;          // the last id ever generated ("0-0" when none)
  long long entries_added = 0;  // every entry ever added, trimmed ones included
};
absl::StatusOr<StreamInfo> Info(RedisClient& client, const std::string& stream,
                                absl::Time deadline = absl::InfiniteFuture());

// Where a reader's cursor (the last id it read) stands in a stream: every entry after it still
// there (kRetained); beyond the stream's last id, as when the stream was emptied or recreated
// by another deployment on the same Redis (kAhead); or entries after it trimmed away
// (kTrimmed; conservative at the exact trim boundary, where reading again is always safe).
enum class CursorState { kRetained, kAhead, kTrimmed };
absl::StatusOr<CursorState> CursorStateIn(RedisClient& client, const std::string& stream,
                                          const std::string& position,
                                          absl::Time deadline = absl::InfiniteFuture());
// Whether a reader whose cursor in each stream is `positions` can go on reading without a gap
// (kRetained in every stream). An error when Redis cannot be asked.
absl::StatusOr<bool> CursorsRetained(RedisClient& client, const std::vector<std::string>& streams,
                                     const std::vector<std::string>& positions);
// Where a consumer group stands in a stream (XINFO GROUPS); found false when the stream has no
// such group.
struct GroupPosition {
  bool found = false;
  std::string last_delivered;
  std::optional<long long> entries_read;  // absent when Redis cannot tell
  long long lag = 0;
};
absl::StatusOr<GroupPosition> GroupPositionIn(RedisClient& client, const std::string& stream,
                                              const std::string& group);
// Entries the group never read that the stream no longer holds: trimmed while the group lagged
// behind the stream's retention. Ask before the group reads on: once it reads past the gap,
// Redis counts the trimmed entries as read and the loss no longer shows. While a loss lasts,
// the group's last-delivered id names it.
struct GroupLoss {
  bool any = false;
  long long count = 0;  // 0 when the group has not read since it was made: Redis cannot count
};
absl::StatusOr<GroupLoss> EntriesLostToGroup(RedisClient& client, const std::string& stream,
                                             const GroupPosition& group);

// The last id of each stream ("0-0" for an empty or missing one): where a reader starts that
// loads the current state first and then wants every change after it.
absl::StatusOr<std::vector<std::string>> StreamEnds(RedisClient& client,
                                                    const std::vector<std::string>& streams);

}  // namespace stp::redis
