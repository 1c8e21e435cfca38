// The project success score (SPEC §5.2): an explainable, deterministic, versioned model whose
// weights and tunables live in a JSON config. Pure: no clock, no I/O, no gRPC.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/scoring/core/model_config.h"
#include "services/scoring/core/scoring_context.h"
#include "stp/ingestion/v1/resources.pb.h"
#include "stp/scoring/v1/score.pb.h"
#include "stp/scoring/v1/scoring_service.pb.h"

namespace stp::scoring {

class ScoringModel {
 public:
  // The shipped default model: services/scoring/core/default_model.json, embedded into the
  // library at build time.
  static const ScoringModel& Default();
  // The text of the embedded default_model.json, a starting point for a custom config.
  static absl::string_view DefaultJson();
  // A model from a config file's text. INVALID_ARGUMENT names every offending key.
  static absl::StatusOr<ScoringModel> FromJson(absl::string_view json);

  // Scores a project. Deterministic: the same project, lookups and day give the same Score,
  // byte for byte. Fills everything but compute_time, which is the caller's.
  stp::scoring::v1::Score Compute(const stp::ingestion::v1::Project& project,
                                  const ScoringContext& context) const;

  // Version, components with their configured weights and descriptions, tier thresholds and
  // the base rate.
  stp::scoring::v1::ScoringModel Describe() const;
  const std::string& version() const { return config_.version; }
  const ModelConfig& config() const { return config_; }
  // A for totals at or above tiers.a_min, B at or above b_min, C at or above c_min, else D.
  stp::scoring::v1::Tier TierFor(double total) const;

  // Clears the text that neither Compute nor Dependencies reads, most of a project's bytes:
  // the description, sources, external ids, possible duplicates, milestone names, result
  // indicators and units, etag and updated_by. The scoring read model keeps projects in this
  // form. Compute gives a project and its inputs the same score, byte for byte (a property
  // test holds it to that); a model that reads more must keep it here, and the read model's
  // version must change so that replicas build it again.
  static void KeepInputsOnly(stp::ingestion::v1::Project* project);

  // The organisations and countries Compute looks up for this project, so that a caller can
  // fetch them in one round trip: every participant and flow-source organisation, and the
  // host country. Sorted, without duplicates; replaces the vectors' contents. Compute also
  // reads the project's park (`project.park()`, through ScoringContext::park): fetch it too.
  static void Dependencies(const stp::ingestion::v1::Project& project,
                           std::vector<std::string>* organizations,
                           std::vector<std::string>* countries);
  // The same, with the organisations' own countries added to `countries` (the second round:
  // an organisation's country is only known once the organisation is).
  static void Dependencies(
      const stp::ingestion::v1::Project& project,
      const std::function<const stp::ingestion::v1::Organization*(absl::string_view)>& organization,
      std::vector<std::string>* organizations, std::vector<std::string>* countries);

 private:
  explicit ScoringModel(ModelConfig config) : config_(std::move(config)) {}

  ModelConfig config_;
};

}  // namespace stp::scoring
