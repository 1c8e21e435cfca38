#include "tools/stpctl/event_filter_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/common/status.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {

namespace nv1 = stp::notification::v1;

void EventFilterFlags::Register(FlagSet* flags) {
  flags->String(
      "types", &types,
      "event types, comma-separated: " + EnumWords(stp::events::v1::EventType_descriptor()));
  flags->String("countries", &countries, "countries, comma-separated, for example EG,ZA");
  flags->String("avenues", &avenues, "avenues, comma-separated");
  flags->String("projects", &projects, "projects, comma-separated ids or names");
  flags->String("orgs", &organizations,
                "organisations (themselves or projects they take part in), comma-separated");
  flags->String("parks", &parks, "parks (themselves or their projects), comma-separated");
  flags->String("thresholds", &thresholds,
                "score thresholds crossed, VALUE[:up|down],... for example 35:down");
}

absl::Status EventFilterFlags::Apply(nv1::EventFilter* filter) const {
  STP_ASSIGN_OR_RETURN(auto type_values,
                       ParseEnumList(stp::events::v1::EventType_descriptor(), types));
  for (int t : type_values) filter->add_event_types(static_cast<stp::events::v1::EventType>(t));
  for (const auto& c : SplitList(countries)) filter->add_countries(CountryName(c));
  STP_ASSIGN_OR_RETURN(auto avenue_values,
                       ParseEnumList(stp::common::v1::Avenue_descriptor(), avenues));
  for (int a : avenue_values) filter->add_avenues(static_cast<stp::common::v1::Avenue>(a));
  for (const auto& p : SplitList(projects)) filter->add_projects(ResourceName("projects", p));
  for (const auto& o : SplitList(organizations)) {
    filter->add_organizations(ResourceName("organizations", o));
  }
  for (const auto& p : SplitList(parks)) filter->add_parks(ResourceName("parks", p));
  for (const auto& item : SplitList(thresholds)) {
    std::pair<std::string, std::string> parts = absl::StrSplit(item, ':');
    auto* threshold = filter->add_score_thresholds();
    double value;
    if (!absl::SimpleAtod(parts.first, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--thresholds: '", item, "' is not VALUE[:up|down]"));
    }
    threshold->set_value(value);
    if (parts.second == "up") {
      threshold->set_direction(nv1::CROSSING_DIRECTION_UPWARD);
    } else if (parts.second == "down") {
      threshold->set_direction(nv1::CROSSING_DIRECTION_DOWNWARD);
    } else if (!parts.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--thresholds: '", item, "': up or down"));
    }
  }
  return absl::OkStatus();
}

}  // namespace stp::stpctl
