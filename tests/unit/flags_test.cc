#include "libs/common/flags.h"

#include <gtest/gtest.h>

#include <map>

namespace stp {
namespace {

class FlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    flags_.String("redis-address", &address_, "where Redis is");
    flags_.Int("workers", &workers_, "threads");
    flags_.Bool("plaintext", &plaintext_, "no TLS");
    flags_.Duration("timeout", &timeout_, "a timeout");
    flags_.Double("ratio", &ratio_, "a ratio");
    flags_.set_env_lookup([this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    });
  }
  FlagSet flags_{"prog", "a program"};
  std::map<std::string, std::string> env_;
  std::string address_ = "127.0.0.1:6379";
  int workers_ = 4;
  bool plaintext_ = false;
  absl::Duration timeout_ = absl::Seconds(1);
  double ratio_ = 0.5;
};

TEST_F(FlagsTest, DefaultsStayWhenNothingIsGiven) {
  ASSERT_TRUE(flags_.Parse(std::vector<std::string>{}).ok());
  EXPECT_EQ(address_, "127.0.0.1:6379");
  EXPECT_EQ(workers_, 4);
}

TEST_F(FlagsTest, EnvironmentIsTheFallbackAndFlagsWin) {
  env_["STP_REDIS_ADDRESS"] = "redis:6379";
  env_["STP_WORKERS"] = "16";
  ASSERT_TRUE(flags_.Parse(std::vector<std::string>{"--workers=2"}).ok());
  EXPECT_EQ(address_, "redis:6379");
  EXPECT_EQ(workers_, 2);
}

TEST_F(FlagsTest, ParsesEveryKindAndForm) {
  ASSERT_TRUE(flags_
                  .Parse(std::vector<std::string>{"--redis-address", "h:1", "--plaintext",
                                                  "--timeout=250ms", "--ratio=0.25"})
                  .ok());
  EXPECT_EQ(address_, "h:1");
  EXPECT_TRUE(plaintext_);
  EXPECT_EQ(timeout_, absl::Milliseconds(250));
  EXPECT_DOUBLE_EQ(ratio_, 0.25);
  ASSERT_TRUE(flags_.Parse(std::vector<std::string>{"--no-plaintext"}).ok());
  EXPECT_FALSE(plaintext_);
}

TEST_F(FlagsTest, BadInputIsAClearError) {
  auto s = flags_.Parse(std::vector<std::string>{"--workers=many"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("workers"), absl::string_view::npos);
  EXPECT_FALSE(flags_.Parse(std::vector<std::string>{"--unknown=1"}).ok());
  EXPECT_FALSE(flags_.Parse(std::vector<std::string>{"--timeout"}).ok());
  EXPECT_FALSE(flags_.Parse(std::vector<std::string>{"stray"}).ok());
  env_["STP_TIMEOUT"] = "soon";
  auto e = flags_.Parse(std::vector<std::string>{});
  EXPECT_NE(e.message().find("STP_TIMEOUT"), absl::string_view::npos);
}

TEST_F(FlagsTest, PositionalArgumentsAndHelp) {
  std::vector<std::string> rest;
  ASSERT_TRUE(
      flags_.Parse(std::vector<std::string>{"import", "--workers=3", "file.xml", "--help"}, &rest)
          .ok());
  EXPECT_EQ(rest, (std::vector<std::string>{"import", "file.xml"}));
  EXPECT_TRUE(flags_.help_requested());
  std::string usage = flags_.Usage();
  EXPECT_NE(usage.find("--redis-address"), std::string::npos);
  EXPECT_NE(usage.find("STP_REDIS_ADDRESS"), std::string::npos);
}

}  // namespace
}  // namespace stp
