#include "tests/reliability/follower.h"

#include "absl/time/clock.h"

namespace stp::reliability {

namespace nv1 = stp::notification::v1;

Follower::Follower(std::function<std::string()> address, nv1::EventFilter filter,
                   std::string cursor, int heartbeat_seconds)
    : address_(std::move(address)),
      filter_(std::move(filter)),
      heartbeat_seconds_(heartbeat_seconds),
      cursor_(std::move(cursor)) {
  thread_ = std::thread([this] { Loop(); });
}

Follower::~Follower() { Stop(); }

void Follower::Stop() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);
    if (live_ != nullptr) live_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<stp::events::v1::Event> Follower::events() {
  absl::MutexLock lock(&mu_);
  return events_;
}

size_t Follower::event_count() {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

std::string Follower::cursor() {
  absl::MutexLock lock(&mu_);
  return cursor_;
}

std::vector<grpc::StatusCode> Follower::endings() {
  absl::MutexLock lock(&mu_);
  return endings_;
}

void Follower::Loop() {
  while (!stopping_.load()) {
    auto channel = grpc::CreateChannel(address_(), grpc::InsecureChannelCredentials());
    auto stub = nv1::NotificationService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
    nv1::SubscribeRequest req;
    *req.mutable_filter() = filter_;
    req.set_heartbeat_seconds(heartbeat_seconds_);
    {
      absl::MutexLock lock(&mu_);
      req.set_cursor(cursor_);
      live_ = &ctx;
    }
    if (stopping_.load()) ctx.TryCancel();
    ++connections_;
    auto stream = stub->Subscribe(&ctx, req);
    nv1::SubscribeResponse m;
    while (stream->Read(&m)) {
      absl::MutexLock lock(&mu_);
      cursor_ = m.cursor();
      if (m.has_event()) events_.push_back(m.event());
    }
    grpc::Status status = stream->Finish();
    {
      absl::MutexLock lock(&mu_);
      live_ = nullptr;
      endings_.push_back(status.error_code());
      // A subscriber cut off as too slow resumes from the trailer's cursor.
      auto trailer = ctx.GetServerTrailingMetadata().find("stp-cursor");
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
          trailer != ctx.GetServerTrailingMetadata().end()) {
        cursor_ = std::string(trailer->second.data(), trailer->second.size());
      }
    }
    if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE ||
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return;  // resuming cannot help; the test sees it in endings()
    }
    if (!stopping_.load()) absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace stp::reliability
