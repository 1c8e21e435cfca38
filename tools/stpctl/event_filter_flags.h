// Flags that build an EventFilter, shared by watch and webhooks create.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "libs/common/flags.h"
#include "stp/notification/v1/notification_service.pb.h"

namespace stp::stpctl {

struct EventFilterFlags {
  std::string types, countries, avenues, projects, organizations, parks, thresholds;

  void Register(FlagSet* flags);
  absl::Status Apply(stp::notification::v1::EventFilter* filter) const;
};

}  // namespace stp::stpctl
