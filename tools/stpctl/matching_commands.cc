// stpctl match and consortia: partners and whole teams for a need, with the reasons.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/common/vocabulary.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/resource_flags.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace mv1 = stp::matching::v1;
using stp::common::v1::Avenue_descriptor;
using stp::common::v1::PartnerRole_descriptor;

struct NeedFlags {
  std::string country, park, project, avenues, sectors, roles, budget, languages, exclude;

  void Register(FlagSet* flags) {
    flags->String("host-country", &country,
                  "host country, for example EG (or from --park/--project)");
    flags->String("country", &country, "same as --host-country");
    flags->String("park", &park, "the park the partners are for");
    flags->String("project", &project,
                  "the project the partners are for (its avenues, sectors and participants)");
    flags->String("avenues", &avenues,
                  "avenues, comma-separated: " + EnumWords(Avenue_descriptor()));
    flags->String("sectors", &sectors, "DAC 5-digit sectors, comma-separated");
    flags->String(
        "roles", &roles,
        "roles wanted, comma-separated (required): " + EnumWords(PartnerRole_descriptor()));
    flags->String("budget", &budget, "budget to finance, for example 12000000");
    flags->String("languages", &languages, "languages to share with the host, ISO 639-1");
    flags->String("exclude", &exclude, "organisations never to propose, comma-separated");
  }

  absl::Status Apply(mv1::PartnerNeed* need) const {
    if (roles.empty()) return absl::InvalidArgumentError("--roles: at least one role is needed");
    need->set_host_country(CountryName(country));
    need->set_park(ResourceName("parks", park));
    need->set_project(ResourceName("projects", project));
    STP_ASSIGN_OR_RETURN(auto avenue_values, ParseEnumList(Avenue_descriptor(), avenues));
    for (int a : avenue_values) need->add_avenues(static_cast<stp::common::v1::Avenue>(a));
    STP_ASSIGN_OR_RETURN(auto sector_values, ParseIntList(sectors));
    for (int s : sector_values) need->add_dac_sectors(s);
    STP_ASSIGN_OR_RETURN(auto role_values, ParseEnumList(PartnerRole_descriptor(), roles));
    for (int r : role_values) need->add_roles(static_cast<stp::common::v1::PartnerRole>(r));
    if (!budget.empty()) {
      STP_ASSIGN_OR_RETURN(*need->mutable_budget(), ParseMoney(budget));
    }
    for (const auto& l : SplitList(languages)) need->add_languages(l);
    for (const auto& o : SplitList(exclude)) {
      need->add_excluded_organizations(ResourceName("organizations", o));
    }
    return absl::OkStatus();
  }
};

std::string CriterionLabel(mv1::Criterion c) {
  std::string word = EnumWord(mv1::Criterion_descriptor(), c);
  std::replace(word.begin(), word.end(), '-', ' ');
  return word;
}

std::string CountryCode(const std::string& name) { return name.empty() ? "" : IdOf(name); }

}  // namespace

int RunMatch(Invocation& inv) {
  NeedFlags need_flags;
  int limit = 10;
  bool brief = false;
  FlagSet flags = inv.NewFlags(
      "Ranks organisations for a need: capability overlap, role fit, track record, experience "
      "in the host country, development-gap fit, financing capacity, current load and "
      "language, each with its reason.");
  need_flags.Register(&flags);
  flags.Int("limit", &limit, "candidates to show, 1 to 100");
  flags.Bool("brief", &brief, "the ranking only, without the reasons");
  if (auto done = inv.Parse(&flags)) return *done;
  mv1::FindPartnersRequest request;
  if (absl::Status s = need_flags.Apply(request.mutable_need()); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_page_size(limit);
  auto connection = inv.Connect(Api::kMatching);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto found = client::MatchingClient(*connection).FindPartners(request);
  if (!found.ok()) return inv.Fail(found.status());
  if (inv.json()) {
    inv.PrintJson(*found);
    return kExitOk;
  }
  Table table({{"RANK", Table::Align::kRight},
               {"SCORE", Table::Align::kRight},
               {"ORGANIZATION", Table::Align::kLeft, 44},
               {"COUNTRY"},
               {"AS"},
               {"NAME"}});
  int rank = 0;
  for (const auto& c : found->candidates()) {
    table.AddRow({absl::StrCat(++rank), absl::StrFormat("%.1f", c.score()), c.display_name(),
                  CountryCode(c.country()), RoleLabel(c.role()), c.organization()});
  }
  table.Print();
  std::printf("%d candidates of %d considered\n", found->candidates_size(), found->considered());
  if (brief) return kExitOk;
  rank = 0;
  for (const auto& c : found->candidates()) {
    std::printf("\n%d. %s\n", ++rank, c.display_name().c_str());
    for (const auto& k : c.criteria()) {
      std::printf("  %-22s %4.2f  %s\n", CriterionLabel(k.criterion()).c_str(), k.value(),
                  k.reason().c_str());
    }
  }
  return kExitOk;
}

int RunConsortia(Invocation& inv) {
  NeedFlags need_flags;
  int max = 5;
  bool distinct = false, southern = false;
  FlagSet flags = inv.NewFlags(
      "Proposes whole teams, one organisation per wanted role, scored as a team; a triangular "
      "bridge and a development finance institution are rewarded.");
  need_flags.Register(&flags);
  flags.Int("max", &max, "teams to propose, 1 to 20");
  flags.Bool("distinct-countries", &distinct, "no two members from the same country");
  flags.Bool("southern", &southern, "at least one member from a low- or middle-income country");
  if (auto done = inv.Parse(&flags)) return *done;
  mv1::ProposeConsortiaRequest request;
  if (absl::Status s = need_flags.Apply(request.mutable_need()); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_max_consortia(max);
  request.mutable_constraints()->set_distinct_countries(distinct);
  request.mutable_constraints()->set_require_southern_partner(southern);
  auto connection = inv.Connect(Api::kMatching);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto proposed = client::MatchingClient(*connection).ProposeConsortia(request);
  if (!proposed.ok()) return inv.Fail(proposed.status());
  if (inv.json()) {
    inv.PrintJson(*proposed);
    return kExitOk;
  }
  int rank = 0;
  for (const auto& team : proposed->consortia()) {
    std::printf("%sTeam %d: score %.1f%s%s\n", rank ? "\n" : "", rank + 1, team.score(),
                team.triangular_bridge() ? "  [triangular bridge]" : "",
                team.dfi_participation() ? "  [DFI]" : "");
    ++rank;
    Table table({{"ROLE"},
                 {"ORGANIZATION", Table::Align::kLeft, 44},
                 {"COUNTRY"},
                 {"SCORE", Table::Align::kRight},
                 {"NAME"}});
    for (const auto& m : team.members()) {
      table.AddRow({RoleLabel(m.role()), m.candidate().display_name(),
                    CountryCode(m.candidate().country()),
                    absl::StrFormat("%.1f", m.candidate().score()), m.candidate().organization()});
    }
    table.Print();
    for (const auto& reason : team.reasons()) std::printf("  - %s\n", reason.c_str());
  }
  if (proposed->consortia_size() == 0) std::printf("no team fits the need\n");
  std::printf("%d teams evaluated\n", proposed->evaluated());
  return kExitOk;
}

}  // namespace stp::stpctl
