#include "services/ingestion/validation.h"

#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "libs/common/ids.h"

namespace stp::ingestion {
namespace {

using stp::ingestion::v1::Country;
using stp::ingestion::v1::FinancialFlow;
using stp::ingestion::v1::Organization;
using stp::ingestion::v1::Park;
using stp::ingestion::v1::Project;

std::string At(const std::string& path, const char* field) {
  return absl::StrCat(path, ".", field);
}
std::string At(const std::string& path, const char* field, int i) {
  return absl::StrCat(path, ".", field, "[", i, "]");
}

bool IsUpperAlpha(absl::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

template <typename EnumIsValid>
void CheckEnum(int value, EnumIsValid is_valid, const std::string& path, bool allow_unspecified,
               FieldViolations* v) {
  if (!is_valid(value)) {
    v->Add(path, absl::StrCat("unknown value ", value));
  } else if (!allow_unspecified && value == 0) {
    v->Add(path, "must be set");
  }
}

template <typename Repeated, typename EnumIsValid>
void CheckEnumList(const Repeated& list, EnumIsValid is_valid, const std::string& path,
                   const char* field, FieldViolations* v) {
  std::set<int> seen;
  for (int i = 0; i < list.size(); ++i) {
    CheckEnum(list.Get(i), is_valid, At(path, field, i), false, v);
    if (!seen.insert(list.Get(i)).second) v->Add(At(path, field, i), "repeated value");
  }
}

void CheckCount(int count, int max, const std::string& path, FieldViolations* v) {
  if (count > max) v->Add(path, absl::StrCat("at most ", max, " entries, got ", count));
}

void CheckCountryRef(absl::string_view value, const std::string& path, bool required,
                     FieldViolations* v) {
  if (value.empty()) {
    if (required) v->Add(path, "is required: a country resource name such as \"countries/EG\"");
    return;
  }
  if (!IsCountryName(value)) {
    v->Add(path,
           absl::StrCat("\"", value, "\" is not a country resource name such as \"countries/EG\""));
  }
}

void CheckRef(absl::string_view value, absl::string_view collection, const std::string& path,
              bool required, FieldViolations* v) {
  if (value.empty()) {
    if (required)
      v->Add(path, absl::StrCat("is required: a name such as \"", collection, "/{id}\""));
    return;
  }
  if (!IsResourceName(value, collection)) {
    v->Add(path, absl::StrCat("\"", value.substr(0, 100), "\" is not a name such as \"", collection,
                              "/{id}\""));
  }
}

void CheckSectors(const google::protobuf::RepeatedField<int32_t>& sectors, const std::string& path,
                  FieldViolations* v) {
  CheckCount(sectors.size(), 100, path, v);
  for (int i = 0; i < sectors.size() && i < 100; ++i) {
    if (sectors.Get(i) < 10000 || sectors.Get(i) > 99999) {
      v->Add(absl::StrCat(path, "[", i, "]"), "a DAC purpose code has 5 digits, for example 23210");
    }
  }
}

void CheckExternalIds(const google::protobuf::RepeatedPtrField<stp::common::v1::ExternalId>& ids,
                      const std::string& path, FieldViolations* v) {
  CheckCount(ids.size(), 20, path, v);
  std::set<std::string> sources;
  for (int i = 0; i < ids.size() && i < 20; ++i) {
    const auto& x = ids.Get(i);
    std::string p = absl::StrCat(path, "[", i, "]");
    bool source_ok = !x.source().empty() && x.source().size() <= 32;
    for (char c : x.source()) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-'))
        source_ok = false;
    }
    if (!source_ok)
      v->Add(p + ".source", "1 to 32 characters of [a-z0-9._-], for example \"iati\"");
    CheckString(x.value(), p + ".value", 200, true, v);
    if (!sources.insert(x.source()).second) v->Add(p + ".source", "one external id per source");
  }
}

void CheckFinite(double value, const std::string& path, FieldViolations* v) {
  if (!std::isfinite(value)) v->Add(path, "must be a finite number");
}

void CheckFlow(const FinancialFlow& f, const std::string& path, FieldViolations* v) {
  CheckRef(f.source_organization(), "organizations", path + ".source_organization", false, v);
  if (!f.has_amount())
    v->Add(path + ".amount", "is required");
  else
    CheckMoney(f.amount(), path + ".amount", v);
  CheckEnum(f.instrument(), v1::FinanceInstrument_IsValid, path + ".instrument", true, v);
  if (f.has_date()) CheckDate(f.date(), path + ".date", v);
}

void CheckDateOrder(const Project& p, bool has_a, const google::type::Date& a, bool has_b,
                    const google::type::Date& b, const std::string& path, const char* what,
                    FieldViolations* v) {
  if (has_a && has_b && IsValidDate(a) && IsValidDate(b) && DateToDays(b) < DateToDays(a)) {
    v->Add(path, absl::StrCat("must not be before the ", what));
  }
}

}  // namespace

bool IsCountryName(absl::string_view name) {
  return absl::StartsWith(name, "countries/") && IsUpperAlpha(name.substr(10), 2);
}

bool IsResourceName(absl::string_view name, absl::string_view collection) {
  return !IdOf(name, collection).empty();
}

std::string IdOf(absl::string_view name, absl::string_view collection) {
  if (name.size() <= collection.size() + 1 || !absl::StartsWith(name, collection) ||
      name[collection.size()] != '/') {
    return "";
  }
  absl::string_view id = name.substr(collection.size() + 1);
  if (collection == "countries") return IsUpperAlpha(id, 2) ? std::string(id) : "";
  return IsResourceId(id) ? std::string(id) : "";
}

std::string Utf8Prefix(absl::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t end = max_bytes;
  // Back off continuation bytes (10xxxxxx) to the start of the character that crosses the end.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool IsValidDate(const google::type::Date& d) {
  if (d.year() < 1900 || d.year() > 2200 || d.month() < 1 || d.month() > 12 || d.day() < 1)
    return false;
  absl::CivilDay day(d.year(), d.month(), d.day());
  return day.year() == d.year() && day.month() == d.month() && day.day() == d.day();
}

int64_t DateToDays(const google::type::Date& d) {
  return absl::CivilDay(d.year(), d.month(), d.day()) - absl::CivilDay(1970, 1, 1);
}

void CheckString(absl::string_view value, const std::string& path, size_t max, bool required,
                 FieldViolations* v) {
  if (value.empty()) {
    if (required) v->Add(path, "is required");
    return;
  }
  if (!IsValidUtf8(value)) {
    v->Add(path, "is not valid UTF-8");
    return;
  }
  // Limits are in characters (code points), as the contract states them: a title in Chinese
  // or Arabic takes two or three bytes a character.
  if (value.size() <= max) return;
  size_t characters = 0;
  for (char c : value) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (characters > max)
    v->Add(path, absl::StrCat("at most ", max, " characters, got ", characters));
}

void CheckMoney(const google::type::Money& m, const std::string& path, FieldViolations* v) {
  if (!IsUpperAlpha(m.currency_code(), 3)) {
    v->Add(path + ".currency_code", "an ISO 4217 code such as \"USD\" is required");
  } else if (!IsKnownCurrency(m.currency_code())) {
    v->Add(path + ".currency_code",
           absl::StrCat("\"", m.currency_code(), "\" is not an ISO 4217 currency code"));
  }
  if (m.units() < 0 || m.nanos() < 0) v->Add(path, "must not be negative");
  if (m.nanos() > 999999999) v->Add(path + ".nanos", "must be below 1,000,000,000");
}

void CheckDate(const google::type::Date& d, const std::string& path, FieldViolations* v) {
  if (!IsValidDate(d)) {
    v->Add(path, absl::StrCat("not a valid calendar date between 1900 and 2200: ", d.year(), "-",
                              d.month(), "-", d.day()));
  }
}

namespace {

// The ISO 3166-1 alpha-2 codes in use (officially assigned), in order, and XK (Kosovo), which
// the World Bank, IATI and AidData use.
constexpr absl::string_view kCountryCodes =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCD"
    "CFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGF"
    "GGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKN"
    "KPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNA"
    "NCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSI"
    "SJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVI"
    "VNVUWFWSXKYEYTZAZMZW";

// The ISO 4217 currency codes IATI's Currency codelist holds (current ones, and the withdrawn
// ones older records still carry), in order.
constexpr absl::string_view kCurrencyCodes =
    "AEDAFNALLAMDANGAOAARSAUDAWGAZNBAMBBDBDTBGNBHDBIFBMDBNDBOBBOVBRLBSDBTNBWPBYNBYRBZD"
    "CADCDFCHFCLFCLPCNYCOPCOUCRCCUCCUPCVECZKDJFDKKDOPDZDEEKEGPERNETBEURFJDFKPGBPGELGHS"
    "GIPGMDGNFGTQGYDHKDHNLHRKHTGHUFIDRILSINRIQDIRRISKJMDJODJPYKESKGSKHRKMFKPWKRWKWDKYD"
    "KZTLAKLBPLKRLRDLSLLTLLVLLYDMADMDLMGAMKDMMKMNTMOPMROMRUMURMVRMWKMXNMXVMYRMZNNADNGN"
    "NIONOKNPRNZDOMRPABPENPGKPHPPKRPLNPYGQARRONRSDRUBRWFSARSBDSCRSDGSEKSGDSHPSLESLLSOS"
    "SRDSSPSTDSTNSVCSYPSZLTHBTJSTMTTNDTOPTRYTTDTWDTZSUAHUGXUSDUSNUSSUYIUYUUZSVEDVEFVES"
    "VNDVUVWSTXAFXBTXCDXDRXOFXPFYERZARZMKZMWZWL";

// Whether `code` is one of the sorted, fixed-width codes packed into `table`.
bool InSortedCodes(absl::string_view table, absl::string_view code, size_t width) {
  if (code.size() != width) return false;
  size_t lo = 0, hi = table.size() / width;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    absl::string_view at = table.substr(width * mid, width);
    if (at == code) return true;
    if (at < code)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

}  // namespace

bool IsCountryCode(absl::string_view code) { return InSortedCodes(kCountryCodes, code, 2); }

bool IsKnownCurrency(absl::string_view code) { return InSortedCodes(kCurrencyCodes, code, 3); }

void ValidateNewCountryCode(const std::string& code, const std::string& path, FieldViolations* v) {
  if (IsCountryCode(code)) return;
  v->Add(path, absl::StrCat("\"", code,
                            "\" is not an ISO 3166-1 alpha-2 code in use (XK, Kosovo, is "
                            "accepted too)"));
}

void ValidateCountryCodeShape(const std::string& code, const std::string& path,
                              FieldViolations* v) {
  if (!IsUpperAlpha(code, 2))
    v->Add(path, "two upper-case letters (ISO 3166-1), for example \"EG\"");
}

void ValidateCountry(const Country& c, const std::string& path, FieldViolations* v,
                     bool stored_code) {
  if (!IsUpperAlpha(c.alpha2(), 2)) {
    ValidateCountryCodeShape(c.alpha2(), At(path, "alpha2"), v);
  } else if (!stored_code) {
    ValidateNewCountryCode(c.alpha2(), At(path, "alpha2"), v);
  }
  if (!c.name().empty() && c.name() != "countries/" + c.alpha2()) {
    v->Add(At(path, "name"), "must be \"countries/\" followed by alpha2");
  }
  if (!c.alpha3().empty() && !IsUpperAlpha(c.alpha3(), 3)) {
    v->Add(At(path, "alpha3"), "three upper-case letters (ISO 3166-1 alpha-3)");
  }
  CheckString(c.display_name(), At(path, "display_name"), kMaxName, true, v);
  CheckString(c.region(), At(path, "region"), 100, false, v);
  CheckString(c.sub_region(), At(path, "sub_region"), 100, false, v);
  CheckEnum(c.income_group(), stp::common::v1::IncomeGroup_IsValid, At(path, "income_group"), true,
            v);
  if (c.bri().has_join_date()) CheckDate(c.bri().join_date(), At(path, "bri.join_date"), v);
  if (c.bri().has_exit_date()) CheckDate(c.bri().exit_date(), At(path, "bri.exit_date"), v);
  if (c.bri().has_join_date() && c.bri().has_exit_date() && IsValidDate(c.bri().join_date()) &&
      IsValidDate(c.bri().exit_date()) &&
      DateToDays(c.bri().exit_date()) < DateToDays(c.bri().join_date())) {
    v->Add(At(path, "bri.exit_date"), "must not be before the join date");
  }
  CheckCount(c.indicators_size(), 200, At(path, "indicators"), v);
  for (int i = 0; i < c.indicators_size() && i < 200; ++i) {
    const auto& ind = c.indicators(i);
    std::string p = At(path, "indicators", i);
    bool name_ok = !ind.name().empty() && ind.name().size() <= 64;
    for (char ch : ind.name()) {
      if (!(absl::ascii_islower(ch) || absl::ascii_isdigit(ch) || ch == '_')) name_ok = false;
    }
    if (!name_ok)
      v->Add(p + ".name", "1 to 64 characters of [a-z0-9_], for example \"internet_users_pct\"");
    CheckFinite(ind.value(), p + ".value", v);
    if (ind.has_as_of()) CheckDate(ind.as_of(), p + ".as_of", v);
    CheckString(ind.source(), p + ".source", 200, false, v);
  }
}

void ValidateOrganization(const Organization& o, const std::string& path, FieldViolations* v) {
  CheckString(o.display_name(), At(path, "display_name"), kMaxName, true, v);
  CheckEnum(o.type(), v1::OrganizationType_IsValid, At(path, "type"), true, v);
  CheckCountryRef(o.country(), At(path, "country"), false, v);
  CheckEnumList(o.avenues(), stp::common::v1::Avenue_IsValid, path, "avenues", v);
  CheckSectors(o.dac_sectors(), At(path, "dac_sectors"), v);
  CheckEnumList(o.roles(), stp::common::v1::PartnerRole_IsValid, path, "roles", v);
  if (o.has_financing_capacity())
    CheckMoney(o.financing_capacity(), At(path, "financing_capacity"), v);
  CheckCount(o.languages_size(), 20, At(path, "languages"), v);
  for (int i = 0; i < o.languages_size() && i < 20; ++i) {
    const std::string& l = o.languages(i);
    if (l.size() != 2 || !absl::ascii_islower(l[0]) || !absl::ascii_islower(l[1])) {
      v->Add(At(path, "languages", i), "an ISO 639-1 code such as \"en\"");
    }
  }
  CheckExternalIds(o.external_ids(), At(path, "external_ids"), v);
  CheckString(o.description(), At(path, "description"), kMaxShortDescription, false, v);
  CheckString(o.website(), At(path, "website"), 2000, false, v);
  if (!o.website().empty() && !absl::StartsWith(o.website(), "https://") &&
      !absl::StartsWith(o.website(), "http://")) {
    v->Add(At(path, "website"), "an absolute http(s) URL");
  }
}

void ValidatePark(const Park& p, const std::string& path, FieldViolations* v) {
  CheckString(p.display_name(), At(path, "display_name"), kMaxName, true, v);
  CheckCountryRef(p.host_country(), At(path, "host_country"), true, v);
  CheckRef(p.operator_(), "organizations", At(path, "operator"), false, v);
  CheckEnum(p.status(), v1::Park::Status_IsValid, At(path, "status"), true, v);
  CheckEnum(p.origin(), v1::Park::Origin_IsValid, At(path, "origin"), true, v);
  if (p.established_year() != 0 && (p.established_year() < 1900 || p.established_year() > 2100)) {
    v->Add(At(path, "established_year"), "between 1900 and 2100");
  }
  CheckEnumList(p.focus_avenues(), stp::common::v1::Avenue_IsValid, path, "focus_avenues", v);
  if (p.tenant_count() < 0) v->Add(At(path, "tenant_count"), "must not be negative");
  if (p.has_location()) {
    if (!(p.location().latitude() >= -90 && p.location().latitude() <= 90)) {
      v->Add(At(path, "location.latitude"), "between -90 and 90");
    }
    if (!(p.location().longitude() >= -180 && p.location().longitude() <= 180)) {
      v->Add(At(path, "location.longitude"), "between -180 and 180");
    }
  }
  CheckExternalIds(p.external_ids(), At(path, "external_ids"), v);
  CheckString(p.description(), At(path, "description"), kMaxShortDescription, false, v);
}

void ValidateProject(const Project& p, const std::string& path, FieldViolations* v) {
  CheckString(p.title(), At(path, "title"), kMaxTitle, true, v);
  CheckString(p.description(), At(path, "description"), kMaxDescription, false, v);
  CheckRef(p.park(), "parks", At(path, "park"), false, v);
  CheckCountryRef(p.host_country(), At(path, "host_country"), true, v);
  if (p.avenues().empty()) {
    v->Add(At(path, "avenues"),
           "at least one avenue is required (e-commerce, e-manufacturing, "
           "public health, green growth or agriculture)");
  }
  CheckEnumList(p.avenues(), stp::common::v1::Avenue_IsValid, path, "avenues", v);
  CheckSectors(p.dac_sectors(), At(path, "dac_sectors"), v);
  CheckEnum(p.cooperation_model(), v1::CooperationModel_IsValid, At(path, "cooperation_model"),
            true, v);
  CheckCount(p.participants_size(), 200, At(path, "participants"), v);
  std::set<std::pair<std::string, int>> pairs;
  std::set<int> lead_roles;
  for (int i = 0; i < p.participants_size() && i < 200; ++i) {
    const auto& part = p.participants(i);
    std::string pp = At(path, "participants", i);
    CheckRef(part.organization(), "organizations", pp + ".organization", true, v);
    CheckEnum(part.role(), stp::common::v1::PartnerRole_IsValid, pp + ".role", false, v);
    if (!pairs.insert({part.organization(), part.role()}).second) {
      v->Add(pp, "the same organisation appears twice in the same role");
    }
    if (part.lead() && !lead_roles.insert(part.role()).second) {
      v->Add(pp + ".lead", "at most one lead per role");
    }
  }
  CheckEnum(p.stage(), v1::ProjectStage_IsValid, At(path, "stage"), true, v);
  if (p.has_planned_start()) CheckDate(p.planned_start(), At(path, "planned_start"), v);
  if (p.has_planned_end()) CheckDate(p.planned_end(), At(path, "planned_end"), v);
  if (p.has_actual_start()) CheckDate(p.actual_start(), At(path, "actual_start"), v);
  if (p.has_actual_end()) CheckDate(p.actual_end(), At(path, "actual_end"), v);
  CheckDateOrder(p, p.has_planned_start(), p.planned_start(), p.has_planned_end(), p.planned_end(),
                 At(path, "planned_end"), "planned start", v);
  CheckDateOrder(p, p.has_actual_start(), p.actual_start(), p.has_actual_end(), p.actual_end(),
                 At(path, "actual_end"), "actual start", v);
  const auto& f = p.financing();
  if (f.has_budget()) CheckMoney(f.budget(), At(path, "financing.budget"), v);
  CheckCount(f.commitments_size(), 500, At(path, "financing.commitments"), v);
  for (int i = 0; i < f.commitments_size() && i < 500; ++i) {
    CheckFlow(f.commitments(i), At(path, "financing.commitments", i), v);
  }
  CheckCount(f.disbursements_size(), 2000, At(path, "financing.disbursements"), v);
  for (int i = 0; i < f.disbursements_size() && i < 2000; ++i) {
    CheckFlow(f.disbursements(i), At(path, "financing.disbursements", i), v);
  }
  CheckCount(p.milestones_size(), 500, At(path, "milestones"), v);
  for (int i = 0; i < p.milestones_size() && i < 500; ++i) {
    const auto& m = p.milestones(i);
    std::string mp = At(path, "milestones", i);
    CheckString(m.name(), mp + ".name", kMaxName, true, v);
    if (m.has_due_date()) CheckDate(m.due_date(), mp + ".due_date", v);
    if (m.has_done_date()) CheckDate(m.done_date(), mp + ".done_date", v);
  }
  CheckCount(p.results_size(), 500, At(path, "results"), v);
  for (int i = 0; i < p.results_size() && i < 500; ++i) {
    const auto& r = p.results(i);
    std::string rp = At(path, "results", i);
    CheckString(r.indicator(), rp + ".indicator", kMaxName, true, v);
    CheckString(r.unit(), rp + ".unit", 50, false, v);
    CheckFinite(r.baseline(), rp + ".baseline", v);
    CheckFinite(r.target(), rp + ".target", v);
    CheckFinite(r.actual(), rp + ".actual", v);
  }
  CheckEnum(p.visibility(), v1::Visibility_IsValid, At(path, "visibility"), true, v);
  CheckCount(p.sources_size(), 50, At(path, "sources"), v);
  for (int i = 0; i < p.sources_size() && i < 50; ++i) {
    CheckString(p.sources(i).source(), At(path, "sources", i) + ".source", 32, true, v);
    CheckString(p.sources(i).reference(), At(path, "sources", i) + ".reference", 2000, false, v);
  }
  CheckExternalIds(p.external_ids(), At(path, "external_ids"), v);
}

}  // namespace stp::ingestion
