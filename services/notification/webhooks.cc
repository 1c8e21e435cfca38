#include "services/notification/webhooks.h"

#include <curl/curl.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/event_header.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/proto_time.h"
#include "libs/common/status.h"
#include "services/notification/event_filter.h"
#include "services/notification/subscription_hub.h"

namespace stp::notification {
namespace {

using redis::At;
using redis::Size;
using redis::Str;
using redis::StrCopy;

const redis::Script& CreateDeliveryScript() {
  static const auto* s = new redis::Script(R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'pb', ARGV[2], 'event', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
return 1
)lua");
  return *s;
}

// Claims due deliveries by pushing their due time past a lease: a worker that dies mid-attempt
// leaves the delivery to be claimed again when the lease ends.
const redis::Script& ClaimScript() {
  static const auto* s = new redis::Script(R"lua(
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(items) do redis.call('ZADD', KEYS[1], ARGV[2], m) end
return items
)lua");
  return *s;
}

// Gives back a claimed delivery that was not attempted (the lease would run out first, or the
// worker is stopping): due again at once, unless another worker holds it by now.
const redis::Script& ReleaseScript() {
  static const auto* s = new redis::Script(R"lua(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
)lua");
  return *s;
}

// Records an attempt's outcome, only while the attempt's lease (ARGV[6]) still holds the
// delivery: once it ran out, another worker may have claimed it again, and its outcome (a
// success) must not be overwritten by this one's (a timeout that would queue it once more).
const redis::Script& FinishScript() {
  static const auto* s = new redis::Script(R"lua(
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not score or tonumber(score) ~= tonumber(ARGV[6]) then return 0 end
redis.call('HSET', KEYS[1], 'pb', ARGV[1])
if ARGV[3] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if ARGV[3] == 'dead' then redis.call('LPUSH', KEYS[3], ARGV[5]) end
return 1
)lua");
  return *s;
}

class CurlSender : public HttpSender {
 public:
  CurlSender() : curl_(curl_easy_init()) {}
  ~CurlSender() override { curl_easy_cleanup(curl_); }

  HttpResult Post(const std::string& url, const std::vector<std::string>& headers,
                  const std::string& body, absl::Duration timeout) override {
    HttpResult result;
    curl_easy_reset(curl_);
    struct curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(timeout)));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(
        curl_, CURLOPT_WRITEFUNCTION,
        +[](char*, size_t size, size_t n, void*) { return size * n; });
    CURLcode code = curl_easy_perform(curl_);
    if (code != CURLE_OK) {
      result.error = curl_easy_strerror(code);
    } else {
      long status = 0;
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
      result.status = static_cast<int>(status);
    }
    curl_slist_free_all(list);
    return result;
  }

 private:
  CURL* curl_;
};

std::string DefaultConsumer() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

absl::Status NotFound(const std::string& name) {
  return WithErrorInfo(absl::NotFoundError(name + " does not exist"), "NOT_FOUND",
                       {{"resource", name}});
}

std::string HookId(const std::string& name) {
  return absl::StartsWith(name, "webhooks/") ? name.substr(9) : "";
}

}  // namespace

std::string SignDelivery(const std::string& secret, int64_t unix_seconds, const std::string& body) {
  std::string message = absl::StrCat(unix_seconds, ".", body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &len);
  return absl::StrCat("t=", unix_seconds,
                      ",v1=", HexEncode(absl::string_view(reinterpret_cast<char*>(digest), len)));
}

std::unique_ptr<HttpSender> NewCurlSender() { return std::make_unique<CurlSender>(); }

// ------------------------------------------------------------------ store

WebhookStore::WebhookStore(redis::RedisClient* redis, redis::Keyspace keyspace)
    : redis_(redis), keyspace_(std::move(keyspace)) {}

std::string WebhookStore::Key(const std::string& a, const std::string& b,
                              const std::string& c) const {
  if (!c.empty()) return keyspace_.Global("notif", a, b, c);
  if (!b.empty()) return keyspace_.Global("notif", a, b);
  return keyspace_.Global("notif", a);
}

absl::StatusOr<nv1::Webhook> WebhookStore::Create(const RequestContext& rc,
                                                  const nv1::CreateWebhookRequest& req,
                                                  absl::Time now) {
  const nv1::Webhook& in = req.webhook();
  FieldViolations v;
  const std::string& url = in.url();
  if (url.empty() || url.size() > 2000 ||
      !(absl::StartsWith(url, "https://") || absl::StartsWith(url, "http://"))) {
    v.Add("webhook.url", "an absolute http or https URL of at most 2,000 characters is required");
  }
  if (in.secret().size() < 16 || in.secret().size() > 256) {
    v.Add("webhook.secret", "between 16 and 256 bytes; it signs every delivery");
  }
  if (in.display_name().size() > 300) v.Add("webhook.display_name", "at most 300 bytes");
  if (req.request_id().size() > 64) v.Add("request_id", "at most 64 bytes");
  absl::Status filter = ValidateFilter(in.filter(), "webhook.filter");
  for (const auto& fv : GetFieldViolations(filter)) v.Add(fv.field, fv.description);
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::string id = NewResourceId(now);
  const std::string owner =
      rc.principal.organization.empty() ? rc.principal.id : rc.principal.organization;
  if (!req.request_id().empty()) {
    // Request ids are the caller's own: another owner's id neither answers with nor overwrites
    // that owner's hook.
    STP_ASSIGN_OR_RETURN(auto claimed, redis_->Command({"SET", Key("req", owner, req.request_id()),
                                                        id, "NX", "GET", "EX", "86400"}));
    if (!redis::IsNil(claimed.get())) {
      // A retry: the first attempt's hook, or, when that attempt died (or is still under way)
      // before writing it, the hook written now under the id the first attempt claimed. A hook
      // deleted since stays deleted.
      id = StrCopy(claimed.get());
      auto prior = Get(rc, "webhooks/" + id);
      if (prior.ok() || prior.status().code() != absl::StatusCode::kNotFound) return prior;
      STP_ASSIGN_OR_RETURN(auto stored, LoadHook(id));
      STP_ASSIGN_OR_RETURN(auto gone, redis_->Command({"EXISTS", Key("gone", id)}));
      if (stored.has_value() || redis::Int(gone.get()) != 0) return prior;
    }
  }
  nv1::Webhook hook = in;
  hook.clear_secret();
  hook.set_name("webhooks/" + id);
  hook.set_owner(owner);
  *hook.mutable_create_time() = common::ToTimestamp(now);
  STP_ASSIGN_OR_RETURN(
      auto replies,
      redis_->Pipeline({{"HSET", Key("hook", id), "pb", hook.SerializeAsString(), "secret",
                         in.secret(), "org", rc.principal.organization, absl::StrCat("role"),
                         absl::StrCat(static_cast<int>(rc.principal.role))},
                        {"ZADD", Key("hooks"), "0", id},
                        {"INCR", Key("hooks-version")}},
                       rc.deadline));
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
  }
  return hook;
}

absl::StatusOr<std::optional<WebhookStore::Hook>> WebhookStore::LoadHook(const std::string& id) {
  STP_ASSIGN_OR_RETURN(auto reply,
                       redis_->Command({"HMGET", Key("hook", id), "pb", "secret", "org", "role"}));
  if (redis::IsNil(At(reply.get(), 0))) return std::nullopt;
  Hook h;
  h.id = id;
  h.webhook.ParseFromString(StrCopy(At(reply.get(), 0)));
  h.secret = StrCopy(At(reply.get(), 1));
  h.owner.organization = StrCopy(At(reply.get(), 2));
  h.owner.role = static_cast<AccessRole>(redis::Int(At(reply.get(), 3)));
  h.owner.id = h.webhook.owner();
  return h;
}

absl::StatusOr<WebhookStore::Hook> WebhookStore::Authorized(const RequestContext& rc,
                                                            const std::string& name) {
  std::string id = HookId(name);
  if (id.empty() || !IsResourceId(id))
    return InvalidField("name", "must look like \"webhooks/{id}\"");
  STP_ASSIGN_OR_RETURN(auto hook, LoadHook(id));
  // Another organisation's hook does not exist for the caller.
  if (!hook.has_value() ||
      (!rc.principal.is_operator() &&
       hook->webhook.owner() !=
           (rc.principal.organization.empty() ? rc.principal.id : rc.principal.organization))) {
    return NotFound(name);
  }
  return *std::move(hook);
}

absl::StatusOr<nv1::Webhook> WebhookStore::Get(const RequestContext& rc, const std::string& name) {
  STP_ASSIGN_OR_RETURN(Hook hook, Authorized(rc, name));
  return hook.webhook;
}

absl::StatusOr<std::vector<WebhookStore::Hook>> WebhookStore::AllHooks() {
  STP_ASSIGN_OR_RETURN(auto ids, redis_->Command({"ZRANGE", Key("hooks"), "0", "-1"}));
  std::vector<Hook> out;
  for (size_t i = 0; i < Size(ids.get()); ++i) {
    STP_ASSIGN_OR_RETURN(auto hook, LoadHook(StrCopy(At(ids.get(), i))));
    if (hook.has_value()) out.push_back(*std::move(hook));
  }
  return out;
}

absl::StatusOr<nv1::ListWebhooksResponse> WebhookStore::List(const RequestContext& rc,
                                                             const nv1::ListWebhooksRequest& req) {
  if (req.page_size() < 0 || req.page_size() > 1000)
    return InvalidField("page_size", "must be between 0 and 1000");
  int page_size = req.page_size() == 0 ? 50 : req.page_size();
  STP_ASSIGN_OR_RETURN(auto hooks, AllHooks());
  nv1::ListWebhooksResponse resp;
  std::string owner =
      rc.principal.organization.empty() ? rc.principal.id : rc.principal.organization;
  for (const auto& h : hooks) {
    if (!rc.principal.is_operator() && h.webhook.owner() != owner) continue;
    if (!req.page_token().empty() && h.id <= req.page_token()) continue;
    if (resp.webhooks_size() == page_size) {
      resp.set_next_page_token(resp.webhooks(page_size - 1).name().substr(9));
      break;
    }
    *resp.add_webhooks() = h.webhook;
  }
  return resp;
}

absl::Status WebhookStore::Delete(const RequestContext& rc, const std::string& name) {
  STP_ASSIGN_OR_RETURN(Hook hook, Authorized(rc, name));
  // Pending deliveries of the hook are dropped by the workers when they find it gone.
  // "gone" for as long as request ids are kept: a retry of the create must not bring it back.
  STP_ASSIGN_OR_RETURN(auto replies,
                       redis_->Pipeline({{"DEL", Key("hook", hook.id)},
                                         {"ZREM", Key("hooks"), hook.id},
                                         {"INCR", Key("hooks-version")},
                                         {"SET", Key("gone", hook.id), "1", "EX", "86400"}},
                                        rc.deadline));
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
  }
  return absl::OkStatus();
}

absl::StatusOr<nv1::ListDeliveriesResponse> WebhookStore::ListDeliveries(
    const RequestContext& rc, const nv1::ListDeliveriesRequest& req) {
  STP_ASSIGN_OR_RETURN(Hook hook, Authorized(rc, req.parent()));
  if (req.page_size() < 0 || req.page_size() > 1000)
    return InvalidField("page_size", "must be between 0 and 1000");
  if (!nv1::DeliveryState_IsValid(req.state())) return InvalidField("state", "unknown value");
  int page_size = req.page_size() == 0 ? 50 : req.page_size();
  int offset = 0;
  if (!req.page_token().empty() && (!absl::SimpleAtoi(req.page_token(), &offset) || offset < 0)) {
    return InvalidField("page_token", "is not a token ListDeliveries returned");
  }
  nv1::ListDeliveriesResponse resp;
  const int batch = 200;
  while (resp.deliveries_size() < page_size) {
    STP_ASSIGN_OR_RETURN(
        auto ids, redis_->Command({"ZREVRANGE", Key("deliveries", hook.id), absl::StrCat(offset),
                                   absl::StrCat(offset + batch - 1)},
                                  rc.deadline));
    size_t n = Size(ids.get());
    if (n == 0) return resp;
    std::vector<std::vector<std::string>> cmds;
    for (size_t i = 0; i < n; ++i)
      cmds.push_back({"HGET", Key("delivery", hook.id, StrCopy(At(ids.get(), i))), "pb"});
    STP_ASSIGN_OR_RETURN(auto found, redis_->Pipeline(cmds, rc.deadline));
    for (size_t i = 0; i < n; ++i) {
      ++offset;
      nv1::Delivery d;
      if (redis::IsNil(found[i].get()) || !d.ParseFromString(StrCopy(found[i].get()))) continue;
      if (req.state() != 0 && d.state() != req.state()) continue;
      *resp.add_deliveries() = std::move(d);
      if (resp.deliveries_size() == page_size) break;
    }
    if (static_cast<int>(n) < batch && resp.deliveries_size() < page_size) return resp;
  }
  resp.set_next_page_token(absl::StrCat(offset));
  return resp;
}

// ------------------------------------------------------------------ dispatcher

WebhookDispatcher::WebhookDispatcher(WebhookStore* store, WebhookOptions options,
                                     std::function<absl::Time()> clock,
                                     std::function<std::unique_ptr<HttpSender>()> make_sender)
    : store_(store),
      options_(std::move(options)),
      clock_(std::move(clock)),
      make_sender_(std::move(make_sender)) {
  if (options_.consumer.empty()) options_.consumer = DefaultConsumer();
}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

absl::Status WebhookDispatcher::Start() {
  if (options_.lease < 2 * options_.http_timeout) {
    return absl::InvalidArgumentError(
        "--webhook-lease must be at least twice --webhook-timeout: a worker attempts its "
        "claims one after another, and records an attempt's outcome only within its lease");
  }
  for (const auto& stream : store_->keyspace().AllEventStreams()) {
    STP_RETURN_IF_ERROR(redis::EnsureGroup(*store_->redis(), stream, options_.group, "$"));
  }
  threads_.emplace_back([this] { ConsumeLoop(); });
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { WorkLoop(); });
  return absl::OkStatus();
}

void WebhookDispatcher::Stop() {
  if (!stopping_.Set()) waker_.Wake(*store_->redis());
  if (threads_.empty()) return;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  absl::Status left = redis::LeaveGroup(*store_->redis(), store_->keyspace().AllEventStreams(),
                                        options_.group, options_.consumer);
  if (!left.ok())
    LogWarning("webhook consumer not taken out of its group",
               {{"consumer", options_.consumer}, {"error", std::string(left.message())}});
}

absl::StatusOr<std::vector<WebhookStore::Hook>> WebhookDispatcher::Hooks() {
  // Every create and delete bumps a version, so an event committed after a hook was created
  // always sees it, while an unchanged list costs one GET per batch.
  STP_ASSIGN_OR_RETURN(auto version,
                       store_->redis()->Command({"GET", store_->Key("hooks-version")}));
  std::string current = redis::IsNil(version.get()) ? "0" : StrCopy(version.get());
  absl::MutexLock lock(&hooks_mu_);
  if (current == hooks_version_) return hooks_;
  STP_ASSIGN_OR_RETURN(hooks_, store_->AllHooks());
  hooks_version_ = current;
  return hooks_;
}

absl::Status WebhookDispatcher::Enqueue(int partition,
                                        const std::vector<redis::StreamEntry>& entries) {
  STP_ASSIGN_OR_RETURN(auto hooks, Hooks());
  if (hooks.empty()) return absl::OkStatus();
  std::vector<std::vector<std::string>> keys, args;
  int64_t now_ms = absl::ToUnixMillis(clock_());
  for (const auto& entry : entries) {
    std::string unpacked;
    const std::string* payload = common::EventPayload(entry.Field("e"), &unpacked);
    auto event = payload ? SubscriptionHub::Parse(partition, entry.id, *payload) : nullptr;
    if (event == nullptr) continue;
    for (const auto& hook : hooks) {
      if (!Matches(hook.webhook.filter(), event->facts, hook.owner)) continue;
      // One delivery per event and hook, whoever enqueues it and however often.
      std::string did = absl::StrCat(absl::Hex(
          StableHash(absl::StrCat(hook.id, "|", partition, "|", entry.id)), absl::kZeroPad16));
      nv1::Delivery d;
      d.set_name(absl::StrCat(hook.webhook.name(), "/deliveries/", did));
      d.set_event_id(entry.id);
      d.set_event_type(event->event.type());
      d.set_state(nv1::DELIVERY_STATE_PENDING);
      *d.mutable_create_time() = common::ToTimestamp(clock_());
      *d.mutable_update_time() = d.create_time();
      *d.mutable_next_attempt_time() = d.create_time();
      keys.push_back({store_->Key("delivery", hook.id, did), store_->Key("deliveries", hook.id),
                      store_->Key("due")});
      args.push_back({did, d.SerializeAsString(), event->event.SerializeAsString(),
                      absl::StrCat(now_ms), absl::StrCat(hook.id, "/", did)});
    }
  }
  if (keys.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto replies, store_->redis()->EvalMany(CreateDeliveryScript(), keys, args));
  for (const auto& r : replies) {
    if (redis::IsErrorReply(r.get())) return redis::ErrorReplyStatus(Str(r.get()));
  }
  return absl::OkStatus();
}

absl::Status WebhookDispatcher::CheckForLostEvents(const std::string& stream) {
  redis::RedisClient& redis = *store_->redis();
  STP_ASSIGN_OR_RETURN(auto group, redis::GroupPositionIn(redis, stream, options_.group));
  STP_ASSIGN_OR_RETURN(auto loss, redis::EntriesLostToGroup(redis, stream, group));
  if (!loss.any) return absl::OkStatus();
  // Reported by one replica, once per loss: a loss is named by where the group stood when it
  // began (replicas that see it see the same; once one reads on, none sees it).
  static const auto* claim = new redis::Script(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end "
      "redis.call('SET', KEYS[1], ARGV[1]) return 1");
  STP_ASSIGN_OR_RETURN(
      auto mine,
      redis.Eval(*claim, {store_->keyspace().Global("notification", "webhook-lost", stream)},
                 {group.last_delivered}));
  if (redis::Int(mine.get()) != 1) return absl::OkStatus();
  losses_.fetch_add(1);
  LogError(
      "events were trimmed from a stream before webhook deliveries were made for them; no "
      "hook gets them (raise the stream retention to cover the longest outage of notification)",
      {{"stream", stream},
       {"lost", loss.count > 0 ? absl::StrCat(loss.count) : std::string("uncounted")}});
  return absl::OkStatus();
}

void WebhookDispatcher::ReportTrimmedPending(const std::string& stream,
                                             const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  // Only the consumer holding them sees these: each loss is reported once.
  losses_.fetch_add(1);
  LogError(
      "events taken by a webhook consumer were trimmed from a stream before deliveries were made "
      "for them; no hook gets them (raise the stream retention to cover the longest outage of "
      "notification)",
      {{"stream", stream}, {"lost", ids.size()}, {"consumer", options_.consumer}});
}

void WebhookDispatcher::ConsumeLoop() {
  redis::RedisClient& redis = *store_->redis();
  const auto streams = store_->keyspace().AllEventStreams();
  std::unique_ptr<redis::Connection> conn;
  absl::Time next_reclaim = absl::InfinitePast();
  absl::Duration backoff = absl::Milliseconds(100);
  bool own_pending_done = false;
  std::set<std::string> behind;  // streams whose last read came back full
  while (!stopping_.IsSet()) {
    absl::Status status = absl::OkStatus();
    if (conn == nullptr) {
      auto opened = redis.OpenDedicated();
      if (opened.ok()) {
        conn = std::move(*opened);
        waker_.Watch(*conn);
      } else
        status = opened.status();
    }
    if (status.ok() && clock_() >= next_reclaim) {
      // Before anything is read: events trimmed before the group read them. Once the group
      // reads past the gap, Redis counts them as read and the loss no longer shows.
      for (size_t p = 0; p < streams.size() && status.ok(); ++p)
        status = CheckForLostEvents(streams[p]);
      // Events a crashed replica took but never turned into deliveries.
      for (size_t p = 0; p < streams.size() && status.ok(); ++p) {
        auto claimed = redis::AutoClaim(redis, streams[p], options_.group, options_.consumer,
                                        options_.reclaim_idle, "0-0", 500);
        if (!claimed.ok()) {
          status = claimed.status();
          break;
        }
        status = Enqueue(static_cast<int>(p), claimed->entries);
        if (status.ok()) ReportTrimmedPending(streams[p], claimed->deleted);
        std::vector<std::string> ids;
        for (const auto& e : claimed->entries) ids.push_back(e.id);
        ids.insert(ids.end(), claimed->deleted.begin(), claimed->deleted.end());
        if (status.ok() && !ids.empty())
          status = redis::Ack(redis, streams[p], options_.group, ids).status();
      }
      next_reclaim = clock_() + absl::Seconds(5);
    }
    // A full read: this consumer is behind, and the retention may trim what it has not read
    // yet; the next read would pass over the gap long before the check above comes round.
    for (auto it = behind.begin(); it != behind.end() && status.ok();) {
      status = CheckForLostEvents(*it);
      if (status.ok()) it = behind.erase(it);
    }
    if (status.ok() && stopping_.IsSet()) break;  // right before the read: see redis::Waker
    if (status.ok()) {
      std::vector<std::string> ids(streams.size(), own_pending_done ? ">" : "0");
      auto batches = redis::ReadGroup(*conn, options_.group, options_.consumer, streams, ids,
                                      options_.read_count,
                                      own_pending_done ? absl::Seconds(1) : absl::ZeroDuration(),
                                      redis.options().command_timeout);
      if (!batches.ok()) {
        status = batches.status();
        if (absl::StrContains(status.message(), "NOGROUP")) {
          // The group is gone (its stream deleted, or the group destroyed): made again at the
          // stream's end, as reading it all again would deliver up to the retention twice.
          // Events written meanwhile get no delivery.
          LogError(
              "the webhook consumer group was gone and is made again at the streams' ends; "
              "events written since it went get no delivery");
          for (const auto& s : streams) (void)redis::EnsureGroup(redis, s, options_.group, "$");
        }
        waker_.Unwatch();
        conn.reset();
      } else {
        bool any = false;
        for (const auto& batch : *batches) {
          if (!batch.trimmed.empty()) {
            ReportTrimmedPending(batch.stream, batch.trimmed);
            status = redis::Ack(redis, batch.stream, options_.group, batch.trimmed).status();
            if (!status.ok()) break;
          }
          if (batch.entries.empty()) continue;
          any = true;
          int partition = 0;
          for (size_t p = 0; p < streams.size(); ++p) {
            if (streams[p] == batch.stream) partition = static_cast<int>(p);
          }
          status = Enqueue(partition, batch.entries);
          if (!status.ok()) break;
          std::vector<std::string> acked;
          for (const auto& e : batch.entries) acked.push_back(e.id);
          status = redis::Ack(redis, batch.stream, options_.group, acked).status();
          if (!status.ok()) break;
          if (own_pending_done && static_cast<int>(acked.size()) >= options_.read_count)
            behind.insert(batch.stream);
          if (options_.after_batch) options_.after_batch();
        }
        if (!any) own_pending_done = true;
      }
    }
    if (!status.ok()) {
      LogWarning("webhook consumer error; retrying", {{"error", std::string(status.message())}});
      stopping_.SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    } else {
      backoff = absl::Milliseconds(100);
    }
  }
}

absl::StatusOr<int> WebhookDispatcher::AttemptDue(HttpSender* sender, int max) {
  const absl::Time claimed_at = clock_();
  const absl::Time lease_until = claimed_at + options_.lease;
  const std::string lease = absl::StrCat(absl::ToUnixMillis(lease_until));
  STP_ASSIGN_OR_RETURN(
      auto claimed, store_->redis()->Eval(
                        ClaimScript(), {store_->Key("due")},
                        {absl::StrCat(absl::ToUnixMillis(claimed_at)), lease, absl::StrCat(max)}));
  int attempted = 0;
  for (size_t i = 0; i < Size(claimed.get()); ++i) {
    const std::string member = StrCopy(At(claimed.get(), i));
    // The claims are attempted one after another: one whose lease could run out before its
    // POST times out goes back, as do all on Stop, for a worker with time to attempt them
    // (Start holds the lease to at least twice the timeout, so the first has time unless the
    // claim itself was slow).
    if (stopping_.IsSet() || clock_() + options_.http_timeout > lease_until) {
      absl::Status s = store_->redis()
                           ->Eval(ReleaseScript(), {store_->Key("due")},
                                  {member, lease, absl::StrCat(absl::ToUnixMillis(clock_()))})
                           .status();
      if (!s.ok())
        LogWarning("webhook claim not given back", {{"error", std::string(s.message())}});
      continue;
    }
    absl::Status s = Attempt(sender, member, lease);
    if (!s.ok())
      LogWarning("webhook attempt failed to record", {{"error", std::string(s.message())}});
    ++attempted;
  }
  return attempted;
}

absl::Status WebhookDispatcher::Attempt(HttpSender* sender, const std::string& member,
                                        const std::string& lease) {
  auto slash = member.find('/');
  std::string hook_id = member.substr(0, slash), did = member.substr(slash + 1);
  redis::RedisClient& redis = *store_->redis();
  STP_ASSIGN_OR_RETURN(auto hook, store_->LoadHook(hook_id));
  if (!hook.has_value()) {  // deleted: drop what was pending
    return redis.Command({"ZREM", store_->Key("due"), member}).status();
  }
  STP_ASSIGN_OR_RETURN(
      auto stored, redis.Command({"HMGET", store_->Key("delivery", hook_id, did), "pb", "event"}));
  nv1::Delivery d;
  stp::events::v1::Event event;
  if (redis::IsNil(At(stored.get(), 0)) || !d.ParseFromString(StrCopy(At(stored.get(), 0))) ||
      !event.ParseFromString(StrCopy(At(stored.get(), 1)))) {
    return redis.Command({"ZREM", store_->Key("due"), member}).status();
  }
  if (d.state() != nv1::DELIVERY_STATE_PENDING) {  // finished by another worker whose lease ran out
    return redis.Command({"ZREM", store_->Key("due"), member}).status();
  }
  event.set_id(d.event_id());
  std::string body;
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = false;
  (void)google::protobuf::util::MessageToJsonString(event, &body, json);
  absl::Time now = clock_();
  int64_t t = absl::ToUnixSeconds(now);
  std::vector<std::string> headers = {
      "Content-Type: application/json",
      "User-Agent: stp-tracker-webhooks/1",
      absl::StrCat("X-STP-Delivery: ", did),
      absl::StrCat("X-STP-Event-Id: ", d.event_id()),
      absl::StrCat("X-STP-Event-Type: ", stp::events::v1::EventType_Name(event.type())),
      absl::StrCat("X-STP-Signature: ", SignDelivery(hook->secret, t, body)),
      "Expect:"};
  HttpResult result = sender->Post(hook->webhook.url(), headers, body, options_.http_timeout);
  d.set_attempts(d.attempts() + 1);
  d.set_last_http_status(result.status);
  d.set_last_error(result.status == 0
                       ? result.error
                       : (result.status >= 300 ? absl::StrCat("HTTP ", result.status) : ""));
  *d.mutable_update_time() = common::ToTimestamp(clock_());
  std::string outcome;
  int64_t next_due = 0;
  bool retryable = result.status == 0 || result.status >= 500 || result.status == 429;
  if (result.status >= 200 && result.status < 300) {
    outcome = "done";
    d.set_state(nv1::DELIVERY_STATE_SUCCEEDED);
    d.clear_next_attempt_time();
    delivered_.fetch_add(1);
  } else if (retryable && d.attempts() < options_.max_attempts) {
    outcome = "retry";
    failed_attempts_.fetch_add(1);
    thread_local std::mt19937_64 rng(std::random_device{}());
    double jitter = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
    absl::Duration delay =
        std::min(options_.base_backoff * (int64_t{1} << std::min(d.attempts() - 1, 20)),
                 options_.max_backoff) *
        jitter;
    next_due = absl::ToUnixMillis(clock_() + delay);
    *d.mutable_next_attempt_time() = common::ToTimestamp(clock_() + delay);
  } else {
    outcome = "dead";
    failed_attempts_.fetch_add(1);
    dead_lettered_.fetch_add(1);
    d.set_state(nv1::DELIVERY_STATE_DEAD_LETTER);
    d.clear_next_attempt_time();
    LogWarning("webhook delivery dead-lettered", {{"hook", hook->webhook.name()},
                                                  {"delivery", did},
                                                  {"attempts", d.attempts()},
                                                  {"last_status", result.status}});
  }
  STP_ASSIGN_OR_RETURN(
      auto finished,
      redis.Eval(
          FinishScript(),
          {store_->Key("delivery", hook_id, did), store_->Key("due"), store_->Key("dead", hook_id)},
          {d.SerializeAsString(), member, outcome, absl::StrCat(next_due), did, lease}));
  if (redis::Int(finished.get()) == 0) {
    LogWarning("webhook attempt outlived its lease; its outcome is not recorded",
               {{"hook", hook->webhook.name()}, {"delivery", did}, {"http_status", result.status}});
  }
  return absl::OkStatus();
}

void WebhookDispatcher::WorkLoop() {
  std::unique_ptr<HttpSender> sender = make_sender_();
  while (!stopping_.IsSet()) {
    auto attempted = AttemptDue(sender.get(), 8);
    if (!attempted.ok() || *attempted == 0) stopping_.SleepFor(options_.poll);
  }
}

}  // namespace stp::notification
