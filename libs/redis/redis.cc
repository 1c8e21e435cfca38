#include "libs/redis/redis.h"

#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/ids.h"
#include "libs/common/metrics.h"
#include "libs/common/status.h"

namespace stp::redis {
namespace {

timeval DurationToTimeval(absl::Duration d) {
  if (d < absl::Milliseconds(1)) d = absl::Milliseconds(1);
  return absl::ToTimeval(d);
}

// A connection keeps the buffer it formats commands in for the next pipeline, up to this
// bound (a scoring batch's script calls are about 4 MB). Idle connections are handed out
// last-in first-out, so mostly the few that carry a process's batches hold such buffers; at
// worst the whole pool does (16 x 8 MB). With a 1 MB bound instead, the scoring process's CPU
// per event was no lower than with hiredis's own buffers: the saving is in writing into pages
// already touched.
constexpr size_t kKeptBuffer = 8 << 20;

// Formats one command (RESP) at the end of `out`.
void AppendCommand(const std::vector<std::string>& args, std::string* out) {
  char digits[24];
  auto append_count = [&](char kind, size_t n) {
    char* end = digits + sizeof(digits);
    char* p = end;
    *--p = '\n';
    *--p = '\r';
    do {
      *--p = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    *--p = kind;
    out->append(p, static_cast<size_t>(end - p));
  };
  append_count('*', args.size());
  for (const auto& a : args) {
    append_count('$', a.size());
    out->append(a);
    out->append("\r\n", 2);
  }
}

// RESP for `commands`, appended to `out`. A pipeline's commands are formatted into one
// buffer that its connection keeps, and written from it. Through hiredis
// (redisAppendCommandArgv), each command was formatted into a fresh buffer and then copied
// into an output buffer grown again and again and freed after each round trip: about a tenth
// of the scoring process's CPU in a catch-up, most of it first touches of fresh pages.
void AppendResp(const std::vector<std::vector<std::string>>& commands, std::string* out) {
  size_t size = 0;
  for (const auto& args : commands) {
    size += 16;
    for (const auto& a : args) size += a.size() + 24;
  }
  out->reserve(out->size() + size);
  for (const auto& args : commands) AppendCommand(args, out);
}

absl::Status Unavailable(absl::string_view what) {
  return WithErrorInfo(
      absl::UnavailableError(absl::StrCat("the data store is unavailable: ", what)),
      "BACKEND_UNAVAILABLE");
}

}  // namespace

long long Int(const redisReply* r) {
  if (r == nullptr) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  long long v = 0;
  if (IsString(r) && absl::SimpleAtoi(absl::string_view(r->str, r->len), &v)) return v;
  return 0;
}

void RedisOptions::RegisterFlags(FlagSet* flags) {
  flags->String("redis-address", &address, "Redis address: host:port or unix:/path/to/socket");
  flags->String("redis-password", &password, "Redis password (AUTH); prefer the environment");
  flags->Int("redis-pool-size", &pool_size, "pooled Redis connections");
  flags->Duration("redis-connect-timeout", &connect_timeout, "Redis connect timeout");
  flags->Duration("redis-command-timeout", &command_timeout,
                  "longest wait for a Redis reply (calls with shorter deadlines wait less)");
}

absl::Status ErrorReplyStatus(absl::string_view error) {
  if (absl::StartsWith(error, "LOADING") || absl::StartsWith(error, "MASTERDOWN") ||
      absl::StartsWith(error, "READONLY") || absl::StartsWith(error, "BUSY ") ||
      absl::StartsWith(error, "TRYAGAIN") || absl::StartsWith(error, "CLUSTERDOWN") ||
      absl::StartsWith(error, "MISCONF")) {  // refuses writes while it cannot persist
    return Unavailable(error);
  }
  if (absl::StartsWith(error, "OOM")) {
    return WithRetryInfo(
        WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat("the data store is full: ", error)),
                      "STORAGE_FULL"),
        absl::Seconds(5));
  }
  return absl::InternalError(absl::StrCat("data store error: ", error));
}

// ---------------------------------------------------------------- Connection

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const RedisOptions& options) {
  timeval tv = DurationToTimeval(options.connect_timeout);
  redisContext* ctx = nullptr;
  if (absl::StartsWith(options.address, "unix:")) {
    ctx = redisConnectUnixWithTimeout(options.address.substr(5).c_str(), tv);
  } else {
    auto colon = options.address.rfind(':');
    int port = 6379;
    std::string host = options.address;
    if (colon != std::string::npos) {
      host = options.address.substr(0, colon);
      if (!absl::SimpleAtoi(options.address.substr(colon + 1), &port)) {
        return absl::InvalidArgumentError("bad Redis address " + options.address);
      }
    }
    ctx = redisConnectWithTimeout(host.c_str(), port, tv);
  }
  if (ctx == nullptr) return Unavailable("cannot allocate a connection");
  if (ctx->err) {
    std::string err = ctx->errstr;
    redisFree(ctx);
    return Unavailable(absl::StrCat("cannot connect to ", options.address, ": ", err));
  }
  if (!absl::StartsWith(options.address, "unix:")) redisEnableKeepAlive(ctx);
  std::unique_ptr<Connection> conn(new Connection(ctx));
  if (!options.password.empty()) {
    auto reply = conn->Command({"AUTH", options.password}, options.connect_timeout);
    if (!reply.ok()) return reply.status();
    if (IsErrorReply(reply->get())) {
      return absl::PermissionDeniedError(
          absl::StrCat("Redis refused the password: ", Str(reply->get())));
    }
  }
  return conn;
}

Connection::~Connection() { redisFree(ctx_); }

bool Connection::ClosedByPeer() const {
  if (broken_ || ctx_->fd < 0) return true;
  pollfd p{ctx_->fd, POLLIN | POLLRDHUP, 0};
  return poll(&p, 1, 0) != 0;  // anything to read, a hang-up or an error (or poll failing)
}

absl::Status Connection::SetTimeout(absl::Duration timeout) {
  if (timeout == timeout_) return absl::OkStatus();
  if (redisSetTimeout(ctx_, DurationToTimeval(timeout)) != REDIS_OK) return IoError("set timeout");
  timeout_ = timeout;
  return absl::OkStatus();
}

absl::Status Connection::BoundBy(absl::Time deadline, const char* what) {
  // The socket's timeout bounds each send() and read() on its own: a server that trickles its
  // bytes, each within the timeout, would stretch a round trip to many timeouts. It is lowered
  // only where it would overrun the deadline by more than a millisecond, so a round trip that
  // is quick costs no extra system call.
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    broken_ = true;
    return Unavailable(absl::StrCat("no reply within the timeout (", what, ")"));
  }
  if (left + absl::Milliseconds(1) < timeout_) return SetTimeout(left);
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> Connection::Begin(absl::Duration timeout) {
  if (broken_) return Unavailable("connection broken");
  timeout = std::max(timeout, absl::Milliseconds(1));  // what the socket's timeout allows
  const absl::Time deadline = absl::Now() + timeout;
  STP_RETURN_IF_ERROR(SetTimeout(timeout));
  out_.clear();
  return deadline;
}

absl::Status Connection::Send(absl::Time deadline) {
  // hiredis is bypassed for writing, and only when its own output buffer is empty (it always
  // is here): its reader then reads the replies as usual.
  if (ctx_->obuf != nullptr && sdslen(ctx_->obuf) != 0) {
    broken_ = true;
    return Unavailable("pipeline write: the connection holds unsent commands");
  }
  absl::string_view data = out_;
  // The first write goes out under the timeout the call set (at least a millisecond): a call
  // with almost nothing left is still tried, and nothing sent leaves nothing to break.
  for (bool first = true; !data.empty(); first = false) {
    if (!first) STP_RETURN_IF_ERROR(BoundBy(deadline, "write"));
    const ssize_t n = ::send(ctx_->fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EPIPE;
      broken_ = true;
      if (error == EAGAIN || error == EWOULDBLOCK) {
        return Unavailable("no reply within the timeout (write)");
      }
      return Unavailable(absl::StrCat("write: ", std::strerror(error)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (out_.capacity() > kKeptBuffer) std::string().swap(out_);
  return absl::OkStatus();
}

absl::StatusOr<ReplyPtr> Connection::ReadReply(absl::Time deadline, const char* what) {
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(ctx_->reader, &reply) != REDIS_OK) {
      broken_ = true;
      return Unavailable(absl::StrCat(what, ": ", ctx_->reader->errstr));
    }
    if (reply != nullptr) return ReplyPtr(static_cast<redisReply*>(reply));
    STP_RETURN_IF_ERROR(BoundBy(deadline, what));
    if (redisBufferRead(ctx_) != REDIS_OK) return IoError(what);
  }
}

absl::Status Connection::IoError(const char* what) {
  broken_ = true;
  std::string err = ctx_->errstr;
  if (absl::StrContains(err, "temporarily unavailable") || absl::StrContains(err, "timed out")) {
    return Unavailable(absl::StrCat("no reply within the timeout (", what, ")"));
  }
  return Unavailable(absl::StrCat(what, ": ", err.empty() ? "connection lost" : err));
}

absl::StatusOr<ReplyPtr> Connection::Command(const std::vector<std::string>& args,
                                             absl::Duration timeout) {
  STP_ASSIGN_OR_RETURN(const absl::Time deadline, Begin(timeout));
  // Formatted into the pipeline buffer, without counting as a pipeline: a connection that
  // sends only commands still gives a large buffer back after a while.
  AppendCommand(args, &out_);
  STP_RETURN_IF_ERROR(Send(deadline));
  return ReadReply(deadline, "read");
}

absl::StatusOr<std::vector<ReplyPtr>> Connection::Pipeline(
    const std::vector<std::vector<std::string>>& commands, absl::Duration timeout) {
  return Pipeline(std::vector<const std::vector<std::vector<std::string>>*>{&commands}, timeout);
}

absl::StatusOr<std::vector<ReplyPtr>> Connection::Pipeline(
    const std::vector<const std::vector<std::vector<std::string>>*>& parts,
    absl::Duration timeout) {
  STP_ASSIGN_OR_RETURN(const absl::Time deadline, Begin(timeout));
  size_t count = 0;
  for (const auto* commands : parts) {
    AppendResp(*commands, &out_);
    count += commands->size();
  }
  if (count == 0) return std::vector<ReplyPtr>();
  out_used_ = absl::Now();
  STP_RETURN_IF_ERROR(Send(deadline));
  std::vector<ReplyPtr> replies;
  replies.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    STP_ASSIGN_OR_RETURN(ReplyPtr reply, ReadReply(deadline, "pipeline read"));
    replies.push_back(std::move(reply));
  }
  return replies;
}

// ---------------------------------------------------------------- Script

std::string Sha1Hex(absl::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(digest), SHA_DIGEST_LENGTH));
}

Script::Script(std::string source) : source_(std::move(source)), sha_(Sha1Hex(source_)) {}

namespace {

// ARGV[1] is the number of items n, ARGV[2..2n+1] each item's number of keys and arguments,
// and the items' arguments follow; `item` sees only its own, and the call's CALL table. A nil
// result becomes false so that the array of results has no hole (Redis would cut it there).
std::string WrapItemScript(const std::string& item_source) {
  return absl::StrCat("local CALL = {}\nlocal function item(KEYS, ARGV)\n", item_source, R"lua(
end
local n = tonumber(ARGV[1])
local kpos, apos = 0, 1 + 2 * n
local out = {}
for i = 1, n do
  local nk, na = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local k, a = {}, {}
  for j = 1, nk do k[j] = KEYS[kpos + j] end
  for j = 1, na do a[j] = ARGV[apos + j] end
  kpos, apos = kpos + nk, apos + na
  local ok, r = pcall(item, k, a)
  if not ok then
    r = redis.error_reply(type(r) == 'table' and r.err or tostring(r))
  elseif r == nil then
    r = false
  end
  out[i] = r
end
return out
)lua");
}

}  // namespace

ItemScript::ItemScript(const std::string& item_source) : batch_(WrapItemScript(item_source)) {}

const redisReply* ItemReplies::operator[](size_t i) const {
  const auto [call, element] = items_[i];
  const redisReply* reply = calls_[call].get();
  return element == ~uint32_t{0} ? reply : At(reply, element);
}

// ---------------------------------------------------------------- RedisClient

RedisClient::RedisClient(RedisOptions options, Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

RedisClient::~RedisClient() {
  {
    absl::MutexLock lock(&shared_mu_);
    shared_stopping_ = true;
  }
  // The round-trip threads answer what is still queued, then end.
  for (std::thread& t : shared_threads_) t.join();
}

absl::StatusOr<std::unique_ptr<Connection>> RedisClient::OpenDedicated() {
  auto conn = Connection::Open(options_);
  reachable_.store(conn.ok(), std::memory_order_relaxed);
  if (!conn.ok()) return conn;
  // Refused under an ACL without CLIENT ID: the connection still reads, and is not woken.
  auto id = (*conn)->Command({"CLIENT", "ID"}, options_.command_timeout);
  if (!id.ok()) return id.status();
  if ((*id)->type == REDIS_REPLY_INTEGER) (*conn)->client_id_ = (*id)->integer;
  return conn;
}

void Waker::Wake(RedisClient& client) {
  const long long id = client_id_.load();
  if (id < 0 || !client.reachable()) return;
  (void)client.Command(
      {"CLIENT", "UNBLOCK", absl::StrCat(id)},
      absl::Now() + std::min(client.options().command_timeout, absl::Milliseconds(200)));
}

absl::StatusOr<std::unique_ptr<Connection>> RedisClient::Acquire(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      // Checked (and, when Redis closed it while it sat in the pool, closed) outside the lock.
      mu_.Unlock();
      const bool stale = conn->ClosedByPeer();
      if (stale) conn.reset();
      mu_.Lock();
      if (!stale) return conn;
      --open_;
      continue;
    }
    if (open_ < options_.pool_size) break;
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
      return absl::DeadlineExceededError(
          "no data store connection became free before the deadline");
    }
  }
  absl::Time now = absl::Now();
  if (now < next_connect_) {
    // Fail fast while backing off: a caller never waits on a Redis that just refused.
    return Unavailable(
        absl::StrCat("reconnecting; next attempt in ", absl::FormatDuration(next_connect_ - now)));
  }
  ++open_;
  mu_.Unlock();
  auto conn = Connection::Open(options_);
  mu_.Lock();
  if (!conn.ok()) {
    --open_;
    backoff_ = backoff_ == absl::ZeroDuration() ? absl::Milliseconds(50)
                                                : std::min(backoff_ * 2, options_.max_backoff);
    next_connect_ = absl::Now() + backoff_;
    reachable_.store(false, std::memory_order_relaxed);
    return conn.status();
  }
  backoff_ = absl::ZeroDuration();
  next_connect_ = absl::InfinitePast();
  return conn;
}

void RedisClient::Release(std::unique_ptr<Connection> conn) {
  std::vector<std::string> unused;  // freed after the lock is released (declared before it)
  absl::MutexLock lock(&mu_);
  if (conn->broken()) {
    --open_;
    reachable_.store(false, std::memory_order_relaxed);
    return;  // closed by the destructor
  }
  reachable_.store(true, std::memory_order_relaxed);
  idle_.push_back(std::move(conn));
  // Buffers of connections that have carried no pipeline for a while go back to the allocator:
  // after a burst (an import, a backlog) a replica's memory comes down. Releases come often
  // enough for this (the readiness probe's PING, every few seconds, is one).
  const absl::Time stale = absl::Now() - options_.trim_buffers_after;
  constexpr size_t kSmallBuffer = 64 << 10;
  for (const auto& idle : idle_) {
    if (idle->out_used_ < stale && idle->out_.capacity() > kSmallBuffer) {
      unused.emplace_back().swap(idle->out_);
    }
  }
}

size_t RedisClient::IdleBufferBytes() {
  absl::MutexLock lock(&mu_);
  size_t bytes = 0;
  for (const auto& idle : idle_) bytes += idle->out_.capacity();
  return bytes;
}

absl::StatusOr<absl::Duration> RedisClient::TimeoutFor(absl::Time deadline) const {
  absl::Duration timeout = options_.command_timeout;
  if (deadline != absl::InfiniteFuture()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("the deadline passed before the data store was asked");
    }
    timeout = std::min(timeout, left);
  }
  return timeout;
}

absl::StatusOr<RedisClient::Lease> RedisClient::AcquireFor(absl::Time deadline) {
  STP_RETURN_IF_ERROR(TimeoutFor(deadline).status());
  STP_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire(deadline));
  absl::StatusOr<absl::Duration> timeout = TimeoutFor(deadline);
  if (!timeout.ok()) {
    Release(std::move(conn));
    return timeout.status();
  }
  return Lease{std::move(conn), *timeout};
}

void RedisClient::Observe(const char* kind, absl::Time start, bool error) {
  if (metrics_ != nullptr)
    metrics_->RecordRedis(kind, absl::ToDoubleSeconds(absl::Now() - start), error);
}

absl::StatusOr<ReplyPtr> RedisClient::Command(const std::vector<std::string>& args,
                                              absl::Time deadline) {
  absl::Time start = absl::Now();
  STP_ASSIGN_OR_RETURN(Lease lease, AcquireFor(deadline));
  absl::StatusOr<ReplyPtr> reply = lease.conn->Command(args, lease.timeout);
  Release(std::move(lease.conn));
  Observe("command", start, !reply.ok());
  if (!reply.ok()) return reply.status();
  if (IsErrorReply(reply->get())) return ErrorReplyStatus(Str(reply->get()));
  return reply;
}

absl::StatusOr<std::vector<ReplyPtr>> RedisClient::Pipeline(
    const std::vector<std::vector<std::string>>& commands, absl::Time deadline) {
  if (commands.empty()) return std::vector<ReplyPtr>();
  absl::Time start = absl::Now();
  STP_ASSIGN_OR_RETURN(Lease lease, AcquireFor(deadline));
  auto replies = lease.conn->Pipeline(commands, lease.timeout);
  Release(std::move(lease.conn));
  Observe("pipeline", start, !replies.ok());
  return replies;
}

struct RedisClient::SharedRequest {
  enum class State { kQueued, kSent, kDone };
  std::vector<std::vector<std::string>> owned;  // an asynchronous caller's commands
  const std::vector<std::vector<std::string>>* commands = &owned;
  absl::Time deadline = absl::InfiniteFuture();
  // The deadline, or the command timeout counted from when the request was queued if that is
  // sooner: time spent behind a round trip that Redis does not answer counts against it, so
  // no request waits much longer than one command timeout on an unresponsive Redis.
  absl::Time give_up = absl::InfiniteFuture();
  SharedDone done;  // asynchronous callers; a waiting caller reads `result` once kDone
  // A write (a script call): its round trip waits for it to its own give-up time, so that
  // another request's shorter deadline never cuts it short and leaves its outcome unknown.
  bool write = false;
  State state = State::kQueued;
  absl::StatusOr<std::vector<ReplyPtr>> result = std::vector<ReplyPtr>();
};

void RedisClient::EnqueueShared(SharedRequest* request) {
  request->give_up = std::min(request->deadline, absl::Now() + options_.command_timeout);
  shared_queue_.push_back(request);
  // Two round trips in flight: while Redis answers one, the other's replies are handed out
  // (asynchronous callers' work runs there), so that neither Redis nor this side waits for
  // the other. With one, each stood idle about half the time under load.
  constexpr int kRoundTripThreads = 2;
  if (shared_threads_.empty()) {
    for (int i = 0; i < kRoundTripThreads; ++i)
      shared_threads_.emplace_back([this] { SharedLoop(); });
  }
}

absl::StatusOr<std::vector<ReplyPtr>> RedisClient::SharedPipeline(
    const std::vector<std::vector<std::string>>& commands, absl::Time deadline) {
  if (commands.empty()) return std::vector<ReplyPtr>();
  using State = SharedRequest::State;
  SharedRequest request;
  request.commands = &commands;
  request.deadline = deadline;
  absl::MutexLock lock(&shared_mu_);
  if (shared_stopping_) return Unavailable("the client is shutting down");
  EnqueueShared(&request);
  auto done = [&request]() { return request.state == State::kDone; };
  auto sent_or_done = [&request]() { return request.state != State::kQueued; };
  if (!shared_mu_.AwaitWithDeadline(absl::Condition(&sent_or_done), deadline)) {
    shared_queue_.erase(std::find(shared_queue_.begin(), shared_queue_.end(), &request));
    return absl::DeadlineExceededError("the deadline passed while waiting for the data store");
  }
  // Sent: the round trip's own timeout (the earliest deadline in it) bounds this wait.
  shared_mu_.Await(absl::Condition(&done));
  return std::move(request.result);
}

void RedisClient::SharedPipelineAsync(std::vector<std::vector<std::string>> commands,
                                      absl::Time deadline, SharedDone done) {
  if (commands.empty()) {
    done(std::vector<ReplyPtr>());
    return;
  }
  auto request = std::make_unique<SharedRequest>();
  request->owned = std::move(commands);
  request->deadline = deadline;
  request->done = std::move(done);
  QueueAsync(std::move(request));
}

void RedisClient::QueueAsync(std::unique_ptr<SharedRequest> request) {
  {
    absl::MutexLock lock(&shared_mu_);
    if (!shared_stopping_) {
      EnqueueShared(request.release());  // deleted once answered
      return;
    }
  }
  request->done(Unavailable("the client is shutting down"));
}

void RedisClient::SharedLoop() {
  using State = SharedRequest::State;
  // Enough commands that a busy server's callers share a round trip, few enough that one
  // batch's replies stay small.
  constexpr size_t kMaxCommands = 256;
  auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_mu_) {
    return !shared_queue_.empty() || shared_stopping_;
  };
  shared_mu_.Lock();
  while (true) {
    shared_mu_.Await(absl::Condition(&work));
    if (shared_queue_.empty()) break;  // stopping, and nothing left
    std::vector<SharedRequest*> batch, expired;
    std::vector<const std::vector<std::vector<std::string>>*> parts;
    // The round trip ends by the earliest give-up time in it, or by the latest of its
    // writes' when it carries any.
    absl::Time earliest = absl::InfiniteFuture();
    absl::Time writes_until = absl::InfinitePast();
    const absl::Time now = absl::Now();
    size_t count = 0;
    while (!shared_queue_.empty() && count < kMaxCommands) {
      SharedRequest* r = shared_queue_.front();
      shared_queue_.pop_front();
      r->state = State::kSent;
      if (r->give_up <= now) {
        r->result =
            r->deadline <= now
                ? absl::DeadlineExceededError("the deadline passed before the data store was asked")
                : Unavailable("no reply within the timeout (queued)");
        expired.push_back(r);
        continue;
      }
      batch.push_back(r);
      parts.push_back(r->commands);
      count += r->commands->size();
      earliest = std::min(earliest, r->give_up);
      if (r->write) writes_until = std::max(writes_until, r->give_up);
    }
    shared_mu_.Unlock();
    if (!batch.empty()) {
      const absl::Time start = absl::Now();
      const absl::Time until = std::max(earliest, writes_until);
      absl::StatusOr<Lease> lease = AcquireFor(until);
      absl::StatusOr<std::vector<ReplyPtr>> replies = std::vector<ReplyPtr>();
      if (!lease.ok()) {
        replies = lease.status();
      } else {
        replies = lease->conn->Pipeline(parts, lease->timeout);
        Release(std::move(lease->conn));
      }
      Observe("shared", start, !replies.ok());
      size_t next = 0;
      for (SharedRequest* r : batch) {
        if (!replies.ok()) {
          r->result = replies.status();
          continue;
        }
        std::vector<ReplyPtr> own;
        own.reserve(r->commands->size());
        for (size_t i = 0; i < r->commands->size(); ++i)
          own.push_back(std::move((*replies)[next++]));
        r->result = std::move(own);
      }
    }
    batch.insert(batch.end(), expired.begin(), expired.end());
    // Waiting callers first: they go on while the asynchronous callers' work (which may be
    // the rest of a call) runs here. A woken waiter frees its request, so none is touched
    // after it is marked done.
    std::vector<SharedRequest*> answer_here;
    shared_mu_.Lock();
    for (SharedRequest* r : batch) {
      if (r->done)
        answer_here.push_back(r);
      else
        r->state = State::kDone;
    }
    shared_mu_.Unlock();
    for (SharedRequest* r : answer_here) {
      r->done(std::move(r->result));
      delete r;
    }
    shared_mu_.Lock();
  }
  shared_mu_.Unlock();
}

absl::StatusOr<ReplyPtr> RedisClient::Eval(const Script& script,
                                           const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args,
                                           absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(auto replies, EvalMany(script, {keys}, {args}, deadline));
  ReplyPtr reply = std::move(replies.front());
  if (IsErrorReply(reply.get())) return ErrorReplyStatus(Str(reply.get()));
  return reply;
}

absl::StatusOr<std::vector<ReplyPtr>> RedisClient::EvalMany(
    const Script& script, const std::vector<std::vector<std::string>>& keys,
    const std::vector<std::vector<std::string>>& args, absl::Time deadline) {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    std::vector<std::string> cmd;
    cmd.reserve(3 + keys[i].size() + args[i].size());
    cmd.push_back("EVALSHA");
    cmd.push_back(script.sha());
    cmd.push_back(std::to_string(keys[i].size()));
    cmd.insert(cmd.end(), keys[i].begin(), keys[i].end());
    cmd.insert(cmd.end(), args[i].begin(), args[i].end());
    commands.push_back(std::move(cmd));
  }
  return EvalCommands(script, std::move(commands), deadline);
}

namespace {

// The commands of `replies` that met NOSCRIPT (the script cache was flushed, or Redis
// restarted). NOSCRIPT fails a call before the script runs, so re-running them is safe.
std::vector<size_t> MissingScripts(const std::vector<ReplyPtr>& replies) {
  std::vector<size_t> missing;
  for (size_t i = 0; i < replies.size(); ++i) {
    const redisReply* r = replies[i].get();
    if (IsErrorReply(r) && absl::StartsWith(Str(r), "NOSCRIPT")) missing.push_back(i);
  }
  return missing;
}

// The `missing` EVALSHA commands, moved out of `commands`, as EVAL with the script's source.
std::vector<std::vector<std::string>> AsEval(const Script& script,
                                             std::vector<std::vector<std::string>>* commands,
                                             const std::vector<size_t>& missing) {
  std::vector<std::vector<std::string>> retry;
  for (size_t i : missing) {
    std::vector<std::string> cmd = std::move((*commands)[i]);
    cmd[0] = "EVAL";
    cmd[1] = script.source();
    retry.push_back(std::move(cmd));
  }
  return retry;
}

}  // namespace

absl::StatusOr<std::vector<ReplyPtr>> RedisClient::EvalCommands(
    const Script& script, std::vector<std::vector<std::string>> commands, absl::Time deadline) {
  absl::Time start = absl::Now();
  STP_ASSIGN_OR_RETURN(Lease lease, AcquireFor(deadline));
  std::unique_ptr<Connection>& conn = lease.conn;
  const absl::Time until = absl::Now() + lease.timeout;
  auto replies = conn->Pipeline(commands, lease.timeout);
  if (replies.ok()) {
    std::vector<size_t> missing = MissingScripts(*replies);
    if (!missing.empty()) {
      // Within the same timeout as the first round trip, not a fresh one.
      const absl::Duration left = until - absl::Now();
      absl::StatusOr<std::vector<ReplyPtr>> retried =
          left > absl::ZeroDuration() ? conn->Pipeline(AsEval(script, &commands, missing), left)
                                      : absl::StatusOr<std::vector<ReplyPtr>>(Unavailable(
                                            "no reply within the timeout (loading a script)"));
      if (!retried.ok()) {
        replies = retried.status();
      } else {
        for (size_t j = 0; j < missing.size(); ++j)
          (*replies)[missing[j]] = std::move((*retried)[j]);
      }
    }
  }
  Release(std::move(conn));
  Observe("script", start, !replies.ok());
  return replies;
}

// The EVALSHA calls of an EvalEach, and which items each carries.
struct RedisClient::EvalPlan {
  std::vector<std::vector<std::string>> commands;
  std::vector<size_t> order;                     // items, grouped
  std::vector<std::pair<size_t, size_t>> calls;  // [begin, end) in `order`, per command
};

absl::StatusOr<RedisClient::EvalPlan> RedisClient::PlanEvalEach(
    const ItemScript& script, std::vector<std::vector<std::string>> keys,
    std::vector<std::vector<std::string>> args, const std::vector<int>& groups, size_t max_items) {
  EvalPlan plan;
  if (args.size() != keys.size() || (!groups.empty() && groups.size() != keys.size()) ||
      max_items == 0) {
    return absl::InternalError("EvalEach: keys, args and groups differ in length");
  }
  // Items of one group together, each group's in the caller's order.
  std::vector<size_t>& order = plan.order;
  order.resize(keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (!groups.empty()) {
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return groups[a] < groups[b]; });
  }
  // Each call: EVALSHA sha numkeys <keys> n <counts> <arguments>. The items' strings (records
  // and events of kilobytes) are moved, not copied.
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin + 1;
    while (end < order.size() && end - begin < max_items &&
           (groups.empty() || groups[order[end]] == groups[order[begin]])) {
      ++end;
    }
    size_t key_count = 0, arg_count = 0;
    for (size_t j = begin; j < end; ++j) {
      key_count += keys[order[j]].size();
      arg_count += args[order[j]].size();
    }
    std::vector<std::string> cmd;
    cmd.reserve(4 + key_count + 2 * (end - begin) + arg_count);
    cmd.push_back("EVALSHA");
    cmd.push_back(script.batch().sha());
    cmd.push_back(std::to_string(key_count));
    for (size_t j = begin; j < end; ++j) {
      for (std::string& key : keys[order[j]]) cmd.push_back(std::move(key));
    }
    cmd.push_back(std::to_string(end - begin));
    for (size_t j = begin; j < end; ++j) {
      cmd.push_back(std::to_string(keys[order[j]].size()));
      cmd.push_back(std::to_string(args[order[j]].size()));
    }
    for (size_t j = begin; j < end; ++j) {
      for (std::string& arg : args[order[j]]) cmd.push_back(std::move(arg));
    }
    plan.commands.push_back(std::move(cmd));
    plan.calls.emplace_back(begin, end);
    begin = end;
  }
  return plan;
}

ItemReplies RedisClient::ItemRepliesOf(const EvalPlan& plan, std::vector<ReplyPtr> calls) {
  ItemReplies out;
  out.calls_ = std::move(calls);
  out.items_.resize(plan.order.size());
  for (size_t c = 0; c < plan.calls.size(); ++c) {
    const redisReply* reply = out.calls_[c].get();
    const auto [begin, end] = plan.calls[c];
    const bool whole = reply->type != REDIS_REPLY_ARRAY || reply->elements != end - begin;
    for (size_t j = begin; j < end; ++j) {
      out.items_[plan.order[j]] = {static_cast<uint32_t>(c),
                                   whole ? ~uint32_t{0} : static_cast<uint32_t>(j - begin)};
    }
  }
  return out;
}

absl::StatusOr<ItemReplies> RedisClient::EvalEach(const ItemScript& script,
                                                  std::vector<std::vector<std::string>> keys,
                                                  std::vector<std::vector<std::string>> args,
                                                  const std::vector<int>& groups, size_t max_items,
                                                  absl::Time deadline) {
  if (keys.empty()) return ItemReplies();
  STP_ASSIGN_OR_RETURN(EvalPlan plan,
                       PlanEvalEach(script, std::move(keys), std::move(args), groups, max_items));
  STP_ASSIGN_OR_RETURN(auto calls,
                       EvalCommands(script.batch(), std::move(plan.commands), deadline));
  return ItemRepliesOf(plan, std::move(calls));
}

void RedisClient::EvalEachAsync(const ItemScript& script,
                                std::vector<std::vector<std::string>> keys,
                                std::vector<std::vector<std::string>> args,
                                const std::vector<int>& groups, size_t max_items,
                                absl::Time deadline, EvalDone done) {
  if (keys.empty()) return done(ItemReplies());
  absl::StatusOr<EvalPlan> planned =
      PlanEvalEach(script, std::move(keys), std::move(args), groups, max_items);
  if (!planned.ok()) return done(planned.status());
  // The commands stay in the plan, which the answer's closure keeps until the round trip is
  // over, and from which a NOSCRIPT retry takes them.
  auto plan = std::make_shared<EvalPlan>(*std::move(planned));
  const Script* source = &script.batch();
  auto request = std::make_unique<SharedRequest>();
  request->commands = &plan->commands;
  request->deadline = deadline;
  request->write = true;
  request->done = [this, plan, source, deadline,
                   done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> replies) mutable {
    if (!replies.ok()) return done(replies.status());
    std::vector<size_t> missing = MissingScripts(*replies);
    if (missing.empty()) return done(ItemRepliesOf(*plan, *std::move(replies)));
    auto calls = std::make_shared<std::vector<ReplyPtr>>(*std::move(replies));
    auto retry = std::make_unique<SharedRequest>();
    retry->owned = AsEval(*source, &plan->commands, missing);
    retry->deadline = deadline;
    retry->write = true;
    retry->done = [plan, calls, missing,
                   done = std::move(done)](absl::StatusOr<std::vector<ReplyPtr>> retried) {
      if (!retried.ok()) return done(retried.status());
      for (size_t j = 0; j < missing.size(); ++j) (*calls)[missing[j]] = std::move((*retried)[j]);
      done(ItemRepliesOf(*plan, std::move(*calls)));
    };
    QueueAsync(std::move(retry));
  };
  QueueAsync(std::move(request));
}

absl::Status RedisClient::Ping(absl::Time deadline) {
  auto reply = Command({"PING"}, deadline);
  return reply.ok() ? absl::OkStatus() : reply.status();
}

}  // namespace stp::redis
