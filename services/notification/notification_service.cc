#include "services/notification/notification_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/event_header.h"
#include "libs/common/grpc_status.h"
#include "libs/common/logging.h"
#include "libs/common/proto_time.h"
#include "libs/redis/streams.h"
#include "services/notification/cursor.h"

namespace stp::notification {

// One Subscribe stream. It walks the hub's rings from its own positions, writing one message
// at a time; while its positions are older than a ring it first reads the gap from Redis.
class NotificationServiceImpl::Subscription
    : public grpc::ServerWriteReactor<nv1::SubscribeResponse>,
      public SubscriptionHub::Listener {
 public:
  Subscription(NotificationServiceImpl* service, grpc::CallbackServerContext* ctx,
               const nv1::SubscribeRequest& req)
      : service_(service), hub_(service->hub_), ctx_(ctx), request_(req), start_(absl::Now()) {
    service_->open_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    tasks_ = 1;
    if (!service_->handler_->pool()->TrySubmit([this] { Begin(); })) {
      tasks_ = 0;
      FinishLocked(WithRetryInfo(absl::ResourceExhaustedError("the server is at capacity"),
                                 absl::Seconds(1)));
    }
  }

  void OnEvents() override {
    absl::MutexLock lock(&mu_);
    if (writing_ && live_ && !finished_) {
      // A write the client has not taken yet: if the ring has moved past this subscriber, it
      // cannot keep up; end it with its cursor (after the pending message) instead of waiting.
      for (int p = 0; p < hub_->partitions(); ++p) {
        std::shared_ptr<const HubEvent> unused;
        if (hub_->Next(p, positions_[p], &unused) == SubscriptionHub::Found::kBehind) {
          FinishLocked(TooSlow());
          return;
        }
      }
    }
    TryWriteLocked();
  }

  void OnTick(absl::Time now) override {
    absl::MutexLock lock(&mu_);
    if (finished_ || !started_) return;
    if (service_->ending_.load()) {
      FinishLocked(absl::OkStatus());
      return;
    }
    if (!writing_ && now - last_write_ >= heartbeat_) {
      response_.Clear();
      response_.set_cursor(EncodeCursor(positions_));
      *response_.mutable_heartbeat()->mutable_time() = common::ToTimestamp(absl::Now());
      StartWriteLocked();
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(absl::CancelledError("the stream closed"));
      return;
    }
    TryWriteLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(absl::CancelledError("the client went away"));
  }

  void OnDone() override {
    bool registered;
    {
      absl::MutexLock lock(&mu_);
      registered = registered_;
    }
    if (registered) hub_->Remove(this);  // no hub call reaches this object after it returns
    service_->open_.fetch_sub(1);
    bool delete_now;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      delete_now = tasks_ == 0;
    }
    if (delete_now) delete this;  // otherwise the last worker task deletes it
  }

 private:
  static absl::Status TooSlow() {
    return WithRetryInfo(
        WithErrorInfo(absl::ResourceExhaustedError(
                          "this subscriber fell behind the event buffer; resume with the cursor in "
                          "the stp-cursor trailer, and read faster or narrow the filter"),
                      "SUBSCRIBER_TOO_SLOW"),
        absl::Seconds(1));
  }

  // Ends a worker task; true when the reactor is done and this task must delete it.
  bool EndTaskLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return --tasks_ == 0 && done_; }

  void Begin() {
    absl::StatusOr<RequestContext> rc =
        service_->handler_->Begin(*ctx_, "Subscribe", AccessRole::kReader);
    absl::Status status = rc.ok() ? Setup(*rc) : rc.status();
    bool register_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (!status.ok()) {
        FinishLocked(status);
      } else if (!finished_) {
        principal_ = rc->principal;
        register_now = true;
      }
    }
    // The hub calls listeners under its own lock, which is taken before ours: register unlocked.
    if (register_now) hub_->Add(this);
    bool delete_self;
    {
      absl::MutexLock lock(&mu_);
      if (register_now) {
        registered_ = true;
        started_ = true;
        last_write_ = absl::Now();
        TryWriteLocked();
      }
      delete_self = EndTaskLocked();
    }
    if (delete_self) {
      if (register_now) hub_->Remove(this);
      delete this;
    }
  }

  static absl::Status CursorExpired(int partition) {
    return WithErrorInfo(
        absl::OutOfRangeError(
            "the cursor is older than the event retention: events after it were trimmed. "
            "Resync: read the current state with the List methods, then subscribe without a "
            "cursor (or with the cursor of the first message you receive)"),
        "CURSOR_EXPIRED", {{"partition", absl::StrCat(partition)}});
  }

  absl::Status Setup(const RequestContext& rc) {
    STP_RETURN_IF_ERROR(ValidateFilter(request_.filter(), "filter"));
    if (request_.heartbeat_seconds() < 0 || request_.heartbeat_seconds() > 300) {
      return InvalidField("heartbeat_seconds", "between 1 and 300, or 0 for the default of 15");
    }
    heartbeat_ =
        absl::Seconds(request_.heartbeat_seconds() == 0 ? 15 : request_.heartbeat_seconds());
    if (request_.cursor().empty()) {
      positions_ = hub_->Positions();  // from now on
      return absl::OkStatus();
    }
    STP_ASSIGN_OR_RETURN(positions_, DecodeCursor(request_.cursor(), hub_->partitions()));
    for (int p = 0; p < hub_->partitions(); ++p) {
      STP_ASSIGN_OR_RETURN(auto state,
                           redis::CursorStateIn(*hub_->redis(), hub_->keyspace().Events(p),
                                                positions_[p], rc.deadline));
      if (state == redis::CursorState::kAhead) {
        return WithErrorInfo(
            InvalidField("cursor",
                         "is ahead of the event stream; it belongs to another deployment"),
            "BAD_CURSOR");
      }
      if (state == redis::CursorState::kTrimmed) return CursorExpired(p);
    }
    return absl::OkStatus();
  }

  void TryWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_ || fetching_ || !started_) return;
    while (true) {
      if (!backlog_.empty()) {
        auto e = std::move(backlog_.front());
        backlog_.pop_front();
        if (redis::CompareStreamIds(e->id, positions_[e->partition]) <= 0) continue;
        positions_[e->partition] = e->id;
        if (Matches(request_.filter(), e->facts, principal_)) {
          WriteEventLocked(*e);
          return;
        }
        continue;
      }
      bool progressed = false;
      bool all_caught_up = true;
      for (int i = 0; i < hub_->partitions(); ++i) {
        int p = (next_partition_ + i) % hub_->partitions();
        std::shared_ptr<const HubEvent> e;
        switch (hub_->Next(p, positions_[p], &e)) {
          case SubscriptionHub::Found::kBehind:
            all_caught_up = false;
            if (live_) {
              // Out of the ring while live: too slow for the shared buffer.
              FinishLocked(TooSlow());
              return;
            }
            Fetch(p);
            return;
          case SubscriptionHub::Found::kCaughtUp:
            continue;
          case SubscriptionHub::Found::kEvent:
            all_caught_up = false;
            positions_[p] = e->id;
            progressed = true;
            if (Matches(request_.filter(), e->facts, principal_)) {
              next_partition_ = (p + 1) % hub_->partitions();
              WriteEventLocked(*e);
              return;
            }
            break;
        }
      }
      if (all_caught_up) {
        live_ = true;
        return;
      }
      if (!progressed) return;
    }
  }

  // Reads the gap after positions_[p] from Redis on a worker thread.
  void Fetch(int p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    fetching_ = true;
    ++tasks_;
    std::string after = positions_[p];
    bool queued = service_->handler_->pool()->TrySubmit([this, p, after] {
      const std::string stream = hub_->keyspace().Events(p);
      const absl::Time deadline = absl::Now() + absl::Seconds(5);
      // A subscriber catching up may be overtaken by the stream's retention (a burst of writes
      // while it reads slowly): the range would then start after a gap. The range includes the
      // cursor's own entry: when it comes back, nothing after it is missing. When it does not
      // (trimmed, or a position no entry has, such as an empty stream's), the stream tells.
      auto entries = redis::Range(*hub_->redis(), stream, after, "+", 501, deadline);
      if (entries.ok() && !entries->empty()) {
        if (entries->front().id == after) {
          entries->erase(entries->begin());
        } else {
          auto state = redis::CursorStateIn(*hub_->redis(), stream, after, deadline);
          if (!state.ok())
            entries = state.status();
          else if (*state == redis::CursorState::kTrimmed)
            entries = CursorExpired(p);
        }
      }
      bool delete_self = false;
      {
        absl::MutexLock lock(&mu_);
        fetching_ = false;
        delete_self = EndTaskLocked();
        if (done_) {
          // Nothing to deliver to.
        } else if (!entries.ok()) {
          FinishLocked(entries.status());
        } else {
          for (const auto& entry : *entries) {
            std::string unpacked;
            const std::string* payload = common::EventPayload(entry.Field("e"), &unpacked);
            auto e = payload ? SubscriptionHub::Parse(p, entry.id, *payload) : nullptr;
            if (e != nullptr) {
              backlog_.push_back(std::move(e));
            } else if (backlog_.empty() && redis::CompareStreamIds(entry.id, positions_[p]) > 0) {
              positions_[p] = entry.id;  // unreadable: skip it
            }
            // An unreadable entry after readable ones is passed over by the next fetch, which
            // starts after the last of them; moving the position now would drop them.
          }
          if (entries->empty()) live_ = true;  // nothing more in Redis than in the ring
          TryWriteLocked();
        }
      }
      if (delete_self) delete this;
    });
    if (!queued) {
      fetching_ = false;
      --tasks_;
      FinishLocked(WithRetryInfo(
          absl::ResourceExhaustedError("the server is at capacity; resume with the cursor"),
          absl::Seconds(1)));
    }
  }

  void WriteEventLocked(const HubEvent& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    response_.Clear();
    response_.set_cursor(EncodeCursor(positions_));
    *response_.mutable_event() = e.event;
    StartWriteLocked();
  }

  void StartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    last_write_ = absl::Now();
    StartWrite(&response_);
  }

  void FinishLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    if (!positions_.empty()) ctx_->AddTrailingMetadata("stp-cursor", EncodeCursor(positions_));
    service_->handler_->Record("Subscribe", status, start_);
    Finish(ToGrpcStatus(status));
  }

  NotificationServiceImpl* service_;
  SubscriptionHub* hub_;
  grpc::CallbackServerContext* ctx_;
  const nv1::SubscribeRequest request_;
  const absl::Time start_;
  absl::Mutex mu_;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  int tasks_ ABSL_GUARDED_BY(mu_) = 0;  // worker tasks that still use this object
  Principal principal_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> positions_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const HubEvent>> backlog_ ABSL_GUARDED_BY(mu_);
  nv1::SubscribeResponse response_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_ = absl::Seconds(15);
  absl::Time last_write_ ABSL_GUARDED_BY(mu_);
  int next_partition_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  bool live_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

NotificationServiceImpl::NotificationServiceImpl(CallHandler* handler, SubscriptionHub* hub,
                                                 WebhookStore* webhooks)
    : handler_(handler), hub_(hub), webhooks_(webhooks) {}

NotificationServiceImpl::~NotificationServiceImpl() = default;

void NotificationServiceImpl::EndAll() {
  ending_.store(true);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (open_.load() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
}

grpc::ServerWriteReactor<nv1::SubscribeResponse>* NotificationServiceImpl::Subscribe(
    Ctx* c, const nv1::SubscribeRequest* q) {
  return new Subscription(this, c, *q);
}

grpc::ServerUnaryReactor* NotificationServiceImpl::CreateWebhook(Ctx* c,
                                                                 const nv1::CreateWebhookRequest* q,
                                                                 nv1::Webhook* r) {
  return ServeUnary(
      handler_, c, "CreateWebhook", AccessRole::kReader, r,
      [this, q](const RequestContext& rc) { return webhooks_->Create(rc, *q, absl::Now()); });
}

grpc::ServerUnaryReactor* NotificationServiceImpl::GetWebhook(Ctx* c,
                                                              const nv1::GetWebhookRequest* q,
                                                              nv1::Webhook* r) {
  return ServeUnary(handler_, c, "GetWebhook", AccessRole::kReader, r,
                    [this, q](const RequestContext& rc) { return webhooks_->Get(rc, q->name()); });
}

grpc::ServerUnaryReactor* NotificationServiceImpl::ListWebhooks(Ctx* c,
                                                                const nv1::ListWebhooksRequest* q,
                                                                nv1::ListWebhooksResponse* r) {
  return ServeUnary(handler_, c, "ListWebhooks", AccessRole::kReader, r,
                    [this, q](const RequestContext& rc) { return webhooks_->List(rc, *q); });
}

grpc::ServerUnaryReactor* NotificationServiceImpl::DeleteWebhook(Ctx* c,
                                                                 const nv1::DeleteWebhookRequest* q,
                                                                 nv1::DeleteWebhookResponse* r) {
  return ServeUnary(
      handler_, c, "DeleteWebhook", AccessRole::kReader, r,
      [this, q](const RequestContext& rc) -> absl::StatusOr<nv1::DeleteWebhookResponse> {
        STP_RETURN_IF_ERROR(webhooks_->Delete(rc, q->name()));
        nv1::DeleteWebhookResponse resp;
        resp.set_name(q->name());
        return resp;
      });
}

grpc::ServerUnaryReactor* NotificationServiceImpl::ListDeliveries(
    Ctx* c, const nv1::ListDeliveriesRequest* q, nv1::ListDeliveriesResponse* r) {
  return ServeUnary(
      handler_, c, "ListDeliveries", AccessRole::kReader, r,
      [this, q](const RequestContext& rc) { return webhooks_->ListDeliveries(rc, *q); });
}

}  // namespace stp::notification
