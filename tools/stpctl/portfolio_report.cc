#include "tools/stpctl/portfolio_report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libs/common/vocabulary.h"
#include "tools/stpctl/table.h"

namespace stp::stpctl {
namespace {

namespace sv1 = stp::scoring::v1;

constexpr char kStyle[] = R"css(
:root { --a:#1a9850; --b:#91cf60; --c:#fdd966; --d:#d73027; --ink:#1f2933; --muted:#616e7c; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; background: #f5f7fa; }
header { background: #243b53; color: #fff; padding: 24px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #d9e2ec; }
main { max-width: 1080px; margin: 0 auto; padding: 8px 24px 40px; }
section { background: #fff; border-radius: 8px; padding: 16px 20px; margin: 20px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h2 { font-size: 19px; margin: 0 0 4px; }
p.note { color: var(--muted); margin: 0 0 12px; font-size: 13px; }
.kpis { display: flex; flex-wrap: wrap; gap: 16px; }
.kpi { flex: 1 1 160px; border-left: 4px solid #486581; padding: 4px 12px; }
.kpi b { display: block; font-size: 26px; }
.legend { display: flex; gap: 14px; font-size: 13px; margin: 6px 0 10px; }
.legend span::before { content: ""; display: inline-block; width: 12px; height: 12px;
                       margin-right: 5px; vertical-align: -1px; border-radius: 2px; }
.legend .a::before { background: var(--a); } .legend .b::before { background: var(--b); }
.legend .c::before { background: var(--c); } .legend .d::before { background: var(--d); }
svg text { font: 12px system-ui, sans-serif; fill: var(--ink); }
svg text.in { fill: #fff; font-weight: 600; } svg text.in.light { fill: var(--ink); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e4e7eb; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.project { border-top: 1px solid #e4e7eb; padding: 12px 0; }
.project:first-of-type { border-top: 0; }
.project h3 { margin: 0; font-size: 16px; }
.badge { display: inline-block; min-width: 56px; text-align: center; border-radius: 4px;
         padding: 1px 6px; font-weight: 700; margin-right: 8px; color: #fff; }
.tier-A { background: var(--a); } .tier-B { background: var(--b); color: var(--ink); }
.tier-C { background: var(--c); color: var(--ink); } .tier-D { background: var(--d); }
.meta { color: var(--muted); font-size: 13px; margin: 2px 0 6px; }
ul.reasons { margin: 4px 0 0 0; padding-left: 20px; font-size: 13px; }
ul.reasons li span { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; text-align: center; padding-bottom: 24px; }
)css";

struct TierColor {
  const char* css_class;
  const char* fill;
  bool light_text;
};
constexpr TierColor kTiers[] = {{"a", "#1a9850", false},
                                {"b", "#91cf60", true},
                                {"c", "#fdd966", true},
                                {"d", "#d73027", false}};

std::string Fixed(double value, int digits = 1) { return absl::StrFormat("%.*f", digits, value); }

// Red (0) through yellow to green (100): the shade of a mean score.
std::string ScoreShade(double score) {
  double hue = std::clamp(score, 0.0, 100.0) * 1.2;
  return absl::StrFormat("hsl(%.0f, 62%%, 72%%)", hue);
}

std::string TierName(sv1::Tier tier) {
  switch (tier) {
    case sv1::TIER_A:
      return "A";
    case sv1::TIER_B:
      return "B";
    case sv1::TIER_C:
      return "C";
    case sv1::TIER_D:
      return "D";
    default:
      return "-";
  }
}

std::string ComponentName(sv1::Component c) {
  switch (c) {
    case sv1::COMPONENT_ABSORPTIVE_FIT:
      return "Absorptive fit";
    case sv1::COMPONENT_COMPARATIVE_ADVANTAGE:
      return "Comparative advantage";
    case sv1::COMPONENT_PARTNERSHIP_STRUCTURE:
      return "Partnership structure";
    case sv1::COMPONENT_FINANCING_HEALTH:
      return "Financing health";
    case sv1::COMPONENT_EXECUTION:
      return "Execution";
    case sv1::COMPONENT_DIGITAL_READINESS:
      return "Digital readiness";
    default:
      return "Other";
  }
}

// One row per group: its label, then its projects per tier as a stacked bar.
std::string StackedBars(const sv1::PortfolioSummary& summary, const std::string& caption) {
  constexpr int kLabelWidth = 210, kBarWidth = 560, kRowHeight = 26, kBarHeight = 18;
  constexpr int kCountWidth = 130;  // room for "123 · mean 45.6" after the longest bar
  const int rows = summary.groups_size();
  if (rows == 0) return "<p class=\"note\">No scored projects.</p>\n";
  int max_count = 1;
  for (const auto& g : summary.groups()) max_count = std::max(max_count, g.project_count());
  const int height = rows * kRowHeight + 8;
  const int width = kLabelWidth + kBarWidth + kCountWidth;
  std::string svg = absl::StrFormat(
      "<svg role=\"img\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
      "xmlns=\"http://www.w3.org/2000/svg\" aria-label=\"%s\">\n",
      width, height, HtmlEscape(caption));
  for (int row = 0; row < rows; ++row) {
    const auto& g = summary.groups(row);
    int y = 4 + row * kRowHeight;
    std::string label = g.label().empty() ? (g.key().empty() ? "(none)" : g.key()) : g.label();
    label = Shorten(label, 30);
    absl::StrAppendFormat(&svg, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
                          kLabelWidth - 8, y + 13, HtmlEscape(label));
    const int counts[] = {g.tiers().a(), g.tiers().b(), g.tiers().c(), g.tiers().d()};
    double x = kLabelWidth;
    for (int t = 0; t < 4; ++t) {
      if (counts[t] == 0) continue;
      double w = static_cast<double>(counts[t]) / max_count * kBarWidth;
      absl::StrAppendFormat(
          &svg,
          "<rect class=\"tier-%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
          "fill=\"%s\"><title>%s: %d in tier %s</title></rect>\n",
          kTiers[t].css_class, x, y, w, kBarHeight, kTiers[t].fill, HtmlEscape(label), counts[t],
          std::string(1, static_cast<char>('A' + t)));
      if (w >= 18) {
        absl::StrAppendFormat(&svg,
                              "<text class=\"in%s\" x=\"%.1f\" y=\"%d\" "
                              "text-anchor=\"middle\">%d</text>\n",
                              kTiers[t].light_text ? " light" : "", x + w / 2, y + 13, counts[t]);
      }
      x += w;
    }
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%d\">%d · mean %s</text>\n", x + 6, y + 13,
                          g.project_count(), Fixed(g.mean_score()));
  }
  svg += "</svg>\n";
  return svg;
}

std::string Legend() {
  return "<div class=\"legend\"><span class=\"a\">Tier A (75+)</span><span class=\"b\">Tier B "
         "(55+)</span><span class=\"c\">Tier C (35+)</span><span class=\"d\">Tier D</span>"
         "</div>\n";
}

// Countries as tiles in one column band per region, shaded by mean score: a map in spirit.
std::string CountryTiles(const PortfolioReport& report) {
  std::map<std::string, std::vector<const sv1::PortfolioGroup*>> by_region;
  for (const auto& g : report.by_country.groups()) {
    auto it = report.countries.find(g.key());
    std::string region = it != report.countries.end() && !it->second.region().empty()
                             ? it->second.region()
                             : "Other";
    by_region[region].push_back(&g);
  }
  if (by_region.empty()) return "";
  constexpr int kTile = 64, kGap = 6, kPerRow = 3, kHeader = 22;
  const int band = kPerRow * (kTile + kGap) + 14;
  size_t tallest = 0;
  for (const auto& [region, groups] : by_region) tallest = std::max(tallest, groups.size());
  const int rows = static_cast<int>((tallest + kPerRow - 1) / kPerRow);
  const int width = static_cast<int>(by_region.size()) * band;
  const int height = kHeader + rows * (kTile + kGap) + 4;
  std::string svg = absl::StrFormat(
      "<svg role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" style=\"max-width:100%%\" "
      "xmlns=\"http://www.w3.org/2000/svg\" aria-label=\"Mean score by country and region\">\n",
      width, height, width);
  int column = 0;
  for (const auto& [region, groups] : by_region) {
    int x0 = column++ * band;
    absl::StrAppendFormat(&svg, "<text x=\"%d\" y=\"14\" font-weight=\"600\">%s</text>\n", x0,
                          HtmlEscape(region));
    for (size_t i = 0; i < groups.size(); ++i) {
      const auto& g = *groups[i];
      int x = x0 + static_cast<int>(i % kPerRow) * (kTile + kGap);
      int y = kHeader + static_cast<int>(i / kPerRow) * (kTile + kGap);
      std::string code = g.key().substr(g.key().rfind('/') + 1);
      absl::StrAppendFormat(
          &svg,
          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" fill=\"%s\">"
          "<title>%s: mean %s over %d projects</title></rect>\n"
          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"700\">%s</text>\n"
          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
          x, y, kTile, kTile, ScoreShade(g.mean_score()), HtmlEscape(g.label()),
          Fixed(g.mean_score()), g.project_count(), x + kTile / 2, y + 26, HtmlEscape(code),
          x + kTile / 2, y + 46, Fixed(g.mean_score()));
    }
  }
  svg += "</svg>\n";
  return svg;
}

std::string CountryTable(const PortfolioReport& report) {
  std::string html =
      "<table><thead><tr><th>Country</th><th>Region</th><th class=\"num\">Projects</th>"
      "<th class=\"num\">Mean score</th><th class=\"num\">Median</th>"
      "<th class=\"num\">Tier A share</th></tr></thead><tbody>\n";
  for (const auto& g : report.by_country.groups()) {
    auto it = report.countries.find(g.key());
    std::string region;
    if (it != report.countries.end()) {
      region = it->second.sub_region().empty() ? it->second.region() : it->second.sub_region();
    }
    absl::StrAppendFormat(
        &html,
        "<tr><td>%s</td><td>%s</td><td class=\"num\">%d</td>"
        "<td class=\"num\" style=\"background:%s\">%s</td><td class=\"num\">%s</td>"
        "<td class=\"num\">%.0f%%</td></tr>\n",
        HtmlEscape(g.label().empty() ? g.key() : g.label()), HtmlEscape(region), g.project_count(),
        ScoreShade(g.mean_score()), Fixed(g.mean_score()), Fixed(g.median_score()),
        g.tier_a_share() * 100);
  }
  html += "</tbody></table>\n";
  return html;
}

std::string ComponentBars(const sv1::Score& score) {
  constexpr int kLabel = 170, kBar = 220, kRow = 18;
  int rows = 0;
  for (const auto& c : score.components()) rows += c.applicable() ? 1 : 0;
  if (rows == 0) return "";
  std::string svg = absl::StrFormat(
      "<svg role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" style=\"max-width:100%%\" "
      "xmlns=\"http://www.w3.org/2000/svg\" aria-label=\"Component values\">\n",
      kLabel + kBar + 50, rows * kRow, kLabel + kBar + 50);
  int row = 0;
  for (const auto& c : score.components()) {
    if (!c.applicable()) continue;
    int y = row++ * kRow;
    double w = std::clamp(c.value(), 0.0, 100.0) / 100.0 * kBar;
    absl::StrAppendFormat(&svg,
                          "<text x=\"0\" y=\"%d\">%s</text>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"12\" fill=\"#e4e7eb\"/>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"12\" fill=\"%s\">"
                          "<title>%s: %s of 100, weight %s</title></rect>"
                          "<text x=\"%d\" y=\"%d\">%s</text>\n",
                          y + 12, ComponentName(c.component()), kLabel, y + 2, kBar, kLabel, y + 2,
                          w, ScoreShade(c.value()), ComponentName(c.component()),
                          Fixed(c.value(), 0), Fixed(c.weight(), 2), kLabel + kBar + 6, y + 12,
                          Fixed(c.value(), 0));
  }
  svg += "</svg>\n";
  return svg;
}

std::string TopProjects(const PortfolioReport& report) {
  if (report.top_projects.empty()) return "<p class=\"note\">No scored projects.</p>\n";
  std::string html;
  int rank = 0;
  for (const auto& s : report.top_projects) {
    std::string tier = TierName(s.tier());
    std::vector<std::string> avenues;
    for (int a : s.avenues())
      avenues.push_back(AvenueLabel(static_cast<stp::common::v1::Avenue>(a)));
    std::string host = s.host_country();
    if (auto it = report.countries.find(host); it != report.countries.end()) {
      host = it->second.display_name();
    }
    absl::StrAppendFormat(
        &html,
        "<div class=\"project\"><h3><span class=\"badge tier-%s\">%s</span>%d. %s</h3>\n"
        "<div class=\"meta\">%s · %s · tier %s · confidence %.0f%% · %s</div>\n",
        tier, Fixed(s.total()), ++rank, HtmlEscape(s.title().empty() ? s.project() : s.title()),
        HtmlEscape(host), HtmlEscape(absl::StrJoin(avenues, ", ")), tier, s.confidence() * 100,
        HtmlEscape(s.project()));
    html += ComponentBars(s);
    html += "<ul class=\"reasons\">\n";
    for (const auto& c : s.components()) {
      if (!c.applicable()) continue;
      for (const auto& reason : c.reasons()) {
        absl::StrAppend(&html, "<li><span>", HtmlEscape(ComponentName(c.component())), ":</span> ",
                        HtmlEscape(reason), "</li>\n");
      }
    }
    html += "</ul></div>\n";
  }
  return html;
}

std::string GroupByTitle(sv1::GroupBy g) {
  switch (g) {
    case sv1::GROUP_BY_COOPERATION_MODEL:
      return "cooperation model";
    case sv1::GROUP_BY_PARK:
      return "park";
    case sv1::GROUP_BY_AVENUE:
      return "avenue";
    default:
      return "country";
  }
}

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderPortfolioReport(const PortfolioReport& report) {
  const auto& overall = report.by_country.overall();
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // No request at all for an icon: the page stays self-contained offline.
      "<link rel=\"icon\" href=\"data:,\">\n<title>",
      HtmlEscape(report.title), "</title>\n<style>", kStyle,
      "</style>\n</head>\n<body>\n<header><h1>", HtmlEscape(report.title), "</h1><p>Generated ",
      absl::FormatTime("%Y-%m-%d %H:%M UTC", report.generated, absl::UTCTimeZone()),
      report.filter_description.empty() ? "" : " · " + HtmlEscape(report.filter_description),
      report.by_country.model_version().empty()
          ? ""
          : " · scoring model " + HtmlEscape(report.by_country.model_version()),
      "</p></header>\n<main>\n");

  absl::StrAppendFormat(
      &html,
      "<section id=\"overview\"><h2>Overview</h2><div class=\"kpis\">"
      "<div class=\"kpi\"><b>%d</b>scored projects</div>"
      "<div class=\"kpi\"><b>%s</b>mean score</div>"
      "<div class=\"kpi\"><b>%.0f%%</b>in tier A</div>"
      "<div class=\"kpi\"><b>%.0f%%</b>base rate of success</div></div>\n"
      "<p class=\"note\">The base rate is the share of parks that succeed without the "
      "conditions the model rewards (about a quarter, after UNCTAD); read the tier A share "
      "against it.</p></section>\n",
      overall.project_count(), Fixed(overall.mean_score()), overall.tier_a_share() * 100,
      report.by_country.base_rate() * 100);

  absl::StrAppend(&html,
                  "<section id=\"tiers-by-country\"><h2>Tier distribution by host "
                  "country</h2>\n<p class=\"note\">Projects per tier; the largest groups "
                  "first.</p>\n",
                  Legend(), StackedBars(report.by_country, "Tier distribution by country"),
                  "</section>\n");
  absl::StrAppend(&html,
                  "<section id=\"tiers-by-avenue\"><h2>Tier distribution by avenue</h2>\n"
                  "<p class=\"note\">A project serving two avenues counts in both.</p>\n",
                  Legend(), StackedBars(report.by_avenue, "Tier distribution by avenue"),
                  "</section>\n");
  if (report.extra_group_by != sv1::GROUP_BY_UNSPECIFIED) {
    std::string title = GroupByTitle(report.extra_group_by);
    absl::StrAppend(&html, "<section id=\"tiers-by-", title == "park" ? "park" : "model",
                    "\"><h2>Tier distribution by ", title, "</h2>\n", Legend(),
                    StackedBars(report.extra, "Tier distribution by " + title), "</section>\n");
  }
  absl::StrAppend(&html,
                  "<section id=\"countries\"><h2>Mean score by country</h2>\n<p "
                  "class=\"note\">Each tile is a host country, grouped by region and shaded "
                  "from red (low mean score) to green (high).</p>\n",
                  CountryTiles(report), CountryTable(report), "</section>\n");
  absl::StrAppend(&html,
                  "<section id=\"top-projects\"><h2>Top projects</h2>\n<p "
                  "class=\"note\">The best-scored projects, with the reasons behind each "
                  "component of their score.</p>\n",
                  TopProjects(report), "</section>\n");
  html +=
      "</main>\n<footer>STP Cooperation Tracker · scores are explainable and deterministic; "
      "see the scoring model for weights and thresholds.</footer>\n</body>\n</html>\n";
  return html;
}

}  // namespace stp::stpctl
