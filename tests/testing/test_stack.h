// A private Redis plus a process hosting the modules under test on a loopback port, reached
// through a real channel: the real server, adapters, stores and Redis, nothing mocked.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "libs/runtime/process.h"
#include "tests/testing/grpc_testing.h"
#include "tests/testing/redis_server.h"

namespace stp::testing {

class TestStack {
 public:
  // Starts Redis (unless `redis` is given) and a process hosting `modules`.
  // `module_flags` are parsed by the modules' own flags ("--webhook-max-attempts=3").
  static std::unique_ptr<TestStack> Start(std::vector<std::unique_ptr<Module>> modules,
                                          RedisServer* redis = nullptr,
                                          std::function<void(ProcessConfig*)> configure = nullptr,
                                          std::vector<std::string> module_flags = {}) {
    auto stack = std::unique_ptr<TestStack>(new TestStack());
    if (redis == nullptr) {
      auto server = RedisServer::Start();
      EXPECT_TRUE(server.ok()) << server.status();
      if (!server.ok()) return nullptr;
      stack->own_redis_ = std::move(*server);
      redis = stack->own_redis_.get();
    }
    stack->redis_ = redis;
    ProcessConfig config;
    config.server = TestServerOptions();
    config.redis.address = redis->address();
    config.redis.command_timeout = absl::Seconds(2);
    config.auth_disabled = true;
    if (configure) configure(&config);
    FlagSet flags("test");
    for (auto& m : modules) m->RegisterFlags(&flags);
    flags.set_env_lookup([](const char*) -> const char* { return nullptr; });
    absl::Status parsed = flags.Parse(module_flags);
    EXPECT_TRUE(parsed.ok()) << parsed;
    stack->process_ = std::make_unique<Process>("test", config);
    absl::Status started = stack->process_->Start(std::move(modules));
    EXPECT_TRUE(started.ok()) << started;
    if (!started.ok()) return nullptr;
    stack->channel_ = LocalChannel(stack->process_->port());
    return stack;
  }

  ~TestStack() {
    if (process_) process_->Shutdown();
  }

  Process& process() { return *process_; }
  RedisServer& redis() { return *redis_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  int port() const { return process_->port(); }

 private:
  TestStack() = default;
  std::unique_ptr<RedisServer> own_redis_;
  RedisServer* redis_ = nullptr;
  std::unique_ptr<Process> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace stp::testing
