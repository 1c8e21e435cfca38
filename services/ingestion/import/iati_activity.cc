#include "services/ingestion/import/iati_activity.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/ingestion/import/record_organizations.h"
#include "services/ingestion/import/record_remarks.h"
#include "services/ingestion/import/value_parsing.h"

namespace stp::ingestion {
namespace {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::PARTNER_ROLE_ACCOUNTABLE;
using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT;
using stp::common::v1::PARTNER_ROLE_IMPLEMENTER;
using stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;
using stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER;

constexpr size_t kMaxSectorsNamedInRejection = 10;
constexpr absl::string_view kIatiCollaborationTriangular = "8";
constexpr int kIatiTypeMultilateral = 40;

absl::string_view Trim(absl::string_view s) { return absl::StripAsciiWhitespace(s); }

bool IsPreferredLanguage(const XmlElement& narrative) {
  absl::string_view lang = Trim(narrative.Attribute("xml:lang"));
  return lang.empty() || absl::EqualsIgnoreCase(lang, "en") ||
         absl::StartsWithIgnoreCase(lang, "en-");
}

// The text of an element that holds narratives (2.x) or plain text (1.x), on one line: the
// first non-empty narrative without xml:lang or in English, else the first non-empty one.
std::string SingleLineText(const XmlElement* element) {
  if (element == nullptr) return "";
  std::vector<const XmlElement*> narratives = element->Children("narrative");
  for (const XmlElement* narrative : narratives) {
    if (!IsPreferredLanguage(*narrative)) continue;
    std::string text = CollapseWhitespace(narrative->text);
    if (!text.empty()) return text;
  }
  for (const XmlElement* narrative : narratives) {
    std::string text = CollapseWhitespace(narrative->text);
    if (!text.empty()) return text;
  }
  return CollapseWhitespace(element->text);
}

std::optional<int> ParseInt(absl::string_view text) {
  int value = 0;
  if (!absl::SimpleAtoi(Trim(text), &value)) return std::nullopt;
  return value;
}

// IATI OrganisationType codes are the enum's values 10..90.
v1::OrganizationType OrganizationTypeFromIati(int code) {
  if (code > 0 && code < 100 && v1::OrganizationType_IsValid(code)) {
    return static_cast<v1::OrganizationType>(code);
  }
  return v1::ORGANIZATION_TYPE_UNSPECIFIED;
}

// A ref that names a kind of organisation or nothing, not one organisation: placeholders
// (N/A), descriptions ("70-Private Sector", "Non IATI Registered Organisation") and the DAC
// channel categories (22000 "Donor country-based NGO", 12000 "Recipient Government"). Other refs,
// publishers' own codes included (41119 for UNFPA), still identify their organisation.
bool IsPlaceholderRef(absl::string_view ref) {
  static const std::set<std::string> kPlaceholders = {
      "n/a", "na", "none", "null", "-", "0", "unknown", "tbd", "not applicable"};
  if (kPlaceholders.count(absl::AsciiStrToLower(ref)) > 0) return true;
  if (std::any_of(ref.begin(), ref.end(),
                  [](char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); })) {
    return true;
  }
  // A type code with its label ("40-Multilateral", "70-Private Sector").
  size_t digits = 0;
  while (digits < ref.size() && absl::ascii_isdigit(static_cast<unsigned char>(ref[digits]))) {
    ++digits;
  }
  if (digits > 0 && digits + 1 < ref.size() && ref[digits] == '-' &&
      absl::ascii_isalpha(static_cast<unsigned char>(ref[digits + 1]))) {
    return true;
  }
  // The DAC channel categories; 43000 (the IMF) and 45000 (the WTO) are organisations.
  static const std::set<std::string> kCategories = {
      "10000", "11000", "12000", "13000", "20000", "21000", "22000", "23000", "30000",
      "31000", "32000", "40000", "41000", "42000", "44000", "46000", "47000", "50000",
      "51000", "52000", "60000", "61000", "62000", "63000", "90000"};
  return kCategories.count(std::string(ref)) > 0;
}

// A name that is a kind of organisation, not one: the DAC channel categories' names as
// publishers write them in participating-org ("Recipient Government", "Donor country-based
// NGO") and placeholders ("N/A").
bool IsKindOfOrganization(absl::string_view name) {
  static const std::set<std::string> kKinds = {
      "n a",
      "na",
      "not applicable",
      "unknown",
      "other",
      "others",
      "public sector institutions",
      "public sector institution",
      "donor government",
      "recipient government",
      "third country government",
      "third country government delegated co operation",
      "non governmental organisation ngo and civil society",
      "non governmental organisations ngos and civil society",
      "international ngo",
      "donor country based ngo",
      "developing country based ngo",
      "public private partnerships ppp and networks",
      "public private partnerships ppp",
      "networks",
      "multilateral organisations",
      "united nations un agency fund or commission",
      "united nations agency fund or commission un",
      "european union institutions",
      "regional development banks",
      "other multilateral institutions",
      "university college or other teaching institution research institute or think tank",
      "private sector institutions",
      "private sector institution",
      "private sector in provider country",
      "private sector in recipient country",
      "private sector in third country"};
  return kKinds.count(NormalizeOrganizationName(name)) > 0;
}

// An organisation element (participating-org, provider-org) as an ImportedOrganization; the
// IATI @type code (0 when absent or unreadable) goes to *iati_type.
ImportedOrganization ReadOrganization(const XmlElement& element, int* iati_type) {
  ImportedOrganization organization;
  organization.ref = std::string(Trim(element.Attribute("ref")));
  organization.name = SingleLineText(&element);
  *iati_type = ParseInt(element.Attribute("type")).value_or(0);
  organization.type = OrganizationTypeFromIati(*iati_type);
  // Development banks are usually typed 10 or 40 by publishers; DFI is what matters here.
  if (LooksLikeDevelopmentFinanceInstitution(organization.name)) {
    organization.type = v1::ORGANIZATION_TYPE_DFI;
  }
  organization.country = CountryFromOrganizationRef(organization.ref);
  return organization;
}

// participating-org/@role: 2.x codes, or the 1.x words.
int ParticipatingRoleCode(absl::string_view role) {
  role = Trim(role);
  if (role.size() == 1 && role[0] >= '1' && role[0] <= '4') return role[0] - '0';
  if (absl::EqualsIgnoreCase(role, "Funding")) return 1;
  if (absl::EqualsIgnoreCase(role, "Accountable")) return 2;
  if (absl::EqualsIgnoreCase(role, "Extending")) return 3;
  if (absl::EqualsIgnoreCase(role, "Implementing")) return 4;
  return 0;
}

v1::ProjectStage StageFromActivityStatus(absl::string_view code) {
  switch (ParseInt(code).value_or(0)) {
    case 1:
      return v1::PROJECT_STAGE_PROPOSED;
    case 2:
      return v1::PROJECT_STAGE_IMPLEMENTATION;
    case 3:
    case 4:
      return v1::PROJECT_STAGE_COMPLETED;
    case 5:
      return v1::PROJECT_STAGE_CANCELLED;
    case 6:
      return v1::PROJECT_STAGE_SUSPENDED;
    default:
      return v1::PROJECT_STAGE_UNSPECIFIED;
  }
}

// activity-date/@type (2.x code or 1.x word): 0 planned start, 1 actual start, 2 planned end,
// 3 actual end; -1 when unknown.
int ActivityDateSlot(absl::string_view type) {
  type = Trim(type);
  if (type == "1" || absl::EqualsIgnoreCase(type, "start-planned")) return 0;
  if (type == "2" || absl::EqualsIgnoreCase(type, "start-actual")) return 1;
  if (type == "3" || absl::EqualsIgnoreCase(type, "end-planned")) return 2;
  if (type == "4" || absl::EqualsIgnoreCase(type, "end-actual")) return 3;
  return -1;
}

v1::FinanceInstrument InstrumentFromFinanceType(absl::string_view code) {
  int value = ParseInt(code).value_or(0);
  if (value == 110 || value == 111) return v1::FINANCE_INSTRUMENT_GRANT;
  if (value >= 400 && value <= 499) return v1::FINANCE_INSTRUMENT_LOAN;
  if (value >= 500 && value <= 599) return v1::FINANCE_INSTRUMENT_EQUITY;
  if (value == 1100) return v1::FINANCE_INSTRUMENT_GUARANTEE;
  return v1::FINANCE_INSTRUMENT_UNSPECIFIED;
}

std::string MoneyText(const google::type::Money& money) {
  std::string text = absl::StrCat(money.units());
  if (money.nanos() != 0) {
    std::string nanos = absl::StrCat(1'000'000'000 + std::abs(money.nanos())).substr(1);
    while (!nanos.empty() && nanos.back() == '0') nanos.pop_back();
    if (money.units() == 0 && money.nanos() < 0) text = "-0";
    absl::StrAppend(&text, ".", nanos);
  }
  return absl::StrCat(text, " ", money.currency_code());
}

// Everything mapping one activity needs to share between its steps.
class ActivityMapping {
 public:
  ActivityMapping(const XmlElement& activity, const SectorAvenueTable& table,
                  const IatiFileInfo& file, ImportRecord* record)
      : activity_(activity), table_(table), file_(file), record_(record), remarks_(record) {
    project_ = &record->project;
  }

  void Run() {
    if (file_.legacy) {
      remarks_.Warn(absl::StrCat("legacy IATI ", file_.version,
                                 " activity, read with the 1.x mappings; IATI 2.03 is preferred"));
    }
    default_currency_ = std::string(Trim(activity_.Attribute("default-currency")));
    if (!default_currency_.empty() && !IsCurrencyCode(default_currency_)) {
      remarks_.Warn(absl::StrCat("default-currency \"", default_currency_,
                                 "\" is not an ISO 4217 code; values without their own "
                                 "currency are skipped"));
      default_currency_.clear();
    }
    MapIdentity();
    MapHost();
    FindAmbiguousRefs();
    MapParticipants();
    MapStatusAndDates();
    MapSectors();
    MapBudget();
    MapTransactions();
    MapResults();
    record_->organizations = std::move(organizations_).Release();
  }

 private:
  void MapIdentity() {
    const XmlElement* identifier = activity_.Child("iati-identifier");
    record_->external_id = identifier ? CollapseWhitespace(identifier->text) : "";
    if (record_->external_id.empty()) {
      remarks_.Reject("no iati-identifier", "external_ids");
    } else {
      auto* external_id = project_->add_external_ids();
      external_id->set_source("iati");
      external_id->set_value(record_->external_id);
    }
    for (const XmlElement* title : activity_.Children("title")) {
      project_->set_title(SingleLineText(title));
      if (!project_->title().empty()) break;
    }
    if (project_->title().empty()) remarks_.Reject("no title", "title");

    // General descriptions (type 1, the default) first, then objectives, target groups...
    std::vector<const XmlElement*> descriptions = activity_.Children("description");
    std::stable_partition(descriptions.begin(), descriptions.end(), [](const XmlElement* d) {
      absl::string_view type = Trim(d->Attribute("type"));
      return type.empty() || type == "1";
    });
    // Publishers often give each language its own description element, so the language is
    // chosen across all of them: English (or unmarked) narratives when there are any, else
    // those in the language of the first narrative. 1.x descriptions are plain text.
    struct Paragraph {
      std::string text;
      std::string language;
      bool preferred;
    };
    std::vector<Paragraph> candidates;
    for (const XmlElement* description : descriptions) {
      std::vector<const XmlElement*> narratives = description->Children("narrative");
      if (narratives.empty()) {
        candidates.push_back({std::string(Trim(description->text)), "", true});
      }
      for (const XmlElement* narrative : narratives) {
        candidates.push_back({std::string(Trim(narrative->text)),
                              absl::AsciiStrToLower(Trim(narrative->Attribute("xml:lang"))),
                              IsPreferredLanguage(*narrative)});
      }
    }
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                    [](const Paragraph& p) { return p.text.empty(); }),
                     candidates.end());
    bool any_preferred = std::any_of(candidates.begin(), candidates.end(),
                                     [](const Paragraph& p) { return p.preferred; });
    std::vector<std::string> paragraphs;
    std::set<absl::string_view> seen;  // publishers repeat paragraphs
    for (const Paragraph& candidate : candidates) {
      bool wanted =
          any_preferred ? candidate.preferred : candidate.language == candidates.front().language;
      if (wanted && seen.insert(candidate.text).second) paragraphs.push_back(candidate.text);
    }
    project_->set_description(absl::StrJoin(paragraphs, "\n\n"));
  }

  void MapHost() {
    std::string best_code;
    double best_percentage = -1;
    std::vector<std::string> listed;
    for (const XmlElement* country : activity_.Children("recipient-country")) {
      std::string code = absl::AsciiStrToUpper(Trim(country->Attribute("code")));
      if (code.size() != 2 || !absl::ascii_isalpha(code[0]) || !absl::ascii_isalpha(code[1])) {
        remarks_.Warn(absl::StrCat("recipient-country code \"", code,
                                   "\" is not an ISO 3166 alpha-2 code; ignored"));
        continue;
      }
      absl::string_view percentage_text = country->Attribute("percentage");
      double percentage = ParseNumber(percentage_text).value_or(0);
      listed.push_back(
          percentage_text.empty() ? code : absl::StrCat(code, " ", Trim(percentage_text), "%"));
      if (percentage > best_percentage) {
        best_percentage = percentage;
        best_code = code;
      }
    }
    if (best_code.empty()) {
      remarks_.Reject("no recipient-country; recipient regions are not hosts", "host_country");
      return;
    }
    host_ = absl::StrCat("countries/", best_code);
    project_->set_host_country(host_);
    if (listed.size() > 1) {
      remarks_.Warn(absl::StrCat(listed.size(), " recipient countries (",
                                 absl::StrJoin(listed, ", "), "); host is ", best_code,
                                 ", the largest share (the first on a tie)"));
    }
  }

  // One participant per organisation and role.
  void AddParticipant(int organization_index, PartnerRole role) {
    if (!participations_.emplace(organization_index, role).second) return;
    v1::Participant* participant = project_->add_participants();
    participant->set_organization(PendingOrganization(organization_index));
    participant->set_role(role);
  }

  // Refs this activity gives to organisations of different names and types (a lender's
  // identifier on its borrowers too; not variants of one name, see NamesVary): they identify
  // none of them here.
  void FindAmbiguousRefs() {
    // ref -> (normalised name, @type) of each bearer.
    std::map<std::string, std::set<std::pair<std::string, std::string>>> bearers;
    for (const XmlElement* element : activity_.Children("participating-org")) {
      std::string ref(Trim(element->Attribute("ref")));
      std::string name = NormalizeOrganizationName(SingleLineText(element));
      if (!ref.empty() && !name.empty()) {
        bearers[ref].emplace(std::move(name), std::string(Trim(element->Attribute("type"))));
      }
    }
    for (auto& [ref, named] : bearers) {
      for (auto a = named.begin(); a != named.end(); ++a) {
        for (auto b = std::next(a); b != named.end(); ++b) {
          // Two names that are not variants of one, of two stated types: two organisations.
          // (One agency under its old and new names, both typed alike, stays one.)
          bool types_differ = !a->second.empty() && !b->second.empty() && a->second != b->second;
          if (types_differ && !NamesVary(a->first, b->first)) ambiguous_refs_.insert(ref);
        }
      }
    }
  }

  // Whether two normalised names can be one organisation's: one within the other as whole
  // words ("african development bank group"), or one the other's initials ("undp" for
  // "united nations development programme", with or without its small words).
  static bool NamesVary(const std::string& a, const std::string& b) {
    const std::string& shorter = a.size() <= b.size() ? a : b;
    const std::string& longer = a.size() <= b.size() ? b : a;
    if (absl::StrContains(absl::StrCat(" ", longer, " "), absl::StrCat(" ", shorter, " "))) {
      return true;
    }
    if (absl::StrContains(shorter, ' ')) return false;
    static const std::set<absl::string_view> kSmallWords = {"and", "of", "the", "for", "de",
                                                            "des", "du", "la",  "le",  "et"};
    std::string initials, initials_of_big_words;
    for (absl::string_view word : absl::StrSplit(longer, ' ', absl::SkipEmpty())) {
      initials.push_back(word[0]);
      if (kSmallWords.count(word) == 0) initials_of_big_words.push_back(word[0]);
    }
    return shorter == initials || shorter == initials_of_big_words;
  }

  // An organisation as the element names it, matched by its ref only when the ref identifies
  // it (see IsPlaceholderRef and FindAmbiguousRefs); otherwise by its name. An ambiguous ref is
  // kept when there is no name to match by; a placeholder never is. An element whose name is a
  // kind of organisation ("Recipient Government") names no one: nullopt, with a warning.
  std::optional<ImportedOrganization> ReadNamedOrganization(const XmlElement& element,
                                                            int* iati_type) {
    ImportedOrganization organization = ReadOrganization(element, iati_type);
    if (IsKindOfOrganization(organization.name)) {
      remarks_.Warn(absl::StrCat(element.name, " \"", organization.name,
                                 "\" names a kind of organisation, not one; ignored"));
      return std::nullopt;
    }
    if (IsPlaceholderRef(organization.ref) ||
        (!NormalizeOrganizationName(organization.name).empty() &&
         ambiguous_refs_.count(organization.ref) > 0)) {
      organization.ref.clear();
      organization.country.clear();
    }
    return organization;
  }

  void MapParticipants() {
    const XmlElement* collaboration = activity_.Child("collaboration-type");
    project_->set_triangular(collaboration != nullptr && Trim(collaboration->Attribute("code")) ==
                                                             kIatiCollaborationTriangular);
    bool multilateral = false;
    bool private_sector = false;
    int unnamed = 0;
    for (const XmlElement* element : activity_.Children("participating-org")) {
      int iati_type = 0;
      std::optional<ImportedOrganization> named = ReadNamedOrganization(*element, &iati_type);
      if (!named) continue;
      ImportedOrganization& organization = *named;
      if (organization.ref.empty() && organization.name.empty()) {
        ++unnamed;
        continue;
      }
      PartnerRole role;
      switch (ParticipatingRoleCode(element->Attribute("role"))) {
        case 1:
          role = PARTNER_ROLE_FINANCIER;
          break;
        case 2:
          role = (iati_type == 10 || iati_type == 11) && !host_.empty() &&
                         organization.country == host_
                     ? PARTNER_ROLE_HOST_GOVERNMENT
                     : PARTNER_ROLE_ACCOUNTABLE;
          break;
        case 3:
          role =
              project_->triangular() ? PARTNER_ROLE_TRIANGULAR_PARTNER : PARTNER_ROLE_ACCOUNTABLE;
          break;
        case 4:
          role = !organization.country.empty() && organization.country != host_
                     ? PARTNER_ROLE_TECHNOLOGY_PARTNER
                     : PARTNER_ROLE_IMPLEMENTER;
          break;
        default:
          remarks_.Warn(absl::StrCat(
              "participating-org \"",
              organization.name.empty() ? organization.ref : organization.name,
              "\" has unknown role \"", Trim(element->Attribute("role")), "\"; ignored"));
          continue;
      }
      multilateral = multilateral || iati_type == kIatiTypeMultilateral;
      private_sector = private_sector || (iati_type >= 70 && iati_type <= 73);
      organization.roles = {role};
      AddParticipant(organizations_.Add(std::move(organization)), role);
    }
    if (unnamed > 0) {
      remarks_.Warn(absl::StrCat(unnamed, " participating-org without @ref or name ignored"));
    }
    if (project_->triangular()) {
      if (multilateral) {
        project_->set_cooperation_model(v1::COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL);
      } else if (private_sector) {
        project_->set_cooperation_model(v1::COOPERATION_MODEL_TRIANGULAR_MNC);
      }
    }
  }

  void MapStatusAndDates() {
    if (const XmlElement* status = activity_.Child("activity-status")) {
      project_->set_stage(StageFromActivityStatus(status->Attribute("code")));
      if (project_->stage() == v1::PROJECT_STAGE_UNSPECIFIED) {
        remarks_.Warn(absl::StrCat("activity-status code \"", Trim(status->Attribute("code")),
                                   "\" is unknown; stage left unspecified"));
      }
    }
    std::optional<google::type::Date> dates[4];
    for (const XmlElement* element : activity_.Children("activity-date")) {
      absl::string_view type = Trim(element->Attribute("type"));
      int slot = ActivityDateSlot(type);
      if (slot < 0) {
        remarks_.Warn(absl::StrCat("activity-date type \"", type, "\" is unknown; ignored"));
        continue;
      }
      if (dates[slot]) continue;  // the first date of each type counts
      // 1.x files may carry the date as text only.
      absl::string_view text = element->HasAttribute("iso-date") ? element->Attribute("iso-date")
                                                                 : absl::string_view(element->text);
      absl::StatusOr<google::type::Date> date = ParseIsoDate(text);
      if (date.ok()) {
        dates[slot] = *date;
      } else {
        remarks_.Warn(absl::StrCat("activity-date type ", type, ": ", date.status().message()));
      }
    }
    if (dates[0]) *project_->mutable_planned_start() = *dates[0];
    if (dates[1]) *project_->mutable_actual_start() = *dates[1];
    if (dates[2]) *project_->mutable_planned_end() = *dates[2];
    if (dates[3]) *project_->mutable_actual_end() = *dates[3];
  }

  void MapSectors() {
    // IATI allows sectors per transaction instead of per activity.
    std::vector<const XmlElement*> sectors = activity_.Children("sector");
    if (sectors.empty()) {
      for (const XmlElement* transaction : activity_.Children("transaction")) {
        for (const XmlElement* sector : transaction->Children("sector")) sectors.push_back(sector);
      }
    }
    std::set<Avenue> avenues;
    std::set<int> dac_sectors;
    std::vector<std::string> seen;
    int without_code = 0;
    for (const XmlElement* sector : sectors) {
      std::string code(Trim(sector->Attribute("code")));
      absl::string_view vocabulary = Trim(sector->Attribute("vocabulary"));
      if (code.empty()) {
        ++without_code;
        continue;
      }
      bool purpose =
          vocabulary.empty() || vocabulary == "1" || absl::EqualsIgnoreCase(vocabulary, "DAC");
      bool category = vocabulary == "2" || absl::EqualsIgnoreCase(vocabulary, "DAC-3");
      std::optional<int> number = ParseInt(code);
      std::vector<Avenue> found;
      if (purpose) {
        seen.push_back(absl::StrCat(code, " (DAC)"));
        if (code.size() != 5 || !number || *number < 10000) {
          remarks_.Warn(absl::StrCat("sector \"", code, "\" is not a 5-digit DAC code; ignored"));
          continue;
        }
        if (dac_sectors.insert(*number).second) project_->add_dac_sectors(*number);
        found = table_.ForPurposeCode(*number);
      } else if (category) {
        seen.push_back(absl::StrCat(code, " (DAC-3)"));
        if (code.size() != 3 || !number || *number < 100) {
          remarks_.Warn(
              absl::StrCat("sector \"", code, "\" is not a 3-digit DAC category; ignored"));
          continue;
        }
        found = table_.ForCategory(*number);
      } else {
        seen.push_back(absl::StrCat(code, " (vocabulary ", vocabulary, ")"));
      }
      avenues.insert(found.begin(), found.end());
    }
    if (without_code > 0) {
      remarks_.Warn(absl::StrCat(without_code, " sector element(s) without @code ignored"));
    }
    for (Avenue avenue : avenues) project_->add_avenues(avenue);
    if (!avenues.empty()) return;
    if (seen.empty()) {
      remarks_.Reject("no avenue derivable: the activity has no sector with a code", "avenues");
      return;
    }
    size_t named = std::min(seen.size(), kMaxSectorsNamedInRejection);
    std::string list = absl::StrJoin(seen.begin(), seen.begin() + named, ", ");
    if (seen.size() > named) absl::StrAppend(&list, " and ", seen.size() - named, " more");
    remarks_.Reject(absl::StrCat("no avenue derivable from sectors ", list), "avenues");
  }

  // A value element as Money: its own currency, else the activity's. nullopt (with a
  // warning naming `what`) when it cannot be read or is negative.
  std::optional<google::type::Money> ReadValue(const XmlElement* value, absl::string_view what,
                                               bool allow_negative = false) {
    if (value == nullptr) {
      remarks_.Warn(absl::StrCat(what, " without value; skipped"));
      return std::nullopt;
    }
    std::string currency(Trim(value->Attribute("currency")));
    if (currency.empty()) currency = default_currency_;
    if (!IsCurrencyCode(currency)) {
      remarks_.Warn(absl::StrCat(what, " value \"", Trim(value->text),
                                 "\" has no ISO 4217 currency; skipped"));
      return std::nullopt;
    }
    absl::StatusOr<google::type::Money> money = ParseDecimalMoney(value->text, currency);
    if (!money.ok()) {
      remarks_.Warn(absl::StrCat(what, " value: ", money.status().message(), "; skipped"));
      return std::nullopt;
    }
    if (IsNegative(*money) && !allow_negative) {
      remarks_.Warn(absl::StrCat(what, " value ", MoneyText(*money), " is negative; skipped"));
      return std::nullopt;
    }
    return *std::move(money);
  }

  // A date as (year, month, day), which compares in calendar order.
  using Day = std::tuple<int, int, int>;
  static Day DayOf(const google::type::Date& date) {
    return {date.year(), date.month(), date.day()};
  }

  // The budget's period as the days of its start and end; nullopt when either date is missing
  // or unreadable.
  static std::optional<std::pair<Day, Day>> PeriodOf(const XmlElement& budget) {
    auto day = [&](absl::string_view child) -> std::optional<Day> {
      const XmlElement* element = budget.Child(child);
      if (element == nullptr) return std::nullopt;
      absl::StatusOr<google::type::Date> date = ParseIsoDate(element->Attribute("iso-date"));
      if (!date.ok()) return std::nullopt;
      return DayOf(*date);
    };
    std::optional<Day> start = day("period-start"), end = day("period-end");
    if (!start || !end) return std::nullopt;
    return std::make_pair(*start, *end);
  }

  // A budget whose period is not known overlaps every other.
  static bool PeriodsOverlap(const XmlElement& a, const XmlElement& b) {
    auto pa = PeriodOf(a), pb = PeriodOf(b);
    if (!pa || !pb) return true;
    // Periods that only touch (one ending the day the next begins, as quarters are often
    // written) do not overlap.
    return (pa->first < pb->second && pb->first < pa->second) || pa->first == pb->first;
  }

  void MapBudget() {
    std::vector<const XmlElement*> original;
    std::vector<const XmlElement*> revised;
    for (const XmlElement* budget : activity_.Children("budget")) {
      absl::string_view type = Trim(budget->Attribute("type"));
      (type == "2" ? revised : original).push_back(budget);
    }
    // A revised budget replaces the original of its own period only; an original whose period
    // no revised budget overlaps still counts. A budget without both dates overlaps every one.
    std::vector<const XmlElement*> used = revised;
    for (const XmlElement* budget : original) {
      if (std::none_of(revised.begin(), revised.end(),
                       [&](const XmlElement* other) { return PeriodsOverlap(*budget, *other); })) {
        used.push_back(budget);
      }
    }
    if (used.empty()) return;
    std::string currency = default_currency_;
    google::type::Money total;
    bool any = false;
    for (const XmlElement* budget : used) {
      std::optional<google::type::Money> value = ReadValue(budget->Child("value"), "budget");
      if (!value) continue;
      if (currency.empty()) currency = value->currency_code();
      if (value->currency_code() != currency) {
        remarks_.Warn(absl::StrCat("budget value ", MoneyText(*value),
                                   " skipped: not in the activity currency ", currency));
        continue;
      }
      total.set_currency_code(currency);
      if (!AddMoney(*value, &total)) {
        remarks_.Warn("budget total overflows; budget left out");
        return;
      }
      any = true;
    }
    if (any) *project_->mutable_financing()->mutable_budget() = total;
  }

  // The organisation a transaction's provider-org names: a participant when it is one, else
  // a new organisation that plays FINANCIER. -1 when none is named.
  // With `may_add` false (a reversal's provider, which adds no money), only an organisation the
  // activity already names is found: -1 otherwise, and *named tells whether one was named.
  int ProviderOrganization(const XmlElement& transaction, bool may_add = true,
                           bool* named = nullptr) {
    if (named != nullptr) *named = false;
    const XmlElement* provider = transaction.Child("provider-org");
    if (provider == nullptr) return -1;
    int iati_type = 0;
    std::optional<ImportedOrganization> read = ReadNamedOrganization(*provider, &iati_type);
    if (!read || (read->ref.empty() && read->name.empty())) return -1;
    ImportedOrganization& organization = *read;
    if (named != nullptr) *named = true;
    int known = organizations_.Find(organization.ref, organization.name);
    if (known >= 0 || !may_add) return known;
    organization.roles = {PARTNER_ROLE_FINANCIER};
    return organizations_.Add(std::move(organization));
  }

  // A negative commitment or disbursement (a decommitment, a reversal) reduces the flows of its
  // kind and currency that it can reverse: its provider's, then those naming no source, and,
  // when it names no provider, any (never another financier's money when it names one). In
  // each group, flows dated on or before it first, latest first; then the rest, latest in the
  // file first. Flows brought to zero are dropped. What nothing can absorb is left out with a
  // warning: amounts stay at or above zero.
  void NetReversal(google::protobuf::RepeatedPtrField<v1::FinancialFlow>* flows,
                   const v1::FinancialFlow& reversal, bool names_provider) {
    const bool reversal_dated = reversal.date().year() > 0;
    // Ascending: group, dated on or before the reversal first, latest date first, latest in
    // the file first.
    std::vector<std::tuple<int, int, Day, int>> order;
    for (int i = 0; i < flows->size(); ++i) {
      const v1::FinancialFlow& flow = flows->Get(i);
      if (flow.amount().currency_code() != reversal.amount().currency_code()) continue;
      int group = 2;
      if (flow.source_organization() == reversal.source_organization()) {
        group = 0;
      } else if (flow.source_organization().empty()) {
        group = 1;
      } else if (names_provider) {
        continue;  // another financier's money
      }
      bool before =
          reversal_dated && flow.date().year() > 0 && DayOf(flow.date()) <= DayOf(reversal.date());
      Day latest_first = before ? Day{-flow.date().year(), -flow.date().month(), -flow.date().day()}
                                : Day{0, 0, 0};
      order.emplace_back(group, before ? 0 : 1, latest_first, -i);
    }
    std::sort(order.begin(), order.end());
    google::type::Money remaining = reversal.amount();
    std::vector<int> emptied;  // flows the reversal brought to zero
    for (const auto& key : order) {
      if (!IsNegative(remaining)) break;
      const int i = -std::get<3>(key);
      v1::FinancialFlow& flow = *flows->Mutable(i);
      if (IsZero(flow.amount())) continue;  // nothing to reduce
      google::type::Money sum = flow.amount();
      if (!AddMoney(remaining, &sum)) break;
      if (IsNegative(sum) || IsZero(sum)) {  // the flow is used up, and the rest goes on
        remaining = sum;
        emptied.push_back(i);
      } else {
        *flow.mutable_amount() = sum;
        remaining = google::type::Money();
      }
    }
    std::sort(emptied.rbegin(), emptied.rend());
    for (int i : emptied) flows->DeleteSubrange(i, 1);
    if (IsNegative(remaining)) {
      remarks_.Warn(absl::StrCat("a reversal of ", MoneyText(remaining),
                                 " exceeds the flows it could reduce; left out"));
    }
  }

  void MapTransactions() {
    struct Reversal {
      google::protobuf::RepeatedPtrField<v1::FinancialFlow>* flows;
      v1::FinancialFlow flow;
      const XmlElement* transaction;
    };
    std::vector<Reversal> reversals;
    const XmlElement* default_finance = activity_.Child("default-finance-type");
    absl::string_view default_finance_code =
        default_finance ? default_finance->Attribute("code") : absl::string_view();
    for (const XmlElement* transaction : activity_.Children("transaction")) {
      const XmlElement* type_element = transaction->Child("transaction-type");
      absl::string_view type = type_element ? Trim(type_element->Attribute("code")) : "";
      google::protobuf::RepeatedPtrField<v1::FinancialFlow>* flows;
      if (type == "2" || type == "C") {
        flows = project_->mutable_financing()->mutable_commitments();
      } else if (type == "3" || type == "D") {
        flows = project_->mutable_financing()->mutable_disbursements();
      } else {
        continue;  // incoming funds, expenditure, repayments...: not project financing
      }
      const XmlElement* value_element = transaction->Child("value");
      std::optional<google::type::Money> amount =
          ReadValue(value_element, type == "2" || type == "C" ? "commitment" : "disbursement",
                    /*allow_negative=*/true);
      if (!amount) continue;
      v1::FinancialFlow flow;
      *flow.mutable_amount() = *amount;
      const XmlElement* date_element = transaction->Child("transaction-date");
      absl::string_view date_text =
          date_element ? date_element->Attribute("iso-date") : absl::string_view();
      if (Trim(date_text).empty()) date_text = value_element->Attribute("value-date");
      if (!Trim(date_text).empty()) {
        absl::StatusOr<google::type::Date> date = ParseIsoDate(date_text);
        if (date.ok()) {
          *flow.mutable_date() = *date;
        } else {
          remarks_.Warn(absl::StrCat("transaction date: ", date.status().message()));
        }
      }
      if (IsNegative(flow.amount())) {  // its provider is looked up once every flow is read
        reversals.push_back({flows, std::move(flow), transaction});
        continue;
      }
      int provider = ProviderOrganization(*transaction);
      if (provider >= 0) flow.set_source_organization(PendingOrganization(provider));
      const XmlElement* finance = transaction->Child("finance-type");
      flow.set_instrument(
          InstrumentFromFinanceType(finance ? finance->Attribute("code") : default_finance_code));
      *flows->Add() = std::move(flow);
    }
    for (Reversal& reversal : reversals) {
      bool named = false;
      int provider = ProviderOrganization(*reversal.transaction, /*may_add=*/false, &named);
      // A provider the activity names nowhere else has no flows here: only source-less ones can
      // be what it reverses.
      if (provider >= 0) reversal.flow.set_source_organization(PendingOrganization(provider));
      NetReversal(reversal.flows, reversal.flow, named);
    }
    if (project_->has_financing() && project_->financing().ByteSizeLong() == 0) {
      project_->clear_financing();
    }
  }

  // A result value attribute; nullopt (warned) when present but not a number.
  std::optional<double> ResultValue(const XmlElement* element, absl::string_view what) {
    if (element == nullptr || !element->HasAttribute("value")) return std::nullopt;
    absl::string_view text = Trim(element->Attribute("value"));
    std::optional<double> value = ParseNumber(text);
    if (!value && !text.empty()) {
      remarks_.Warn(absl::StrCat("result ", what, " \"", text, "\" is not a number; ignored"));
    }
    return value;
  }

  void MapResults() {
    for (const XmlElement* result : activity_.Children("result")) {
      std::string result_title = SingleLineText(result->Child("title"));
      for (const XmlElement* indicator : result->Children("indicator")) {
        v1::Result mapped;
        mapped.set_indicator(SingleLineText(indicator->Child("title")));
        if (mapped.indicator().empty()) mapped.set_indicator(result_title);
        if (mapped.indicator().empty()) {
          remarks_.Warn("result indicator without a title; skipped");
          continue;
        }
        mapped.set_unit(Trim(indicator->Attribute("measure")) == "2" ? "%" : "units");
        if (auto baseline = ResultValue(indicator->Child("baseline"), "baseline")) {
          mapped.set_baseline(*baseline);
        }
        std::vector<const XmlElement*> periods = indicator->Children("period");
        if (!periods.empty()) {
          const XmlElement* last = periods.back();
          if (auto target = ResultValue(last->Child("target"), "target")) {
            mapped.set_target(*target);
          }
          if (auto actual = ResultValue(last->Child("actual"), "actual")) {
            mapped.set_actual(*actual);
            mapped.set_has_actual(true);
          }
        }
        *project_->add_results() = std::move(mapped);
      }
    }
  }

  const XmlElement& activity_;
  const SectorAvenueTable& table_;
  const IatiFileInfo& file_;
  ImportRecord* record_;
  RecordRemarks remarks_;
  v1::Project* project_;
  RecordOrganizations organizations_;
  std::set<std::pair<int, PartnerRole>> participations_;
  std::string host_;  // "countries/XX", or "" when the activity names none
  std::string default_currency_;
  std::set<std::string> ambiguous_refs_;  // see FindAmbiguousRefs
};

}  // namespace

absl::string_view XmlElement::Attribute(absl::string_view attribute_name) const {
  for (const auto& [key, value] : attributes) {
    if (key == attribute_name) return value;
  }
  return {};
}

bool XmlElement::HasAttribute(absl::string_view attribute_name) const {
  for (const auto& attribute : attributes) {
    if (attribute.first == attribute_name) return true;
  }
  return false;
}

const XmlElement* XmlElement::Child(absl::string_view child_name) const {
  for (const auto& child : children) {
    if (child->name == child_name) return child.get();
  }
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(absl::string_view child_name) const {
  std::vector<const XmlElement*> found;
  for (const auto& child : children) {
    if (child->name == child_name) found.push_back(child.get());
  }
  return found;
}

ImportRecord IatiActivityMapper::Map(const XmlElement& activity, int index) const {
  ImportRecord record;
  record.index = index;
  {
    ActivityMapping mapping(activity, table_, file_, &record);
    mapping.Run();
  }  // the mapping's destructor appends the count of warnings left out
  return record;
}

}  // namespace stp::ingestion
