// stpctl score, rank and portfolio: scores with their reasons, rankings and summaries.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/common/vocabulary.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/portfolio_report.h"
#include "tools/stpctl/resource_flags.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace iv1 = stp::ingestion::v1;
namespace sv1 = stp::scoring::v1;
using stp::common::v1::Avenue_descriptor;

// Filters shared by rank and portfolio.
struct ScoreFilterFlags {
  std::string country, avenue, model, stage, tier, park;

  void Register(FlagSet* flags) {
    flags->String("host-country", &country, "only projects hosted by this country, for example EG");
    flags->String("country", &country, "same as --host-country");
    flags->String("avenue", &avenue, "only projects serving this avenue");
    flags->String("model", &model, "only projects with this cooperation model");
    flags->String("stage", &stage, "only projects at this stage");
    flags->String("tier", &tier, "only projects in this tier: a, b, c or d");
    flags->String("park", &park, "only projects of this park");
  }

  absl::Status Apply(sv1::ScoreFilter* filter, std::string* description) const {
    std::vector<std::string> parts;
    filter->set_host_country(CountryName(country));
    if (!country.empty()) parts.push_back("host country " + IdOf(filter->host_country()));
    filter->set_park(ResourceName("parks", park));
    if (!park.empty()) parts.push_back(filter->park());
    if (!avenue.empty()) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(Avenue_descriptor(), avenue));
      filter->set_avenue(static_cast<stp::common::v1::Avenue>(v));
      parts.push_back(AvenueLabel(filter->avenue()));
    }
    if (!model.empty()) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(iv1::CooperationModel_descriptor(), model));
      filter->set_cooperation_model(static_cast<iv1::CooperationModel>(v));
      parts.push_back(EnumWord(iv1::CooperationModel_descriptor(), v));
    }
    if (!stage.empty()) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(iv1::ProjectStage_descriptor(), stage));
      filter->set_stage(static_cast<iv1::ProjectStage>(v));
      parts.push_back(StageLabel(filter->stage()));
    }
    if (!tier.empty()) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(sv1::Tier_descriptor(), tier));
      filter->set_tier(static_cast<sv1::Tier>(v));
      parts.push_back("tier " + absl::AsciiStrToUpper(EnumWord(sv1::Tier_descriptor(), v)));
    }
    if (description != nullptr) *description = absl::StrJoin(parts, ", ");
    return absl::OkStatus();
  }
};

std::string Tier(sv1::Tier tier) {
  return tier == sv1::TIER_UNSPECIFIED
             ? "-"
             : absl::AsciiStrToUpper(EnumWord(sv1::Tier_descriptor(), tier));
}

std::string ComponentLabel(sv1::Component c) {
  std::string word = EnumWord(sv1::Component_descriptor(), c);
  std::replace(word.begin(), word.end(), '-', ' ');
  return word;
}

void PrintScore(const sv1::Score& s) {
  std::printf("%s  %s\n", s.project().empty() ? "(draft)" : s.project().c_str(), s.title().c_str());
  std::printf("score %.1f  tier %s  confidence %.2f  model %s  revision %lld\n\n", s.total(),
              Tier(s.tier()).c_str(), s.confidence(), s.model_version().c_str(),
              static_cast<long long>(s.project_revision()));
  Table table({{"COMPONENT"},
               {"VALUE", Table::Align::kRight},
               {"WEIGHT", Table::Align::kRight},
               {"POINTS", Table::Align::kRight},
               {"CONFIDENCE", Table::Align::kRight}});
  for (const auto& c : s.components()) {
    if (!c.applicable()) {
      table.AddRow({ComponentLabel(c.component()), "n/a", "", "", ""});
      continue;
    }
    table.AddRow({ComponentLabel(c.component()), absl::StrFormat("%.0f", c.value()),
                  absl::StrFormat("%.2f", c.weight()), absl::StrFormat("%.1f", c.contribution()),
                  absl::StrFormat("%.2f", c.confidence())});
  }
  table.Print();
  for (const auto& c : s.components()) {
    if (c.reasons_size() == 0) continue;
    std::printf("\n%s:\n", ComponentLabel(c.component()).c_str());
    for (const auto& reason : c.reasons()) std::printf("  - %s\n", reason.c_str());
  }
}

}  // namespace

int RunScore(Invocation& inv) {
  absl::Duration wait = absl::ZeroDuration();
  std::string draft;
  FlagSet flags = inv.NewFlags(
      "Shows a project's score: total, tier, confidence, and each component's value, weight, "
      "points and reasons. With --draft, scores a project in protobuf JSON without storing it "
      "(a what-if).");
  flags.Duration("wait", &wait,
                 "a new project is scored a moment after it is written: keep asking this long "
                 "while the answer is NOT_FOUND");
  flags.String("draft", &draft, "a Project in protobuf JSON to score as a what-if");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 0, 1, "PROJECT")) return *done;
  if (words.empty() == draft.empty()) return inv.Usage("give either PROJECT or --draft FILE");
  auto connection = inv.Connect(Api::kScoring);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::ScoringClient scoring(*connection);
  absl::StatusOr<sv1::Score> score;
  if (!draft.empty()) {
    sv1::ScoreProjectRequest request;
    absl::Status read = ReadJsonFile(draft, request.mutable_project());
    if (!read.ok()) return inv.Usage(std::string(read.message()));
    score = scoring.ScoreProject(request);
  } else {
    sv1::GetProjectScoreRequest request;
    request.set_project(ResourceName("projects", words[0]));
    absl::Time until = absl::Now() + wait;
    while (true) {
      score = scoring.GetProjectScore(request);
      if (score.ok() || !absl::IsNotFound(score.status()) || absl::Now() >= until) break;
      absl::SleepFor(absl::Milliseconds(250));
    }
  }
  if (!score.ok()) return inv.Fail(score.status());
  return inv.Print(*score, [&] { PrintScore(*score); });
}

int RunRank(Invocation& inv) {
  ScoreFilterFlags filter_flags;
  bool ascending = false;
  int limit = 20;
  FlagSet flags = inv.NewFlags("Ranks scored projects, best first (worst first with --ascending).");
  filter_flags.Register(&flags);
  flags.Bool("ascending", &ascending, "worst first: the at-risk view");
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  sv1::RankProjectsRequest request;
  if (absl::Status s = filter_flags.Apply(request.mutable_filter(), nullptr); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_ascending(ascending);
  auto connection = inv.Connect(Api::kScoring);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::ScoringClient scoring(*connection);
  sv1::RankProjectsResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, scoring.RankProjects(request));
        all.set_total_size(page.total_size());
        for (auto& s : *page.mutable_scores()) *all.add_scores() = std::move(s);
        return page.next_page_token();
      },
      [&] { return all.scores_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"RANK", Table::Align::kRight},
               {"SCORE", Table::Align::kRight},
               {"TIER"},
               {"PROJECT"},
               {"TITLE", Table::Align::kLeft, 48},
               {"HOST"},
               {"STAGE"}});
  int rank = 0;
  for (const auto& s : all.scores()) {
    table.AddRow({absl::StrCat(++rank), absl::StrFormat("%.1f", s.total()), Tier(s.tier()),
                  s.project(), s.title(), s.host_country().empty() ? "" : IdOf(s.host_country()),
                  EnumWord(iv1::ProjectStage_descriptor(), s.stage())});
  }
  table.Print();
  std::printf("%d of %d matching projects\n", all.scores_size(), all.total_size());
  return kExitOk;
}

int RunPortfolio(Invocation& inv) {
  ScoreFilterFlags filter_flags;
  std::string by = "country", html_file;
  int top = 10;
  FlagSet flags = inv.NewFlags(
      "Summarises scores by host country, avenue, cooperation model or park: projects, mean "
      "and median score, projects per tier, and the tier A share next to the base rate. "
      "--html FILE also writes a self-contained report (charts per country and avenue, mean "
      "scores by region, the top projects with their reasons).");
  filter_flags.Register(&flags);
  flags.String("by", &by, "country, avenue, model or park");
  flags.String("html", &html_file, "also write the HTML report to this file");
  flags.Int("top", &top, "projects listed in the HTML report");
  if (auto done = inv.Parse(&flags)) return *done;
  sv1::GroupBy group_by;
  if (by == "country") {
    group_by = sv1::GROUP_BY_COUNTRY;
  } else if (by == "avenue") {
    group_by = sv1::GROUP_BY_AVENUE;
  } else if (by == "model") {
    group_by = sv1::GROUP_BY_COOPERATION_MODEL;
  } else if (by == "park") {
    group_by = sv1::GROUP_BY_PARK;
  } else {
    return inv.Usage("--by: country, avenue, model or park");
  }
  sv1::GetPortfolioSummaryRequest request;
  std::string description;
  if (absl::Status s = filter_flags.Apply(request.mutable_filter(), &description); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_group_by(group_by);
  auto connection = inv.Connect(Api::kScoring);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::ScoringClient scoring(*connection);
  auto summary = scoring.GetPortfolioSummary(request);
  if (!summary.ok()) return inv.Fail(summary.status());
  if (inv.json()) {
    inv.PrintJson(*summary);
  } else {
    Table table({{"GROUP"},
                 {"LABEL", Table::Align::kLeft, 40},
                 {"PROJECTS", Table::Align::kRight},
                 {"MEAN", Table::Align::kRight},
                 {"MEDIAN", Table::Align::kRight},
                 {"A", Table::Align::kRight},
                 {"B", Table::Align::kRight},
                 {"C", Table::Align::kRight},
                 {"D", Table::Align::kRight},
                 {"A SHARE", Table::Align::kRight}});
    auto add = [&](const sv1::PortfolioGroup& g, const std::string& key) {
      table.AddRow(
          {key, g.label(), absl::StrCat(g.project_count()), absl::StrFormat("%.1f", g.mean_score()),
           absl::StrFormat("%.1f", g.median_score()), absl::StrCat(g.tiers().a()),
           absl::StrCat(g.tiers().b()), absl::StrCat(g.tiers().c()), absl::StrCat(g.tiers().d()),
           absl::StrFormat("%.0f%%", g.tier_a_share() * 100)});
    };
    for (const auto& g : summary->groups()) add(g, g.key().empty() ? "(none)" : g.key());
    add(summary->overall(), "all");
    table.Print();
    std::printf("base rate of success %.0f%%, scoring model %s\n", summary->base_rate() * 100,
                summary->model_version().c_str());
  }
  if (html_file.empty()) return kExitOk;

  PortfolioReport report;
  report.generated = absl::Now();
  report.filter_description = description;
  for (auto [grouping, target] : {std::pair{sv1::GROUP_BY_COUNTRY, &report.by_country},
                                  std::pair{sv1::GROUP_BY_AVENUE, &report.by_avenue}}) {
    if (grouping == group_by) {
      *target = *summary;
      continue;
    }
    request.set_group_by(grouping);
    auto other = scoring.GetPortfolioSummary(request);
    if (!other.ok()) return inv.Fail(other.status());
    *target = *other;
  }
  if (group_by == sv1::GROUP_BY_COOPERATION_MODEL || group_by == sv1::GROUP_BY_PARK) {
    report.extra_group_by = group_by;
    report.extra = *summary;
  }
  sv1::RankProjectsRequest rank;
  *rank.mutable_filter() = request.filter();
  rank.set_page_size(std::max(1, top));
  auto best = scoring.RankProjects(rank);
  if (!best.ok()) return inv.Fail(best.status());
  // Rankings carry totals; the components and their reasons come with each project's score.
  for (const auto& ranked : best->scores()) {
    sv1::GetProjectScoreRequest get;
    get.set_project(ranked.project());
    auto full = scoring.GetProjectScore(get);
    report.top_projects.push_back(full.ok() ? *full : ranked);
  }
  // Country names and regions for the map; a report without them still reads well.
  auto registry_connection = inv.Connect(Api::kIngestion);
  if (!registry_connection.ok())
    return inv.Usage(std::string(registry_connection.status().message()));
  client::IngestionClient registry(*registry_connection);
  iv1::ListCountriesRequest countries;
  countries.set_page_size(1000);
  if (auto listed = registry.ListCountries(countries); listed.ok()) {
    for (const auto& c : listed->countries()) report.countries[c.name()] = c;
  }
  std::ofstream out(html_file, std::ios::binary | std::ios::trunc);
  out << RenderPortfolioReport(report);
  out.close();
  if (!out) return inv.Usage("cannot write " + html_file);
  std::fprintf(stderr, "report written to %s\n", html_file.c_str());
  return kExitOk;
}

}  // namespace stp::stpctl
