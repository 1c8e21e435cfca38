#include "services/matching/core/matching_config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/status.h"
#include "nlohmann/json.hpp"
#include "services/matching/core/default_matching_json.h"

namespace stp::matching {
namespace {

using Json = nlohmann::json;
using stp::matching::v1::Criterion;

std::string KeyPath(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// Reads one configuration document into a MatchingConfig, collecting every problem. With
// `require_all_keys` every key must be present (the embedded default, which is the source of
// truth for every number); otherwise absent keys keep the base's values.
class ConfigReader {
 public:
  explicit ConfigReader(bool require_all_keys) : require_all_keys_(require_all_keys) {}

  // The object at `key` of `parent`, or nullptr when it is absent (and allowed to be) or not
  // an object (reported). Unknown keys of the object are reported against `allowed`.
  const Json* Section(const Json& parent, absl::string_view parent_path, absl::string_view key,
                      std::initializer_list<absl::string_view> allowed) {
    const std::string path = KeyPath(parent_path, key);
    const Json* section = Find(parent, path, key);
    if (section == nullptr) return nullptr;
    if (!section->is_object()) {
      violations_.Add(path, "must be a JSON object");
      return nullptr;
    }
    CheckKeys(*section, path, allowed);
    return section;
  }

  void CheckKeys(const Json& object, absl::string_view path,
                 std::initializer_list<absl::string_view> allowed) {
    for (const auto& [name, unused] : object.items()) {
      bool known = false;
      for (absl::string_view a : allowed) known = known || a == name;
      if (!known) {
        violations_.Add(KeyPath(path, name), absl::StrCat("unknown key; expected one of: ",
                                                          absl::StrJoin(allowed, ", ")));
      }
    }
  }

  void Number(const Json* parent, absl::string_view parent_path, absl::string_view key, double min,
              double max, double* out) {
    if (parent == nullptr) return;
    const std::string path = KeyPath(parent_path, key);
    const Json* value = Find(*parent, path, key);
    if (value == nullptr) return;
    if (!value->is_number()) {
      violations_.Add(path, "must be a number");
      return;
    }
    const double number = value->get<double>();
    if (!std::isfinite(number) || number < min || number > max) {
      violations_.Add(path, absl::StrCat("must be between ", min, " and ", max));
      return;
    }
    *out = number;
  }

  void Integer(const Json* parent, absl::string_view parent_path, absl::string_view key, int min,
               int max, int* out) {
    if (parent == nullptr) return;
    const std::string path = KeyPath(parent_path, key);
    const Json* value = Find(*parent, path, key);
    if (value == nullptr) return;
    if (!value->is_number_integer()) {
      violations_.Add(path, "must be an integer");
      return;
    }
    const int64_t number = value->get<int64_t>();
    if (number < min || number > max) {
      violations_.Add(path, absl::StrCat("must be between ", min, " and ", max));
      return;
    }
    *out = static_cast<int>(number);
  }

  void String(const Json& parent, absl::string_view key, std::string* out) {
    const Json* value = Find(parent, std::string(key), key);
    if (value == nullptr) return;
    if (!value->is_string() || value->get<std::string>().empty()) {
      violations_.Add(std::string(key), "must be a non-empty string");
      return;
    }
    *out = value->get<std::string>();
  }

  void Add(std::string path, std::string description) {
    violations_.Add(std::move(path), std::move(description));
  }
  absl::Status ToStatus() const { return violations_.ToStatus("invalid matching configuration"); }

 private:
  const Json* Find(const Json& parent, const std::string& path, absl::string_view key) {
    auto it = parent.find(std::string(key));
    if (it == parent.end()) {
      if (require_all_keys_) violations_.Add(path, "is required");
      return nullptr;
    }
    return &*it;
  }

  bool require_all_keys_;
  FieldViolations violations_;
};

struct WeightKey {
  Criterion criterion;
  absl::string_view key;
};
constexpr WeightKey kWeightKeys[] = {
    {v1::CRITERION_CAPABILITY_OVERLAP, "capability_overlap"},
    {v1::CRITERION_ROLE_FIT, "role_fit"},
    {v1::CRITERION_TRACK_RECORD, "track_record"},
    {v1::CRITERION_HOST_EXPERIENCE, "host_experience"},
    {v1::CRITERION_DEVELOPMENT_GAP_FIT, "development_gap_fit"},
    {v1::CRITERION_FINANCING_CAPACITY, "financing_capacity"},
    {v1::CRITERION_CURRENT_LOAD, "current_load"},
    {v1::CRITERION_LANGUAGE, "language"},
};
constexpr absl::string_view kGapStepKeys[] = {"-3", "-2", "-1", "0", "1", "2", "3"};

absl::StatusOr<MatchingConfig> Parse(absl::string_view text, MatchingConfig config,
                                     bool require_all_keys) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return InvalidField("(document)", absl::StrCat("not valid JSON: ", e.what()));
  }
  if (!root.is_object()) return InvalidField("(document)", "must be a JSON object");

  ConfigReader reader(require_all_keys);
  reader.CheckKeys(
      root, "",
      {"version", "weights", "capability", "role_fit", "track_record", "host_experience",
       "development_gap", "financing", "current_load", "language", "consortium"});
  reader.String(root, "version", &config.version);

  std::initializer_list<absl::string_view> weight_names = {
      "capability_overlap",  "role_fit",           "track_record", "host_experience",
      "development_gap_fit", "financing_capacity", "current_load", "language"};
  if (const Json* weights = reader.Section(root, "", "weights", weight_names)) {
    for (const WeightKey& w : kWeightKeys) {
      reader.Number(weights, "weights", w.key, 0, 100, &config.weights[w.criterion]);
    }
  }
  double weight_sum = 0;
  for (double w : config.weights) weight_sum += w;
  if (weight_sum <= 0) reader.Add("weights", "at least one weight must be positive");

  const Json* capability =
      reader.Section(root, "", "capability", {"avenue_share", "sector_group_match"});
  reader.Number(capability, "capability", "avenue_share", 0, 1, &config.avenue_share);
  reader.Number(capability, "capability", "sector_group_match", 0, 1, &config.sector_group_match);

  const Json* role_fit = reader.Section(root, "", "role_fit", {"implied_by_type"});
  reader.Number(role_fit, "role_fit", "implied_by_type", 0, 1, &config.implied_role_fit);

  const Json* track = reader.Section(root, "", "track_record", {"base_rate", "prior_projects"});
  reader.Number(track, "track_record", "base_rate", 0, 1, &config.base_rate);
  reader.Number(track, "track_record", "prior_projects", 0, 1000, &config.prior_projects);

  const Json* host =
      reader.Section(root, "", "host_experience", {"sub_region", "region", "saturation"});
  reader.Number(host, "host_experience", "sub_region", 0, 1, &config.sub_region_experience);
  reader.Number(host, "host_experience", "region", 0, 1, &config.region_experience);
  reader.Number(host, "host_experience", "saturation", 0.001, 1000,
                &config.host_experience_saturation);

  const Json* gap = reader.Section(root, "", "development_gap", {"fit_by_steps", "neutral"});
  if (gap != nullptr) {
    if (const Json* steps = reader.Section(*gap, "development_gap", "fit_by_steps",
                                           {"-3", "-2", "-1", "0", "1", "2", "3"})) {
      for (size_t i = 0; i < config.development_gap_fit.size(); ++i) {
        reader.Number(steps, "development_gap.fit_by_steps", kGapStepKeys[i], 0, 1,
                      &config.development_gap_fit[i]);
      }
    }
  }
  reader.Number(gap, "development_gap", "neutral", 0, 1, &config.development_gap_neutral);

  const Json* financing = reader.Section(root, "", "financing", {"unknown_capacity"});
  reader.Number(financing, "financing", "unknown_capacity", 0, 1, &config.unknown_capacity);

  const Json* load = reader.Section(root, "", "current_load", {"half_at_projects"});
  reader.Number(load, "current_load", "half_at_projects", 0.001, 1000, &config.load_half);

  const Json* language = reader.Section(root, "", "language", {"unknown"});
  reader.Number(language, "language", "unknown", 0, 1, &config.unknown_language);

  const Json* consortium = reader.Section(
      root, "", "consortium",
      {"candidates_per_role", "beam_width", "bridge_bonus", "dfi_bonus", "same_country_penalty"});
  reader.Integer(consortium, "consortium", "candidates_per_role", 1, 200,
                 &config.candidates_per_role);
  reader.Integer(consortium, "consortium", "beam_width", 1, 10000, &config.beam_width);
  reader.Number(consortium, "consortium", "bridge_bonus", 0, 100, &config.bridge_bonus);
  reader.Number(consortium, "consortium", "dfi_bonus", 0, 100, &config.dfi_bonus);
  reader.Number(consortium, "consortium", "same_country_penalty", 0, 100,
                &config.same_country_penalty);

  STP_RETURN_IF_ERROR(reader.ToStatus());
  return config;
}

}  // namespace

const MatchingConfig& MatchingConfig::Default() {
  // Parsed once; the embedded file is checked by the unit tests, so a failure here is a
  // build defect rather than an operator error.
  static const MatchingConfig* const kDefault = [] {
    absl::StatusOr<MatchingConfig> parsed =
        Parse(internal::kDefaultMatchingJson, MatchingConfig{}, /*require_all_keys=*/true);
    if (!parsed.ok()) {
      fprintf(stderr, "embedded default_matching.json is invalid: %s\n",
              parsed.status().ToString().c_str());
      abort();
    }
    return new MatchingConfig(*std::move(parsed));
  }();
  return *kDefault;
}

absl::StatusOr<MatchingConfig> MatchingConfig::FromJson(absl::string_view json) {
  return Parse(json, Default(), /*require_all_keys=*/false);
}

}  // namespace stp::matching
