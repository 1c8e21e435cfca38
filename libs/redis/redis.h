// Redis access for every service: RAII hiredis connections, a bounded pool safe for worker
// threads, binary-safe commands, pipelines, Lua scripts run by SHA, reconnect with backoff,
// and timeouts so a dead or paused Redis answers UNAVAILABLE within the caller's deadline.
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/flags.h"

namespace stp {
class Metrics;
}

namespace stp::redis {

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// The strings of a command or a script item, each moved in when given as an rvalue. A braced
// list ({a, std::move(b)}) copies every element out of its initializer_list, and the items of
// a scoring or import batch carry records and events of kilobytes.
template <typename... Parts>
std::vector<std::string> Strings(Parts&&... parts) {
  std::vector<std::string> out;
  out.reserve(sizeof...(parts));
  (out.emplace_back(std::forward<Parts>(parts)), ...);
  return out;
}

// Read-only helpers over a reply (or a nested element of one).
inline bool IsNil(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_NIL; }
inline bool IsArray(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_ARRAY; }
inline bool IsString(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}
inline bool IsInteger(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_INTEGER;
}
inline absl::string_view Str(const redisReply* r) {
  return IsString(r) || (r != nullptr && r->type == REDIS_REPLY_ERROR)
             ? absl::string_view(r->str, r->len)
             : absl::string_view();
}
inline std::string StrCopy(const redisReply* r) { return std::string(Str(r)); }
// Integer replies, and string replies holding an integer; 0 otherwise.
long long Int(const redisReply* r);
inline size_t Size(const redisReply* r) { return IsArray(r) ? r->elements : 0; }
inline const redisReply* At(const redisReply* r, size_t i) {
  return IsArray(r) && i < r->elements ? r->element[i] : nullptr;
}

struct RedisOptions {
  std::string address = "127.0.0.1:6379";  // host:port, or unix:/path/to/socket
  std::string password;
  int pool_size = 16;
  absl::Duration connect_timeout = absl::Milliseconds(500);
  absl::Duration command_timeout = absl::Seconds(2);
  absl::Duration max_backoff = absl::Seconds(2);
  // A connection keeps the buffer of its pipelines for the next one; one that has formatted no
  // pipeline for this long gives it back when the pool next hands a connection back.
  absl::Duration trim_buffers_after = absl::Seconds(30);

  void RegisterFlags(FlagSet* flags);
};

// One connection. Not thread-safe: owned by one thread at a time (through the pool).
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const RedisOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and reads its reply within `timeout`, the whole round trip (a server
  // that trickles its bytes does not stretch it). An error reply is returned as a reply, not a
  // status; I/O errors and timeouts break the connection and give UNAVAILABLE.
  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& args, absl::Duration timeout);
  // Sends all commands, then reads all replies, within `timeout` in all.
  absl::StatusOr<std::vector<ReplyPtr>> Pipeline(
      const std::vector<std::vector<std::string>>& commands, absl::Duration timeout);
  // Pipeline over several callers' command lists, in order; the replies come back flat.
  absl::StatusOr<std::vector<ReplyPtr>> Pipeline(
      const std::vector<const std::vector<std::vector<std::string>>*>& parts,
      absl::Duration timeout);
  bool broken() const { return broken_; }
  // True when the server has closed this idle connection (after a restart, a timeout or
  // CLIENT KILL): it is readable, with its end of file, although no reply is outstanding.
  bool ClosedByPeer() const;
  // The server's CLIENT ID for a dedicated connection (-1 when unknown), for a Waker.
  long long client_id() const { return client_id_; }

 private:
  friend class RedisClient;
  explicit Connection(redisContext* ctx) : ctx_(ctx) {}
  absl::Status SetTimeout(absl::Duration timeout);
  absl::Status IoError(const char* what);
  // Lowers the socket's timeout to what is left until `deadline`, where it would otherwise
  // overrun it; UNAVAILABLE once the deadline has passed.
  absl::Status BoundBy(absl::Time deadline, const char* what);
  // Starts a round trip of at most `timeout` (the socket's timeout set, `out_` empty for its
  // commands) and returns its deadline.
  absl::StatusOr<absl::Time> Begin(absl::Duration timeout);
  // Writes the commands formatted in `out_` to the socket by `deadline`, then gives an
  // outsize buffer back (kKeptBuffer).
  absl::Status Send(absl::Time deadline);
  // Reads the next reply, from what was read before or from the socket, by `deadline`.
  absl::StatusOr<ReplyPtr> ReadReply(absl::Time deadline, const char* what);

  redisContext* ctx_;
  std::string out_;                             // the formatted pipeline, kept for its capacity
  absl::Time out_used_ = absl::InfinitePast();  // when the last pipeline was formatted in it
  absl::Duration timeout_ = absl::ZeroDuration();
  bool broken_ = false;
  long long client_id_ = -1;
};

// SHA-1 of `data` in lowercase hex: what a script's redis.sha1hex gives for the same bytes.
std::string Sha1Hex(absl::string_view data);

// A Lua script, run by SHA and reloaded transparently after a SCRIPT FLUSH or restart.
class Script {
 public:
  explicit Script(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha() const { return sha_; }

 private:
  std::string source_;
  std::string sha_;
};

// A script written for one item (its own KEYS and ARGV, numbered from 1), run for many items
// in one EVALSHA: Redis pays a script call's fixed cost (about 50 µs with its argument
// conversion) once per call instead of once per item. Items run in order; an item that
// raises an error gets an error reply of its own and the next items still run (as separate
// scripts would have), with whatever writes it made before the error kept, as for one script.
// The table CALL is shared by the items of one call (and starts empty in each call), for what
// an item may keep for the next items, such as a value it read.
class ItemScript {
 public:
  explicit ItemScript(const std::string& item_source);
  const Script& batch() const { return batch_; }

 private:
  Script batch_;
};

// One reply per item of RedisClient::EvalEach.
class ItemReplies {
 public:
  size_t size() const { return items_.size(); }
  // The item's reply; the call's own reply when the call failed as a whole.
  const redisReply* operator[](size_t i) const;

 private:
  friend class RedisClient;
  std::vector<ReplyPtr> calls_;
  std::vector<std::pair<uint32_t, uint32_t>> items_;  // (call, element); element ~0: the call
};

// The pool-backed client services use. Thread-safe.
class RedisClient {
 public:
  explicit RedisClient(RedisOptions options, Metrics* metrics = nullptr);
  ~RedisClient();

  // A command. Error replies become statuses (see ErrorReplyStatus).
  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& args,
                                   absl::Time deadline = absl::InfiniteFuture());
  // Several commands in one round trip; error replies stay replies for the caller to read.
  absl::StatusOr<std::vector<ReplyPtr>> Pipeline(
      const std::vector<std::vector<std::string>>& commands,
      absl::Time deadline = absl::InfiniteFuture());
  // Pipeline for short commands that many threads send at once (a GetProject per call): the
  // commands of callers that arrive while a round trip is in flight go together in the next
  // one, on one connection, sent by a thread of the client's own (two such round trips may be
  // in flight, so two requests queued one after the other may run in either order: a
  // caller that needs an order waits for the first answer). Redis then reads and answers
  // a batch per system call instead of one command per client. A caller waits at most its
  // deadline or the command timeout (counted from when it queued), whichever comes first, even
  // behind a round trip that Redis does not answer; a round trip that also carries a script
  // call of EvalEachAsync may hold it to that call's deadline instead.
  absl::StatusOr<std::vector<ReplyPtr>> SharedPipeline(
      const std::vector<std::vector<std::string>>& commands,
      absl::Time deadline = absl::InfiniteFuture());
  // The same without waiting: `done` gets the replies on one of the client's two round-trip
  // threads (so two callers' `done` may run at once), and must not block (parse, answer a
  // call, hand work on) and must not call SharedPipeline. A caller
  // thread that would only wait for Redis is then free for the next call instead of sleeping and
  // waking once per command.
  using SharedDone = std::function<void(absl::StatusOr<std::vector<ReplyPtr>>)>;
  void SharedPipelineAsync(std::vector<std::vector<std::string>> commands, absl::Time deadline,
                           SharedDone done);
  // EVALSHA, falling back to EVAL on NOSCRIPT. Error replies become statuses.
  absl::StatusOr<ReplyPtr> Eval(const Script& script, const std::vector<std::string>& keys,
                                const std::vector<std::string>& args,
                                absl::Time deadline = absl::InfiniteFuture());
  // Many EVALSHA calls of one script pipelined; per-call error replies stay replies.
  absl::StatusOr<std::vector<ReplyPtr>> EvalMany(const Script& script,
                                                 const std::vector<std::vector<std::string>>& keys,
                                                 const std::vector<std::vector<std::string>>& args,
                                                 absl::Time deadline = absl::InfiniteFuture());
  // Runs an ItemScript for every item, up to `max_items` per call, in one round trip. A call
  // holds items of one `groups` value only (a partition, so that every key of a call shares a
  // hash tag; empty `groups`: one group): items are grouped, each group's kept in order, and
  // the replies come back in the caller's order. Items may differ in their numbers of keys
  // and arguments.
  absl::StatusOr<ItemReplies> EvalEach(const ItemScript& script,
                                       std::vector<std::vector<std::string>> keys,
                                       std::vector<std::vector<std::string>> args,
                                       const std::vector<int>& groups, size_t max_items,
                                       absl::Time deadline = absl::InfiniteFuture());
  // EvalEach without waiting: `done` gets the replies as SharedPipelineAsync's does, and the
  // calls travel in the shared round trips. A round trip that carries them waits for them to
  // their own deadline (or the command timeout), never to a shorter one of another request
  // in it, so a write's outcome is not left unknown by someone else's deadline. `script`
  // must outlive the call.
  using EvalDone = std::function<void(absl::StatusOr<ItemReplies>)>;
  void EvalEachAsync(const ItemScript& script, std::vector<std::vector<std::string>> keys,
                     std::vector<std::vector<std::string>> args, const std::vector<int>& groups,
                     size_t max_items, absl::Time deadline, EvalDone done);
  absl::Status Ping(absl::Time deadline);

  // A connection outside the pool, for blocking reads (XREAD BLOCK) that would hold a pooled
  // one for seconds. It knows its CLIENT ID, so that a Waker can end such a read early.
  absl::StatusOr<std::unique_ptr<Connection>> OpenDedicated();

  // True when the last attempt to reach Redis succeeded.
  bool reachable() const { return reachable_.load(std::memory_order_relaxed); }
  // Bytes the idle connections keep of their pipeline buffers (see trim_buffers_after).
  size_t IdleBufferBytes();
  const RedisOptions& options() const { return options_; }

 private:
  class Lease;
  struct SharedRequest;
  struct EvalPlan;
  static absl::StatusOr<EvalPlan> PlanEvalEach(const ItemScript& script,
                                               std::vector<std::vector<std::string>> keys,
                                               std::vector<std::vector<std::string>> args,
                                               const std::vector<int>& groups, size_t max_items);
  static ItemReplies ItemRepliesOf(const EvalPlan& plan, std::vector<ReplyPtr> calls);
  // Queues an asynchronous request, or answers it UNAVAILABLE when the client is stopping.
  void QueueAsync(std::unique_ptr<SharedRequest> request);
  // Queues a request and starts the round-trip threads on first use.
  void EnqueueShared(SharedRequest* request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_mu_);
  // A round-trip thread: sends what is queued (up to a bound) in one pipeline, hands out the
  // replies, and starts over.
  void SharedLoop();
  // Pipelines EVALSHA commands ([EVALSHA, sha, ...]), re-sending those that meet NOSCRIPT
  // as EVAL with the source.
  absl::StatusOr<std::vector<ReplyPtr>> EvalCommands(const Script& script,
                                                     std::vector<std::vector<std::string>> commands,
                                                     absl::Time deadline);
  absl::StatusOr<std::unique_ptr<Connection>> Acquire(absl::Time deadline);
  void Release(std::unique_ptr<Connection> conn);
  absl::StatusOr<absl::Duration> TimeoutFor(absl::Time deadline) const;
  // A pooled connection and the timeout of its round trip, counted once it is held: the wait
  // for a free connection (or a new one's connect) is not added to the caller's deadline.
  struct Lease {
    std::unique_ptr<Connection> conn;
    absl::Duration timeout;
  };
  absl::StatusOr<Lease> AcquireFor(absl::Time deadline);
  void Observe(const char* kind, absl::Time start, bool error);

  const RedisOptions options_;
  Metrics* metrics_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::atomic<bool> reachable_{true};

  absl::Mutex shared_mu_;  // never held with mu_
  std::deque<SharedRequest*> shared_queue_ ABSL_GUARDED_BY(shared_mu_);
  bool shared_stopping_ ABSL_GUARDED_BY(shared_mu_) = false;
  std::vector<std::thread> shared_threads_;  // started under shared_mu_ on first use
};

// Wakes a loop blocked in a read with BLOCK (XREAD, XREADGROUP) on a dedicated connection, so
// that stopping takes the time of the loop's current step, not the rest of its block: CLIENT
// UNBLOCK, sent over a pooled connection, ends the read as if its block had run out, with no
// entries. The loop checks its stop flag right before each read; a wake sent between that
// check and the read reaching Redis finds nothing to end, and the loop then waits out that one
// block, as it would without a Waker.
class Waker {
 public:
  // The connection the loop reads on, after each (re)open; Unwatch when it is dropped (after a
  // Redis restart, ids start again from 1 and could name another client).
  void Watch(const Connection& conn) { client_id_.store(conn.client_id()); }
  void Unwatch() { client_id_.store(-1); }
  // After the loop's stop flag is set. Errors are ignored, and Redis is given 200 ms at most
  // (none when it was unreachable): the block runs out on its own.
  void Wake(RedisClient& client);

 private:
  std::atomic<long long> client_id_{-1};
};

// Maps an error reply to a status: LOADING/MASTERDOWN/READONLY/BUSY are UNAVAILABLE (Redis
// will be back), OOM is RESOURCE_EXHAUSTED, anything else INTERNAL with the text.
absl::Status ErrorReplyStatus(absl::string_view error);
inline bool IsErrorReply(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR;
}

}  // namespace stp::redis
