#include "services/notification/event_filter.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/status.h"

namespace stp::notification {

namespace ev = stp::events::v1;
namespace nv1 = stp::notification::v1;

namespace {

template <typename List, typename T>
bool Contains(const List& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

template <typename A, typename B>
bool Intersects(const A& a, const B& b) {
  for (const auto& x : a) {
    if (Contains(b, x)) return true;
  }
  return false;
}

void AddProjectFacts(const stp::ingestion::v1::Project& p, EventFacts* f) {
  f->project = p.name();
  if (!p.host_country().empty()) f->countries.push_back(p.host_country());
  for (int a : p.avenues()) f->avenues.push_back(a);
  for (const auto& part : p.participants()) f->organizations.push_back(part.organization());
  f->park = p.park();
  f->restricted = p.visibility() == stp::ingestion::v1::VISIBILITY_PARTICIPANTS;
}

bool Crosses(const nv1::ScoreThreshold& t, const EventFacts& f) {
  if (!f.has_scores || !f.had_previous) return false;  // a first score crosses nothing
  bool up = f.previous_total < t.value() && f.current_total >= t.value();
  bool down = f.previous_total >= t.value() && f.current_total < t.value();
  switch (t.direction()) {
    case nv1::CROSSING_DIRECTION_UPWARD:
      return up;
    case nv1::CROSSING_DIRECTION_DOWNWARD:
      return down;
    default:
      return up || down;
  }
}

}  // namespace

EventFacts FactsOf(const ev::Event& e) {
  EventFacts f;
  f.type = e.type();
  f.resource = e.resource();
  switch (e.snapshot_case()) {
    case ev::Event::kProject:
      AddProjectFacts(e.project(), &f);
      break;
    case ev::Event::kOrganization:
      if (!e.organization().country().empty()) f.countries.push_back(e.organization().country());
      for (int a : e.organization().avenues()) f.avenues.push_back(a);
      f.organizations.push_back(e.organization().name());
      break;
    case ev::Event::kPark:
      f.countries.push_back(e.park().host_country());
      for (int a : e.park().focus_avenues()) f.avenues.push_back(a);
      f.park = e.park().name();
      break;
    case ev::Event::kCountry:
      f.countries.push_back(e.country().name());
      break;
    case ev::Event::kScoreChange: {
      const auto& s = e.score_change().current();
      f.project = s.project();
      f.countries.push_back(s.host_country());
      for (int a : s.avenues()) f.avenues.push_back(a);
      for (const auto& o : s.participant_organizations()) f.organizations.push_back(o);
      f.park = s.park();
      f.restricted = s.visibility() == stp::ingestion::v1::VISIBILITY_PARTICIPANTS;
      f.has_scores = true;
      f.had_previous = e.score_change().has_previous();
      f.previous_total = e.score_change().previous().total();
      f.current_total = s.total();
      break;
    }
    default:
      break;
  }
  return f;
}

absl::Status ValidateFilter(const nv1::EventFilter& filter, const std::string& path) {
  FieldViolations v;
  auto check_names = [&](const auto& list, const char* field, absl::string_view prefix,
                         size_t max) {
    if (static_cast<size_t>(list.size()) > max)
      v.Add(absl::StrCat(path, ".", field), absl::StrCat("at most ", max));
    for (int i = 0; i < list.size() && static_cast<size_t>(i) < max; ++i) {
      if (!absl::StartsWith(list.Get(i), prefix) || list.Get(i).size() <= prefix.size() ||
          list.Get(i).size() > 100) {
        v.Add(absl::StrCat(path, ".", field, "[", i, "]"),
              absl::StrCat("must look like \"", prefix, "...\""));
      }
    }
  };
  for (int i = 0; i < filter.event_types_size(); ++i) {
    if (!ev::EventType_IsValid(filter.event_types(i)) || filter.event_types(i) == 0) {
      v.Add(absl::StrCat(path, ".event_types[", i, "]"), "unknown event type");
    }
  }
  check_names(filter.countries(), "countries", "countries/", 300);
  for (int i = 0; i < filter.avenues_size(); ++i) {
    if (!stp::common::v1::Avenue_IsValid(filter.avenues(i)) || filter.avenues(i) == 0) {
      v.Add(absl::StrCat(path, ".avenues[", i, "]"), "unknown avenue");
    }
  }
  check_names(filter.projects(), "projects", "projects/", 1000);
  check_names(filter.organizations(), "organizations", "organizations/", 1000);
  check_names(filter.parks(), "parks", "parks/", 1000);
  for (int i = 0; i < filter.score_thresholds_size(); ++i) {
    const auto& t = filter.score_thresholds(i);
    if (!(t.value() >= 0 && t.value() <= 100)) {
      v.Add(absl::StrCat(path, ".score_thresholds[", i, "].value"), "between 0 and 100");
    }
    if (!nv1::CrossingDirection_IsValid(t.direction())) {
      v.Add(absl::StrCat(path, ".score_thresholds[", i, "].direction"), "unknown value");
    }
  }
  return v.ToStatus("the filter has invalid fields");
}

bool Matches(const nv1::EventFilter& filter, const EventFacts& f, const Principal& principal) {
  if (f.restricted && !principal.is_operator() &&
      (principal.organization.empty() || !Contains(f.organizations, principal.organization))) {
    return false;
  }
  if (!filter.event_types().empty()) {
    bool ok = Contains(filter.event_types(), f.type) ||
              (f.type == ev::EVENT_TYPE_STAGE_CHANGED &&
               Contains(filter.event_types(), ev::EVENT_TYPE_PROJECT_UPDATED));
    if (!ok) return false;
  }
  if (!filter.countries().empty() && !Intersects(f.countries, filter.countries())) return false;
  if (!filter.avenues().empty() && !Intersects(f.avenues, filter.avenues())) return false;
  if (!filter.projects().empty() && (f.project.empty() || !Contains(filter.projects(), f.project)))
    return false;
  if (!filter.organizations().empty() && !Intersects(f.organizations, filter.organizations()))
    return false;
  if (!filter.parks().empty() && (f.park.empty() || !Contains(filter.parks(), f.park)))
    return false;
  if (!filter.score_thresholds().empty()) {
    bool crossed = false;
    for (const auto& t : filter.score_thresholds()) crossed |= Crosses(t, f);
    if (!crossed) return false;
  }
  return true;
}

}  // namespace stp::notification
