#include "services/matching/core/synthetic_registry.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace stp::matching {
namespace {

using stp::common::v1::Avenue;
using stp::common::v1::IncomeGroup;
using stp::common::v1::PartnerRole;
using stp::ingestion::v1::OrganizationType;

struct CountryRow {
  const char* code;
  const char* name;
  const char* region;
  const char* sub_region;
  IncomeGroup income;
  const char* languages;  // comma-separated ISO 639-1
};

constexpr IncomeGroup kLow = stp::common::v1::INCOME_GROUP_LOW;
constexpr IncomeGroup kLowerMiddle = stp::common::v1::INCOME_GROUP_LOWER_MIDDLE;
constexpr IncomeGroup kUpperMiddle = stp::common::v1::INCOME_GROUP_UPPER_MIDDLE;
constexpr IncomeGroup kHigh = stp::common::v1::INCOME_GROUP_HIGH;

// UN M49 regions and World Bank income groups (approximately; this is test data).
constexpr CountryRow kCountries[] = {
    {"CN", "China", "Asia", "Eastern Asia", kUpperMiddle, "zh,en"},
    {"EG", "Egypt", "Africa", "Northern Africa", kLowerMiddle, "ar,en"},
    {"ZA", "South Africa", "Africa", "Southern Africa", kUpperMiddle, "en,af"},
    {"MA", "Morocco", "Africa", "Northern Africa", kLowerMiddle, "ar,fr"},
    {"TN", "Tunisia", "Africa", "Northern Africa", kLowerMiddle, "ar,fr"},
    {"DZ", "Algeria", "Africa", "Northern Africa", kLowerMiddle, "ar,fr"},
    {"ET", "Ethiopia", "Africa", "Eastern Africa", kLow, "am,en"},
    {"KE", "Kenya", "Africa", "Eastern Africa", kLowerMiddle, "en,sw"},
    {"TZ", "Tanzania", "Africa", "Eastern Africa", kLowerMiddle, "sw,en"},
    {"UG", "Uganda", "Africa", "Eastern Africa", kLow, "en,sw"},
    {"RW", "Rwanda", "Africa", "Eastern Africa", kLow, "rw,en,fr"},
    {"ZM", "Zambia", "Africa", "Eastern Africa", kLowerMiddle, "en"},
    {"MZ", "Mozambique", "Africa", "Eastern Africa", kLow, "pt"},
    {"NG", "Nigeria", "Africa", "Western Africa", kLowerMiddle, "en"},
    {"GH", "Ghana", "Africa", "Western Africa", kLowerMiddle, "en"},
    {"SN", "Senegal", "Africa", "Western Africa", kLowerMiddle, "fr"},
    {"CI", "Cote d'Ivoire", "Africa", "Western Africa", kLowerMiddle, "fr"},
    {"ML", "Mali", "Africa", "Western Africa", kLow, "fr"},
    {"AO", "Angola", "Africa", "Middle Africa", kLowerMiddle, "pt"},
    {"BW", "Botswana", "Africa", "Southern Africa", kUpperMiddle, "en"},
    {"PK", "Pakistan", "Asia", "Southern Asia", kLowerMiddle, "ur,en"},
    {"BD", "Bangladesh", "Asia", "Southern Asia", kLowerMiddle, "bn,en"},
    {"IN", "India", "Asia", "Southern Asia", kLowerMiddle, "hi,en"},
    {"LK", "Sri Lanka", "Asia", "Southern Asia", kLowerMiddle, "si,ta,en"},
    {"NP", "Nepal", "Asia", "Southern Asia", kLowerMiddle, "ne,en"},
    {"KZ", "Kazakhstan", "Asia", "Central Asia", kUpperMiddle, "kk,ru"},
    {"UZ", "Uzbekistan", "Asia", "Central Asia", kLowerMiddle, "uz,ru"},
    {"VN", "Viet Nam", "Asia", "South-eastern Asia", kLowerMiddle, "vi,en"},
    {"ID", "Indonesia", "Asia", "South-eastern Asia", kUpperMiddle, "id,en"},
    {"MY", "Malaysia", "Asia", "South-eastern Asia", kUpperMiddle, "ms,en,zh"},
    {"TH", "Thailand", "Asia", "South-eastern Asia", kUpperMiddle, "th,en"},
    {"KH", "Cambodia", "Asia", "South-eastern Asia", kLowerMiddle, "km,en"},
    {"LA", "Lao PDR", "Asia", "South-eastern Asia", kLowerMiddle, "lo"},
    {"SG", "Singapore", "Asia", "South-eastern Asia", kHigh, "en,zh,ms"},
    {"KR", "Republic of Korea", "Asia", "Eastern Asia", kHigh, "ko,en"},
    {"JP", "Japan", "Asia", "Eastern Asia", kHigh, "ja,en"},
    {"SA", "Saudi Arabia", "Asia", "Western Asia", kHigh, "ar,en"},
    {"AE", "United Arab Emirates", "Asia", "Western Asia", kHigh, "ar,en"},
    {"TR", "Turkiye", "Asia", "Western Asia", kUpperMiddle, "tr,en"},
    {"DE", "Germany", "Europe", "Western Europe", kHigh, "de,en"},
    {"FR", "France", "Europe", "Western Europe", kHigh, "fr,en"},
    {"GB", "United Kingdom", "Europe", "Northern Europe", kHigh, "en"},
    {"IT", "Italy", "Europe", "Southern Europe", kHigh, "it,en"},
    {"ES", "Spain", "Europe", "Southern Europe", kHigh, "es,en"},
    {"PL", "Poland", "Europe", "Eastern Europe", kHigh, "pl,en"},
    {"RS", "Serbia", "Europe", "Southern Europe", kUpperMiddle, "sr,en"},
    {"HU", "Hungary", "Europe", "Eastern Europe", kHigh, "hu,en"},
    {"US", "United States", "Americas", "Northern America", kHigh, "en"},
    {"BR", "Brazil", "Americas", "South America", kUpperMiddle, "pt,en"},
    {"AR", "Argentina", "Americas", "South America", kUpperMiddle, "es"},
    {"CL", "Chile", "Americas", "South America", kHigh, "es"},
    {"PE", "Peru", "Americas", "South America", kUpperMiddle, "es"},
    {"BO", "Bolivia", "Americas", "South America", kLowerMiddle, "es"},
    {"MX", "Mexico", "Americas", "Central America", kUpperMiddle, "es,en"},
    {"CU", "Cuba", "Americas", "Caribbean", kUpperMiddle, "es"},
    {"HT", "Haiti", "Americas", "Caribbean", kLowerMiddle, "fr,ht"},
    {"AU", "Australia", "Oceania", "Australia and New Zealand", kHigh, "en"},
    {"NZ", "New Zealand", "Oceania", "Australia and New Zealand", kHigh, "en,mi"},
    {"PG", "Papua New Guinea", "Oceania", "Melanesia", kLowerMiddle, "en"},
    {"FJ", "Fiji", "Oceania", "Melanesia", kUpperMiddle, "en"},
};
constexpr size_t kCountryCount = sizeof(kCountries) / sizeof(kCountries[0]);

constexpr OrganizationType kCountryTypes[] = {
    stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
    stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
    stp::ingestion::v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
    stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC,
    stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC,
    stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT,
    stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL,
    stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR,
    stp::ingestion::v1::ORGANIZATION_TYPE_DFI,
    stp::ingestion::v1::ORGANIZATION_TYPE_NATIONAL_NGO,
    stp::ingestion::v1::ORGANIZATION_TYPE_FOUNDATION,
    stp::ingestion::v1::ORGANIZATION_TYPE_OTHER_PUBLIC_SECTOR,
};

constexpr PartnerRole kRoles[] = {
    stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER, stp::common::v1::PARTNER_ROLE_FINANCIER,
    stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER, stp::common::v1::PARTNER_ROLE_ANCHOR_TENANT,
    stp::common::v1::PARTNER_ROLE_OPERATOR,           stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT,
    stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER,   stp::common::v1::PARTNER_ROLE_IMPLEMENTER,
};

// The role a type usually declares first.
PartnerRole TypicalRole(OrganizationType type, SeededRandom& random) {
  switch (type) {
    case stp::ingestion::v1::ORGANIZATION_TYPE_ACADEMIC:
      return stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER;
    case stp::ingestion::v1::ORGANIZATION_TYPE_GOVERNMENT:
      return stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT;
    case stp::ingestion::v1::ORGANIZATION_TYPE_MULTINATIONAL:
    case stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL:
      return stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER;
    case stp::ingestion::v1::ORGANIZATION_TYPE_STP_OPERATOR:
      return stp::common::v1::PARTNER_ROLE_OPERATOR;
    case stp::ingestion::v1::ORGANIZATION_TYPE_DFI:
    case stp::ingestion::v1::ORGANIZATION_TYPE_FOUNDATION:
      return stp::common::v1::PARTNER_ROLE_FINANCIER;
    default:
      return random.Chance(0.6) ? stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER
                                : kRoles[random.Below(std::size(kRoles))];
  }
}

Avenue RandomAvenue(SeededRandom& random) { return static_cast<Avenue>(1 + random.Below(5)); }

std::vector<std::string> CountryLanguages(const CountryRow& row) {
  return absl::StrSplit(row.languages, ',');
}

}  // namespace

uint64_t SeededRandom::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

const std::vector<int>& AvenueSectors(Avenue avenue) {
  static const auto* const kTable = new std::vector<std::vector<int>>{
      {},
      {22040, 22020, 33110, 33120, 25010, 25030, 24030},
      {32110, 32120, 32130, 32182, 32171, 32172, 32163, 43082, 11430},
      {12182, 12191, 12250, 12264},
      {23182, 23183, 23210, 23230, 23240, 41010, 41082, 32173, 32174},
      {31110, 31120, 31161, 31166, 31182, 31191, 32161, 43073},
  };
  return (*kTable)[avenue >= 1 && avenue <= 5 ? avenue : 0];
}

SyntheticRegistry GenerateRegistry(const SyntheticRegistryOptions& options) {
  SeededRandom random(options.seed);
  SyntheticRegistry registry;
  for (const CountryRow& row : kCountries) {
    auto& country = registry.countries.emplace_back();
    country.set_name(absl::StrFormat("countries/%s", row.code));
    country.set_alpha2(row.code);
    country.set_display_name(row.name);
    country.set_region(row.region);
    country.set_sub_region(row.sub_region);
    country.set_income_group(row.income);
  }

  // A latent quality per organisation makes project scores, and so track records, differ
  // between organisations the way they do in real portfolios.
  std::vector<double> quality(options.organizations);
  registry.organizations.reserve(options.organizations);
  for (int i = 0; i < options.organizations; ++i) {
    auto& org = registry.organizations.emplace_back();
    org.set_name(absl::StrFormat("organizations/syn%07d", i));
    quality[i] = 20 + 70 * random.Fraction();
    const bool multilateral = random.Chance(0.06);
    const CountryRow* row = nullptr;
    OrganizationType type;
    if (multilateral) {
      type = random.Chance(0.5) ? stp::ingestion::v1::ORGANIZATION_TYPE_MULTILATERAL
                                : stp::ingestion::v1::ORGANIZATION_TYPE_DFI;
    } else {
      row = &kCountries[random.Below(kCountryCount)];
      org.set_country(absl::StrFormat("countries/%s", row->code));
      type = kCountryTypes[random.Below(std::size(kCountryTypes))];
    }
    org.set_type(type);
    org.set_display_name(absl::StrFormat("Synthetic %s %d", row ? row->code : "XM", i));

    const int avenues = 1 + static_cast<int>(random.Below(2));
    for (int a = 0; a < avenues; ++a) {
      const Avenue avenue = RandomAvenue(random);
      org.add_avenues(avenue);
      const auto& sectors = AvenueSectors(avenue);
      const int picks = 1 + static_cast<int>(random.Below(3));
      for (int s = 0; s < picks; ++s) org.add_dac_sectors(sectors[random.Below(sectors.size())]);
    }
    org.add_roles(TypicalRole(type, random));
    if (random.Chance(0.35)) org.add_roles(kRoles[random.Below(std::size(kRoles))]);
    const bool financier = type == stp::ingestion::v1::ORGANIZATION_TYPE_DFI ||
                           std::find(org.roles().begin(), org.roles().end(),
                                     stp::common::v1::PARTNER_ROLE_FINANCIER) != org.roles().end();
    if (financier && random.Chance(0.9)) {
      // 100 thousand to 1 billion, log-uniform.
      const double exponent = 5 + 4 * random.Fraction();
      int64_t units = 1;
      for (int e = 0; e < static_cast<int>(exponent); ++e) units *= 10;
      units = static_cast<int64_t>(static_cast<double>(units) * (1 + 9 * random.Fraction()));
      org.mutable_financing_capacity()->set_currency_code("USD");
      org.mutable_financing_capacity()->set_units(units);
    }
    if (row != nullptr) {
      for (const std::string& language : CountryLanguages(*row)) {
        if (random.Chance(0.85)) org.add_languages(language);
      }
    } else {
      org.add_languages("en");
      org.add_languages("fr");
    }
  }

  const int project_count =
      static_cast<int>(options.organizations * options.projects_per_organization);
  registry.projects.reserve(project_count);
  for (int p = 0; p < project_count && options.organizations > 0; ++p) {
    auto& project = registry.projects.emplace_back();
    project.set_name(absl::StrFormat("projects/synp%07d", p));
    project.set_title(absl::StrFormat("Synthetic project %d", p));
    // Hosts are mostly low- and middle-income countries.
    const CountryRow* host = &kCountries[random.Below(kCountryCount)];
    for (int tries = 0; tries < 3 && host->income == kHigh; ++tries) {
      host = &kCountries[random.Below(kCountryCount)];
    }
    project.set_host_country(absl::StrFormat("countries/%s", host->code));
    const Avenue avenue = RandomAvenue(random);
    project.add_avenues(avenue);
    project.add_dac_sectors(AvenueSectors(avenue)[random.Below(AvenueSectors(avenue).size())]);
    project.set_stage(static_cast<stp::ingestion::v1::ProjectStage>(1 + random.Below(7)));
    project.set_visibility(random.Chance(options.hidden_share)
                               ? stp::ingestion::v1::VISIBILITY_PARTICIPANTS
                               : stp::ingestion::v1::VISIBILITY_PUBLIC);
    const int participants = 2 + static_cast<int>(random.Below(4));
    double quality_sum = 0;
    for (int i = 0; i < participants; ++i) {
      const int o = static_cast<int>(random.Below(options.organizations));
      const auto& org = registry.organizations[o];
      auto* participant = project.add_participants();
      participant->set_organization(org.name());
      participant->set_role(org.roles(0));
      quality_sum += quality[o];
    }
    if (random.Chance(options.scored_share)) {
      const double score =
          std::clamp(quality_sum / participants + 20 * (random.Fraction() - 0.5), 0.0, 100.0);
      registry.scores.emplace_back(project.name(), score);
    }
  }
  return registry;
}

void LoadRegistry(const SyntheticRegistry& registry, OrganizationIndex& index) {
  for (const auto& country : registry.countries) index.UpsertCountry(country);
  for (const auto& org : registry.organizations) index.UpsertOrganization(org);
  for (const auto& project : registry.projects) index.UpsertProject(project);
  for (const auto& [project, score] : registry.scores) index.SetProjectScore(project, score);
}

Need GenerateNeed(SeededRandom& random, int roles) {
  Need need;
  const CountryRow* host = &kCountries[random.Below(kCountryCount)];
  while (host->income == kHigh) host = &kCountries[random.Below(kCountryCount)];
  need.host_country = absl::StrFormat("countries/%s", host->code);
  const Avenue avenue = RandomAvenue(random);
  need.avenues.push_back(avenue);
  if (random.Chance(0.3)) {
    const Avenue second = RandomAvenue(random);
    if (second != avenue) need.avenues.push_back(second);
  }
  const auto& sectors = AvenueSectors(avenue);
  const int sector_count = static_cast<int>(random.Below(3));
  for (int s = 0; s < sector_count; ++s)
    need.dac_sectors.push_back(sectors[random.Below(sectors.size())]);
  std::vector<PartnerRole> order = {stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER,
                                    stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER,
                                    stp::common::v1::PARTNER_ROLE_FINANCIER};
  for (PartnerRole role : kRoles) {
    if (std::find(order.begin(), order.end(), role) == order.end()) order.push_back(role);
  }
  for (int r = 0; r < roles && r < static_cast<int>(order.size()); ++r)
    need.roles.push_back(order[r]);
  need.budget = 1e6 * static_cast<double>(1 + random.Below(100));
  need.budget_currency = "USD";
  need.languages = CountryLanguages(*host);
  return need;
}

}  // namespace stp::matching
