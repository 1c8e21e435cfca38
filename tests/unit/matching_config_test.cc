#include "services/matching/core/matching_config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/common/status.h"

namespace stp::matching {
namespace {

using stp::matching::v1::Criterion;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const auto& v : GetFieldViolations(status)) fields.push_back(v.field);
  return fields;
}

TEST(MatchingConfigTest, DefaultIsTheShippedModel) {
  const MatchingConfig& config = MatchingConfig::Default();
  EXPECT_FALSE(config.version.empty());
  EXPECT_DOUBLE_EQ(config.base_rate, 0.25);
  EXPECT_DOUBLE_EQ(config.weight(v1::CRITERION_CAPABILITY_OVERLAP), 0.25);
  EXPECT_DOUBLE_EQ(config.weight(v1::CRITERION_UNSPECIFIED), 0);
  for (int c = v1::CRITERION_CAPABILITY_OVERLAP; c <= v1::CRITERION_LANGUAGE; ++c) {
    EXPECT_GT(config.weight(static_cast<Criterion>(c)), 0) << v1::Criterion_Name(c);
  }
  // One income step above the host is the best gap, as in scoring's absorptive fit.
  const auto& gap = config.development_gap_fit;
  EXPECT_EQ(*std::max_element(gap.begin(), gap.end()), gap[3 + 1]);
  EXPECT_GT(gap[3 + 0], gap[3 + 3]);
  EXPECT_GE(config.candidates_per_role, 1);
  EXPECT_GE(config.beam_width, 1);
}

TEST(MatchingConfigTest, PresentKeysReplaceTheDefault) {
  auto config = MatchingConfig::FromJson(
      R"({"weights": {"language": 0.5}, "consortium": {"beam_width": 7}})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->weight(v1::CRITERION_LANGUAGE), 0.5);
  EXPECT_EQ(config->beam_width, 7);
  // Everything else stays as shipped.
  EXPECT_DOUBLE_EQ(config->weight(v1::CRITERION_ROLE_FIT),
                   MatchingConfig::Default().weight(v1::CRITERION_ROLE_FIT));
  EXPECT_EQ(config->candidates_per_role, MatchingConfig::Default().candidates_per_role);
}

TEST(MatchingConfigTest, ErrorsNameEveryBadKey) {
  auto config = MatchingConfig::FromJson(R"({
    "weights": {"langauge": 1},
    "track_record": {"base_rate": "a quarter"},
    "consortium": {"beam_width": 0, "candidates_per_role": 2.5},
    "development_gap": {"fit_by_steps": {"4": 1, "1": 1.5}},
    "colour": "blue"
  })");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      ViolatedFields(config.status()),
      UnorderedElementsAre("weights.langauge", "track_record.base_rate", "consortium.beam_width",
                           "consortium.candidates_per_role", "development_gap.fit_by_steps.4",
                           "development_gap.fit_by_steps.1", "colour"));
}

TEST(MatchingConfigTest, RejectsAllZeroWeights) {
  auto config = MatchingConfig::FromJson(R"({"weights": {
      "capability_overlap": 0, "role_fit": 0, "track_record": 0, "host_experience": 0,
      "development_gap_fit": 0, "financing_capacity": 0, "current_load": 0, "language": 0}})");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(config.status()), ElementsAre("weights"));
}

TEST(MatchingConfigTest, RejectsMalformedDocuments) {
  EXPECT_EQ(MatchingConfig::FromJson("{ not json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MatchingConfig::FromJson("[1, 2]").status().code(), absl::StatusCode::kInvalidArgument);
  auto section = MatchingConfig::FromJson(R"({"weights": 3})");
  EXPECT_THAT(ViolatedFields(section.status()), ElementsAre("weights"));
}

}  // namespace
}  // namespace stp::matching
