#include "services/scoring/core/model_config.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/common/ids.h"
#include "libs/common/status.h"

namespace stp::scoring {
namespace {

using Json = nlohmann::json;
using stp::common::v1::IncomeGroup;
using stp::ingestion::v1::ProjectStage;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

std::string JoinPath(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// Reads typed values out of the parsed document, recording a field violation named by the
// key's dotted path for each one that is missing, mistyped or out of range. Reading goes on
// after a violation, so one error names every bad key.
class ConfigReader {
 public:
  explicit ConfigReader(FieldViolations* violations) : violations_(violations) {}

  // The object under `key`, or nullptr (recorded) when it is missing or not an object.
  const Json* Object(const Json& parent, absl::string_view path, const char* key) {
    const Json* value = Find(parent, path, key);
    if (value == nullptr) return nullptr;
    if (!value->is_object()) {
      violations_->Add(JoinPath(path, key), "must be an object");
      return nullptr;
    }
    return value;
  }

  const Json* Array(const Json& parent, absl::string_view path, const char* key) {
    const Json* value = Find(parent, path, key);
    if (value == nullptr) return nullptr;
    if (!value->is_array()) {
      violations_->Add(JoinPath(path, key), "must be an array");
      return nullptr;
    }
    return value;
  }

  // A finite number in [min, max]; 0 when it is not.
  double Number(const Json& parent, absl::string_view path, const char* key, double min,
                double max) {
    const Json* value = Find(parent, path, key);
    if (value == nullptr) return 0;
    if (!value->is_number() || !std::isfinite(value->get<double>())) {
      violations_->Add(JoinPath(path, key), "must be a number");
      return 0;
    }
    double number = value->get<double>();
    if (number < min || number > max) {
      violations_->Add(JoinPath(path, key), RangeDescription(min, max));
      return 0;
    }
    return number;
  }

  int Integer(const Json& parent, absl::string_view path, const char* key, int min, int max) {
    const Json* value = Find(parent, path, key);
    if (value == nullptr) return min;
    if (!value->is_number_integer()) {
      violations_->Add(JoinPath(path, key), "must be an integer");
      return min;
    }
    auto number = value->get<int64_t>();
    if (number < min || number > max) {
      violations_->Add(JoinPath(path, key), absl::StrCat("must be between ", min, " and ", max));
      return min;
    }
    return static_cast<int>(number);
  }

  std::string NonEmptyString(const Json& parent, absl::string_view path, const char* key) {
    const Json* value = Find(parent, path, key);
    if (value == nullptr) return "";
    if (!value->is_string() || value->get_ref<const std::string&>().empty()) {
      violations_->Add(JoinPath(path, key), "must be a non-empty string");
      return "";
    }
    return value->get<std::string>();
  }

  // Records every key of `object` that is not in `known`.
  void RejectUnknownKeys(const Json& object, absl::string_view path,
                         std::initializer_list<const char*> known) {
    for (const auto& item : object.items()) {
      bool is_known = std::any_of(known.begin(), known.end(),
                                  [&](const char* name) { return item.key() == name; });
      if (!is_known) violations_->Add(JoinPath(path, item.key()), "is not a known key");
    }
  }

  void Violation(std::string field, std::string description) {
    violations_->Add(std::move(field), std::move(description));
  }

 private:
  const Json* Find(const Json& parent, absl::string_view path, const char* key) {
    auto it = parent.find(key);
    if (it == parent.end()) {
      violations_->Add(JoinPath(path, key), "is required");
      return nullptr;
    }
    return &*it;
  }

  static std::string RangeDescription(double min, double max) {
    if (max == kInfinity) return absl::StrCat("must be at least ", min);
    return absl::StrCat("must be between ", min, " and ", max);
  }

  FieldViolations* violations_;
};

IncomeGroupFit ReadIncomeGroupFit(ConfigReader& reader, const Json& parent,
                                  absl::string_view parent_path, const char* key) {
  IncomeGroupFit fit;
  const Json* object = reader.Object(parent, parent_path, key);
  if (object == nullptr) return fit;
  std::string path = JoinPath(parent_path, key);
  fit.low = reader.Number(*object, path, "low", 0, 1);
  fit.lower_middle = reader.Number(*object, path, "lower_middle", 0, 1);
  fit.upper_middle = reader.Number(*object, path, "upper_middle", 0, 1);
  fit.high = reader.Number(*object, path, "high", 0, 1);
  reader.RejectUnknownKeys(*object, path, {"low", "lower_middle", "upper_middle", "high"});
  return fit;
}

IndicatorScale ReadIndicatorScale(ConfigReader& reader, const Json& object,
                                  const std::string& path) {
  IndicatorScale scale;
  if (!object.is_object()) {
    reader.Violation(path, "must be an object");
    return scale;
  }
  scale.name = reader.NonEmptyString(object, path, "name");
  scale.poor = reader.Number(object, path, "poor", -kInfinity, kInfinity);
  scale.good = reader.Number(object, path, "good", -kInfinity, kInfinity);
  std::string kind = reader.NonEmptyString(object, path, "scale");
  if (kind == "log") {
    scale.logarithmic = true;
  } else if (kind != "linear" && !kind.empty()) {
    reader.Violation(JoinPath(path, "scale"), "must be \"linear\" or \"log\"");
  }
  if (scale.poor == scale.good) {
    reader.Violation(JoinPath(path, "good"), "must differ from \"poor\"");
  }
  if (scale.logarithmic && (scale.poor <= 0 || scale.good <= 0)) {
    reader.Violation(JoinPath(path, "poor"), "a log scale needs \"poor\" and \"good\" above 0");
  }
  reader.RejectUnknownKeys(object, path, {"name", "poor", "good", "scale"});
  return scale;
}

// Reads an object of non-negative shares and checks that they do not all vanish.
void ReadParts(ConfigReader& reader, const Json& parent, absl::string_view parent_path,
               std::initializer_list<std::pair<const char*, double*>> parts) {
  const Json* object = reader.Object(parent, parent_path, "parts");
  if (object == nullptr) return;
  std::string path = JoinPath(parent_path, "parts");
  double sum = 0;
  for (const auto& [name, out] : parts) {
    *out = reader.Number(*object, path, name, 0, kInfinity);
    sum += *out;
  }
  if (sum <= 0) reader.Violation(path, "at least one part must have a share above 0");
  for (const auto& item : object->items()) {
    bool is_known = std::any_of(parts.begin(), parts.end(),
                                [&](const auto& part) { return item.key() == part.first; });
    if (!is_known) reader.Violation(JoinPath(path, item.key()), "is not a known key");
  }
  // Normalise so that formulas can use the shares directly.
  if (sum > 0) {
    for (const auto& part : parts) *part.second /= sum;
  }
}

void ReadAbsorptiveFit(ConfigReader& reader, const Json& root, AbsorptiveFitConfig& out) {
  constexpr char kPath[] = "absorptive_fit";
  const Json* object = reader.Object(root, "", kPath);
  if (object == nullptr) return;
  out.weight = reader.Number(*object, kPath, "weight", 0, kInfinity);
  std::string gap_path = JoinPath(kPath, "value_by_gap");
  if (const Json* gaps = reader.Object(*object, kPath, "value_by_gap")) {
    for (int gap = -3; gap <= 3; ++gap) {
      std::string key = absl::StrCat(gap);
      out.value_by_gap[static_cast<size_t>(gap + 3)] =
          reader.Number(*gaps, gap_path, key.c_str(), 0, 100);
    }
    reader.RejectUnknownKeys(*gaps, gap_path, {"-3", "-2", "-1", "0", "1", "2", "3"});
  }
  out.bridge_min_gap = reader.Integer(*object, kPath, "bridge_min_gap", 2, 3);
  out.bridge_restores = reader.Number(*object, kPath, "bridge_restores", 0, 1);
  reader.RejectUnknownKeys(*object, kPath,
                           {"weight", "value_by_gap", "bridge_min_gap", "bridge_restores"});
}

void ReadComparativeAdvantage(ConfigReader& reader, const Json& root,
                              ComparativeAdvantageConfig& out) {
  constexpr char kPath[] = "comparative_advantage";
  const Json* object = reader.Object(root, "", kPath);
  if (object == nullptr) return;
  out.weight = reader.Number(*object, kPath, "weight", 0, kInfinity);
  out.indicator_share = reader.Number(*object, kPath, "indicator_share", 0, 1);
  std::string avenues_path = JoinPath(kPath, "avenues");
  if (const Json* avenues = reader.Object(*object, kPath, "avenues")) {
    constexpr std::pair<const char*, stp::common::v1::Avenue> kAvenueKeys[] = {
        {"e_commerce", stp::common::v1::AVENUE_E_COMMERCE},
        {"e_manufacturing", stp::common::v1::AVENUE_E_MANUFACTURING},
        {"public_health", stp::common::v1::AVENUE_PUBLIC_HEALTH},
        {"green_growth", stp::common::v1::AVENUE_GREEN_GROWTH},
        {"agriculture", stp::common::v1::AVENUE_AGRICULTURE},
    };
    for (const auto& [key, avenue] : kAvenueKeys) {
      const Json* fit = reader.Object(*avenues, avenues_path, key);
      if (fit == nullptr) continue;
      std::string fit_path = JoinPath(avenues_path, key);
      AvenueFitConfig& config = out.avenues[static_cast<size_t>(avenue)];
      config.income_fit = ReadIncomeGroupFit(reader, *fit, fit_path, "income_fit");
      if (const Json* indicators = reader.Array(*fit, fit_path, "indicators")) {
        for (size_t i = 0; i < indicators->size(); ++i) {
          config.indicators.push_back(ReadIndicatorScale(
              reader, (*indicators)[i], absl::StrCat(fit_path, ".indicators[", i, "]")));
        }
      }
      reader.RejectUnknownKeys(*fit, fit_path, {"income_fit", "indicators"});
    }
    reader.RejectUnknownKeys(
        *avenues, avenues_path,
        {"e_commerce", "e_manufacturing", "public_health", "green_growth", "agriculture"});
  }
  reader.RejectUnknownKeys(*object, kPath, {"weight", "indicator_share", "avenues"});
}

void ReadPartnershipStructure(ConfigReader& reader, const Json& root,
                              PartnershipStructureConfig& out) {
  constexpr char kPath[] = "partnership_structure";
  const Json* object = reader.Object(root, "", kPath);
  if (object == nullptr) return;
  out.weight = reader.Number(*object, kPath, "weight", 0, kInfinity);
  ReadParts(reader, *object, kPath,
            {{"triangular_partner", &out.triangular_partner},
             {"dfi_cofinancier", &out.dfi_cofinancier},
             {"host_government", &out.host_government},
             {"iasp_member", &out.iasp_member}});
  out.declared_triangular_credit =
      reader.Number(*object, kPath, "declared_triangular_credit", 0, 1);
  out.iasp_non_operator_credit = reader.Number(*object, kPath, "iasp_non_operator_credit", 0, 1);
  reader.RejectUnknownKeys(
      *object, kPath,
      {"weight", "parts", "declared_triangular_credit", "iasp_non_operator_credit"});
}

void ReadFinancingHealth(ConfigReader& reader, const Json& root, FinancingHealthConfig& out) {
  constexpr char kPath[] = "financing_health";
  const Json* object = reader.Object(root, "", kPath);
  if (object == nullptr) return;
  out.weight = reader.Number(*object, kPath, "weight", 0, kInfinity);
  ReadParts(reader, *object, kPath,
            {{"commitment_coverage", &out.commitment_coverage},
             {"disbursement", &out.disbursement},
             {"sources", &out.sources}});
  out.sources_for_full_credit = reader.Integer(*object, kPath, "sources_for_full_credit", 1, 100);
  out.coverage_without_budget = reader.Number(*object, kPath, "coverage_without_budget", 0, 1);
  reader.RejectUnknownKeys(
      *object, kPath, {"weight", "parts", "sources_for_full_credit", "coverage_without_budget"});
}

void ReadExecution(ConfigReader& reader, const Json& root, ExecutionConfig& out) {
  constexpr char kPath[] = "execution";
  const Json* object = reader.Object(root, "", kPath);
  if (object == nullptr) return;
  out.weight = reader.Number(*object, kPath, "weight", 0, kInfinity);
  ReadParts(reader, *object, kPath,
            {{"milestones", &out.milestones}, {"results", &out.results}, {"stage", &out.stage}});
  out.late_milestone_credit = reader.Number(*object, kPath, "late_milestone_credit", 0, 1);
  std::string stage_path = JoinPath(kPath, "stage_progress");
  if (const Json* stages = reader.Object(*object, kPath, "stage_progress")) {
    constexpr std::pair<const char*, ProjectStage> kStageKeys[] = {
        {"unspecified", stp::ingestion::v1::PROJECT_STAGE_UNSPECIFIED},
        {"proposed", stp::ingestion::v1::PROJECT_STAGE_PROPOSED},
        {"approved", stp::ingestion::v1::PROJECT_STAGE_APPROVED},
        {"financed", stp::ingestion::v1::PROJECT_STAGE_FINANCED},
        {"implementation", stp::ingestion::v1::PROJECT_STAGE_IMPLEMENTATION},
        {"completed", stp::ingestion::v1::PROJECT_STAGE_COMPLETED},
        {"suspended", stp::ingestion::v1::PROJECT_STAGE_SUSPENDED},
        {"cancelled", stp::ingestion::v1::PROJECT_STAGE_CANCELLED},
    };
    for (const auto& [key, stage] : kStageKeys) {
      out.stage_progress[static_cast<size_t>(stage)] =
          reader.Number(*stages, stage_path, key, 0, 1);
    }
    reader.RejectUnknownKeys(*stages, stage_path,
                             {"unspecified", "proposed", "approved", "financed", "implementation",
                              "completed", "suspended", "cancelled"});
  }
  std::string multiplier_path = JoinPath(kPath, "stage_multiplier");
  if (const Json* multipliers = reader.Object(*object, kPath, "stage_multiplier")) {
    out.suspended_multiplier = reader.Number(*multipliers, multiplier_path, "suspended", 0, 1);
    out.cancelled_multiplier = reader.Number(*multipliers, multiplier_path, "cancelled", 0, 1);
    reader.RejectUnknownKeys(*multipliers, multiplier_path, {"suspended", "cancelled"});
  }
  reader.RejectUnknownKeys(
      *object, kPath,
      {"weight", "parts", "late_milestone_credit", "stage_progress", "stage_multiplier"});
}

void ReadDigitalReadiness(ConfigReader& reader, const Json& root, DigitalReadinessConfig& out) {
  constexpr char kPath[] = "digital_readiness";
  const Json* object = reader.Object(root, "", kPath);
  if (object == nullptr) return;
  out.weight = reader.Number(*object, kPath, "weight", 0, kInfinity);
  out.indicator_share = reader.Number(*object, kPath, "indicator_share", 0, 1);
  out.income_fit = ReadIncomeGroupFit(reader, *object, kPath, "income_fit");
  if (const Json* indicator = reader.Object(*object, kPath, "indicator")) {
    out.indicator = ReadIndicatorScale(reader, *indicator, JoinPath(kPath, "indicator"));
  }
  reader.RejectUnknownKeys(*object, kPath,
                           {"weight", "indicator_share", "income_fit", "indicator"});
}

}  // namespace

double IncomeGroupFit::For(stp::common::v1::IncomeGroup group) const {
  switch (group) {
    case stp::common::v1::INCOME_GROUP_LOW:
      return low;
    case stp::common::v1::INCOME_GROUP_LOWER_MIDDLE:
      return lower_middle;
    case stp::common::v1::INCOME_GROUP_UPPER_MIDDLE:
      return upper_middle;
    case stp::common::v1::INCOME_GROUP_HIGH:
      return high;
    default:
      return 0;
  }
}

double IndicatorScale::Suitability(double value) const {
  double position;
  if (logarithmic) {
    // Values at or below zero have no logarithm; they sit at the bottom of the scale.
    if (value <= 0) return good > poor ? 0.0 : 1.0;
    position = (std::log(value) - std::log(poor)) / (std::log(good) - std::log(poor));
  } else {
    position = (value - poor) / (good - poor);
  }
  return std::clamp(position, 0.0, 1.0);
}

double ExecutionConfig::StageProgress(ProjectStage stage) const {
  auto index = static_cast<size_t>(stage);
  return index < stage_progress.size() ? stage_progress[index] : stage_progress[0];
}

double ExecutionConfig::StageMultiplier(ProjectStage stage) const {
  if (stage == stp::ingestion::v1::PROJECT_STAGE_SUSPENDED) return suspended_multiplier;
  if (stage == stp::ingestion::v1::PROJECT_STAGE_CANCELLED) return cancelled_multiplier;
  return 1;
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json) {
  Json root;
  try {
    root = Json::parse(json.begin(), json.end());
  } catch (const Json::parse_error& error) {
    // The parser's message gives the byte offset of the problem.
    return InvalidField("", absl::StrCat("the model config is not valid JSON: ", error.what()));
  }
  if (!root.is_object()) return InvalidField("", "the model config must be a JSON object");

  FieldViolations violations;
  ConfigReader reader(&violations);
  ModelConfig config;
  // A stable hash of the canonical text (keys sorted, numbers in one form) and the revision of
  // the code that applies it: the same on every replica and build. Raise kComputeRevision with
  // every change to how a config is turned into scores, so that replicas running a custom
  // config rescore after such an upgrade too.
  constexpr absl::string_view kComputeRevision = "2026.3";
  config.fingerprint =
      absl::StrFormat("%016x", StableHash(absl::StrCat(kComputeRevision, "\n", root.dump())));
  config.version = reader.NonEmptyString(root, "", "version");
  config.base_rate = reader.Number(root, "", "base_rate", 0, 1);
  config.neutral_value = reader.Number(root, "", "neutral_value", 0, 100);
  if (const Json* tiers = reader.Object(root, "", "tiers")) {
    config.tier_a_min = reader.Number(*tiers, "tiers", "a_min", 0, 100);
    config.tier_b_min = reader.Number(*tiers, "tiers", "b_min", 0, 100);
    config.tier_c_min = reader.Number(*tiers, "tiers", "c_min", 0, 100);
    if (config.tier_b_min > config.tier_a_min) {
      violations.Add("tiers.b_min", "must not be above tiers.a_min");
    }
    if (config.tier_c_min > config.tier_b_min) {
      violations.Add("tiers.c_min", "must not be above tiers.b_min");
    }
    reader.RejectUnknownKeys(*tiers, "tiers", {"a_min", "b_min", "c_min"});
  }
  ReadAbsorptiveFit(reader, root, config.absorptive_fit);
  ReadComparativeAdvantage(reader, root, config.comparative_advantage);
  ReadPartnershipStructure(reader, root, config.partnership_structure);
  ReadFinancingHealth(reader, root, config.financing_health);
  ReadExecution(reader, root, config.execution);
  ReadDigitalReadiness(reader, root, config.digital_readiness);
  reader.RejectUnknownKeys(
      root, "",
      {"version", "base_rate", "neutral_value", "tiers", "absorptive_fit", "comparative_advantage",
       "partnership_structure", "financing_health", "execution", "digital_readiness"});

  // Digital readiness applies to some projects only; the others must always carry weight so
  // that every project's total is defined.
  if (violations.empty() && config.absorptive_fit.weight + config.comparative_advantage.weight +
                                    config.partnership_structure.weight +
                                    config.financing_health.weight + config.execution.weight <=
                                0) {
    violations.Add("absorptive_fit.weight",
                   "the weights of the components that always apply must not all be 0");
  }
  STP_RETURN_IF_ERROR(violations.ToStatus("the model config has invalid keys"));
  return config;
}

}  // namespace stp::scoring
