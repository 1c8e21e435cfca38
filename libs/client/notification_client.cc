#include "libs/client/notification_client.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace stp::client {
namespace {

using Stub = nv1::NotificationService::Stub;

// Stream ends after which following again can succeed: the server closed the stream (a
// shutdown or a drain), went away, or cut this subscriber off as too slow.
bool Reconnectable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kCancelled:  // by the server; our own Cancel() is checked first
      return true;
    default:
      return false;
  }
}

// "1732780800000-3" -> (1732780800000, 3).
bool ParseStreamId(const std::string& id, std::pair<uint64_t, uint64_t>* out) {
  std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(id, '-');
  return absl::SimpleAtoi(parts.first, &out->first) && absl::SimpleAtoi(parts.second, &out->second);
}

}  // namespace

Subscription::Subscription(std::shared_ptr<Connection> connection, SubscribeOptions options,
                           EventHandler handler)
    : connection_(std::move(connection)),
      stub_(nv1::NotificationService::NewStub(connection_->channel())),
      options_(std::move(options)),
      handler_(std::move(handler)),
      cursor_(options_.cursor) {
  thread_ = std::thread([this] { Run(); });
}

Subscription::~Subscription() {
  Cancel();
  if (thread_.joinable()) thread_.join();
}

void Subscription::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

absl::Status Subscription::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&ended_));
  return result_;
}

bool Subscription::WaitFor(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
}

std::string Subscription::cursor() const {
  absl::MutexLock lock(&mu_);
  return cursor_;
}

void Subscription::SetCursor(const std::string& cursor) {
  if (cursor.empty()) return;
  absl::MutexLock lock(&mu_);
  cursor_ = cursor;
}

bool Subscription::IsNew(const stp::events::v1::Event& event) {
  std::pair<uint64_t, uint64_t> id;
  if (!ParseStreamId(event.id(), &id)) return true;  // cannot tell: deliver
  auto [it, inserted] = last_delivered_.emplace(event.partition(), id);
  if (inserted) return true;
  if (id <= it->second) return false;
  it->second = id;
  return true;
}

absl::Status Subscription::ReadStream(bool* delivered_any) {
  grpc::ClientContext context;
  // No deadline: a subscription lasts until cancelled, and heartbeats show it is alive.
  connection_->Authorize(&context, CallOptions());
  nv1::SubscribeRequest request;
  *request.mutable_filter() = options_.filter;
  request.set_heartbeat_seconds(options_.heartbeat_seconds);
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("cancelled");
    request.set_cursor(cursor_);
    context_ = &context;
  }
  auto reader = stub_->Subscribe(&context, request);
  nv1::SubscribeResponse message;
  while (reader->Read(&message)) {
    if (!*delivered_any) {
      *delivered_any = true;
      if (options_.on_live) options_.on_live();
    }
    bool enough = false;
    if (message.has_event() && IsNew(message.event())) {
      handler_(message.event(), message.cursor());
      int64_t delivered = events_delivered_.fetch_add(1) + 1;
      enough = options_.max_events > 0 && delivered >= options_.max_events;
    }
    // Only after the handler is done with the event, so a persisted cursor never skips one.
    SetCursor(message.cursor());
    if (enough) {
      Cancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  // When the server ends a stream itself (shutting down, or a subscriber too slow), its
  // stp-cursor trailer is the position after every message sent, all of which were read.
  if (status.ok() || status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    const auto& trailers = context.GetServerTrailingMetadata();
    auto it = trailers.find("stp-cursor");
    if (it != trailers.end()) SetCursor(std::string(it->second.data(), it->second.size()));
  }
  return FromGrpcStatus(status);
}

void Subscription::Run() {
  const RetryPolicy& policy = options_.reconnect;
  absl::Duration backoff = policy.initial_backoff;
  int failures = 0;  // consecutive connections that delivered nothing
  absl::Status result;
  for (bool first = true;; first = false) {
    if (!first) reconnects_.fetch_add(1);
    bool delivered_any = false;
    absl::Status status = ReadStream(&delivered_any);
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) break;
    }
    if (!Reconnectable(status)) {
      result = status;
      break;
    }
    if (delivered_any) {
      failures = 0;
      backoff = policy.initial_backoff;
    } else if (policy.max_attempts > 0 && ++failures >= policy.max_attempts) {
      result = status;
      break;
    }
    absl::Duration hint = GetRetryDelay(status);
    absl::Duration wait = hint > absl::ZeroDuration() ? hint : Jittered(backoff, policy.jitter);
    backoff = std::min(policy.max_backoff, backoff * policy.backoff_multiplier);
    if (options_.on_reconnect) options_.on_reconnect(status, wait);
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&cancelled_), wait)) break;
  }
  absl::MutexLock lock(&mu_);
  result_ = result;
  ended_ = true;
}

NotificationClient::NotificationClient(std::shared_ptr<Connection> connection)
    : connection_(std::move(connection)),
      stub_(nv1::NotificationService::NewStub(connection_->channel())) {}

std::unique_ptr<Subscription> NotificationClient::Subscribe(
    SubscribeOptions options, Subscription::EventHandler handler) const {
  return std::unique_ptr<Subscription>(
      new Subscription(connection_, std::move(options), std::move(handler)));
}

absl::StatusOr<nv1::Webhook> NotificationClient::CreateWebhook(nv1::CreateWebhookRequest request,
                                                               const CallOptions& call) const {
  EnsureRequestId(&request);
  return CallUnary(*connection_, stub_.get(), &Stub::CreateWebhook, "CreateWebhook",
                   Idempotency::kSafe, request, call);
}

absl::StatusOr<nv1::Webhook> NotificationClient::GetWebhook(const nv1::GetWebhookRequest& request,
                                                            const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::GetWebhook, "GetWebhook", Idempotency::kSafe,
                   request, call);
}

absl::StatusOr<nv1::ListWebhooksResponse> NotificationClient::ListWebhooks(
    const nv1::ListWebhooksRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::ListWebhooks, "ListWebhooks",
                   Idempotency::kSafe, request, call);
}

absl::StatusOr<nv1::DeleteWebhookResponse> NotificationClient::DeleteWebhook(
    nv1::DeleteWebhookRequest request, const CallOptions& call) const {
  EnsureRequestId(&request);
  return CallUnary(*connection_, stub_.get(), &Stub::DeleteWebhook, "DeleteWebhook",
                   Idempotency::kSafe, request, call);
}

absl::StatusOr<nv1::ListDeliveriesResponse> NotificationClient::ListDeliveries(
    const nv1::ListDeliveriesRequest& request, const CallOptions& call) const {
  return CallUnary(*connection_, stub_.get(), &Stub::ListDeliveries, "ListDeliveries",
                   Idempotency::kSafe, request, call);
}

}  // namespace stp::client
