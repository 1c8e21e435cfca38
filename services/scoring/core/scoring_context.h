// What the scoring model reads besides the project itself.
#pragma once

#include <functional>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::scoring {

// Lookups of the organisations and countries a project names. Each returns nullptr when the
// name is unknown (an empty std::function counts as knowing nothing). The pointers must stay
// valid for the duration of one ScoringModel::Compute call.
struct ScoringContext {
  std::function<const stp::ingestion::v1::Organization*(absl::string_view name)> organization;
  std::function<const stp::ingestion::v1::Country*(absl::string_view name)> country;
  // The project's park ("parks/x"); may be empty (no park is then known).
  std::function<const stp::ingestion::v1::Park*(absl::string_view name)> park;
  // The day against which milestones are judged overdue. Injected, never read from the clock,
  // so that a score can be reproduced.
  absl::CivilDay today;
};

}  // namespace stp::scoring
