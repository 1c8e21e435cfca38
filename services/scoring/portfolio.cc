#include "services/scoring/portfolio.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "libs/common/ids.h"
#include "libs/common/status.h"
#include "libs/common/vocabulary.h"

namespace stp::scoring {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

std::string EnumLabel(const std::string& enum_name, const std::string& prefix) {
  std::string s = enum_name.substr(std::min(enum_name.size(), prefix.size()));
  s = absl::AsciiStrToLower(absl::StrReplaceAll(s, {{"_", " "}}));
  return s;
}

void AddTier(v1::TierCounts* counts, v1::Tier tier) {
  switch (tier) {
    case v1::TIER_A:
      counts->set_a(counts->a() + 1);
      break;
    case v1::TIER_B:
      counts->set_b(counts->b() + 1);
      break;
    case v1::TIER_C:
      counts->set_c(counts->c() + 1);
      break;
    case v1::TIER_D:
      counts->set_d(counts->d() + 1);
      break;
    default:
      break;
  }
}

v1::PortfolioGroup Group(const std::string& key, const std::string& label,
                         std::vector<const v1::Score*> members) {
  v1::PortfolioGroup g;
  g.set_key(key);
  g.set_label(label);
  g.set_project_count(static_cast<int>(members.size()));
  if (members.empty()) return g;
  std::vector<double> totals;
  double sum = 0;
  for (const auto* s : members) {
    totals.push_back(s->total());
    sum += s->total();
    AddTier(g.mutable_tiers(), s->tier());
  }
  std::sort(totals.begin(), totals.end());
  size_t n = totals.size();
  g.set_mean_score(sum / n);
  g.set_median_score(n % 2 ? totals[n / 2] : (totals[n / 2 - 1] + totals[n / 2]) / 2);
  g.set_tier_a_share(static_cast<double>(g.tiers().a()) / n);
  return g;
}

}  // namespace

bool ScoreVisible(const Principal& principal, const v1::Score& score) {
  if (score.visibility() != stp::ingestion::v1::VISIBILITY_PARTICIPANTS || principal.is_operator())
    return true;
  if (principal.organization.empty()) return false;
  return std::count(score.participant_organizations().begin(),
                    score.participant_organizations().end(), principal.organization) > 0;
}

std::optional<bool> SerializedScoreVisible(const Principal& principal,
                                           absl::string_view serialized) {
  auto access = ReadSerializedAccess(serialized, v1::Score::kVisibilityFieldNumber,
                                     {v1::Score::kParticipantOrganizationsFieldNumber},
                                     principal.organization);
  if (!access.has_value()) return std::nullopt;
  return access->VisibleTo(principal, stp::ingestion::v1::VISIBILITY_PARTICIPANTS);
}

absl::Status ValidateFilter(const v1::ScoreFilter& f, const std::string& path) {
  FieldViolations v;
  if (!f.host_country().empty() &&
      (f.host_country().size() != 12 || f.host_country().rfind("countries/", 0) != 0)) {
    v.Add(path + ".host_country", "must look like \"countries/EG\"");
  }
  if (!f.park().empty() && f.park().rfind("parks/", 0) != 0)
    v.Add(path + ".park", "must look like \"parks/{id}\"");
  if (!stp::common::v1::Avenue_IsValid(f.avenue())) v.Add(path + ".avenue", "unknown value");
  if (!stp::ingestion::v1::CooperationModel_IsValid(f.cooperation_model())) {
    v.Add(path + ".cooperation_model", "unknown value");
  }
  if (!stp::ingestion::v1::ProjectStage_IsValid(f.stage())) v.Add(path + ".stage", "unknown value");
  if (!v1::Tier_IsValid(f.tier())) v.Add(path + ".tier", "unknown value");
  return v.ToStatus();
}

bool Matches(const v1::ScoreFilter& f, const v1::Score& s) {
  if (!f.host_country().empty() && s.host_country() != f.host_country()) return false;
  if (f.avenue() != 0 && !std::count(s.avenues().begin(), s.avenues().end(), f.avenue()))
    return false;
  if (f.cooperation_model() != 0 && s.cooperation_model() != f.cooperation_model()) return false;
  if (f.stage() != 0 && s.stage() != f.stage()) return false;
  if (f.tier() != 0 && s.tier() != f.tier()) return false;
  if (!f.park().empty() && s.park() != f.park()) return false;
  return true;
}

absl::StatusOr<v1::RankProjectsResponse> RankPage(std::vector<v1::Score> scores,
                                                  const v1::RankProjectsRequest& req) {
  if (req.page_size() < 0 || req.page_size() > kMaxPageSize) {
    return InvalidField("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
  int page_size = req.page_size() == 0 ? kDefaultPageSize : req.page_size();
  auto before = [&](const v1::Score& a, const v1::Score& b) {
    if (a.total() != b.total())
      return req.ascending() ? a.total() < b.total() : a.total() > b.total();
    return a.project() < b.project();
  };
  std::sort(scores.begin(), scores.end(), before);
  // The token is the position (total, project) of the last entry returned, so other projects'
  // score changes between calls neither skip nor repeat an entry. A project whose own score
  // moves across the position between calls is missed (moved to pages already read) or seen
  // twice (moved to pages still to come).
  // It names the order and the filter it was issued for, as the registry's tokens do: a
  // token sent with another filter would start at a position of a list never read.
  const std::string order = req.ascending() ? "a" : "d";
  const std::string filter = MessageFingerprint(req.filter());
  size_t start = 0;
  if (!req.page_token().empty()) {
    std::string raw;
    std::vector<std::string> parts;
    if (absl::WebSafeBase64Unescape(req.page_token(), &raw)) parts = absl::StrSplit(raw, '|');
    // Three parts: a token of an earlier version, which named the order only.
    if (parts.size() == 3) parts.insert(parts.begin() + 1, filter);
    double total = 0;
    if (parts.size() != 4 || parts[0] != order || parts[1] != filter ||
        !absl::SimpleAtod(parts[2], &total)) {
      return InvalidField("page_token",
                          "is not a token RankProjects returned for this order and filter");
    }
    v1::Score last;
    last.set_total(total);
    last.set_project(parts[3]);
    start = std::upper_bound(scores.begin(), scores.end(), last, before) - scores.begin();
  }
  v1::RankProjectsResponse resp;
  resp.set_total_size(static_cast<int>(scores.size()));
  for (size_t i = start; i < scores.size() && resp.scores_size() < page_size; ++i)
    *resp.add_scores() = scores[i];
  if (start + resp.scores_size() < scores.size() && resp.scores_size() > 0) {
    const auto& last = resp.scores(resp.scores_size() - 1);
    resp.set_next_page_token(absl::WebSafeBase64Escape(absl::StrCat(
        order, "|", filter, "|", absl::StrFormat("%.17g", last.total()), "|", last.project())));
  }
  return resp;
}

v1::PortfolioSummary Summarize(const std::vector<v1::Score>& scores, v1::GroupBy group_by,
                               double base_rate, const std::string& model_version,
                               const LabelOf& label) {
  std::map<std::string, std::vector<const v1::Score*>> groups;
  std::vector<const v1::Score*> all;
  for (const auto& s : scores) {
    all.push_back(&s);
    switch (group_by) {
      case v1::GROUP_BY_COUNTRY:
        groups[s.host_country()].push_back(&s);
        break;
      case v1::GROUP_BY_AVENUE:
        for (int a : s.avenues()) groups[stp::common::v1::Avenue_Name(a)].push_back(&s);
        break;
      case v1::GROUP_BY_COOPERATION_MODEL:
        groups[stp::ingestion::v1::CooperationModel_Name(s.cooperation_model())].push_back(&s);
        break;
      case v1::GROUP_BY_PARK:
        groups[s.park()].push_back(&s);
        break;
      default:
        break;
    }
  }
  v1::PortfolioSummary summary;
  std::vector<v1::PortfolioGroup> out;
  for (auto& [key, members] : groups) {
    std::string text;
    if (group_by == v1::GROUP_BY_AVENUE) {
      stp::common::v1::Avenue avenue;
      text = stp::common::v1::Avenue_Parse(key, &avenue) ? AvenueLabel(avenue) : key;
    } else if (group_by == v1::GROUP_BY_COOPERATION_MODEL)
      text = EnumLabel(key, "COOPERATION_MODEL_");
    else if (key.empty())
      text = "(no park)";
    else
      text = label(key);
    out.push_back(Group(key, text, std::move(members)));
  }
  std::sort(out.begin(), out.end(), [](const v1::PortfolioGroup& a, const v1::PortfolioGroup& b) {
    if (a.project_count() != b.project_count()) return a.project_count() > b.project_count();
    return a.key() < b.key();
  });
  for (auto& g : out) *summary.add_groups() = std::move(g);
  *summary.mutable_overall() = Group("", "all projects", all);
  summary.set_base_rate(base_rate);
  // The versions of the scores summarised: one, except while a new model's rescore is under
  // way; the running model's when there is no score.
  std::set<std::string> versions;
  for (const auto& s : scores) {
    if (!s.model_version().empty()) versions.insert(s.model_version());
  }
  summary.set_model_version(versions.empty() ? model_version : absl::StrJoin(versions, ", "));
  return summary;
}

}  // namespace stp::scoring
