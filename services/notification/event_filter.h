// Which events a subscription or webhook receives: the filter of SPEC §5.4 over the facts an
// event carries, and what the caller may see (PARTICIPANTS-visibility projects stay hidden from
// organisations that do not take part).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/common/principal.h"
#include "stp/events/v1/events.pb.h"
#include "stp/notification/v1/notification_service.pb.h"

namespace stp::notification {

// What filtering needs from an event, extracted once per event.
struct EventFacts {
  stp::events::v1::EventType type = stp::events::v1::EVENT_TYPE_UNSPECIFIED;
  std::string resource;
  std::vector<std::string> countries;  // host country, organisation country, or the country
  std::vector<int> avenues;
  std::string project;                     // projects/..., when about a project or its score
  std::vector<std::string> organizations;  // the organisation itself or a project's participants
  std::string park;                        // the park itself or a project's park
  bool restricted = false;                 // PARTICIPANTS visibility
  bool has_scores = false;
  bool had_previous = false;
  double previous_total = 0;
  double current_total = 0;
};

EventFacts FactsOf(const stp::events::v1::Event& event);

// INVALID_ARGUMENT naming each bad field (`path` prefixes field names, e.g. "filter").
absl::Status ValidateFilter(const stp::notification::v1::EventFilter& filter,
                            const std::string& path);

// True when the filter matches and the principal may see the event.
bool Matches(const stp::notification::v1::EventFilter& filter, const EventFacts& facts,
             const Principal& principal);

}  // namespace stp::notification
