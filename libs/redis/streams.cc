#include "libs/redis/streams.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/common/status.h"

namespace stp::redis {
namespace {

std::pair<unsigned long long, unsigned long long> SplitId(absl::string_view id) {
  unsigned long long ms = 0, seq = 0;
  auto dash = id.find('-');
  if (dash == absl::string_view::npos) {
    (void)absl::SimpleAtoi(id, &ms);
  } else {
    (void)absl::SimpleAtoi(id.substr(0, dash), &ms);
    (void)absl::SimpleAtoi(id.substr(dash + 1), &seq);
  }
  return {ms, seq};
}

std::vector<std::string> StreamArgs(const std::vector<std::string>& streams,
                                    const std::vector<std::string>& ids) {
  std::vector<std::string> out{"STREAMS"};
  out.insert(out.end(), streams.begin(), streams.end());
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

absl::StatusOr<std::vector<StreamBatch>> BlockingRead(Connection& conn,
                                                      std::vector<std::string> cmd,
                                                      absl::Duration timeout) {
  STP_ASSIGN_OR_RETURN(ReplyPtr reply, conn.Command(cmd, timeout));
  if (IsErrorReply(reply.get())) return ErrorReplyStatus(Str(reply.get()));
  return ParseStreams(reply.get());
}

}  // namespace

const std::string* StreamEntry::Field(absl::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::vector<StreamEntry> ParseEntries(const redisReply* reply, std::vector<std::string>* trimmed) {
  std::vector<StreamEntry> out;
  for (size_t i = 0; i < Size(reply); ++i) {
    const redisReply* e = At(reply, i);
    if (Size(e) < 2 || IsNil(At(e, 1))) {  // trimmed entries come back with nil fields
      if (trimmed != nullptr && Size(e) >= 1) trimmed->push_back(StrCopy(At(e, 0)));
      continue;
    }
    StreamEntry entry;
    entry.id = StrCopy(At(e, 0));
    const redisReply* kv = At(e, 1);
    for (size_t j = 0; j + 1 < Size(kv); j += 2) {
      entry.fields.emplace_back(StrCopy(At(kv, j)), StrCopy(At(kv, j + 1)));
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<StreamBatch> ParseStreams(const redisReply* reply) {
  std::vector<StreamBatch> out;
  for (size_t i = 0; i < Size(reply); ++i) {
    const redisReply* s = At(reply, i);
    StreamBatch batch;
    batch.stream = StrCopy(At(s, 0));
    batch.entries = ParseEntries(At(s, 1), &batch.trimmed);
    out.push_back(std::move(batch));
  }
  return out;
}

int CompareStreamIds(absl::string_view a, absl::string_view b) {
  auto x = SplitId(a), y = SplitId(b);
  if (x < y) return -1;
  if (x > y) return 1;
  return 0;
}

absl::StatusOr<std::string> XAdd(RedisClient& client, const std::string& stream,
                                 const std::vector<std::pair<std::string, std::string>>& fields,
                                 long long maxlen, absl::Time deadline) {
  std::vector<std::string> cmd{"XADD", stream};
  if (maxlen > 0) {
    cmd.insert(cmd.end(), {"MAXLEN", "~", absl::StrCat(maxlen)});
  }
  cmd.push_back("*");
  for (const auto& [k, v] : fields) {
    cmd.push_back(k);
    cmd.push_back(v);
  }
  STP_ASSIGN_OR_RETURN(ReplyPtr reply, client.Command(cmd, deadline));
  return StrCopy(reply.get());
}

absl::Status EnsureGroup(RedisClient& client, const std::string& stream, const std::string& group,
                         const std::string& start_id) {
  auto reply = client.Command({"XGROUP", "CREATE", stream, group, start_id, "MKSTREAM"});
  if (!reply.ok() && absl::StrContains(reply.status().message(), "BUSYGROUP"))
    return absl::OkStatus();
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::StatusOr<std::vector<StreamBatch>> ReadGroup(Connection& conn, const std::string& group,
                                                   const std::string& consumer,
                                                   const std::vector<std::string>& streams,
                                                   const std::vector<std::string>& ids, int count,
                                                   absl::Duration block, absl::Duration timeout) {
  std::vector<std::string> cmd{"XREADGROUP", "GROUP", group,
                               consumer,     "COUNT", absl::StrCat(count)};
  if (block > absl::ZeroDuration()) {
    cmd.insert(cmd.end(), {"BLOCK", absl::StrCat(absl::ToInt64Milliseconds(block))});
  }
  auto rest = StreamArgs(streams, ids);
  cmd.insert(cmd.end(), rest.begin(), rest.end());
  return BlockingRead(conn, std::move(cmd), timeout + block);
}

absl::StatusOr<std::vector<StreamBatch>> Read(Connection& conn,
                                              const std::vector<std::string>& streams,
                                              const std::vector<std::string>& ids, int count,
                                              absl::Duration block, absl::Duration timeout) {
  std::vector<std::string> cmd{"XREAD", "COUNT", absl::StrCat(count)};
  if (block > absl::ZeroDuration()) {
    cmd.insert(cmd.end(), {"BLOCK", absl::StrCat(absl::ToInt64Milliseconds(block))});
  }
  auto rest = StreamArgs(streams, ids);
  cmd.insert(cmd.end(), rest.begin(), rest.end());
  return BlockingRead(conn, std::move(cmd), timeout + block);
}

absl::StatusOr<long long> Ack(RedisClient& client, const std::string& stream,
                              const std::string& group, const std::vector<std::string>& ids) {
  if (ids.empty()) return 0;
  std::vector<std::string> cmd{"XACK", stream, group};
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  STP_ASSIGN_OR_RETURN(ReplyPtr reply, client.Command(cmd));
  return Int(reply.get());
}

absl::Status LeaveGroup(RedisClient& client, const std::vector<std::string>& streams,
                        const std::string& group, const std::string& consumer) {
  for (const auto& stream : streams) {
    STP_ASSIGN_OR_RETURN(ReplyPtr pending,
                         client.Command({"XPENDING", stream, group, "-", "+", "1", consumer}));
    if (Size(pending.get()) != 0) continue;
    STP_RETURN_IF_ERROR(
        client.Command({"XGROUP", "DELCONSUMER", stream, group, consumer}).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<AutoClaimResult> AutoClaim(RedisClient& client, const std::string& stream,
                                          const std::string& group, const std::string& consumer,
                                          absl::Duration min_idle, const std::string& start,
                                          int count) {
  STP_ASSIGN_OR_RETURN(ReplyPtr reply,
                       client.Command({"XAUTOCLAIM", stream, group, consumer,
                                       absl::StrCat(absl::ToInt64Milliseconds(min_idle)), start,
                                       "COUNT", absl::StrCat(count)}));
  AutoClaimResult result;
  result.next_start = StrCopy(At(reply.get(), 0));
  result.entries = ParseEntries(At(reply.get(), 1));
  const redisReply* deleted = At(reply.get(), 2);
  for (size_t i = 0; i < Size(deleted); ++i) result.deleted.push_back(StrCopy(At(deleted, i)));
  return result;
}

absl::StatusOr<std::vector<StreamEntry>> Range(RedisClient& client, const std::string& stream,
                                               const std::string& start, const std::string& end,
                                               int count, absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(
      ReplyPtr reply,
      client.Command({"XRANGE", stream, start, end, "COUNT", absl::StrCat(count)}, deadline));
  return ParseEntries(reply.get());
}

absl::StatusOr<StreamInfo> Info(RedisClient& client, const std::string& stream,
                                absl::Time deadline) {
  auto reply = client.Command({"XINFO", "STREAM", stream}, deadline);
  StreamInfo info;
  if (!reply.ok()) {
    if (absl::StrContains(reply.status().message(), "no such key")) {
      info.last_id = "0-0";
      return info;
    }
    return reply.status();
  }
  const redisReply* r = reply->get();
  for (size_t i = 0; i + 1 < Size(r); i += 2) {
    absl::string_view key = Str(At(r, i));
    const redisReply* value = At(r, i + 1);
    if (key == "length")
      info.length = Int(value);
    else if (key == "last-generated-id")
      info.last_id = StrCopy(value);
    else if (key == "entries-added")
      info.entries_added = Int(value);
    else if (key == "first-entry" && Size(value) >= 1)
      info.first_id = StrCopy(At(value, 0));
  }
  return info;
}

absl::StatusOr<CursorState> CursorStateIn(RedisClient& client, const std::string& stream,
                                          const std::string& position, absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(auto info, Info(client, stream, deadline));
  if (CompareStreamIds(position, info.last_id) > 0) return CursorState::kAhead;
  // Entries after the cursor were trimmed when the cursor's own entry is gone while older than
  // what is kept.
  bool trimmed = info.entries_added > info.length;
  bool before_kept = info.first_id.empty() ? CompareStreamIds(position, info.last_id) < 0
                                           : CompareStreamIds(position, info.first_id) < 0;
  if (!trimmed || !before_kept) return CursorState::kRetained;
  STP_ASSIGN_OR_RETURN(auto self, Range(client, stream, position, position, 1, deadline));
  return self.empty() ? CursorState::kTrimmed : CursorState::kRetained;
}

absl::StatusOr<bool> CursorsRetained(RedisClient& client, const std::vector<std::string>& streams,
                                     const std::vector<std::string>& positions) {
  for (size_t p = 0; p < streams.size() && p < positions.size(); ++p) {
    STP_ASSIGN_OR_RETURN(CursorState state, CursorStateIn(client, streams[p], positions[p]));
    if (state != CursorState::kRetained) return false;
  }
  return true;
}

absl::StatusOr<GroupPosition> GroupPositionIn(RedisClient& client, const std::string& stream,
                                              const std::string& group) {
  GroupPosition position;
  auto reply = client.Command({"XINFO", "GROUPS", stream});
  if (!reply.ok() && absl::StrContains(reply.status().message(), "no such key")) return position;
  STP_ASSIGN_OR_RETURN(ReplyPtr info, std::move(reply));
  for (size_t g = 0; g < Size(info.get()); ++g) {
    const redisReply* entry = At(info.get(), g);
    GroupPosition candidate;
    for (size_t k = 0; k + 1 < Size(entry); k += 2) {
      absl::string_view key = Str(At(entry, k));
      const redisReply* value = At(entry, k + 1);
      if (key == "name") candidate.found = Str(value) == group;
      if (key == "lag" && value->type == REDIS_REPLY_INTEGER) candidate.lag = value->integer;
      if (key == "last-delivered-id") candidate.last_delivered = StrCopy(value);
      if (key == "entries-read" && value->type == REDIS_REPLY_INTEGER)
        candidate.entries_read = value->integer;
    }
    if (candidate.found) return candidate;
  }
  return position;
}

absl::StatusOr<GroupLoss> EntriesLostToGroup(RedisClient& client, const std::string& stream,
                                             const GroupPosition& group) {
  GroupLoss loss;
  if (!group.found) return loss;
  STP_ASSIGN_OR_RETURN(StreamInfo info, Info(client, stream));
  if (info.length > 0 && CompareStreamIds(group.last_delivered, info.first_id) >= 0) return loss;
  if (group.entries_read.has_value()) {
    loss.count = std::max(0LL, info.entries_added - *group.entries_read - info.length);
    loss.any = loss.count > 0;
    return loss;
  }
  // A group that has not read since it was made has no count: its position tells.
  STP_ASSIGN_OR_RETURN(CursorState state, CursorStateIn(client, stream, group.last_delivered));
  loss.any = state == CursorState::kTrimmed;
  return loss;
}

absl::StatusOr<std::vector<std::string>> StreamEnds(RedisClient& client,
                                                    const std::vector<std::string>& streams) {
  std::vector<std::string> ends;
  for (const auto& stream : streams) {
    STP_ASSIGN_OR_RETURN(auto info, Info(client, stream));
    ends.push_back(info.last_id.empty() ? "0-0" : info.last_id);
  }
  return ends;
}

}  // namespace stp::redis
