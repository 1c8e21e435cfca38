#include "services/scoring/core/components.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/scoring/core/reason_text.h"

namespace stp::scoring {
namespace {

using stp::common::v1::Avenue;
using stp::common::v1::IncomeGroup;
using stp::common::v1::PartnerRole;
using stp::ingestion::v1::Organization;
using stp::ingestion::v1::OrganizationType;
using stp::scoring::v1::ComponentScore;

constexpr IncomeGroup kUnknownIncome = stp::common::v1::INCOME_GROUP_UNSPECIFIED;

ComponentScore NewComponent(stp::scoring::v1::Component component) {
  ComponentScore score;
  score.set_component(component);
  score.set_applicable(true);
  return score;
}

void SetValue(ComponentScore& score, double value_0_to_1) {
  // std::clamp passes NaN through; no input may make a value that is not a number.
  score.set_value(std::isnan(value_0_to_1) ? 0.0 : 100 * std::clamp(value_0_to_1, 0.0, 1.0));
}

std::string Plural(int count, absl::string_view singular, absl::string_view plural) {
  return absl::StrCat(count, " ", count == 1 ? singular : plural);
}

// A fit in [0, 1] as the reasons show it, out of 100; words and advice follow this number,
// so that "(70/100)" never reads "moderately".
long Shown(double fit) { return std::lround(fit * 100); }

// "well", "moderately" or "poorly", for a fit in [0, 1].
std::string FitWord(double fit) {
  if (Shown(fit) >= 70) return "well";
  if (Shown(fit) >= 45) return "moderately";
  return "poorly";
}

std::string Reading(absl::string_view name, const IndicatorReading& reading) {
  std::string text = absl::StrCat(name, " is ", IndicatorValue(reading.value));
  if (reading.year > 0) absl::StrAppend(&text, " (", reading.year, ")");
  return text;
}

// A fit in [0, 1] that blends the income-group fit with the mean suitability of the
// indicators present; either part alone when the other is missing, nullopt when both are.
std::optional<double> BlendFit(bool income_known, double income_fit,
                               const std::vector<double>& suitabilities, double indicator_share) {
  if (!income_known && suitabilities.empty()) return std::nullopt;
  double indicator_fit = 0;
  for (double s : suitabilities) indicator_fit += s;
  if (!suitabilities.empty()) indicator_fit /= static_cast<double>(suitabilities.size());
  if (!income_known) return indicator_fit;
  if (suitabilities.empty()) return income_fit;
  return (1 - indicator_share) * income_fit + indicator_share * indicator_fit;
}

bool HasRole(const ResolvedParticipant& participant, PartnerRole role) {
  return participant.participant->role() == role;
}

bool HasType(const Organization* organization, OrganizationType type) {
  return organization != nullptr && organization->type() == type;
}

double AmountOf(const google::type::Money& money) {
  double amount = static_cast<double>(money.units()) + static_cast<double>(money.nanos()) * 1e-9;
  // Negative or non-finite amounts are invalid input; they add nothing rather than subtract.
  return std::isfinite(amount) && amount > 0 ? amount : 0.0;
}

}  // namespace

// --- 1. Absorptive fit -------------------------------------------------------------------------

ComponentScore ScoreAbsorptiveFit(const ProjectFacts& facts, const ModelConfig& config) {
  const AbsorptiveFitConfig& fit = config.absorptive_fit;
  ComponentScore score = NewComponent(stp::scoring::v1::COMPONENT_ABSORPTIVE_FIT);
  const ResolvedParticipant* lead = facts.lead_technology_partner();
  IncomeGroup host_group = facts.host_income_group();
  IncomeGroup partner_group = lead != nullptr ? lead->income_group : kUnknownIncome;
  score.set_confidence(((host_group != kUnknownIncome) + (partner_group != kUnknownIncome)) / 2.0);

  if (lead == nullptr) {
    score.add_reasons(
        "no technology partner is named: name the lead technology partner so that the "
        "development gap to the host can be measured");
  } else if (lead->organization == nullptr) {
    score.add_reasons(absl::StrCat("the technology partner ", lead->label,
                                   " is not in the registry, so its country's income level is "
                                   "unknown"));
  } else if (lead->organization->country().empty()) {
    score.add_reasons(absl::StrCat("the technology partner ", lead->label,
                                   " belongs to no single country, so the development gap "
                                   "cannot be measured"));
  } else if (partner_group == kUnknownIncome) {
    score.add_reasons(absl::StrCat("the income group of the technology partner's country (",
                                   CountryLabel(lead->country, lead->organization->country()),
                                   ") is not recorded"));
  }
  if (host_group == kUnknownIncome) {
    score.add_reasons(absl::StrCat("the income group of the host country (", facts.host_label(),
                                   ") is not recorded"));
  }
  if (host_group == kUnknownIncome || partner_group == kUnknownIncome) {
    SetValue(score, config.neutral_value / 100);
    return score;
  }

  int gap = static_cast<int>(partner_group) - static_cast<int>(host_group);
  double value = fit.ValueForGap(gap);
  std::string partner = absl::StrCat("the technology partner's country (",
                                     CountryLabel(lead->country, lead->organization->country()),
                                     ", ", IncomeGroupLabel(partner_group), ")");
  std::string host =
      absl::StrCat("the host (", facts.host_label(), ", ", IncomeGroupLabel(host_group), ")");
  std::string steps =
      absl::StrCat(CountWord(std::abs(gap)), " income ", std::abs(gap) == 1 ? "group" : "groups");
  if (gap == 1) {
    score.add_reasons(absl::StrCat(partner, " is one income group above ", host,
                                   ": close enough for the host to absorb what is transferred"));
  } else if (gap == 0) {
    score.add_reasons(absl::StrCat(partner, " is at the income level of ", host,
                                   ": what it transfers is easy to absorb but adds less new "
                                   "capability than a partner one step ahead"));
  } else if (gap < 0) {
    score.add_reasons(absl::StrCat(partner, " is ", steps, " below ", host,
                                   ": it has little to transfer that the host does not already "
                                   "have"));
  } else if (gap < fit.bridge_min_gap) {
    score.add_reasons(absl::StrCat(partner, " is ", steps, " above ", host,
                                   ": the wider gap makes what is transferred harder to absorb"));
  } else {
    // The triangular bridge: any other participant from a country strictly between the two.
    const ResolvedParticipant* bridge = nullptr;
    for (const auto& participant : facts.participants()) {
      if (facts.IsLeadTechnologyPartner(participant)) continue;
      if (participant.income_group > host_group && participant.income_group < partner_group) {
        bridge = &participant;
        break;
      }
    }
    if (bridge == nullptr) {
      score.add_reasons(absl::StrCat(
          partner, " is ", steps, " above ", host,
          " and no bridging partner takes part: add a partner from a country in between, "
          "whose experience is closer to what the host can absorb"));
    } else {
      // max() keeps the bridge from ever lowering the value, whatever the configured table.
      value = std::max(value, value + fit.bridge_restores * (fit.ValueForGap(1) - value));
      score.add_reasons(
          absl::StrCat(partner, " is ", steps, " above ", host, ", and ", bridge->label, " from ",
                       CountryLabel(bridge->country, bridge->organization->country()), " (",
                       IncomeGroupLabel(bridge->income_group), ") bridges the gap"));
    }
  }
  SetValue(score, value / 100);
  return score;
}

// --- 2. Comparative-advantage alignment ------------------------------------------------------

ComponentScore ScoreComparativeAdvantage(const ProjectFacts& facts, const ModelConfig& config) {
  const ComparativeAdvantageConfig& advantage = config.comparative_advantage;
  ComponentScore score = NewComponent(stp::scoring::v1::COMPONENT_COMPARATIVE_ADVANTAGE);
  if (facts.avenues().empty()) {
    score.set_confidence(0);
    score.add_reasons("the project names no avenue, so its fit with the host cannot be judged");
    SetValue(score, config.neutral_value / 100);
    return score;
  }
  IncomeGroup host_group = facts.host_income_group();
  bool income_known = host_group != kUnknownIncome;
  int inputs = 0;
  int present = 0;
  double fit_sum = 0;
  for (Avenue avenue : facts.avenues()) {
    const AvenueFitConfig& avenue_fit = advantage.avenues[static_cast<size_t>(avenue)];
    std::vector<double> suitabilities;
    std::vector<std::string> details;
    for (const IndicatorScale& scale : avenue_fit.indicators) {
      ++inputs;
      if (auto reading = NewestIndicator(facts.host(), scale.name)) {
        ++present;
        suitabilities.push_back(scale.Suitability(reading->value));
        details.push_back(Reading(scale.name, *reading));
      } else {
        details.push_back(absl::StrCat(scale.name, " is not recorded"));
      }
    }
    ++inputs;
    if (income_known) {
      ++present;
      details.push_back(absl::StrCat(facts.host_label(), " is ", IncomeGroupLabel(host_group)));
    } else {
      details.push_back("the income group is not recorded");
    }
    std::optional<double> fit = BlendFit(income_known, avenue_fit.income_fit.For(host_group),
                                         suitabilities, advantage.indicator_share);
    if (fit.has_value()) {
      score.add_reasons(absl::StrCat(AvenueLabel(avenue), " suits ", facts.host_label(), " ",
                                     FitWord(*fit), " (", Shown(*fit),
                                     "/100): ", absl::StrJoin(details, "; ")));
      fit_sum += *fit;
    } else {
      score.add_reasons(absl::StrCat("how ", AvenueLabel(avenue), " suits ", facts.host_label(),
                                     " cannot be judged: ", absl::StrJoin(details, "; ")));
      fit_sum += config.neutral_value / 100;
    }
  }
  score.set_confidence(static_cast<double>(present) / inputs);
  SetValue(score, fit_sum / static_cast<double>(facts.avenues().size()));
  return score;
}

// --- 3. Partnership structure ------------------------------------------------------------------

ComponentScore ScorePartnershipStructure(const ProjectFacts& facts, const ModelConfig& config) {
  const PartnershipStructureConfig& structure = config.partnership_structure;
  ComponentScore score = NewComponent(stp::scoring::v1::COMPONENT_PARTNERSHIP_STRUCTURE);
  const auto& participants = facts.participants();
  const auto& project = facts.project();
  IncomeGroup host_group = facts.host_income_group();
  bool southern_host =
      host_group != kUnknownIncome && host_group != stp::common::v1::INCOME_GROUP_HIGH;

  // Triangular partner: declared by role, else recognised by what the organisation is. The
  // lead technology partner is the second side of the triangle, never the third.
  std::string triangular;
  for (const auto& participant : participants) {
    if (facts.IsLeadTechnologyPartner(participant)) continue;
    if (HasRole(participant, stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER)) {
      triangular = absl::StrCat(participant.label, " takes part as triangular partner");
      break;
    }
  }
  // Recognised by what it is, when the host is in the South: a multilateral body, a
  // multinational company or a participant from a high-income country.
  auto third_party = [&](const ResolvedParticipant& participant) -> std::string {
    if (facts.IsLeadTechnologyPartner(participant)) return "";
    const Organization* organization = participant.organization;
    if (HasType(organization, stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL)) {
      return absl::StrCat(participant.label, ", a multilateral organisation,");
    }
    if (HasType(organization, stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL)) {
      return absl::StrCat(participant.label, ", a multinational company,");
    }
    if (participant.income_group == stp::common::v1::INCOME_GROUP_HIGH) {
      return absl::StrCat(participant.label, " from ",
                          CountryLabel(participant.country, organization->country()),
                          ", a high-income country,");
    }
    return "";
  };
  std::string candidate;  // a third party, were the host known to be in the South
  if (triangular.empty()) {
    for (const auto& participant : participants) {
      candidate = third_party(participant);
      if (!candidate.empty()) break;
    }
    if (southern_host && !candidate.empty()) {
      triangular = absl::StrCat(candidate, " takes part as a third party");
    }
  }
  double triangular_credit = 0;
  const double declared_credit = project.triangular() ? structure.declared_triangular_credit : 0;
  if (!triangular.empty()) {
    triangular_credit = 1;
    score.add_reasons(triangular);
  } else if (host_group == kUnknownIncome && !candidate.empty()) {
    // Unknown is neutral: whether the cooperation is South-South with a third party depends on
    // the host's income group.
    triangular_credit = std::max(config.neutral_value / 100, declared_credit);
    score.add_reasons(absl::StrCat(
        candidate, " takes part, but the income group of the host country (", facts.host_label(),
        ") is not recorded, so whether it is a triangular third "
        "party cannot be judged"));
  } else if (project.triangular()) {
    triangular_credit = declared_credit;
    score.add_reasons(
        "the project is declared triangular, but its third party is not among the participants: "
        "add the Northern partner, multilateral body or multinational");
  } else {
    score.add_reasons(
        "no triangular partner (a Northern country, a multilateral body or a multinational "
        "company) takes part");
  }

  // DFI co-financier: a DFI among the financiers, or a DFI as the source of money.
  std::string dfi;
  for (const auto& participant : participants) {
    if (HasRole(participant, stp::common::v1::PARTNER_ROLE_FINANCIER) &&
        HasType(participant.organization, stp::ingestion::v1::ORGANIZATION_TYPE_DFI)) {
      dfi = absl::StrCat(participant.label,
                         ", a development finance institution, co-finances the project");
      break;
    }
  }
  auto dfi_source = [&](const auto& flows, absl::string_view verb) {
    for (const auto& flow : flows) {
      if (AmountOf(flow.amount()) <= 0) continue;  // a zero flow finances nothing
      const Organization* organization = facts.FindOrganization(flow.source_organization());
      if (HasType(organization, stp::ingestion::v1::ORGANIZATION_TYPE_DFI)) {
        dfi = absl::StrCat(OrganizationLabel(organization, "", flow.source_organization()),
                           ", a development finance institution, has ", verb, " funds");
        return;
      }
    }
  };
  if (dfi.empty()) dfi_source(project.financing().commitments(), "committed");
  if (dfi.empty()) dfi_source(project.financing().disbursements(), "disbursed");
  if (!dfi.empty()) {
    score.add_reasons(dfi);
  } else {
    score.add_reasons(
        "no development finance institution co-finances the project: a DFI brings long-term "
        "money that other financiers follow");
  }

  // Host government: by role, or a government organisation of the host country.
  std::string government;
  for (const auto& participant : participants) {
    const Organization* organization = participant.organization;
    bool host_public_body =
        organization != nullptr && !project.host_country().empty() &&
        organization->country() == project.host_country() &&
        (organization->type() == stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT ||
         organization->type() == stp::ingestion::v1::ORGANIZATION_TYPE_LOCAL_GOVERNMENT);
    if (HasRole(participant, stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT) || host_public_body) {
      government = absl::StrCat("the host government takes part (", participant.label, ")");
      break;
    }
  }
  if (!government.empty()) {
    score.add_reasons(government);
  } else {
    score.add_reasons(
        "the host government does not take part: parks depend on its land, permits and policy "
        "support");
  }

  // IASP: full credit for a member park, or a member park operator; partial for another
  // member.
  double iasp_credit = 0;
  std::string iasp;
  if (const auto* park = facts.park(); park != nullptr && park->iasp_member()) {
    iasp_credit = 1;
    iasp = absl::StrCat("the park ",
                        park->display_name().empty() ? park->name() : park->display_name(),
                        " is a member of IASP");
  }
  for (const auto& participant : participants) {
    if (iasp_credit == 1) break;
    const Organization* organization = participant.organization;
    if (organization == nullptr || !organization->iasp_member()) continue;
    bool is_operator = HasRole(participant, stp::common::v1::PARTNER_ROLE_OPERATOR) ||
                       organization->type() == stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR;
    if (is_operator) {
      iasp_credit = 1;
      iasp = absl::StrCat("the park operator ", participant.label, " is a member of IASP");
      break;
    }
    if (iasp.empty()) {
      iasp_credit = structure.iasp_non_operator_credit;
      iasp = absl::StrCat(participant.label,
                          " is a member of IASP, but no IASP-member park operator takes part");
    }
  }
  score.add_reasons(!iasp.empty() ? iasp
                                  : "neither the park nor any participant is a member of IASP, "
                                    "the International Association of Science Parks and Areas "
                                    "of Innovation");

  // Organisations, not participant entries: one organisation may take part in several roles.
  std::set<std::string> named, in_registry;
  for (const auto& participant : participants) {
    named.insert(participant.participant->organization());
    if (participant.organization != nullptr)
      in_registry.insert(participant.participant->organization());
  }
  int known = static_cast<int>(in_registry.size());
  int total = static_cast<int>(named.size());
  if (total == 0) {
    score.add_reasons("the project names no participating organisations");
  } else if (known < total) {
    int unknown = total - known;
    score.add_reasons(absl::StrCat(
        unknown, " of ", Plural(total, "participating organisation", "participating organisations"),
        unknown == 1 ? " is" : " are", " not in the registry"));
  }
  score.set_confidence(total == 0 ? 0.0 : static_cast<double>(known) / total);
  SetValue(score, structure.triangular_partner * triangular_credit +
                      structure.dfi_cofinancier * (dfi.empty() ? 0.0 : 1.0) +
                      structure.host_government * (government.empty() ? 0.0 : 1.0) +
                      structure.iasp_member * iasp_credit);
  return score;
}

// --- 4. Financing health -----------------------------------------------------------------------

ComponentScore ScoreFinancingHealth(const ProjectFacts& facts, const ModelConfig& config) {
  const FinancingHealthConfig& health = config.financing_health;
  ComponentScore score = NewComponent(stp::scoring::v1::COMPONENT_FINANCING_HEALTH);
  const auto& financing = facts.project().financing();

  double budget = financing.has_budget() ? AmountOf(financing.budget()) : 0;
  bool budget_known = budget > 0 && !financing.budget().currency_code().empty();
  // Amounts are compared in one currency only: the budget's, else the first flow's.
  std::string currency;
  if (budget_known) {
    currency = financing.budget().currency_code();
  } else {
    for (const auto* flows : {&financing.commitments(), &financing.disbursements()}) {
      for (const auto& flow : *flows) {
        if (currency.empty() && AmountOf(flow.amount()) > 0) {
          currency = flow.amount().currency_code();
        }
      }
    }
  }
  double committed = 0;
  double disbursed = 0;
  int flows_with_money = 0;
  int left_out = 0;
  int disbursements_left_out = 0;
  std::set<std::string> other_currencies;
  std::set<std::string> sources;
  auto add_flows = [&](const auto& flows, double& sum) {
    for (const auto& flow : flows) {
      double amount = AmountOf(flow.amount());
      if (amount <= 0) continue;
      ++flows_with_money;
      if (!flow.source_organization().empty()) sources.insert(flow.source_organization());
      if (flow.amount().currency_code() == currency) {
        sum += amount;
      } else {
        ++left_out;
        other_currencies.insert(
            flow.amount().currency_code().empty() ? "no currency" : flow.amount().currency_code());
      }
    }
  };
  add_flows(financing.commitments(), committed);
  const int commitments_left_out = left_out;
  add_flows(financing.disbursements(), disbursed);
  disbursements_left_out = left_out - commitments_left_out;

  // Money paid out was committed, whether or not the commitment was recorded.
  double effective_committed = std::max(committed, disbursed);
  double coverage = 0;
  if (budget_known) {
    coverage = std::min(effective_committed / budget, 1.0);
  } else if (effective_committed > 0) {
    coverage = health.coverage_without_budget;
  }
  double disbursed_share = effective_committed > 0 ? disbursed / effective_committed : 0.0;
  double source_share =
      std::min(static_cast<double>(sources.size()) / health.sources_for_full_credit, 1.0);

  if (!budget_known) {
    score.add_reasons(
        "no budget is recorded: record it so that commitments can be compared with it");
  }
  if (effective_committed <= 0 && left_out > 0) {
    // Money is recorded, in another currency only (the reason about the flows left out
    // follows): "no financier has committed funds" would be wrong.
    score.add_reasons(absl::StrCat("no commitment is recorded in ", currency,
                                   ", the budget's currency: record the flows in ", currency,
                                   " or the budget in theirs, so that they can be compared"));
  } else if (effective_committed <= 0) {
    score.add_reasons("no financier has committed funds yet");
  } else {
    if (budget_known) {
      score.add_reasons(absl::StrCat(Percent(coverage), " of the budget (",
                                     Amount(currency, budget), ") is committed (",
                                     Amount(currency, effective_committed), ")"));
    } else {
      score.add_reasons(absl::StrCat(Amount(currency, effective_committed),
                                     " is committed; without a budget its coverage is taken as ",
                                     Percent(coverage)));
    }
    if (disbursed > committed) {
      score.add_reasons(
          "more has been disbursed than committed: the disbursements are counted as committed");
    }
    if (disbursed <= 0 && disbursements_left_out > 0) {
      score.add_reasons(absl::StrCat(
          "no disbursement is recorded in ", currency, ", the currency of the ",
          Amount(currency, effective_committed), " committed: record disbursements in ", currency,
          " so that they can be compared"));
    } else if (disbursed <= 0) {
      score.add_reasons(absl::StrCat("nothing has been disbursed yet of the ",
                                     Amount(currency, effective_committed), " committed"));
    } else {
      score.add_reasons(
          absl::StrCat(Percent(disbursed_share), " of the committed funds have been disbursed"));
    }
  }
  if (flows_with_money > 0) {
    if (sources.empty()) {
      score.add_reasons("no commitment or disbursement names the organisation it comes from");
    } else if (static_cast<int>(sources.size()) < health.sources_for_full_credit) {
      score.add_reasons(absl::StrCat(Plural(static_cast<int>(sources.size()),
                                            "distinct source funds", "distinct sources fund"),
                                     " the project: more sources would spread the risk"));
    } else {
      score.add_reasons(absl::StrCat(Plural(static_cast<int>(sources.size()),
                                            "distinct source funds", "distinct sources fund"),
                                     " the project"));
    }
  }
  if (left_out > 0) {
    score.add_reasons(absl::StrCat(
        Plural(left_out, "flow", "flows"), " in ", absl::StrJoin(other_currencies, ", "),
        left_out == 1 ? " was" : " were", " left out of the amounts because ",
        budget_known ? "the budget is in " : "amounts are compared in the first flow's currency, ",
        currency));
  }

  score.set_confidence(((budget_known ? 1 : 0) + (flows_with_money > 0 ? 1 : 0)) / 2.0);
  // The share paid out is of the budget (without one, the disbursed share scaled by the
  // coverage taken), so that quickly paying out a small part of the budget does not look like
  // a fully financed project. Up to the budget this is coverage × disbursed share; beyond it,
  // a commitment over the budget does not dilute what was paid.
  double paid = budget_known ? std::min(disbursed, budget) / budget : coverage * disbursed_share;
  SetValue(score, health.commitment_coverage * coverage + health.disbursement * paid +
                      health.sources * source_share);
  return score;
}

// --- 5. Execution ------------------------------------------------------------------------------

ComponentScore ScoreExecution(const ProjectFacts& facts, const ModelConfig& config) {
  const ExecutionConfig& execution = config.execution;
  ComponentScore score = NewComponent(stp::scoring::v1::COMPONENT_EXECUTION);
  const auto& project = facts.project();
  double neutral = config.neutral_value / 100;

  // Milestones: on time or on track earns 1, reached late earns late_milestone_credit,
  // overdue (due before today and not done) earns 0.
  int dated = 0;
  int undated = 0;
  int overdue = 0;
  int late = 0;
  for (const auto& milestone : project.milestones()) {
    std::optional<absl::CivilDay> due = LastDayOf(milestone.due_date());
    if (!due.has_value()) {
      ++undated;
      continue;
    }
    ++dated;
    if (!milestone.done()) {
      if (*due < facts.today()) ++overdue;
      continue;
    }
    std::optional<absl::CivilDay> done = LastDayOf(milestone.done_date());
    if (done.has_value() && *done > *due) ++late;
  }
  double milestone_value = neutral;
  if (dated > 0) {
    milestone_value = (dated - overdue - late + late * execution.late_milestone_credit) / dated;
    std::string of_dated = absl::StrCat(" of ", Plural(dated, "milestone", "milestones"));
    if (overdue > 0) {
      score.add_reasons(absl::StrCat(overdue, of_dated, overdue == 1 ? " is" : " are", " overdue"));
    }
    if (late > 0) {
      score.add_reasons(absl::StrCat(late, of_dated, late == 1 ? " was" : " were",
                                     " reached after the due date"));
    }
    if (overdue == 0 && late == 0) {
      std::string all = dated == 1   ? "the one milestone is"
                        : dated == 2 ? "both milestones are"
                                     : absl::StrCat("all ", dated, " milestones are");
      score.add_reasons(absl::StrCat(all, " done on time or on track"));
    }
  } else {
    score.add_reasons("no milestone with a due date is recorded");
  }
  if (undated > 0) {
    score.add_reasons(absl::StrCat(Plural(undated, "milestone has", "milestones have"),
                                   " no due date and cannot be judged"));
  }

  // Results: progress from baseline towards target, for results with a reported actual.
  int measured = 0;
  double progress_sum = 0;
  for (const auto& result : project.results()) {
    if (!result.has_actual() || result.target() == result.baseline() ||
        !std::isfinite(result.actual()) || !std::isfinite(result.target()) ||
        !std::isfinite(result.baseline())) {
      continue;
    }
    double gained = result.actual() - result.baseline();
    double span = result.target() - result.baseline();
    if (!std::isfinite(gained) || !std::isfinite(span)) {
      // A difference overflowed (values near the limits of a double): the same ratio from
      // halves, which cannot overflow.
      gained = result.actual() / 2 - result.baseline() / 2;
      span = result.target() / 2 - result.baseline() / 2;
    }
    double progress = gained / span;
    if (std::isnan(progress)) continue;
    ++measured;
    progress_sum += std::clamp(progress, 0.0, 1.0);
  }
  double result_value = neutral;
  if (measured > 0) {
    result_value = progress_sum / measured;
    score.add_reasons(absl::StrCat(
        "results have reached ", Percent(result_value), " of their targets on average (",
        Plural(measured, "result with a reported value", "results with reported values"), ")"));
  } else {
    score.add_reasons("no result has a reported actual value yet");
  }

  auto stage = project.stage();
  double multiplier = execution.StageMultiplier(stage);
  if (stage == stp::ingestion::v1::PROJECT_STAGE_UNSPECIFIED) {
    score.add_reasons("the project's stage is not recorded");
  } else if (multiplier < 1) {
    score.add_reasons(absl::StrCat("the project is ", StageLabel(stage),
                                   ", so its execution counts at ", Percent(multiplier)));
  } else {
    score.add_reasons(absl::StrCat("the project is ", StageLabel(stage)));
  }

  score.set_confidence((dated > 0) / 3.0 + (measured > 0) / 3.0 +
                       (stage != stp::ingestion::v1::PROJECT_STAGE_UNSPECIFIED) / 3.0);
  SetValue(score,
           multiplier * (execution.milestones * milestone_value + execution.results * result_value +
                         execution.stage * execution.StageProgress(stage)));
  return score;
}

// --- 6. Digital readiness ----------------------------------------------------------------------

ComponentScore ScoreDigitalReadiness(const ProjectFacts& facts, const ModelConfig& config) {
  const DigitalReadinessConfig& digital = config.digital_readiness;
  ComponentScore score = NewComponent(stp::scoring::v1::COMPONENT_DIGITAL_READINESS);
  if (!facts.HasAvenue(stp::common::v1::AVENUE_E_COMMERCE) &&
      !facts.HasAvenue(stp::common::v1::AVENUE_E_MANUFACTURING)) {
    score.set_applicable(false);
    score.set_confidence(0);
    score.set_value(0);
    score.add_reasons(
        "does not apply: the project has neither the e-commerce nor the "
        "e-manufacturing avenue");
    return score;
  }
  IncomeGroup host_group = facts.host_income_group();
  bool income_known = host_group != kUnknownIncome;
  std::vector<double> suitabilities;
  std::vector<std::string> details;
  if (auto reading = NewestIndicator(facts.host(), digital.indicator.name)) {
    suitabilities.push_back(digital.indicator.Suitability(reading->value));
    details.push_back(Reading(digital.indicator.name, *reading));
  } else {
    details.push_back(absl::StrCat(digital.indicator.name, " is not recorded"));
  }
  if (income_known) {
    details.push_back(absl::StrCat(facts.host_label(), " is ", IncomeGroupLabel(host_group)));
  } else {
    details.push_back("the income group is not recorded");
  }
  score.set_confidence(((income_known ? 1 : 0) + static_cast<int>(suitabilities.size())) / 2.0);
  std::optional<double> readiness = BlendFit(income_known, digital.income_fit.For(host_group),
                                             suitabilities, digital.indicator_share);
  if (!readiness.has_value()) {
    score.add_reasons(absl::StrCat("the digital readiness of ", facts.host_label(),
                                   " cannot be judged: ", absl::StrJoin(details, "; ")));
    SetValue(score, config.neutral_value / 100);
    return score;
  }
  std::string summary = absl::StrCat(facts.host_label(), " is ", FitWord(*readiness),
                                     " prepared for the digital avenues (", Shown(*readiness),
                                     "/100): ", absl::StrJoin(details, "; "));
  score.add_reasons(summary);
  if (Shown(*readiness) < 45) {
    score.add_reasons("plan connectivity and digital skills alongside the digital avenue");
  }
  SetValue(score, *readiness);
  return score;
}

}  // namespace stp::scoring
