#include "tools/demo/demo_data.h"

#include <map>
#include <random>

#include "absl/strings/str_cat.h"

namespace stp::demo {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::Avenue;
using stp::common::v1::PartnerRole;

namespace {

constexpr Avenue kEcom = stp::common::v1::AVENUE_E_COMMERCE;
constexpr Avenue kEman = stp::common::v1::AVENUE_E_MANUFACTURING;
constexpr Avenue kHealth = stp::common::v1::AVENUE_PUBLIC_HEALTH;
constexpr Avenue kGreen = stp::common::v1::AVENUE_GREEN_GROWTH;
constexpr Avenue kAgri = stp::common::v1::AVENUE_AGRICULTURE;

// One DAC purpose code per avenue for each project, from SPEC §5.1.
const std::map<Avenue, std::vector<int>> kSectors = {{kEcom, {22040, 25010, 33120, 24030}},
                                                     {kEman, {32110, 32130, 32172, 43082}},
                                                     {kHealth, {12182, 12191, 12250}},
                                                     {kGreen, {23210, 23230, 23240, 41010}},
                                                     {kAgri, {31120, 31161, 31182, 43073}}};

struct Host {
  const char* code;
  const char* name;
  std::vector<Avenue> strengths;
};

// Host countries of the demo portfolio, with the avenues their parks focus on.
const std::vector<Host> kHosts = {{"EG", "Egypt", {kGreen, kEcom, kEman, kAgri}},
                                  {"ZA", "South Africa", {kEman, kGreen, kHealth, kEcom}},
                                  {"KE", "Kenya", {kEcom, kAgri, kGreen}},
                                  {"ET", "Ethiopia", {kEman, kAgri}},
                                  {"NG", "Nigeria", {kEcom, kHealth}},
                                  {"MA", "Morocco", {kGreen, kEman}},
                                  {"PK", "Pakistan", {kEman, kAgri}},
                                  {"ID", "Indonesia", {kEcom, kGreen}},
                                  {"VN", "Viet Nam", {kEman, kEcom}},
                                  {"KH", "Cambodia", {kAgri, kEman}},
                                  {"BD", "Bangladesh", {kEman, kHealth}},
                                  {"TZ", "Tanzania", {kAgri, kGreen}},
                                  {"GH", "Ghana", {kAgri, kEcom}},
                                  {"SN", "Senegal", {kEcom, kAgri}},
                                  {"RW", "Rwanda", {kEcom, kHealth}},
                                  {"TN", "Tunisia", {kHealth, kEman}},
                                  {"DZ", "Algeria", {kGreen}},
                                  {"KZ", "Kazakhstan", {kGreen, kEman}},
                                  {"UZ", "Uzbekistan", {kAgri, kEman}},
                                  {"TH", "Thailand", {kEman, kHealth}},
                                  {"CI", "Cote d'Ivoire", {kAgri, kEcom}},
                                  {"ZM", "Zambia", {kGreen, kAgri}},
                                  {"AO", "Angola", {kGreen, kAgri}},
                                  {"MY", "Malaysia", {kEcom, kEman}}};

struct ParkSeed {
  const char* key;
  const char* host;
  const char* name;
  std::vector<Avenue> focus;
  v1::Park::Status status;
  v1::Park::Origin origin;
  int year;
  bool iasp;
};

const std::vector<ParkSeed> kParks = {{"smart-village",
                                       "EG",
                                       "Smart Village Cairo",
                                       {kEcom},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2003,
                                       true},
                                      {"suez-green",
                                       "EG",
                                       "Suez Canal Green Hydrogen Technology Park",
                                       {kGreen},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2022,
                                       false},
                                      {"knowledge-city",
                                       "EG",
                                       "Knowledge City New Capital",
                                       {kEcom, kEman},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2019,
                                       false},
                                      {"assiut-agritech",
                                       "EG",
                                       "Assiut Agritech Park",
                                       {kAgri},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2024,
                                       false},
                                      {"tenth-ramadan",
                                       "EG",
                                       "Tenth of Ramadan Industrial Innovation Zone",
                                       {kEman},
                                       v1::Park::STATUS_UPGRADING,
                                       v1::Park::ORIGIN_UPGRADED_INDUSTRIAL_PARK,
                                       1977,
                                       false},
                                      {"pretoria-hub",
                                       "ZA",
                                       "The Innovation Hub Pretoria",
                                       {kEcom, kHealth},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2005,
                                       true},
                                      {"cape-stp",
                                       "ZA",
                                       "Cape Town Science and Technology Park",
                                       {kEman},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2010,
                                       true},
                                      {"coega-green",
                                       "ZA",
                                       "Coega Green Energy Zone",
                                       {kGreen},
                                       v1::Park::STATUS_UPGRADING,
                                       v1::Park::ORIGIN_UPGRADED_INDUSTRIAL_PARK,
                                       1999,
                                       false},
                                      {"durban-medtech",
                                       "ZA",
                                       "Durban Medical Devices Park",
                                       {kHealth},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2025,
                                       false},
                                      {"konza",
                                       "KE",
                                       "Konza Technopolis",
                                       {kEcom},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2013,
                                       true},
                                      {"naivasha-agri",
                                       "KE",
                                       "Naivasha Agro-Innovation Park",
                                       {kAgri},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2024,
                                       false},
                                      {"hawassa",
                                       "ET",
                                       "Hawassa Industrial and Innovation Park",
                                       {kEman},
                                       v1::Park::STATUS_UPGRADING,
                                       v1::Park::ORIGIN_UPGRADED_INDUSTRIAL_PARK,
                                       2016,
                                       false},
                                      {"lagos-tech",
                                       "NG",
                                       "Lagos Digital Park",
                                       {kEcom},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2015,
                                       false},
                                      {"technopolis-rabat",
                                       "MA",
                                       "Technopolis Rabat",
                                       {kEman, kGreen},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2008,
                                       true},
                                      {"gwadar-tech",
                                       "PK",
                                       "Gwadar Technology Zone",
                                       {kEman},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2020,
                                       false},
                                      {"batam-digital",
                                       "ID",
                                       "Batam Digital Park",
                                       {kEcom},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2018,
                                       false},
                                      {"hoa-lac",
                                       "VN",
                                       "Hoa Lac Hi-Tech Park",
                                       {kEman, kEcom},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       1998,
                                       true},
                                      {"sihanoukville",
                                       "KH",
                                       "Sihanoukville Agro-Tech Zone",
                                       {kAgri},
                                       v1::Park::STATUS_UPGRADING,
                                       v1::Park::ORIGIN_UPGRADED_INDUSTRIAL_PARK,
                                       2008,
                                       false},
                                      {"dhaka-hitech",
                                       "BD",
                                       "Kaliakair Hi-Tech Park",
                                       {kEman, kHealth},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2010,
                                       false},
                                      {"dodoma-agri",
                                       "TZ",
                                       "Dodoma Agricultural Innovation Park",
                                       {kAgri},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2025,
                                       false},
                                      {"accra-digital",
                                       "GH",
                                       "Accra Digital Centre",
                                       {kEcom},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2016,
                                       false},
                                      {"diamniadio",
                                       "SN",
                                       "Diamniadio Digital Technology Park",
                                       {kEcom},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2018,
                                       false},
                                      {"kigali-innovation",
                                       "RW",
                                       "Kigali Innovation City",
                                       {kEcom, kHealth},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2019,
                                       false},
                                      {"sfax-health",
                                       "TN",
                                       "Sfax Health Technology Park",
                                       {kHealth},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2012,
                                       false},
                                      {"ouargla-solar",
                                       "DZ",
                                       "Ouargla Solar Technology Park",
                                       {kGreen},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2024,
                                       false},
                                      {"astana-hub",
                                       "KZ",
                                       "Astana Innovation Park",
                                       {kGreen, kEman},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2018,
                                       true},
                                      {"tashkent-agri",
                                       "UZ",
                                       "Tashkent Agro-Technopark",
                                       {kAgri},
                                       v1::Park::STATUS_UPGRADING,
                                       v1::Park::ORIGIN_UPGRADED_INDUSTRIAL_PARK,
                                       2017,
                                       false},
                                      {"eec-thailand",
                                       "TH",
                                       "Eastern Economic Corridor Innovation Park",
                                       {kEman},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2019,
                                       true},
                                      {"abidjan-agri",
                                       "CI",
                                       "Abidjan Agro-Industrial Technology Park",
                                       {kAgri},
                                       v1::Park::STATUS_UNDER_CONSTRUCTION,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2020,
                                       false},
                                      {"lusaka-green",
                                       "ZM",
                                       "Lusaka Green Energy Park",
                                       {kGreen},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2025,
                                       false},
                                      {"luanda-tech",
                                       "AO",
                                       "Luanda Technology Park",
                                       {kGreen, kAgri},
                                       v1::Park::STATUS_PLANNED,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       2024,
                                       false},
                                      {"cyberjaya",
                                       "MY",
                                       "Cyberjaya Digital Hub",
                                       {kEcom},
                                       v1::Park::STATUS_OPERATIONAL,
                                       v1::Park::ORIGIN_GREENFIELD,
                                       1997,
                                       true}};

const char* kCities[] = {"Shenzhen", "Hangzhou", "Suzhou",  "Chengdu",  "Wuhan",   "Xi'an",
                         "Hefei",    "Tianjin",  "Qingdao", "Changsha", "Nanjing", "Guangzhou",
                         "Xiamen",   "Kunming",  "Harbin",  "Ningbo"};

const std::map<Avenue, std::vector<const char*>> kTrades = {
    {kEcom, {"Cloud Payments", "Cross-Border Logistics", "Digital Trade", "Smart Retail"}},
    {kEman,
     {"Industrial Robotics", "Smart Factory Systems", "Precision Machinery",
      "Electronics Manufacturing"}},
    {kHealth, {"Biopharma", "Medical Devices", "Diagnostics", "Vaccine Technology"}},
    {kGreen, {"Solar Energy", "Wind Power", "Hydrogen Technology", "Battery Storage"}},
    {kAgri, {"Agritech", "Seed Science", "Irrigation Systems", "Food Processing"}}};

v1::Organization NewOrg(const std::string& name, v1::OrganizationType type,
                        const std::string& country, std::vector<Avenue> avenues,
                        std::vector<PartnerRole> roles, std::vector<std::string> languages) {
  v1::Organization o;
  o.set_display_name(name);
  o.set_type(type);
  if (!country.empty()) o.set_country("countries/" + country);
  for (Avenue a : avenues) {
    o.add_avenues(a);
    o.add_dac_sectors(kSectors.at(a)[0]);
  }
  for (PartnerRole r : roles) o.add_roles(r);
  for (const auto& l : languages) o.add_languages(l);
  return o;
}

void SetDate(google::type::Date* d, int year, int month, int day = 1) {
  d->set_year(year);
  d->set_month(month);
  d->set_day(day);
}

void SetMoney(google::type::Money* m, int64_t usd) {
  m->set_currency_code("USD");
  m->set_units(usd);
}

}  // namespace

DemoData MakeDemoData(unsigned seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  DemoData data;
  auto add = [&](const std::string& key, v1::Organization o) {
    auto* x = o.add_external_ids();
    x->set_source("demo");
    x->set_value(key);
    data.organizations.push_back({key, std::move(o)});
  };
  using R = PartnerRole;
  const R kTech = stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER,
          kFin = stp::common::v1::PARTNER_ROLE_FINANCIER,
          kTri = stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER,
          kAnchor = stp::common::v1::PARTNER_ROLE_ANCHOR_TENANT,
          kOp = stp::common::v1::PARTNER_ROLE_OPERATOR,
          kGov = stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT,
          kResearch = stp::common::v1::PARTNER_ROLE_RESEARCH_PARTNER;

  // Chinese technology partners: a city and a trade, in every avenue.
  std::map<Avenue, std::vector<std::string>> tech_by_avenue;
  for (int i = 0; i < 80; ++i) {
    Avenue a = static_cast<Avenue>(1 + i % 5);
    const auto& trades = kTrades.at(a);
    std::string name = absl::StrCat(kCities[i % 16], " ", trades[(i / 5) % trades.size()], " Co.");
    std::string key = absl::StrCat("cn-tech-", i);
    add(key, NewOrg(name, v1::ORGANIZATION_TYPE_PRIVATE_SECTOR, "CN", {a}, {kTech, kAnchor},
                    {"zh", "en"}));
    tech_by_avenue[a].push_back(key);
  }
  // Northern technology partners and agencies.
  struct Named {
    const char* key;
    const char* name;
    const char* country;
    v1::OrganizationType type;
    std::vector<Avenue> avenues;
    std::vector<R> roles;
    int64_t capacity_musd;
  };
  const std::vector<Named> named = {
      {"giz",
       "GIZ German Development Cooperation",
       "DE",
       v1::ORGANIZATION_TYPE_GOVERNMENT,
       {kGreen, kEman, kAgri},
       {kTri},
       0},
      {"afd",
       "Agence Francaise de Developpement",
       "FR",
       v1::ORGANIZATION_TYPE_GOVERNMENT,
       {kGreen, kHealth},
       {kTri, kFin},
       300},
      {"jica",
       "Japan International Cooperation Agency",
       "JP",
       v1::ORGANIZATION_TYPE_GOVERNMENT,
       {kEman, kHealth},
       {kTri, kFin},
       400},
      {"rhine-auto",
       "Rhine Automation GmbH",
       "DE",
       v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
       {kEman},
       {kTech},
       0},
      {"lyon-bio",
       "Lyon Biotech SA",
       "FR",
       v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
       {kHealth},
       {kTech},
       0},
      {"thames-fintech",
       "Thames Fintech Ltd",
       "GB",
       v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
       {kEcom},
       {kTech},
       0},
      {"osaka-agri",
       "Osaka Agri Machinery KK",
       "JP",
       v1::ORGANIZATION_TYPE_PRIVATE_SECTOR,
       {kAgri},
       {kTech},
       0},
      {"unido", "UNIDO", "", v1::ORGANIZATION_TYPE_MULTILATERAL, {kEman, kGreen, kAgri}, {kTri}, 0},
      {"undp", "UNDP", "", v1::ORGANIZATION_TYPE_MULTILATERAL, {kEcom, kGreen, kHealth}, {kTri}, 0},
      {"worldbank",
       "World Bank Group",
       "",
       v1::ORGANIZATION_TYPE_MULTILATERAL,
       {kGreen, kAgri, kEcom},
       {kTri, kFin},
       2000},
      {"fao", "FAO", "", v1::ORGANIZATION_TYPE_MULTILATERAL, {kAgri}, {kTri}, 0},
      {"who", "WHO", "", v1::ORGANIZATION_TYPE_MULTILATERAL, {kHealth}, {kTri}, 0},
      {"itu", "ITU", "", v1::ORGANIZATION_TYPE_MULTILATERAL, {kEcom}, {kTri}, 0},
      {"iasp",
       "IASP",
       "",
       v1::ORGANIZATION_TYPE_MULTILATERAL,
       {kEcom, kEman},
       {kTri, kResearch},
       0},
      {"cdb",
       "China Development Bank",
       "CN",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen, kEman},
       {kFin},
       1500},
      {"cexim",
       "Export-Import Bank of China",
       "CN",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen, kEman, kAgri},
       {kFin},
       1200},
      {"afdb",
       "African Development Bank",
       "CI",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen, kAgri, kHealth},
       {kFin},
       800},
      {"aiib",
       "Asian Infrastructure Investment Bank",
       "CN",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen, kEcom},
       {kFin},
       1000},
      {"ndb", "New Development Bank", "CN", v1::ORGANIZATION_TYPE_DFI, {kGreen}, {kFin}, 900},
      {"isdb",
       "Islamic Development Bank",
       "SA",
       v1::ORGANIZATION_TYPE_DFI,
       {kAgri, kHealth},
       {kFin},
       600},
      {"eib",
       "European Investment Bank",
       "",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen, kHealth},
       {kFin},
       1500},
      {"afreximbank", "Afreximbank", "EG", v1::ORGANIZATION_TYPE_DFI, {kEcom, kEman}, {kFin}, 500},
      {"dbsa",
       "Development Bank of Southern Africa",
       "ZA",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen},
       {kFin},
       400},
      {"silkroad-fund",
       "Silk Road Fund",
       "CN",
       v1::ORGANIZATION_TYPE_DFI,
       {kGreen, kEman},
       {kFin},
       700},
  };
  for (const auto& n : named) {
    v1::Organization o = NewOrg(n.name, n.type, n.country, n.avenues, n.roles, {"en", "fr"});
    if (n.capacity_musd > 0) SetMoney(o.mutable_financing_capacity(), n.capacity_musd * 1000000);
    o.set_iasp_member(std::string(n.key) == "iasp");
    add(n.key, std::move(o));
  }
  // Multinationals.
  const char* mnc_names[] = {"Global Grid Systems", "Meridian Pharma",       "Atlas Logistics",
                             "Helios Renewables",   "Vertex Semiconductors", "Northstar Agrifoods",
                             "Orbital Networks",    "Cedar Medical"};
  for (int i = 0; i < 8; ++i) {
    Avenue a = static_cast<Avenue>(1 + (i * 3) % 5);
    add(absl::StrCat("mnc-", i), NewOrg(mnc_names[i], v1::ORGANIZATION_TYPE_MULTINATIONAL,
                                        i % 2 ? "US" : "GB", {a}, {kTri, kTech}, {"en"}));
  }
  // Per host: a ministry, a university, two local firms.
  for (const auto& h : kHosts) {
    std::string c = h.code;
    add("gov-" + c, NewOrg(absl::StrCat("Ministry of Science and Technology of ", h.name),
                           v1::ORGANIZATION_TYPE_GOVERNMENT, c, h.strengths, {kGov}, {"en"}));
    add("uni-" + c, NewOrg(absl::StrCat(h.name, " Institute of Technology"),
                           v1::ORGANIZATION_TYPE_ACADEMIC, c, h.strengths, {kResearch}, {"en"}));
    for (int k = 0; k < 2; ++k) {
      Avenue a = h.strengths[k % h.strengths.size()];
      add(absl::StrCat("firm-", c, "-", k),
          NewOrg(absl::StrCat(h.name, " ", kTrades.at(a)[k], " Enterprises"),
                 v1::ORGANIZATION_TYPE_PRIVATE_SECTOR_RECIPIENT, c, {a}, {kAnchor}, {"en"}));
    }
  }
  // Parks and their operators.
  for (const auto& p : kParks) {
    std::string op_key = absl::StrCat("op-", p.key);
    v1::Organization op =
        NewOrg(absl::StrCat(p.name, " Authority"), v1::ORGANIZATION_TYPE_STP_OPERATOR, p.host,
               p.focus, {kOp}, {"en"});
    op.set_iasp_member(p.iasp);
    add(op_key, std::move(op));
    DemoPark park;
    park.key = p.key;
    park.operator_key = op_key;
    park.park.set_display_name(p.name);
    park.park.set_host_country(absl::StrCat("countries/", p.host));
    park.park.set_status(p.status);
    park.park.set_origin(p.origin);
    park.park.set_established_year(p.year);
    for (Avenue a : p.focus) park.park.add_focus_avenues(a);
    park.park.set_tenant_count(p.status == v1::Park::STATUS_OPERATIONAL ? uniform(20, 400)
                                                                        : uniform(0, 15));
    park.park.set_iasp_member(p.iasp);
    auto* x = park.park.add_external_ids();
    x->set_source("demo");
    x->set_value(p.key);
    data.parks.push_back(std::move(park));
  }

  // Projects: each park gets several; the rest are national programmes.
  const std::vector<std::string> triangular = {"giz",       "afd", "jica", "unido", "undp",
                                               "worldbank", "fao", "who",  "itu"};
  const std::vector<std::string> mncs = {"mnc-0", "mnc-1", "mnc-2", "mnc-3",
                                         "mnc-4", "mnc-5", "mnc-6", "mnc-7"};
  const std::vector<std::string> dfis = {"cdb",  "cexim", "afdb",        "aiib", "ndb",
                                         "isdb", "eib",   "afreximbank", "dbsa", "silkroad-fund"};
  const std::vector<std::string> northern_tech = {"rhine-auto", "lyon-bio", "thames-fintech",
                                                  "osaka-agri"};
  const char* phases[] = {"incubator",          "pilot plant",       "training centre",
                          "demonstration zone", "upgrade programme", "technology transfer",
                          "innovation lab",     "supplier cluster"};
  const v1::ProjectStage stages[] = {
      v1::PROJECT_STAGE_PROPOSED,       v1::PROJECT_STAGE_APPROVED,
      v1::PROJECT_STAGE_FINANCED,       v1::PROJECT_STAGE_IMPLEMENTATION,
      v1::PROJECT_STAGE_IMPLEMENTATION, v1::PROJECT_STAGE_IMPLEMENTATION,
      v1::PROJECT_STAGE_COMPLETED,      v1::PROJECT_STAGE_SUSPENDED,
      v1::PROJECT_STAGE_CANCELLED};
  for (int i = 0; i < 320; ++i) {
    DemoProject dp;
    dp.key = absl::StrCat("p", i);
    v1::Project& p = dp.project;
    std::string host;
    std::vector<Avenue> focus;
    if (i < 224) {
      const auto& park = kParks[i % kParks.size()];
      dp.park_key = park.key;
      host = park.host;
      focus = park.focus;
    } else {
      const auto& h = kHosts[i % kHosts.size()];
      host = h.code;
      focus = h.strengths;
    }
    Avenue avenue = focus[uniform(0, focus.size() - 1)];
    p.set_host_country("countries/" + host);
    p.add_avenues(avenue);
    for (int s : {kSectors.at(avenue)[uniform(0, kSectors.at(avenue).size() - 1)]})
      p.add_dac_sectors(s);
    const auto& trades = kTrades.at(avenue);
    p.set_title(absl::StrCat(trades[uniform(0, trades.size() - 1)], " ", phases[uniform(0, 7)], " ",
                             host, "-", 100 + i));
    p.set_description(absl::StrCat("A ", stp::common::v1::Avenue_Name(avenue),
                                   " cooperation project in ", host,
                                   " (demo data written for this product)."));
    v1::ProjectStage stage = stages[uniform(0, 8)];
    p.set_stage(stage);
    int model = uniform(1, 4);
    p.set_cooperation_model(static_cast<v1::CooperationModel>(model));
    auto part = [&](const std::string& key, R role, bool lead = false) {
      auto* x = p.add_participants();
      x->set_organization(key);
      x->set_role(role);
      x->set_lead(lead);
    };
    // The lead technology partner: mostly Chinese, sometimes Northern (a wide gap for a poor host).
    const auto& techs = tech_by_avenue[avenue];
    bool northern = uniform(0, 5) == 0;
    part(northern ? northern_tech[static_cast<size_t>(avenue) % 4]
                  : techs[uniform(0, techs.size() - 1)],
         kTech, true);
    if (model == 1) part(triangular[uniform(0, triangular.size() - 1)], kTri);
    if (model == 2) part(mncs[uniform(0, mncs.size() - 1)], kTri);
    bool dfi = uniform(0, 2) > 0;
    std::string financier = dfis[uniform(0, dfis.size() - 1)];
    if (dfi) part(financier, kFin);
    if (uniform(0, 3) > 0) part("gov-" + host, kGov);
    if (uniform(0, 2) == 0) part("uni-" + host, kResearch);
    if (!dp.park_key.empty()) part("op-" + dp.park_key, kOp);
    if (uniform(0, 3) == 0) part(absl::StrCat("firm-", host, "-", uniform(0, 1)), kAnchor);
    // Money, dates, milestones, results.
    int start_year = uniform(2016, 2025);
    SetDate(p.mutable_planned_start(), start_year, uniform(1, 12));
    SetDate(p.mutable_planned_end(), start_year + uniform(3, 8), uniform(1, 12));
    if (stage >= v1::PROJECT_STAGE_IMPLEMENTATION)
      SetDate(p.mutable_actual_start(), start_year, uniform(1, 12));
    int64_t budget = int64_t{uniform(2, 250)} * 1000000;
    SetMoney(p.mutable_financing()->mutable_budget(), budget);
    if (stage >= v1::PROJECT_STAGE_FINANCED || uniform(0, 3) == 0) {
      int64_t committed = budget * uniform(30, 110) / 100;
      auto* c = p.mutable_financing()->add_commitments();
      if (dfi) c->set_source_organization(financier);
      SetMoney(c->mutable_amount(), committed);
      c->set_instrument(dfi ? v1::FINANCE_INSTRUMENT_LOAN : v1::FINANCE_INSTRUMENT_GRANT);
      SetDate(c->mutable_date(), start_year, 6);
      if (stage >= v1::PROJECT_STAGE_IMPLEMENTATION) {
        auto* d = p.mutable_financing()->add_disbursements();
        if (dfi) d->set_source_organization(financier);
        SetMoney(d->mutable_amount(), committed * uniform(10, 90) / 100);
        SetDate(d->mutable_date(), start_year + 1, 3);
      }
    }
    for (int m = 0; m < uniform(2, 5); ++m) {
      auto* ms = p.add_milestones();
      ms->set_name(absl::StrCat("milestone ", m + 1));
      SetDate(ms->mutable_due_date(), start_year + m, uniform(1, 12));
      ms->set_done(stage == v1::PROJECT_STAGE_COMPLETED || uniform(0, 2) > 0);
    }
    if (stage >= v1::PROJECT_STAGE_IMPLEMENTATION) {
      auto* r = p.add_results();
      r->set_indicator(avenue == kGreen ? "renewable capacity installed" : "firms incubated");
      r->set_unit(avenue == kGreen ? "MW" : "firms");
      r->set_target(uniform(20, 200));
      r->set_actual(uniform(0, 200));
      r->set_has_actual(true);
    }
    p.set_triangular(model <= 2);
    auto* x = p.add_external_ids();
    x->set_source("demo");
    x->set_value(dp.key);
    data.projects.push_back(std::move(dp));
  }
  return data;
}

}  // namespace stp::demo
