// ScoringModel::FromJson: the default config parses, and every kind of bad config is rejected
// with INVALID_ARGUMENT naming the offending key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libs/common/status.h"
#include "services/scoring/core/scoring_model.h"

namespace stp::scoring {
namespace {

using Json = nlohmann::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

Json DefaultConfig() { return Json::parse(ScoringModel::DefaultJson()); }

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const auto& violation : GetFieldViolations(status)) fields.push_back(violation.field);
  return fields;
}

std::string ViolationDescription(const absl::Status& status, const std::string& field) {
  for (const auto& violation : GetFieldViolations(status)) {
    if (violation.field == field) return violation.description;
  }
  return "";
}

absl::Status ParseError(const Json& config) {
  return ScoringModel::FromJson(config.dump()).status();
}

TEST(ScoringConfigTest, DefaultConfigParsesAndRoundTripsThroughFromJson) {
  absl::StatusOr<ScoringModel> model = ScoringModel::FromJson(ScoringModel::DefaultJson());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->Describe().SerializeAsString(),
            ScoringModel::Default().Describe().SerializeAsString());
}

// The fingerprint names the content: the same config laid out otherwise keeps it, a changed
// value (under the same version) changes it.
TEST(ScoringConfigTest, FingerprintFollowsContentNotLayout) {
  const std::string fingerprint = ScoringModel::Default().config().fingerprint;
  EXPECT_EQ(fingerprint.size(), 16u);
  auto compact = ScoringModel::FromJson(DefaultConfig().dump());
  ASSERT_TRUE(compact.ok());
  EXPECT_EQ(compact->config().fingerprint, fingerprint);
  Json changed = DefaultConfig();
  changed["absorptive_fit"]["bridge_restores"] = 0.5;
  auto other = ScoringModel::FromJson(changed.dump(2));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->version(), ScoringModel::Default().version());
  EXPECT_NE(other->config().fingerprint, fingerprint);
}

TEST(ScoringConfigTest, SubWeightsAreNormalised) {
  Json config = DefaultConfig();
  config["financing_health"]["parts"] = {
      {"commitment_coverage", 9}, {"disbursement", 7}, {"sources", 4}};
  absl::StatusOr<ScoringModel> model = ScoringModel::FromJson(config.dump());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_DOUBLE_EQ(model->config().financing_health.commitment_coverage, 0.45);
  EXPECT_DOUBLE_EQ(model->config().financing_health.disbursement, 0.35);
  EXPECT_DOUBLE_EQ(model->config().financing_health.sources, 0.20);
}

TEST(ScoringConfigTest, NotJsonIsInvalidArgument) {
  absl::Status status = ScoringModel::FromJson("{\"version\": ").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not valid JSON"));
  EXPECT_EQ(ScoringModel::FromJson("[1, 2]").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ScoringConfigTest, MissingKeyIsNamed) {
  Json config = DefaultConfig();
  config["financing_health"]["parts"].erase("sources");
  absl::Status status = ParseError(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(status), ElementsAre("financing_health.parts.sources"));
  EXPECT_EQ(ViolationDescription(status, "financing_health.parts.sources"), "is required");
  EXPECT_THAT(std::string(status.message()), HasSubstr("financing_health.parts.sources"));
}

TEST(ScoringConfigTest, MissingSectionIsNamed) {
  Json config = DefaultConfig();
  config.erase("execution");
  EXPECT_THAT(ViolatedFields(ParseError(config)), ElementsAre("execution"));
}

TEST(ScoringConfigTest, WrongTypeIsNamed) {
  Json config = DefaultConfig();
  config["absorptive_fit"]["weight"] = "0.2";
  config["tiers"] = 75;
  absl::Status status = ParseError(config);
  EXPECT_THAT(ViolatedFields(status), UnorderedElementsAre("absorptive_fit.weight", "tiers"));
  EXPECT_EQ(ViolationDescription(status, "absorptive_fit.weight"), "must be a number");
  EXPECT_EQ(ViolationDescription(status, "tiers"), "must be an object");
}

TEST(ScoringConfigTest, OutOfRangeValuesAreNamed) {
  Json config = DefaultConfig();
  config["absorptive_fit"]["bridge_restores"] = 1.5;
  config["absorptive_fit"]["value_by_gap"]["-2"] = 120;
  config["execution"]["weight"] = -0.1;
  config["financing_health"]["sources_for_full_credit"] = 0;
  config["comparative_advantage"]["avenues"]["agriculture"]["income_fit"]["low"] = 2;
  EXPECT_THAT(
      ViolatedFields(ParseError(config)),
      UnorderedElementsAre("absorptive_fit.bridge_restores", "absorptive_fit.value_by_gap.-2",
                           "execution.weight", "financing_health.sources_for_full_credit",
                           "comparative_advantage.avenues.agriculture.income_fit.low"));
}

TEST(ScoringConfigTest, UnknownKeysAreRejectedSoTyposCannotFallBackToDefaults) {
  Json config = DefaultConfig();
  config["executon"] = config["execution"];
  config["partnership_structure"]["parts"]["iasp"] = 0.1;
  absl::Status status = ParseError(config);
  EXPECT_THAT(ViolatedFields(status),
              UnorderedElementsAre("executon", "partnership_structure.parts.iasp"));
  EXPECT_EQ(ViolationDescription(status, "executon"), "is not a known key");
}

TEST(ScoringConfigTest, TiersMustBeOrdered) {
  Json config = DefaultConfig();
  config["tiers"]["b_min"] = 80;
  EXPECT_THAT(ViolatedFields(ParseError(config)), ElementsAre("tiers.b_min"));
  config = DefaultConfig();
  config["tiers"]["c_min"] = 60;
  EXPECT_THAT(ViolatedFields(ParseError(config)), ElementsAre("tiers.c_min"));
}

TEST(ScoringConfigTest, IndicatorScalesAreChecked) {
  Json config = DefaultConfig();
  auto& indicators = config["comparative_advantage"]["avenues"]["public_health"]["indicators"];
  indicators[0]["poor"] = 0;  // a log scale cannot start at 0
  indicators[1]["scale"] = "cubic";
  config["digital_readiness"]["indicator"]["good"] = 10;  // equal to "poor"
  config["comparative_advantage"]["avenues"]["e_commerce"]["indicators"][0].erase("name");
  EXPECT_THAT(
      ViolatedFields(ParseError(config)),
      UnorderedElementsAre("comparative_advantage.avenues.public_health.indicators[0].poor",
                           "comparative_advantage.avenues.public_health.indicators[1].scale",
                           "digital_readiness.indicator.good",
                           "comparative_advantage.avenues.e_commerce.indicators[0].name"));
}

TEST(ScoringConfigTest, EmptyVersionAndZeroPartsAreRejected) {
  Json config = DefaultConfig();
  config["version"] = "";
  config["execution"]["parts"] = {{"milestones", 0}, {"results", 0}, {"stage", 0}};
  EXPECT_THAT(ViolatedFields(ParseError(config)),
              UnorderedElementsAre("version", "execution.parts"));
}

TEST(ScoringConfigTest, AlwaysApplicableWeightsMustNotAllBeZero) {
  Json config = DefaultConfig();
  for (const char* component : {"absorptive_fit", "comparative_advantage", "partnership_structure",
                                "financing_health", "execution"}) {
    config[component]["weight"] = 0;
  }
  EXPECT_THAT(ViolatedFields(ParseError(config)), ElementsAre("absorptive_fit.weight"));
}

// The config is what the model computes with: a model weighing only execution scores every
// project at its execution value.
TEST(ScoringConfigTest, WeightsAndVersionComeFromTheConfig) {
  Json config = DefaultConfig();
  config["version"] = "test.7";
  for (const char* component : {"absorptive_fit", "comparative_advantage", "partnership_structure",
                                "financing_health", "digital_readiness"}) {
    config[component]["weight"] = 0;
  }
  config["tiers"] = {{"a_min", 90}, {"b_min", 60}, {"c_min", 20}};
  absl::StatusOr<ScoringModel> model = ScoringModel::FromJson(config.dump());
  ASSERT_TRUE(model.ok()) << model.status();

  stp::ingestion::v1::Project project;
  project.set_host_country("countries/EG");
  project.add_avenues(stp::common::v1::AVENUE_E_COMMERCE);
  project.set_stage(stp::ingestion::v1::PROJECT_STAGE_COMPLETED);
  stp::scoring::v1::Score score = model->Compute(project, ScoringContext{});
  EXPECT_EQ(score.model_version(), "test.7");
  // 0.4 × 0.5 + 0.3 × 0.5 + 0.3 × 1 (completed) = 0.65.
  EXPECT_NEAR(score.total(), 65, 1e-9);
  EXPECT_EQ(score.tier(), stp::scoring::v1::TIER_B);
  EXPECT_EQ(model->TierFor(89.9), stp::scoring::v1::TIER_B);
  EXPECT_EQ(model->TierFor(19.9), stp::scoring::v1::TIER_D);
}

}  // namespace
}  // namespace stp::scoring
