// The notification service with real Redis, real gRPC and a real HTTP receiver: filtered,
// ordered, resumable subscriptions, and signed webhooks with retries and dead letters.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "libs/common/event_header.h"
#include "libs/common/grpc_status.h"
#include "libs/common/phrase_codec.h"
#include "libs/redis/redis.h"
#include "libs/redis/streams.h"
#include "services/ingestion/ingestion_module.h"
#include "services/notification/cursor.h"
#include "services/notification/notification_module.h"
#include "services/notification/webhooks.h"
#include "services/scoring/scoring_module.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "stp/notification/v1/notification_service.grpc.pb.h"
#include "tests/testing/http_receiver.h"
#include "tests/testing/test_stack.h"

namespace stp::notification {
namespace {

namespace iv1 = stp::ingestion::v1;
using testing::TestStack;
using testing::WaitFor;

class NotificationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server.ok());
    redis_ = std::move(*server);
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(ingestion::NewIngestionModule());
    ingestion_stack_ = TestStack::Start(std::move(modules), redis_.get());
    ASSERT_NE(ingestion_stack_, nullptr);
    ingestion_ = iv1::IngestionService::NewStub(ingestion_stack_->channel());
    for (const char* cc : {"EG", "ZA", "CN"}) {
      iv1::UpsertCountryRequest req;
      req.mutable_country()->set_alpha2(cc);
      req.mutable_country()->set_display_name(cc);
      iv1::Country out;
      ASSERT_TRUE(Call([&](auto* c) { return ingestion_->UpsertCountry(c, req, &out); }).ok());
    }
    iv1::CreateOrganizationRequest org;
    org.mutable_organization()->set_display_name("Org");
    iv1::Organization o;
    ASSERT_TRUE(Call([&](auto* c) { return ingestion_->CreateOrganization(c, org, &o); }).ok());
    org_ = o.name();
  }

  std::unique_ptr<TestStack> StartNotification(std::vector<std::string> flags = {}) {
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(NewNotificationModule());
    flags.push_back("--webhook-base-backoff=20ms");
    flags.push_back("--webhook-consumer=" + std::to_string(next_consumer_++));
    return TestStack::Start(std::move(modules), redis_.get(), nullptr, flags);
  }

  template <typename Fn>
  grpc::Status Call(Fn fn) {
    grpc::ClientContext ctx;
    testing::SetDeadline(&ctx, absl::Seconds(30));
    return fn(&ctx);
  }

  std::string CreateProject(const std::string& title, stp::common::v1::Avenue avenue,
                            const std::string& host = "countries/EG") {
    iv1::CreateProjectRequest req;
    req.mutable_project()->set_title(title);
    req.mutable_project()->set_host_country(host);
    req.mutable_project()->add_avenues(avenue);
    req.mutable_project()->set_description(std::string(800, 'd'));
    auto* part = req.mutable_project()->add_participants();
    part->set_organization(org_);
    part->set_role(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
    iv1::Project out;
    EXPECT_TRUE(Call([&](auto* c) { return ingestion_->CreateProject(c, req, &out); }).ok());
    return out.name();
  }

  // `count` e-commerce projects titled `prefix` followed by 0, 1, ...; their names appended to
  // `names` when given.
  void CreateProjects(const std::string& prefix, int count,
                      std::vector<std::string>* names = nullptr) {
    for (int i = 0; i < count; ++i) {
      std::string name =
          CreateProject(prefix + std::to_string(i), stp::common::v1::AVENUE_E_COMMERCE);
      if (names != nullptr) names->push_back(std::move(name));
    }
  }

  // Reads a subscription on a thread, collecting messages.
  struct Reader {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<nv1::SubscribeResponse>> stream;
    absl::Mutex mu;
    std::vector<nv1::SubscribeResponse> messages;
    grpc::Status status;
    std::atomic<bool> done{false};
    std::thread thread;
    absl::Duration pause_before_reading = absl::ZeroDuration();
    ~Reader() {
      ctx.TryCancel();
      if (thread.joinable()) thread.join();
    }
    std::vector<std::string> Projects() {
      absl::MutexLock lock(&mu);
      std::vector<std::string> out;
      for (const auto& m : messages) {
        if (m.has_event()) out.push_back(m.event().resource());
      }
      return out;
    }
    std::string LastCursor() {
      absl::MutexLock lock(&mu);
      return messages.empty() ? "" : messages.back().cursor();
    }
  };

  // The cursor of a project's event, read by a subscriber: where a later one resumes.
  std::string CursorAfterAFirstProject(TestStack* stack) {
    auto first = Subscribe(stack, nv1::SubscribeRequest());
    absl::SleepFor(absl::Milliseconds(300));
    CreateProject("first", stp::common::v1::AVENUE_E_COMMERCE);
    EXPECT_TRUE(WaitFor([&] { return first->Projects().size() == 1u; }));
    return first->LastCursor();
  }

  std::unique_ptr<Reader> Subscribe(TestStack* stack, const nv1::SubscribeRequest& req,
                                    absl::Duration pause = absl::ZeroDuration()) {
    auto r = std::make_unique<Reader>();
    r->pause_before_reading = pause;
    auto channel = stack->channel();
    if (pause > absl::ZeroDuration()) {
      // A reader that stops reading: a small flow-control window, so the server feels it soon.
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8192);
      args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
      args.SetInt("stp.test.slow", 1);
      channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(stack->port()),
                                          grpc::InsecureChannelCredentials(), args);
    }
    auto stub = nv1::NotificationService::NewStub(channel);
    r->stream = stub->Subscribe(&r->ctx, req);
    Reader* raw = r.get();
    r->thread = std::thread([raw] {
      if (raw->pause_before_reading > absl::ZeroDuration())
        absl::SleepFor(raw->pause_before_reading);
      nv1::SubscribeResponse m;
      while (raw->stream->Read(&m)) {
        absl::MutexLock lock(&raw->mu);
        raw->messages.push_back(m);
      }
      raw->status = raw->stream->Finish();
      raw->done = true;
    });
    return r;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<TestStack> ingestion_stack_;
  std::unique_ptr<iv1::IngestionService::Stub> ingestion_;
  std::string org_;
  int next_consumer_ = 1;
};

TEST_F(NotificationTest, FilteredEventsArriveInOrderWithCursors) {
  auto stack = StartNotification();
  nv1::SubscribeRequest req;
  req.mutable_filter()->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
  req.mutable_filter()->add_event_types(stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
  auto reader = Subscribe(stack.get(), req);
  absl::SleepFor(absl::Milliseconds(300));  // the stream is registered before events are made
  std::vector<std::string> green;
  for (int i = 0; i < 20; ++i) {
    std::string name =
        CreateProject("p" + std::to_string(i), i % 2 ? stp::common::v1::AVENUE_GREEN_GROWTH
                                                     : stp::common::v1::AVENUE_AGRICULTURE);
    if (i % 2) green.push_back(name);
  }
  ASSERT_TRUE(WaitFor([&] { return reader->Projects().size() == green.size(); }))
      << reader->Projects().size();
  EXPECT_EQ(reader->Projects(), green);
  absl::MutexLock lock(&reader->mu);
  std::string previous;
  for (const auto& m : reader->messages) {
    EXPECT_FALSE(m.cursor().empty());
    EXPECT_NE(m.cursor(), previous);
    previous = m.cursor();
    EXPECT_FALSE(m.event().id().empty());
    EXPECT_TRUE(m.event().has_project());
  }
}

// Scoring writes SCORE_CHANGED events packed (a fraction of their size in the stream); a
// subscriber gets each in full: the current score with its components and their reasons.
TEST_F(NotificationTest, AScoreChangeReachesSubscribersInFullThoughPackedInTheStream) {
  std::vector<std::unique_ptr<Module>> modules;
  modules.push_back(scoring::NewScoringModule());
  auto scoring = TestStack::Start(
      std::move(modules), redis_.get(), nullptr,
      {"--scoring-ingestion-address=127.0.0.1:" + std::to_string(ingestion_stack_->port()),
       "--scoring-ingestion-plaintext"});
  ASSERT_NE(scoring, nullptr);
  redis::RedisOptions options;
  options.address = redis_->address();
  redis::RedisClient client(options);
  ASSERT_TRUE(WaitFor([&] {
    auto done = client.Command({"EXISTS", "stp:{g}:scoring:bootstrapped"});
    return done.ok() && redis::Int(done->get()) == 1;
  })) << "the scoring read model was never built";
  auto stack = StartNotification();
  nv1::SubscribeRequest req;
  req.mutable_filter()->add_event_types(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
  auto reader = Subscribe(stack.get(), req);
  absl::SleepFor(absl::Milliseconds(300));  // the stream is registered before events are made
  const std::string project =
      CreateProject("Cairo fintech hub", stp::common::v1::AVENUE_E_COMMERCE);
  ASSERT_TRUE(WaitFor([&] { return reader->Projects().size() == 1u; }, absl::Seconds(30)));
  EXPECT_EQ(reader->Projects()[0], project);
  stp::events::v1::Event received;
  {
    absl::MutexLock lock(&reader->mu);
    received = reader->messages.back().event();
  }
  const auto& current = received.score_change().current();
  EXPECT_EQ(current.project(), project);
  ASSERT_EQ(current.components_size(), 6);
  for (const auto& c : current.components()) EXPECT_GT(c.reasons_size(), 0) << c.component();

  // In Redis, the same event packed.
  auto entries = redis::Range(client, "stp:{p0}:events", "-", "+", 1000);
  ASSERT_TRUE(entries.ok()) << entries.status();
  const redis::StreamEntry* stored = nullptr;
  for (const auto& e : *entries) {
    if (e.id == received.id()) stored = &e;
  }
  ASSERT_NE(stored, nullptr) << received.id();
  ASSERT_NE(stored->Field("e"), nullptr);
  EXPECT_TRUE(common::IsPackedEvent(*stored->Field("e")));
  received.clear_id();  // set by the reader from the entry's id
  EXPECT_LT(stored->Field("e")->size() * 2, received.ByteSizeLong());
}

TEST_F(NotificationTest, ResumingWithACursorOnAnotherReplicaMissesNothing) {
  auto first = StartNotification();
  nv1::SubscribeRequest req;
  auto reader = Subscribe(first.get(), req);
  absl::SleepFor(absl::Milliseconds(300));
  std::vector<std::string> all;
  CreateProjects("before ", 5, &all);
  ASSERT_TRUE(WaitFor([&] { return reader->Projects().size() == 5u; }));
  std::string cursor = reader->LastCursor();
  reader.reset();
  first.reset();  // the replica goes away
  CreateProjects("while down ", 7, &all);
  auto second = StartNotification();
  req.set_cursor(cursor);
  auto resumed = Subscribe(second.get(), req);
  CreateProjects("after ", 3, &all);
  ASSERT_TRUE(WaitFor([&] { return resumed->Projects().size() == 10u; }))
      << resumed->Projects().size();
  std::vector<std::string> expected(all.begin() + 5, all.end());
  EXPECT_EQ(resumed->Projects(), expected);
}

TEST_F(NotificationTest, ACursorOlderThanRetentionIsOutOfRange) {
  auto stack = StartNotification();
  nv1::SubscribeRequest req;
  auto reader = Subscribe(stack.get(), req);
  absl::SleepFor(absl::Milliseconds(300));
  CreateProject("first", stp::common::v1::AVENUE_E_COMMERCE);
  ASSERT_TRUE(WaitFor([&] { return reader->Projects().size() == 1u; }));
  std::string cursor = reader->LastCursor();
  CreateProjects("more ", 5);
  redis_->Cli({"XTRIM", "stp:{p0}:events", "MAXLEN", "2"});
  req.set_cursor(cursor);
  auto late = Subscribe(stack.get(), req);
  ASSERT_TRUE(WaitFor([&] { return late->done.load(); }));
  EXPECT_EQ(late->status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(late->status.error_message().find("List"), std::string::npos);
  req.set_cursor("garbage");
  auto bad = Subscribe(stack.get(), req);
  ASSERT_TRUE(WaitFor([&] { return bad->done.load(); }));
  EXPECT_EQ(bad->status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(NotificationTest, ASlowSubscriberIsCutOffWithItsCursorWhileFastOnesKeepUp) {
  auto stack = StartNotification({"--notification-ring=40"});
  nv1::SubscribeRequest req;
  auto fast = Subscribe(stack.get(), req);
  auto slow = Subscribe(stack.get(), req, /*pause=*/absl::Seconds(6));
  absl::SleepFor(absl::Milliseconds(300));
  std::vector<std::string> all;
  CreateProjects("burst ", 400, &all);
  ASSERT_TRUE(WaitFor([&] { return fast->Projects().size() == all.size(); }))
      << fast->Projects().size();
  EXPECT_EQ(fast->Projects(), all);
  ASSERT_TRUE(WaitFor([&] { return slow->done.load(); }, absl::Seconds(20)));
  EXPECT_EQ(slow->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << slow->status.error_message();
  auto trailer = slow->ctx.GetServerTrailingMetadata().find("stp-cursor");
  ASSERT_NE(trailer, slow->ctx.GetServerTrailingMetadata().end());
  std::vector<std::string> got = slow->Projects();
  EXPECT_LT(got.size(), all.size());
  // Resuming from the trailer's cursor delivers the rest with no gap and no repeat.
  req.set_cursor(std::string(trailer->second.data(), trailer->second.size()));
  auto resumed = Subscribe(stack.get(), req);
  ASSERT_TRUE(WaitFor([&] { return got.size() + resumed->Projects().size() == all.size(); }))
      << got.size() << " + " << resumed->Projects().size();
  auto rest = resumed->Projects();
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, all);
}

// A subscriber catching up from Redis (beyond the hub's ring) whose next events are trimmed
// while it reads slowly is told so, with OUT_OF_RANGE, after the events it had: it never reads
// on past the gap.
TEST_F(NotificationTest, ASubscriberOvertakenByRetentionWhileCatchingUpIsToldNotSkippedOn) {
  auto stack = StartNotification({"--notification-ring=40"});  // catch-ups read Redis
  nv1::SubscribeRequest req;
  req.set_cursor(CursorAfterAFirstProject(stack.get()));
  std::vector<std::string> all;
  CreateProjects("later ", 700, &all);
  auto slow = Subscribe(stack.get(), req, /*pause=*/absl::Seconds(4));
  // Its first 500 are read from Redis and wait to be sent (on a busy machine the trim may come
  // first: then the subscription is refused at once, with nothing delivered).
  absl::SleepFor(absl::Seconds(2));
  redis_->Cli({"XTRIM", "stp:{p0}:events", "MAXLEN", "20"});
  ASSERT_TRUE(WaitFor([&] { return slow->done.load(); }, absl::Seconds(20)))
      << "read on past the trimmed events: " << slow->Projects().size();
  EXPECT_EQ(slow->status.error_code(), grpc::StatusCode::OUT_OF_RANGE)
      << slow->status.error_message();
  std::vector<std::string> got = slow->Projects();
  ASSERT_LT(got.size(), all.size());
  EXPECT_EQ(got, std::vector<std::string>(all.begin(), all.begin() + got.size()));
}

// An entry that does not parse, among readable ones a catching-up subscriber reads from Redis,
// is passed over without the readable ones before it.
TEST_F(NotificationTest, AnUnreadableEventIsPassedOverAloneWhileCatchingUp) {
  auto stack = StartNotification({"--notification-ring=40"});  // catch-ups read Redis
  nv1::SubscribeRequest req;
  req.set_cursor(CursorAfterAFirstProject(stack.get()));
  std::vector<std::string> all;
  CreateProjects("before ", 100, &all);
  const std::string added = redis_->Cli({"XADD", "stp:{p0}:events", "'*'", "e", "not-an-event"});
  ASSERT_NE(added.find('-'), std::string::npos) << added;  // an entry id
  CreateProjects("after ", 100, &all);
  auto late = Subscribe(stack.get(), req);
  ASSERT_TRUE(WaitFor([&] { return late->Projects().size() >= all.size(); }, absl::Seconds(10)))
      << late->Projects().size();
  EXPECT_EQ(late->Projects(), all);
}

// Events trimmed before the webhook group read them (notification was down longer than the
// retention covers) cannot be delivered; each loss is reported, once, not passed over in
// silence: by a group that never read (Redis cannot count for it) and by one that did.
TEST_F(NotificationTest, EventsTrimmedBeforeWebhooksReadThemAreReported) {
  auto losses = [](TestStack* stack) {
    const std::string text = stack->process().metrics().Render();
    const size_t at = text.find("\nstp_webhook_event_losses ");
    return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + 26);
  };
  auto trim_while_down = [&](const std::string& label) {
    CreateProjects(label, 30);
    redis_->Cli({"XTRIM", "stp:{p0}:events", "MAXLEN", "5"});
  };
  {
    // Makes the webhook group at the stream's end, and reads nothing.
    auto first = StartNotification();
    ASSERT_TRUE(WaitFor([&] {
      return redis_->Cli({"XINFO", "GROUPS", "stp:{p0}:events"}).find("last-delivered-id") !=
             std::string::npos;
    }));
  }
  trim_while_down("never read ");
  {
    auto stack = StartNotification();
    EXPECT_TRUE(WaitFor([&] { return losses(stack.get()) == 1; })) << losses(stack.get());
    CreateProject("read", stp::common::v1::AVENUE_E_COMMERCE);
    ASSERT_TRUE(WaitFor([&] {
      return redis_->Cli({"XINFO", "GROUPS", "stp:{p0}:events"}).find("lag\n0") !=
             std::string::npos;
    }));
  }
  trim_while_down("read before ");
  auto stack = StartNotification();
  auto second = StartNotification();
  EXPECT_TRUE(WaitFor([&] { return losses(stack.get()) + losses(second.get()) == 1; }))
      << losses(stack.get()) << " + " << losses(second.get());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(losses(stack.get()) + losses(second.get()), 1);
}

// A consumer that reads a full batch is behind, and the retention may trim what it has not
// read before its next read, which would pass over the gap in silence: the periodic check (every
// 5 s) comes too late, as the group is past the gap by then. The check runs before that read.
TEST_F(NotificationTest, AWebhookConsumerBehindLooksForTrimmedEventsBeforeItsNextRead) {
  redis::RedisOptions o;
  o.address = redis_->address();
  redis::RedisClient client(o);
  redis::Keyspace ks;
  WebhookStore store(&client, ks);
  std::atomic<bool> trimmed{false};
  WebhookOptions opts;
  opts.consumer = "behind";
  opts.read_count = 5;
  opts.after_batch = [&] {
    if (trimmed.exchange(true)) return;
    for (const auto& stream : ks.AllEventStreams())
      EXPECT_TRUE(client.Command({"XTRIM", stream, "MAXLEN", "3"}).ok());
  };
  auto make = [&] {
    return std::make_unique<WebhookDispatcher>(
        &store, opts, [] { return absl::Now(); }, [] { return NewCurlSender(); });
  };
  // The group at the stream's end; then twenty events, which the first read takes five of.
  {
    auto first = make();
    ASSERT_TRUE(first->Start().ok());
  }
  CreateProjects("behind ", 20);
  auto dispatcher = make();
  ASSERT_TRUE(dispatcher->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return dispatcher->losses() == 1; }))
      << "the events trimmed between two reads were passed over in silence";
  EXPECT_TRUE(trimmed.load());
  dispatcher->Stop();
}

// Events a webhook consumer took and never turned into deliveries, trimmed before another
// replica reclaims them (or before the consumer reads its own pending entries after a
// restart): reported as a loss, not acknowledged in silence.
TEST_F(NotificationTest, WebhookEventsTrimmedWhileTheyWerePendingAreReportedLost) {
  redis::RedisOptions o;
  o.address = redis_->address();
  redis::RedisClient client(o);
  redis::Keyspace ks;
  WebhookStore store(&client, ks);
  for (const bool reclaimed : {true, false}) {
    SCOPED_TRACE(reclaimed ? "reclaimed from a consumer that died" : "the consumer's own");
    WebhookOptions opts;
    opts.consumer = "heir";
    opts.reclaim_idle = reclaimed ? absl::Milliseconds(1) : absl::Hours(1);
    auto make = [&] {
      return std::make_unique<WebhookDispatcher>(
          &store, opts, [] { return absl::Now(); }, [] { return NewCurlSender(); });
    };
    {
      auto first = make();  // the group, at the streams' ends
      ASSERT_TRUE(first->Start().ok());
    }
    CreateProjects(reclaimed ? "reclaimed " : "own ", 5);
    ASSERT_TRUE(testing::TakeThenTrim(client, ks.AllEventStreams(), opts.group,
                                      reclaimed ? "gone" : opts.consumer)
                    .ok());
    absl::SleepFor(absl::Milliseconds(5));
    auto dispatcher = make();
    ASSERT_TRUE(dispatcher->Start().ok());
    EXPECT_TRUE(WaitFor([&] { return dispatcher->losses() == 1; }))
        << "the pending events trimmed before their deliveries were made were passed over";
    dispatcher->Stop();
    auto pending = client.Command({"XPENDING", ks.AllEventStreams()[0], opts.group});
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(redis::Int(redis::At(pending->get(), 0)), 0) << "the lost entries stay pending";
  }
}

TEST_F(NotificationTest, IdleStreamsGetHeartbeats) {
  auto stack = StartNotification();
  nv1::SubscribeRequest req;
  req.set_heartbeat_seconds(1);
  auto reader = Subscribe(stack.get(), req);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&reader->mu);
        return !reader->messages.empty();
      },
      absl::Seconds(5)));
  absl::MutexLock lock(&reader->mu);
  EXPECT_TRUE(reader->messages[0].has_heartbeat());
  EXPECT_FALSE(reader->messages[0].cursor().empty());
}

TEST_F(NotificationTest, WebhooksAreSignedRetriedAndDeadLettered) {
  auto stack = StartNotification({"--webhook-max-attempts=3"});
  auto stub = nv1::NotificationService::NewStub(stack->channel());
  // Receiver A fails twice, then accepts. Receiver B always fails.
  testing::HttpReceiver a([](int n, const testing::ReceivedRequest&) { return n < 2 ? 500 : 200; });
  testing::HttpReceiver b([](int, const testing::ReceivedRequest&) { return 503; });
  const std::string secret = "a-secret-of-enough-bytes";
  nv1::Webhook hook_a, hook_b;
  for (auto [receiver, out] : {std::pair{&a, &hook_a}, std::pair{&b, &hook_b}}) {
    nv1::CreateWebhookRequest req;
    req.mutable_webhook()->set_url(receiver->url());
    req.mutable_webhook()->set_secret(secret);
    req.mutable_webhook()->mutable_filter()->add_event_types(
        stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
    ASSERT_TRUE(Call([&](auto* c) { return stub->CreateWebhook(c, req, out); }).ok());
    EXPECT_TRUE(out->secret().empty());
  }
  std::string project = CreateProject("hooked", stp::common::v1::AVENUE_GREEN_GROWTH);
  ASSERT_TRUE(WaitFor([&] { return a.count() == 3; })) << a.count();
  auto requests = a.requests();
  const auto& last = requests.back();
  EXPECT_EQ(last.method, "POST");
  EXPECT_NE(last.body.find(project), std::string::npos);
  EXPECT_EQ(last.headers.at("x-stp-event-type"), "EVENT_TYPE_PROJECT_CREATED");
  // The signature verifies with the shared secret over "<t>.<body>".
  std::string sig = last.headers.at("x-stp-signature");
  int64_t t = std::stoll(sig.substr(2, sig.find(',') - 2));
  EXPECT_EQ(sig, SignDelivery(secret, t, last.body));
  // All three attempts are the same delivery.
  EXPECT_EQ(requests[0].headers.at("x-stp-delivery"), last.headers.at("x-stp-delivery"));
  nv1::ListDeliveriesRequest list;
  list.set_parent(hook_a.name());
  nv1::ListDeliveriesResponse deliveries;
  ASSERT_TRUE(WaitFor([&] {
    return Call([&](auto* c) { return stub->ListDeliveries(c, list, &deliveries); }).ok() &&
           deliveries.deliveries_size() == 1 &&
           deliveries.deliveries(0).state() == nv1::DELIVERY_STATE_SUCCEEDED;
  }));
  EXPECT_EQ(deliveries.deliveries(0).attempts(), 3);
  // B: three attempts, then the dead-letter list.
  list.set_parent(hook_b.name());
  list.set_state(nv1::DELIVERY_STATE_DEAD_LETTER);
  ASSERT_TRUE(WaitFor([&] {
    return Call([&](auto* c) { return stub->ListDeliveries(c, list, &deliveries); }).ok() &&
           deliveries.deliveries_size() == 1;
  }));
  EXPECT_EQ(deliveries.deliveries(0).attempts(), 3);
  EXPECT_EQ(deliveries.deliveries(0).last_http_status(), 503);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(b.count(), 3);
  // A 4xx other than 429 is not retried.
  testing::HttpReceiver c([](int, const testing::ReceivedRequest&) { return 410; });
  nv1::CreateWebhookRequest req;
  req.mutable_webhook()->set_url(c.url());
  req.mutable_webhook()->set_secret(secret);
  nv1::Webhook hook_c;
  ASSERT_TRUE(Call([&](auto* ctx) { return stub->CreateWebhook(ctx, req, &hook_c); }).ok());
  CreateProject("gone", stp::common::v1::AVENUE_GREEN_GROWTH);
  ASSERT_TRUE(WaitFor([&] { return c.count() >= 1; }));
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(c.count(), 1);
}

TEST_F(NotificationTest, TwoReplicasDeliverEachEventOncePerHook) {
  auto one = StartNotification();
  auto two = StartNotification();
  testing::HttpReceiver receiver(
      [](int n, const testing::ReceivedRequest&) { return n % 5 == 0 ? -1 : 200; });
  auto stub = nv1::NotificationService::NewStub(one->channel());
  nv1::CreateWebhookRequest req;
  req.mutable_webhook()->set_url(receiver.url());
  req.mutable_webhook()->set_secret("another-long-secret");
  req.mutable_webhook()->mutable_filter()->add_event_types(
      stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
  nv1::Webhook hook;
  ASSERT_TRUE(Call([&](auto* c) { return stub->CreateWebhook(c, req, &hook); }).ok());
  std::set<std::string> created;
  for (int i = 0; i < 40; ++i)
    created.insert(
        CreateProject("twice? " + std::to_string(i), stp::common::v1::AVENUE_E_COMMERCE));
  // Every event arrives; connection resets are retried; successful deliveries never repeat.
  auto delivered = [&] {
    std::map<std::string, int> ok_per_delivery;
    auto reqs = receiver.requests();
    for (size_t n = 0; n < reqs.size(); ++n) {
      if (n % 5 != 0) ++ok_per_delivery[reqs[n].headers["x-stp-delivery"]];
    }
    return ok_per_delivery;
  };
  ASSERT_TRUE(WaitFor([&] { return delivered().size() == created.size(); }, absl::Seconds(20)))
      << delivered().size();
  absl::SleepFor(absl::Milliseconds(500));
  for (const auto& [id, n] : delivered()) EXPECT_EQ(n, 1) << id;
}

// A worker attempts its claims one after another. Those whose lease would run out before their
// POST could time out go back instead of being sent late, after another worker claimed them
// again: a slow receiver gets each delivery once.
TEST_F(NotificationTest, ASlowReceiverGetsEachDeliveryOnceThoughClaimsOutliveTheirLease) {
  // The receiver answers one request at a time, 100 ms each: with two workers, a POST waits
  // at most 200 ms (within its 500 ms timeout), and eight claims take longer than the lease.
  auto stack =
      StartNotification({"--webhook-lease=1s", "--webhook-timeout=500ms", "--webhook-workers=2"});
  ASSERT_NE(stack, nullptr);
  testing::HttpReceiver receiver([](int, const testing::ReceivedRequest&) {
    absl::SleepFor(absl::Milliseconds(100));
    return 200;
  });
  auto stub = nv1::NotificationService::NewStub(stack->channel());
  nv1::CreateWebhookRequest req;
  req.mutable_webhook()->set_url(receiver.url());
  req.mutable_webhook()->set_secret("a-secret-of-enough-bytes");
  req.mutable_webhook()->mutable_filter()->add_event_types(
      stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
  nv1::Webhook hook;
  ASSERT_TRUE(Call([&](auto* c) { return stub->CreateWebhook(c, req, &hook); }).ok());
  constexpr int kProjects = 16;
  CreateProjects("slowly received ", kProjects);
  auto per_delivery = [&] {
    std::map<std::string, int> n;
    for (const auto& r : receiver.requests()) ++n[r.headers.at("x-stp-delivery")];
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return per_delivery().size() == kProjects; }, absl::Seconds(30)))
      << per_delivery().size();
  absl::SleepFor(absl::Seconds(2));  // time for a late duplicate to arrive
  for (const auto& [id, n] : per_delivery()) EXPECT_EQ(n, 1) << id;
}

// A CreateWebhook that claimed its request id and died before writing the hook (here: the hook
// is removed behind the service's back): a retry creates it under the claimed id instead of
// answering NOT_FOUND for a day. A hook deleted through the API stays deleted.
TEST_F(NotificationTest, ARetryOfACreateThatDiedBeforeWritingCreatesTheHook) {
  auto stack = StartNotification();
  ASSERT_NE(stack, nullptr);
  redis::RedisOptions o;
  o.address = redis_->address();
  redis::RedisClient client(o);
  auto stub = nv1::NotificationService::NewStub(stack->channel());
  nv1::CreateWebhookRequest req;
  req.set_request_id("hook-died");
  req.mutable_webhook()->set_url("https://example.org/hook");
  req.mutable_webhook()->set_secret("a-secret-of-enough-bytes");
  nv1::Webhook first, again;
  ASSERT_TRUE(Call([&](auto* c) { return stub->CreateWebhook(c, req, &first); }).ok());
  const std::string id = first.name().substr(first.name().find('/') + 1);
  ASSERT_TRUE(client.Command({"DEL", "stp:{g}:notif:hook:" + id}).ok());
  grpc::Status retried = Call([&](auto* c) { return stub->CreateWebhook(c, req, &again); });
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(again.name(), first.name());
  nv1::GetWebhookRequest get;
  get.set_name(first.name());
  ASSERT_TRUE(Call([&](auto* c) { return stub->GetWebhook(c, get, &again); }).ok());

  nv1::DeleteWebhookRequest del;
  del.set_name(first.name());
  nv1::DeleteWebhookResponse deleted;
  ASSERT_TRUE(Call([&](auto* c) { return stub->DeleteWebhook(c, del, &deleted); }).ok());
  EXPECT_EQ(Call([&](auto* c) { return stub->CreateWebhook(c, req, &again); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(NotificationTest, BadFiltersAndHooksAreRefusedWithFieldViolations) {
  auto stack = StartNotification();
  auto stub = nv1::NotificationService::NewStub(stack->channel());
  nv1::CreateWebhookRequest req;
  req.mutable_webhook()->set_url("ftp://example.org");
  req.mutable_webhook()->set_secret("short");
  req.mutable_webhook()->mutable_filter()->add_countries("Egypt");
  nv1::Webhook out;
  grpc::Status s = Call([&](auto* c) { return stub->CreateWebhook(c, req, &out); });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::set<std::string> fields;
  for (const auto& v : GetFieldViolations(FromGrpcStatus(s))) fields.insert(v.field);
  EXPECT_EQ(fields, (std::set<std::string>{"webhook.url", "webhook.secret",
                                           "webhook.filter.countries[0]"}));
  nv1::SubscribeRequest sub;
  sub.mutable_filter()->add_score_thresholds()->set_value(150);
  auto reader = Subscribe(stack.get(), sub);
  ASSERT_TRUE(WaitFor([&] { return reader->done.load(); }));
  EXPECT_EQ(reader->status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace stp::notification
