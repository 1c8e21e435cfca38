// The Redis layer against a real redis-server started by the test.
#include "libs/redis/redis.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/streams.h"
#include "tests/testing/grpc_testing.h"
#include "tests/testing/redis_server.h"

namespace stp::redis {
namespace {

using stp::testing::RedisServer;
using stp::testing::WaitFor;

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    RedisOptions options;
    options.address = server_->address();
    options.pool_size = 4;
    options.command_timeout = absl::Milliseconds(500);
    options.max_backoff = absl::Milliseconds(200);
    client_ = std::make_unique<RedisClient>(options);
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(RedisTest, BinaryValuesRoundTrip) {
  std::string value("a\0b\xff\r\n", 6);
  std::string key("k\0ey", 4);
  ASSERT_TRUE(client_->Command({"SET", key, value}).ok());
  auto reply = client_->Command({"GET", key});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(StrCopy(reply->get()), value);
}

TEST_F(RedisTest, ErrorRepliesBecomeStatuses) {
  ASSERT_TRUE(client_->Command({"SET", "s", "x"}).ok());
  auto reply = client_->Command({"INCR", "s"});
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ErrorReplyStatus("LOADING Redis is loading").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReplyStatus("MISCONF Redis is configured to save RDB snapshots, but it's "
                             "currently unable to persist to disk")
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReplyStatus("OOM command not allowed").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(RedisTest, PipelineKeepsOrder) {
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 100; ++i) cmds.push_back({"RPUSH", "list", std::to_string(i)});
  auto replies = client_->Pipeline(cmds);
  ASSERT_TRUE(replies.ok());
  ASSERT_EQ(replies->size(), 100u);
  EXPECT_EQ(Int((*replies)[99].get()), 100);
}

// Pipelines are formatted by this layer, not by hiredis: binary and empty arguments, numbers
// of every width, many commands, and a value larger than the buffer a connection keeps all
// reach Redis as sent, and the connection serves the next pipeline afterwards.
TEST_F(RedisTest, PipelinesCarryArgumentsOfAnyContentAndSize) {
  std::vector<std::vector<std::string>> sets, gets;
  std::vector<std::string> values;
  for (int i = 0; i < 2000; ++i) {
    std::string value(static_cast<size_t>(i % 300), static_cast<char>(i % 256));
    if (i % 7 == 0) value = std::string("\r\n$3\r\n*1\0", 9);
    if (i % 11 == 0) value.clear();
    values.push_back(value);
    sets.push_back({"SET", absl::StrCat("pipe:", i), value});
    gets.push_back({"GET", absl::StrCat("pipe:", i)});
  }
  const std::string large(9 << 20, 'x');  // over the 8 MB a connection keeps
  sets.push_back({"SET", "pipe:large", large});
  gets.push_back({"STRLEN", "pipe:large"});
  auto set = client_->Pipeline(sets);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), sets.size());
  for (const auto& r : *set) ASSERT_EQ(Str(r.get()), "OK");
  auto got = client_->Pipeline(gets);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), gets.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(StrCopy((*got)[i].get()), values[i]) << i;
  EXPECT_EQ(Int(got->back().get()), static_cast<long long>(large.size()));
  // A command with no arguments but its name, and one after the large round trip.
  auto after = client_->Pipeline({{"PING"}, {"GET", "pipe:7"}});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Str((*after)[0].get()), "PONG");
  EXPECT_EQ(StrCopy((*after)[1].get()), values[7]);
}

// A connection keeps its pipeline buffer for the next batch, and gives it back once it has
// carried no pipeline for a while: a replica's memory comes down after a burst.
TEST_F(RedisTest, PipelineBuffersAreGivenBackAfterAWhileWithoutPipelines) {
  RedisOptions options = client_->options();
  options.trim_buffers_after = absl::Seconds(1);  // long enough for a loaded machine
  RedisClient client(options);
  const std::string value(2 << 20, 'v');
  auto big = [&] { return client.Pipeline({{"SET", "buffer:a", value}, {"STRLEN", "buffer:a"}}); };
  ASSERT_TRUE(big().ok());
  EXPECT_GE(client.IdleBufferBytes(), value.size());
  // Single commands on the same connection right after: the buffer stays.
  ASSERT_TRUE(client.Command({"PING"}).ok());
  EXPECT_GE(client.IdleBufferBytes(), value.size());
  absl::SleepFor(absl::Milliseconds(1300));
  // The next connection handed back (a probe's PING) lets it go.
  ASSERT_TRUE(client.Command({"PING"}).ok());
  EXPECT_LT(client.IdleBufferBytes(), size_t{64 << 10});
  // And the connection works on, with a buffer again.
  auto again = big();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Int((*again)[1].get()), static_cast<long long>(value.size()));
  EXPECT_GE(client.IdleBufferBytes(), value.size());
}

TEST_F(RedisTest, PoolIsSafeForManyThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(client_->Command({"INCR", "counter"}).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Int(client_->Command({"GET", "counter"})->get()), 1600);
}

TEST_F(RedisTest, SharedPipelineGivesEachCallerItsOwnRepliesOverAtMostTwoConnections) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t, &wrong] {
      const std::string key = "shared:" + std::to_string(t);
      for (int i = 1; i <= 300; ++i) {
        // Callers' lists differ in length, so a reply handed to the wrong caller shows.
        std::vector<std::vector<std::string>> cmds = {{"INCR", key}};
        for (int k = 0; k < t % 3; ++k) cmds.push_back({"GET", key});
        auto replies = client_->SharedPipeline(cmds);
        if (!replies.ok() || replies->size() != cmds.size() || Int((*replies)[0].get()) != i) {
          ++wrong;
          continue;
        }
        for (size_t k = 1; k < replies->size(); ++k) {
          if (Int((*replies)[k].get()) != i) ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // At most two round trips at a time: the pool (4 connections) never had to open a third.
  auto info = client_->Command({"INFO", "clients"});
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(std::string(Str(info->get())),
              ::testing::ContainsRegex("connected_clients:[12]\r\n"));
  auto empty = client_->SharedPipeline({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(RedisTest, SharedPipelineAsyncAnswersEveryCallerWithItsOwnReplies) {
  absl::Mutex mu;
  int answered = 0, wrong = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        const std::string value = absl::StrCat(t, ":", i);
        client_->SharedPipelineAsync(
            {{"SET", "async:" + value, value}, {"GET", "async:" + value}}, absl::InfiniteFuture(),
            [&, value](absl::StatusOr<std::vector<ReplyPtr>> replies) {
              absl::MutexLock lock(&mu);
              ++answered;
              if (!replies.ok() || replies->size() != 2 || StrCopy((*replies)[1].get()) != value)
                ++wrong;
            });
      }
    });
  }
  for (auto& t : threads) t.join();
  absl::MutexLock lock(&mu);
  auto all = [&] { return answered == 1000; };
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(10)));
  EXPECT_EQ(wrong, 0);
}

TEST_F(RedisTest, SharedPipelineAsyncAnswersUnavailableWhenRedisIsGone) {
  server_->Kill();
  absl::Notification answered;
  absl::Status status;
  client_->SharedPipelineAsync({{"PING"}}, absl::Now() + absl::Seconds(1),
                               [&](absl::StatusOr<std::vector<ReplyPtr>> replies) {
                                 status = replies.status();
                                 answered.Notify();
                               });
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(RedisTest, SharedPipelineCallerLeavesTheQueueAtItsDeadline) {
  ASSERT_TRUE(client_->Command({"PING"}).ok());
  server_->Pause();
  // The first two callers lead the two round trips, which Redis does not answer (command
  // timeout 500 ms); the third queues behind them and gives up at its own, shorter deadline.
  std::vector<std::thread> leaders;
  for (int i = 0; i < 2; ++i) {
    leaders.emplace_back([this] {
      auto r = client_->SharedPipeline({{"PING"}});
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    });
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::Time start = absl::Now();
  auto queued = client_->SharedPipeline({{"PING"}}, absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(queued.status().code(), absl::StatusCode::kDeadlineExceeded) << queued.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
  for (auto& t : leaders) t.join();
  server_->Resume();
  EXPECT_TRUE(WaitFor([&] { return client_->SharedPipeline({{"PING"}}).ok(); }, absl::Seconds(5)));
}

TEST_F(RedisTest, ScriptsRunBySha1AndReloadAfterFlush) {
  Script script("redis.call('INCRBY', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])");
  EXPECT_EQ(script.sha().size(), 40u);
  auto r1 = client_->Eval(script, {"n"}, {"5"});
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(Int(r1->get()), 5);
  ASSERT_TRUE(client_->Command({"SCRIPT", "FLUSH"}).ok());
  auto r2 = client_->Eval(script, {"n"}, {"2"});
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(Int(r2->get()), 7);  // ran exactly once after the flush
  auto exists = client_->Command({"SCRIPT", "EXISTS", script.sha()});
  EXPECT_EQ(Int(At(exists->get(), 0)), 1);
  auto many = client_->EvalMany(script, {{"m"}, {"m"}, {"m"}}, {{"1"}, {"1"}, {"1"}});
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(Int((*many)[2].get()), 3);
}

TEST_F(RedisTest, ItemScriptsRunEachItemInOrderAcrossCallsAndGroups) {
  // Each item appends its argument to its key and answers with the new length, or nil, or
  // an error of its own.
  ItemScript script(R"lua(
if ARGV[1] == 'fail' then return redis.error_reply('BAD item ' .. KEYS[1]) end
if ARGV[1] == 'raise' then redis.call('NOSUCHCOMMAND') end
if ARGV[1] == 'none' then return nil end
return redis.call('APPEND', KEYS[1], ARGV[1])
)lua");
  std::vector<std::vector<std::string>> keys, args;
  std::vector<int> groups;
  for (int i = 0; i < 25; ++i) {
    keys.push_back({i < 12 ? "{a}x" : "{b}y"});
    args.push_back({i == 5 ? "fail" : i == 6 ? "raise" : i == 7 ? "none" : "z"});
    groups.push_back(i < 12 ? 0 : 1);
  }
  auto replies = client_->EvalEach(script, keys, args, groups, 4);
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 25u);
  EXPECT_EQ(Int((*replies)[0]), 1);
  EXPECT_EQ(Int((*replies)[4]), 5);
  EXPECT_TRUE(IsErrorReply((*replies)[5]));
  EXPECT_THAT(std::string(Str((*replies)[5])), ::testing::HasSubstr("BAD item {a}x"));
  EXPECT_TRUE(IsErrorReply((*replies)[6]));
  EXPECT_TRUE(IsNil((*replies)[7]));
  EXPECT_EQ(Int((*replies)[8]), 6);  // the items after the failures still ran
  EXPECT_EQ(Int((*replies)[11]), 9);
  EXPECT_EQ(Int((*replies)[12]), 1);  // a new group starts a new call on its own key
  EXPECT_EQ(Int((*replies)[24]), 13);
  EXPECT_EQ(Str(client_->Command({"GET", "{a}x"})->get()), std::string(9, 'z'));

  // Nothing to do is no call.
  auto none = client_->EvalEach(script, {}, {}, {}, 4);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->size(), 0u);

  // Items of different shapes, and groups given out of order: each group's items run in
  // their order, and the replies come back in the caller's.
  ItemScript append_all(R"lua(
local n = 0
for i = 1, #KEYS do n = redis.call('APPEND', KEYS[i], ARGV[i]) end
return n
)lua");
  auto mixed = client_->EvalEach(append_all, {{"{c}1"}, {"{d}1", "{d}2"}, {"{c}1"}, {"{d}1"}},
                                 {{"a"}, {"b", "cc"}, {"dd"}, {"eee"}}, {7, 3, 7, 3}, 10);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  ASSERT_EQ(mixed->size(), 4u);
  EXPECT_EQ(Int((*mixed)[0]), 1);  // "a"
  EXPECT_EQ(Int((*mixed)[1]), 2);  // "{d}2" = "cc"
  EXPECT_EQ(Int((*mixed)[2]), 3);  // "a" + "dd"
  EXPECT_EQ(Int((*mixed)[3]), 4);  // "b" + "eee"

  // After a SCRIPT FLUSH the batch script is loaded again and runs once.
  ASSERT_TRUE(client_->Command({"SCRIPT", "FLUSH"}).ok());
  auto again = client_->EvalEach(script, {{"{a}x"}}, {{"z"}}, {}, 4);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Int((*again)[0]), 10);
}

// EvalEach's answer through EvalEachAsync, waited for.
absl::StatusOr<ItemReplies> EvalEachAndWait(RedisClient* client, const ItemScript& script,
                                            std::vector<std::vector<std::string>> keys,
                                            std::vector<std::vector<std::string>> args,
                                            const std::vector<int>& groups, size_t max_items) {
  struct Answer {
    absl::Notification answered;
    absl::StatusOr<ItemReplies> replies = absl::InternalError("no answer");
  };
  auto answer = std::make_shared<Answer>();  // outlives a wait that gives up
  client->EvalEachAsync(script, std::move(keys), std::move(args), groups, max_items,
                        absl::Now() + absl::Seconds(2),
                        [answer](absl::StatusOr<ItemReplies> replies) {
                          answer->replies = std::move(replies);
                          answer->answered.Notify();
                        });
  if (!answer->answered.WaitForNotificationWithTimeout(absl::Seconds(10))) {
    return absl::DeadlineExceededError("EvalEachAsync never answered");
  }
  return std::move(answer->replies);
}

TEST_F(RedisTest, EvalEachAsyncAnswersAsEvalEachAndReloadsAFlushedScript) {
  ItemScript append_all(R"lua(
local n = 0
for i = 1, #KEYS do n = redis.call('APPEND', KEYS[i], ARGV[i]) end
if ARGV[1] == 'raise' then error('BAD item') end
return n
)lua");
  // Loaded first, so that the calls below run by SHA.
  ASSERT_TRUE(client_->EvalEach(append_all, {{"{z}1"}}, {{"z"}}, {}, 1).ok());
  // Groups out of order, items of different shapes, one item per call (so four calls), and
  // an item that fails alone.
  auto mixed =
      EvalEachAndWait(client_.get(), append_all, {{"{c}1"}, {"{d}1", "{d}2"}, {"{c}1"}, {"{d}1"}},
                      {{"a"}, {"b", "cc"}, {"raise"}, {"eee"}}, {7, 3, 7, 3}, 1);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  ASSERT_EQ(mixed->size(), 4u);
  EXPECT_EQ(Int((*mixed)[0]), 1);  // "a"
  EXPECT_EQ(Int((*mixed)[1]), 2);  // "{d}2" = "cc"
  EXPECT_TRUE(IsErrorReply((*mixed)[2]));
  EXPECT_EQ(Int((*mixed)[3]), 4);  // "b" + "eee"
  EXPECT_EQ(Str(client_->Command({"GET", "{c}1"})->get()), std::string("araise"));

  // After a SCRIPT FLUSH every call meets NOSCRIPT; each is sent again as EVAL, once.
  ASSERT_TRUE(client_->Command({"SCRIPT", "FLUSH"}).ok());
  auto again = EvalEachAndWait(client_.get(), append_all, {{"{e}1"}, {"{f}1"}, {"{e}1"}},
                               {{"x"}, {"y"}, {"z"}}, {1, 2, 1}, 4);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 3u);
  EXPECT_EQ(Int((*again)[0]), 1);
  EXPECT_EQ(Int((*again)[1]), 1);
  EXPECT_EQ(Int((*again)[2]), 2);
  EXPECT_EQ(Str(client_->Command({"GET", "{e}1"})->get()), std::string("xz"));

  auto none = EvalEachAndWait(client_.get(), append_all, {}, {}, {}, 4);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->size(), 0u);
  auto uneven = EvalEachAndWait(client_.get(), append_all, {{"{g}1"}}, {}, {}, 4);
  EXPECT_EQ(uneven.status().code(), absl::StatusCode::kInternal);

  server_->Kill();
  auto gone = EvalEachAndWait(client_.get(), append_all, {{"{h}1"}}, {{"x"}}, {}, 4);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable) << gone.status();
}

// A script call in a shared round trip is waited for to its own deadline, even when a read
// in the same round trip has a shorter one: its outcome is known.
TEST_F(RedisTest, AScriptCallIsNotCutShortByAnotherCallersDeadline) {
  // Redis is busy for `ms` milliseconds.
  auto spin = [](int ms) {
    return absl::StrCat(R"lua(
local function now() local t = redis.call('TIME'); return t[1] * 1000000 + t[2] end
local start = now()
repeat until now() - start > )lua",
                        ms * 1000, "\n");
  };
  ItemScript slow_incr(spin(60) + "return redis.call('INCR', KEYS[1])");
  ASSERT_TRUE(client_->EvalEach(slow_incr, {{"{s}n"}}, {{}}, {}, 1).ok());  // loaded; n = 1
  // Both round-trip threads are given a 60 ms script; the first is free again at 60 ms, and
  // Redis at 120 ms (all within the client's 500 ms command timeout).
  std::atomic<int> busy_answered{0};
  for (int i = 0; i < 2; ++i) {
    client_->SharedPipelineAsync({{"EVAL", spin(60) + "return 1", "0"}},
                                 absl::Now() + absl::Seconds(3),
                                 [&](absl::StatusOr<std::vector<ReplyPtr>>) { ++busy_answered; });
  }
  absl::SleepFor(absl::Milliseconds(20));
  // Queued meanwhile, so sent together at 60 ms: a write that ends at about 180 ms, and a
  // read whose deadline is at about 90 ms. (A slow machine can only make them travel apart,
  // and the test pass without proving anything; it cannot make it fail.)
  absl::Notification write_answered, read_answered;
  absl::StatusOr<ItemReplies> write = absl::InternalError("no answer");
  client_->EvalEachAsync(slow_incr, {{"{s}n"}}, {{}}, {}, 1, absl::Now() + absl::Seconds(3),
                         [&](absl::StatusOr<ItemReplies> replies) {
                           write = std::move(replies);
                           write_answered.Notify();
                         });
  client_->SharedPipelineAsync(
      {{"GET", "{s}n"}}, absl::Now() + absl::Milliseconds(70),
      [&](absl::StatusOr<std::vector<ReplyPtr>>) { read_answered.Notify(); });
  ASSERT_TRUE(write_answered.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(read_answered.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(Int((*write)[0]), 2);
  EXPECT_TRUE(WaitFor([&] { return busy_answered.load() == 2; }, absl::Seconds(5)));
}

TEST_F(RedisTest, ScriptErrorIsAStatusAndWritesNothingAfterIt) {
  Script script("redis.call('SET', KEYS[1], 'x'); return redis.error_reply('NOPE bad')");
  auto r = client_->Eval(script, {"e"}, {});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("NOPE"), absl::string_view::npos);
}

TEST_F(RedisTest, ReconnectsByItselfAfterRedisRestarts) {
  ASSERT_TRUE(client_->Command({"SET", "before", "1"}).ok());
  server_->Kill();
  absl::Time start = absl::Now();
  auto down = client_->Command({"GET", "before"});
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_FALSE(client_->reachable());
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return client_->Command({"PING"}).ok(); }, absl::Seconds(5)));
  auto after = client_->Command({"GET", "before"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(StrCopy(after->get()), "1");  // the AOF kept it
  EXPECT_TRUE(client_->reachable());
}

TEST_F(RedisTest, ConnectionsARestartClosedAreNotHandedOutAgain) {
  // Four callers at once leave four idle connections in the pool.
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      EXPECT_TRUE(client_->Command({"BLPOP", absl::StrCat("nothing", i), "0.2"}).ok());
    });
  }
  for (auto& t : callers) t.join();
  ASSERT_TRUE(client_->Command({"SET", "kept", "1"}).ok());
  // Redis goes away and comes back between calls: the pooled connections are dead, and the
  // next callers must each get a live one, not an error.
  server_->Kill();
  ASSERT_TRUE(server_->Restart().ok());
  for (int i = 0; i < 6; ++i) {
    auto r = client_->Command({"GET", "kept"});
    ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status();
    EXPECT_EQ(StrCopy(r->get()), "1");
  }
  auto piped = client_->Pipeline({{"PING"}, {"GET", "kept"}});
  ASSERT_TRUE(piped.ok()) << piped.status();
  auto shared = client_->SharedPipeline({{"GET", "kept"}});
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_TRUE(client_->reachable());
}

TEST_F(RedisTest, PausedRedisGivesUnavailableWithinTheDeadlineAndRecovers) {
  ASSERT_TRUE(client_->Command({"PING"}).ok());
  server_->Pause();
  absl::Time start = absl::Now();
  auto r = client_->Command({"PING"}, absl::Now() + absl::Milliseconds(300));
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_LT(took, absl::Seconds(1));
  // Without a deadline the command timeout (500 ms) bounds the wait.
  start = absl::Now();
  EXPECT_FALSE(client_->Command({"PING"}).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  server_->Resume();
  EXPECT_TRUE(WaitFor([&] { return client_->Command({"PING"}).ok(); }, absl::Seconds(5)));
}

TEST_F(RedisTest, SharedPipelineCallersBehindAStuckRoundTripWaitOneCommandTimeoutAtMost) {
  ASSERT_TRUE(client_->SharedPipeline({{"PING"}}).ok());
  server_->Pause();
  // Callers arrive one after another while the first round trip hangs; each must fail within
  // about the command timeout (500 ms) of its own arrival, not wait for the round trip ahead
  // of it and then for one of its own.
  std::vector<std::thread> threads;
  std::atomic<int> slow{0}, succeeded{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      absl::SleepFor(absl::Milliseconds(60 * t));
      absl::Time start = absl::Now();
      auto r = client_->SharedPipeline({{"PING"}});
      if (r.ok()) ++succeeded;
      if (absl::Now() - start > absl::Milliseconds(750)) ++slow;
    });
  }
  for (auto& t : threads) t.join();
  server_->Resume();
  EXPECT_EQ(succeeded.load(), 0);
  EXPECT_EQ(slow.load(), 0);
  EXPECT_TRUE(WaitFor([&] { return client_->SharedPipeline({{"PING"}}).ok(); }, absl::Seconds(5)));
}

// A loop that is stopping wakes its blocked read instead of waiting out the block; the read
// ends empty, and the connection reads on as before.
TEST_F(RedisTest, AWakerEndsABlockedReadEarly) {
  const std::string stream = "stp:{p0}:events";
  ASSERT_TRUE(XAdd(*client_, stream, {{"e", "before"}}, 0).ok());
  auto conn = client_->OpenDedicated();
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_GE((*conn)->client_id(), 0);
  Waker waker;
  waker.Watch(**conn);
  const absl::Duration block = absl::Seconds(30);
  absl::Duration took;
  absl::StatusOr<std::vector<StreamBatch>> read;
  std::thread reader([&] {
    const absl::Time began = absl::Now();
    read = Read(**conn, {stream}, {"$"}, 10, block, absl::Seconds(1));
    took = absl::Now() - began;
  });
  // Woken once Redis has it blocked (CLIENT LIST shows the read), not before.
  EXPECT_TRUE(WaitFor([&] {
    auto list = client_->Command({"CLIENT", "LIST"});
    return list.ok() && Str(list->get()).find("cmd=xread") != std::string::npos;
  }));
  waker.Wake(*client_);
  reader.join();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
  EXPECT_LT(took, block / 2);
  ASSERT_TRUE(XAdd(*client_, stream, {{"e", "after"}}, 0).ok());
  auto next = Read(**conn, {stream}, {"0"}, 10, absl::ZeroDuration(), absl::Seconds(1));
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].entries.size(), 2u);
}

TEST_F(RedisTest, AWaitForAFreeConnectionCountsAgainstTheDeadline) {
  RedisOptions options;
  options.address = server_->address();
  options.pool_size = 1;
  options.command_timeout = absl::Seconds(5);
  RedisClient client(options);
  // The only connection is busy for a second.
  std::thread holder([&] { (void)client.Command({"BLPOP", "empty-a", "1"}); });
  absl::SleepFor(absl::Milliseconds(100));
  // A call with 1.5 s left that Redis would hold for 5 s: it ends at its deadline, not 1.5 s
  // after the connection became free (2.5 s).
  const absl::Time start = absl::Now();
  auto reply = client.Command({"BLPOP", "empty-b", "5"}, start + absl::Milliseconds(1500));
  const absl::Duration took = absl::Now() - start;
  holder.join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_LT(took, absl::Milliseconds(2100));
}

TEST_F(RedisTest, StreamsAddTrimReadAckAndReclaim) {
  const std::string stream = "stp:{p0}:events";
  for (int i = 0; i < 10; ++i) {
    auto id = XAdd(*client_, stream, {{"e", "payload" + std::to_string(i)}}, 0);
    ASSERT_TRUE(id.ok()) << id.status();
  }
  ASSERT_TRUE(EnsureGroup(*client_, stream, "g").ok());
  ASSERT_TRUE(EnsureGroup(*client_, stream, "g").ok());  // idempotent
  auto conn = client_->OpenDedicated();
  ASSERT_TRUE(conn.ok());
  auto batch =
      ReadGroup(**conn, "g", "c1", {stream}, {">"}, 4, absl::ZeroDuration(), absl::Seconds(1));
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 1u);
  ASSERT_EQ((*batch)[0].entries.size(), 4u);
  EXPECT_EQ(*(*batch)[0].entries[0].Field("e"), "payload0");
  // c1 acks two and "crashes" with two pending; c2 reclaims them after they idle.
  ASSERT_EQ(*Ack(*client_, stream, "g", {(*batch)[0].entries[0].id, (*batch)[0].entries[1].id}), 2);
  absl::SleepFor(absl::Milliseconds(60));
  auto claimed = AutoClaim(*client_, stream, "g", "c2", absl::Milliseconds(50), "0-0", 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->entries.size(), 2u);
  EXPECT_EQ(*claimed->entries[0].Field("e"), "payload2");
  // Blocking read returns when nothing arrives within the block time.
  auto empty = Read(**conn, {stream}, {"$"}, 10, absl::Milliseconds(50), absl::Seconds(1));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  auto info = Info(*client_, stream);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->length, 10);
  auto range = Range(*client_, stream, "(" + claimed->entries[1].id, "+", 100);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->size(), 6u);
  auto missing = Info(*client_, "nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->length, 0);
}

TEST_F(RedisTest, XAddTrimsApproximately) {
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(XAdd(*client_, "s", {{"f", "v"}}, 100).ok());
  auto info = Info(*client_, "s");
  ASSERT_TRUE(info.ok());
  EXPECT_LT(info->length, 400);
  EXPECT_GE(info->length, 100);
}

// Where a reader's cursor stands: the shared rule of the index feeds and Subscribe's cursors.
TEST_F(RedisTest, ACursorIsRetainedAheadOrTrimmed) {
  auto ends = StreamEnds(*client_, {"a", "missing"});
  ASSERT_TRUE(ends.ok()) << ends.status();
  EXPECT_EQ(*ends, (std::vector<std::string>{"0-0", "0-0"}));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(*XAdd(*client_, "a", {{"f", "v"}}, 0));
  ends = StreamEnds(*client_, {"a"});
  ASSERT_TRUE(ends.ok());
  EXPECT_EQ(ends->front(), ids.back());
  auto state = [&](const std::string& position) {
    auto s = CursorStateIn(*client_, "a", position);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(CursorState::kRetained);
  };
  EXPECT_EQ(state(ids[1]), CursorState::kRetained);
  EXPECT_EQ(state(ids.back()), CursorState::kRetained);
  EXPECT_EQ(state("99999999999999-0"), CursorState::kAhead);  // another deployment's cursor
  ASSERT_TRUE(client_->Command({"XTRIM", "a", "MAXLEN", "2"}).ok());
  EXPECT_EQ(state(ids[1]), CursorState::kTrimmed);  // ids[2] went unread
  // At the exact boundary nothing unread was lost, but the rule cannot tell: read again.
  EXPECT_EQ(state(ids[2]), CursorState::kTrimmed);
  EXPECT_EQ(state(ids[3]), CursorState::kRetained);
  EXPECT_EQ(CursorsRetained(*client_, {"a", "missing"}, {ids[3], "0-0"}).value_or(false), true);
  EXPECT_EQ(CursorsRetained(*client_, {"a", "missing"}, {ids[1], "0-0"}).value_or(true), false);
}

// A stand-in for a server on its last legs, on a loopback port: it accepts one connection and
// then either trickles its answer a byte at a time, or takes in what it is sent a little at a
// time. Each byte comes or goes well within a socket timeout; only the whole round trip is
// slow.
class SlowPeer {
 public:
  enum class Mode { kTrickleReply, kStallMidReply, kReadSlowly };

  explicit SlowPeer(Mode mode) : mode_(mode) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;  // inherited by the accepted socket: the sender's bytes back up soon
    setsockopt(listener_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listener_, 1);
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SlowPeer() {
    stop_ = true;
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  void Serve() {
    const int fd = accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    if (mode_ == Mode::kTrickleReply) {
      if (read(fd, buf, sizeof(buf)) > 0) {
        const std::string reply = absl::StrCat("$100\r\n", std::string(100, 'x'), "\r\n");
        for (size_t i = 0; i < reply.size() && !stop_; ++i) {
          if (send(fd, &reply[i], 1, MSG_NOSIGNAL) != 1) break;
          absl::SleepFor(absl::Milliseconds(25));
        }
      }
    } else if (mode_ == Mode::kStallMidReply) {
      // Part of the reply at 0.9 s, then nothing: the read that waits for the rest must not
      // be given a whole timeout of its own.
      if (read(fd, buf, sizeof(buf)) > 0) {
        absl::SleepFor(absl::Milliseconds(900));
        send(fd, "$100\r\nxxxxxxxxxx", 16, MSG_NOSIGNAL);
        while (!stop_ && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != 0) {
          absl::SleepFor(absl::Milliseconds(10));
        }
      }
    } else {
      // 4 KB every 10 ms until the peer goes away; then it would have answered +OK.
      while (!stop_) {
        const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) break;
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    close(fd);
  }

  Mode mode_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<Connection>> OpenTo(const SlowPeer& peer) {
  RedisOptions options;
  options.address = peer.address();
  return Connection::Open(options);
}

TEST(RedisConnectionTest, AReplyTrickledInBytesDoesNotStretchTheTimeout) {
  SlowPeer peer(SlowPeer::Mode::kTrickleReply);  // about 2.7 s for the whole reply
  auto conn = OpenTo(peer);
  ASSERT_TRUE(conn.ok()) << conn.status();
  const absl::Time start = absl::Now();
  auto reply = (*conn)->Command({"GET", "k"}, absl::Milliseconds(300));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_THAT(std::string(reply.status().message()), ::testing::HasSubstr("within the timeout"));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1200));
  EXPECT_TRUE((*conn)->broken());
}

TEST(RedisConnectionTest, AReplyThatStopsHalfwayEndsAtTheTimeout) {
  SlowPeer peer(SlowPeer::Mode::kStallMidReply);
  auto conn = OpenTo(peer);
  ASSERT_TRUE(conn.ok()) << conn.status();
  const absl::Time start = absl::Now();
  auto reply = (*conn)->Command({"GET", "k"}, absl::Seconds(1));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  // About 1 s; a read given the socket's whole timeout after the first part would end at 1.9 s.
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_TRUE((*conn)->broken());
}

TEST(RedisConnectionTest, AServerTakingItsBytesSlowlyDoesNotStretchTheTimeout) {
  SlowPeer peer(SlowPeer::Mode::kReadSlowly);  // about 400 KB/s
  auto conn = OpenTo(peer);
  ASSERT_TRUE(conn.ok()) << conn.status();
  // 32 MB: more than loopback's socket buffers take in at once, so the write must wait for
  // the peer; at its pace the whole would take more than a minute.
  const absl::Time start = absl::Now();
  auto replies = (*conn)->Pipeline({{"SET", "k", std::string(32 << 20, 'v')}, {"GET", "k"}},
                                   absl::Milliseconds(300));
  EXPECT_EQ(replies.status().code(), absl::StatusCode::kUnavailable) << replies.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_TRUE((*conn)->broken());
}

}  // namespace
}  // namespace stp::redis
