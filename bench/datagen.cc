#include "bench/datagen.h"

#include "absl/strings/str_cat.h"

namespace stp::bench {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::Avenue;
using stp::common::v1::IncomeGroup;
using stp::common::v1::PartnerRole;

namespace {

struct CountrySeed {
  const char* code;
  const char* name;
  const char* region;
  IncomeGroup income;
  bool bri;
};

constexpr IncomeGroup kLow = stp::common::v1::INCOME_GROUP_LOW;
constexpr IncomeGroup kLowerMid = stp::common::v1::INCOME_GROUP_LOWER_MIDDLE;
constexpr IncomeGroup kUpperMid = stp::common::v1::INCOME_GROUP_UPPER_MIDDLE;
constexpr IncomeGroup kHigh = stp::common::v1::INCOME_GROUP_HIGH;

const CountrySeed kCountries[] = {
    {"EG", "Egypt", "Africa", kLowerMid, true},
    {"ZA", "South Africa", "Africa", kUpperMid, true},
    {"CN", "China", "Asia", kUpperMid, true},
    {"NG", "Nigeria", "Africa", kLowerMid, true},
    {"KE", "Kenya", "Africa", kLowerMid, true},
    {"ET", "Ethiopia", "Africa", kLow, true},
    {"TZ", "Tanzania", "Africa", kLowerMid, true},
    {"GH", "Ghana", "Africa", kLowerMid, true},
    {"MA", "Morocco", "Africa", kLowerMid, true},
    {"DZ", "Algeria", "Africa", kUpperMid, true},
    {"SN", "Senegal", "Africa", kLowerMid, true},
    {"CI", "Cote d'Ivoire", "Africa", kLowerMid, true},
    {"RW", "Rwanda", "Africa", kLow, true},
    {"UG", "Uganda", "Africa", kLow, true},
    {"ZM", "Zambia", "Africa", kLowerMid, true},
    {"MZ", "Mozambique", "Africa", kLow, true},
    {"AO", "Angola", "Africa", kLowerMid, true},
    {"ZW", "Zimbabwe", "Africa", kLowerMid, true},
    {"PK", "Pakistan", "Asia", kLowerMid, true},
    {"BD", "Bangladesh", "Asia", kLowerMid, true},
    {"LK", "Sri Lanka", "Asia", kLowerMid, true},
    {"NP", "Nepal", "Asia", kLowerMid, true},
    {"KH", "Cambodia", "Asia", kLowerMid, true},
    {"LA", "Lao PDR", "Asia", kLowerMid, true},
    {"VN", "Viet Nam", "Asia", kLowerMid, true},
    {"ID", "Indonesia", "Asia", kUpperMid, true},
    {"MY", "Malaysia", "Asia", kUpperMid, true},
    {"TH", "Thailand", "Asia", kUpperMid, true},
    {"PH", "Philippines", "Asia", kLowerMid, true},
    {"MM", "Myanmar", "Asia", kLowerMid, true},
    {"KZ", "Kazakhstan", "Asia", kUpperMid, true},
    {"UZ", "Uzbekistan", "Asia", kLowerMid, true},
    {"KG", "Kyrgyzstan", "Asia", kLowerMid, true},
    {"TJ", "Tajikistan", "Asia", kLowerMid, true},
    {"MN", "Mongolia", "Asia", kLowerMid, true},
    {"IR", "Iran", "Asia", kLowerMid, true},
    {"SA", "Saudi Arabia", "Asia", kHigh, true},
    {"AE", "United Arab Emirates", "Asia", kHigh, true},
    {"TR", "Turkiye", "Asia", kUpperMid, true},
    {"JO", "Jordan", "Asia", kUpperMid, true},
    {"BR", "Brazil", "Americas", kUpperMid, false},
    {"AR", "Argentina", "Americas", kUpperMid, true},
    {"PE", "Peru", "Americas", kUpperMid, true},
    {"CL", "Chile", "Americas", kHigh, true},
    {"EC", "Ecuador", "Americas", kUpperMid, true},
    {"BO", "Bolivia", "Americas", kLowerMid, true},
    {"RS", "Serbia", "Europe", kUpperMid, true},
    {"HU", "Hungary", "Europe", kHigh, true},
    {"DE", "Germany", "Europe", kHigh, false},
    {"FR", "France", "Europe", kHigh, false},
    {"GB", "United Kingdom", "Europe", kHigh, false},
    {"JP", "Japan", "Asia", kHigh, false},
    {"KR", "Korea", "Asia", kHigh, true},
    {"US", "United States", "Americas", kHigh, false},
    {"SG", "Singapore", "Asia", kHigh, true},
    {"IN", "India", "Asia", kLowerMid, false},
    {"TN", "Tunisia", "Africa", kLowerMid, true},
    {"CM", "Cameroon", "Africa", kLowerMid, true},
    {"ML", "Mali", "Africa", kLow, true},
    {"NE", "Niger", "Africa", kLow, true},
};

const char* kWords[] = {"solar",   "wind",        "hydrogen",   "agritech", "irrigation",
                        "vaccine", "diagnostics", "logistics",  "payments", "robotics",
                        "textile", "battery",     "biomass",    "seed",     "telemedicine",
                        "fintech", "incubator",   "innovation", "cluster",  "laboratory"};

}  // namespace

std::vector<v1::Country> DataGenerator::Countries() {
  std::vector<v1::Country> out;
  codes_.clear();
  host_codes_.clear();
  for (const auto& s : kCountries) {
    v1::Country c;
    c.set_alpha2(s.code);
    c.set_name(absl::StrCat("countries/", s.code));
    c.set_display_name(s.name);
    c.set_region(s.region);
    c.set_income_group(s.income);
    c.mutable_bri()->set_member(s.bri);
    for (auto [name, lo, hi] :
         {std::tuple{"internet_users_pct", 15, 95}, std::tuple{"agriculture_va_pct_gdp", 2, 35},
          std::tuple{"manufacturing_va_pct_gdp", 5, 30},
          std::tuple{"rd_expenditure_pct_gdp", 0, 3}}) {
      auto* ind = c.add_indicators();
      ind->set_name(name);
      ind->set_value(Uniform(lo * 10, hi * 10) / 10.0);
      ind->mutable_as_of()->set_year(2023);
      ind->mutable_as_of()->set_month(1);
      ind->mutable_as_of()->set_day(1);
    }
    codes_.push_back(s.code);
    if (s.income != kHigh && std::string(s.code) != "CN") host_codes_.push_back(s.code);
    out.push_back(std::move(c));
  }
  return out;
}

v1::Organization DataGenerator::Organization(int index) {
  if (codes_.empty()) Countries();
  v1::Organization o;
  int kind = index % 10;
  static const v1::OrganizationType kTypes[] = {v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
                                                v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
                                                v1::ORGANIZATION_TYPE_ACADEMIC,
                                                v1::ORGANIZATION_TYPE_MULTILATERAL,
                                                v1::ORGANIZATION_TYPE_DFI,
                                                v1::ORGANIZATION_TYPE_GOVERNMENT,
                                                v1::ORGANIZATION_TYPE_STP_OPERATOR,
                                                v1::ORGANIZATION_TYPE_MULTINATIONAL,
                                                v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
                                                v1::ORGANIZATION_TYPE_GOVERNMENT};
  o.set_type(kTypes[kind]);
  o.set_display_name(
      absl::StrCat(kWords[index % 20], " ", kWords[(index / 20) % 20], " org ", index));
  if (o.type() != v1::ORGANIZATION_TYPE_MULTILATERAL) {
    // A third are Chinese technology partners, as on the ground.
    o.set_country(
        absl::StrCat("countries/", kind < 3 ? "CN" : codes_[Uniform(0, codes_.size() - 1)]));
  }
  int avenues = Uniform(1, 2);
  for (int a = 0; a < avenues; ++a) o.add_avenues(static_cast<Avenue>(1 + (index + a * 2) % 5));
  static const int kSectors[] = {23210, 23230, 31120, 31161, 12191,
                                 32110, 32130, 22040, 25010, 41010};
  o.add_dac_sectors(kSectors[index % 10]);
  o.add_dac_sectors(kSectors[(index * 7) % 10]);
  switch (o.type()) {
    case v1::ORGANIZATION_TYPE_DFI:
      o.add_roles(stp::common::v1::PARTNER_ROLE_FINANCIER);
      o.mutable_financing_capacity()->set_currency_code("USD");
      o.mutable_financing_capacity()->set_units(int64_t{Uniform(5, 500)} * 1000000);
      break;
    case v1::ORGANIZATION_TYPE_MULTILATERAL:
    case v1::ORGANIZATION_TYPE_MULTINATIONAL:
      o.add_roles(stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER);
      break;
    case v1::ORGANIZATION_TYPE_GOVERNMENT:
      o.add_roles(stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT);
      break;
    case v1::ORGANIZATION_TYPE_STP_OPERATOR:
      o.add_roles(stp::common::v1::PARTNER_ROLE_OPERATOR);
      o.set_iasp_member(index % 3 == 0);
      break;
    case v1::ORGANIZATION_TYPE_ACADEMIC:
      o.add_roles(stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER);
      break;
    default:
      o.add_roles(stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER);
      o.add_roles(stp::common::v1::PARTNER_ROLE_ANCHOR_TENANT);
  }
  o.add_languages(index % 4 == 0 ? "fr" : "en");
  if (index % 3 == 0) o.add_languages("zh");
  return o;
}

v1::Project DataGenerator::Project(int index, const std::vector<std::string>& organizations,
                                   int bytes) {
  if (codes_.empty()) Countries();
  v1::Project p;
  p.set_title(
      absl::StrCat(kWords[index % 20], " ", kWords[(index / 7) % 20], " park project ", index));
  p.set_host_country(absl::StrCat("countries/", host_codes_[Uniform(0, host_codes_.size() - 1)]));
  p.add_avenues(static_cast<Avenue>(1 + index % 5));
  p.add_dac_sectors(23210 + (index % 3) * 10);
  p.set_cooperation_model(static_cast<v1::CooperationModel>(1 + index % 4));
  p.set_stage(static_cast<v1::ProjectStage>(1 + index % 6));
  static const PartnerRole kRoles[] = {stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER,
                                       stp::common::v1::PARTNER_ROLE_FINANCIER,
                                       stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER};
  if (!organizations.empty()) {
    for (int k = 0; k < 3; ++k) {
      auto* part = p.add_participants();
      part->set_organization(organizations[(index * 3 + k * 7919) % organizations.size()]);
      part->set_role(kRoles[k]);
      part->set_lead(k == 0);
    }
  }
  auto date = [](google::type::Date* d, int y, int m) {
    d->set_year(y);
    d->set_month(m);
    d->set_day(1);
  };
  date(p.mutable_planned_start(), 2018 + index % 6, 1 + index % 12);
  date(p.mutable_planned_end(), 2026 + index % 4, 1 + index % 12);
  auto* budget = p.mutable_financing()->mutable_budget();
  budget->set_currency_code("USD");
  budget->set_units(int64_t{Uniform(1, 200)} * 1000000);
  auto* c = p.mutable_financing()->add_commitments();
  c->mutable_amount()->set_currency_code("USD");
  c->mutable_amount()->set_units(budget->units() / 2);
  c->set_instrument(v1::FINANCE_INSTRUMENT_LOAN);
  for (int m = 0; m < 3; ++m) {
    auto* ms = p.add_milestones();
    ms->set_name(absl::StrCat("milestone ", m + 1));
    date(ms->mutable_due_date(), 2024 + m, 6);
    ms->set_done(m == 0);
  }
  auto* x = p.add_external_ids();
  x->set_source("bench");
  x->set_value(absl::StrCat(index));
  // Pad the description to the wanted size.
  int missing = bytes - static_cast<int>(p.ByteSizeLong()) - 4;
  std::string text;
  while (static_cast<int>(text.size()) < missing)
    absl::StrAppend(&text, kWords[Uniform(0, 19)], " ");
  if (missing > 0) p.set_description(text.substr(0, missing));
  return p;
}

}  // namespace stp::bench
