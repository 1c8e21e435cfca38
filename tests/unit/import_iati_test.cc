// IATI activity XML -> ImportRecord, on small fixtures written for these tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/ingestion/import/iati_parser.h"
#include "services/ingestion/import/record_organizations.h"

namespace stp::ingestion {
namespace {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::AVENUE_AGRICULTURE;
using stp::common::v1::AVENUE_E_MANUFACTURING;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::common::v1::AVENUE_PUBLIC_HEALTH;
using stp::common::v1::PARTNER_ROLE_ACCOUNTABLE;
using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT;
using stp::common::v1::PARTNER_ROLE_IMPLEMENTER;
using stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;
using stp::common::v1::PARTNER_ROLE_TRIANGULAR_PARTNER;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct ParseResult {
  absl::Status status;  // the first error of Feed or Finish
  std::vector<ImportRecord> records;
};

// Feeds `xml` in chunks of `chunk_size` bytes (all at once by default).
ParseResult ParseIati(absl::string_view xml, size_t chunk_size = 0) {
  ParseResult result;
  IatiParser parser(SectorAvenueTable::Default(),
                    [&](ImportRecord record) { result.records.push_back(std::move(record)); });
  if (chunk_size == 0) chunk_size = std::max<size_t>(xml.size(), 1);
  for (size_t offset = 0; offset < xml.size() && result.status.ok(); offset += chunk_size) {
    result.status = parser.Feed(xml.substr(offset, chunk_size));
  }
  if (result.status.ok()) result.status = parser.Finish();
  EXPECT_EQ(parser.records(), static_cast<int>(result.records.size()));
  return result;
}

std::string Activities(absl::string_view body, absl::string_view version = "2.03") {
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<iati-activities version=\"",
                      version, "\">\n", body, "\n</iati-activities>\n");
}

// A minimal activity that is accepted: identifier, title, host EG, one green sector; `extra`
// is appended inside it.
std::string Activity(absl::string_view id, absl::string_view extra = "",
                     absl::string_view attributes = "default-currency=\"USD\"") {
  return absl::StrCat("<iati-activity ", attributes, ">\n  <iati-identifier>", id,
                      "</iati-identifier>\n  <title><narrative>Park ", id,
                      "</narrative></title>\n  <recipient-country code=\"EG\"/>\n"
                      "  <sector vocabulary=\"1\" code=\"23210\"/>\n",
                      extra, "\n</iati-activity>\n");
}

// The one record of a single-activity document; fails the test otherwise.
ImportRecord ParseOne(absl::string_view activity_xml) {
  ParseResult result = ParseIati(Activities(activity_xml));
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.records.size(), 1u);
  return result.records.empty() ? ImportRecord() : result.records[0];
}

// The record's organisation that participant/flow placeholder `placeholder` refers to.
const ImportedOrganization& Resolve(const ImportRecord& record, const std::string& placeholder) {
  static const ImportedOrganization kNone;
  for (size_t i = 0; i < record.organizations.size(); ++i) {
    if (PendingOrganization(static_cast<int>(i)) == placeholder) return record.organizations[i];
  }
  ADD_FAILURE() << "no organisation for " << placeholder;
  return kNone;
}

// The roles participants with this organisation name play.
std::vector<PartnerRole> RolesOf(const ImportRecord& record, absl::string_view name) {
  std::vector<PartnerRole> roles;
  for (const v1::Participant& participant : record.project.participants()) {
    if (Resolve(record, participant.organization()).name == name) {
      roles.push_back(participant.role());
    }
  }
  return roles;
}

bool HasWarning(const ImportRecord& record, absl::string_view part) {
  return std::any_of(record.warnings.begin(), record.warnings.end(),
                     [&](const std::string& w) { return absl::StrContains(w, part); });
}

// A comparable rendering of everything a record carries.
std::string Fingerprint(const ImportRecord& record) {
  std::string text = absl::StrCat(record.index, "|", record.external_id, "|",
                                  record.project.SerializeAsString(), "|", record.rejection, "|");
  for (const auto& org : record.organizations) {
    absl::StrAppend(&text, org.ref, "/", org.name, "/", org.type, "/", org.country, "/",
                    org.roles.size(), ";");
  }
  for (const auto& warning : record.warnings) absl::StrAppend(&text, warning, ";");
  return text;
}

TEST(IatiParserTest, MapsIdentityTitleAndDescription) {
  ImportRecord record = ParseOne(R"(
<iati-activity default-currency="USD" xml:lang="en">
  <iati-identifier> XM-DAC-41114-PROJECT-1 </iati-identifier>
  <title>
    <narrative xml:lang="fr">Parc scientifique</narrative>
    <narrative xml:lang="EN">Science
       park &amp; incubator</narrative>
  </title>
  <description type="2"><narrative>Objectives.</narrative></description>
  <description type="1">
    <narrative xml:lang="fr">Texte général.</narrative>
    <narrative>General text.</narrative>
  </description>
  <description><narrative xml:lang="en">More general text.</narrative></description>
  <recipient-country code="eg"/>
  <sector code="23210"/>
</iati-activity>)");
  EXPECT_EQ(record.index, 0);
  EXPECT_EQ(record.external_id, "XM-DAC-41114-PROJECT-1");
  ASSERT_EQ(record.project.external_ids_size(), 1);
  EXPECT_EQ(record.project.external_ids(0).source(), "iati");
  EXPECT_EQ(record.project.external_ids(0).value(), "XM-DAC-41114-PROJECT-1");
  EXPECT_EQ(record.project.title(), "Science park & incubator");
  EXPECT_EQ(record.project.description(), "General text.\n\nMore general text.\n\nObjectives.");
  EXPECT_EQ(record.project.host_country(), "countries/EG");
  EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  // The caller's fields stay empty.
  EXPECT_TRUE(record.project.name().empty());
  EXPECT_TRUE(record.project.etag().empty());
  EXPECT_EQ(record.project.revision(), 0);
  EXPECT_EQ(record.project.sources_size(), 0);
}

TEST(IatiParserTest, TitleFallsBackToAnyLanguageAndDescriptionToThatLanguage) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>A-1</iati-identifier>
  <title><narrative xml:lang="fr">Parc</narrative><narrative xml:lang="es">Parque</narrative></title>
  <description type="1"><narrative xml:lang="fr">Un parc.</narrative></description>
  <description type="1"><narrative xml:lang="es">Un parque.</narrative></description>
  <description type="2"><narrative xml:lang="fr">Objectifs.</narrative></description>
  <recipient-country code="EG"/><sector code="23210"/>
</iati-activity>)");
  EXPECT_EQ(record.project.title(), "Parc");
  EXPECT_EQ(record.project.description(), "Un parc.\n\nObjectifs.");
}

TEST(IatiParserTest, MissingIdentifierOrTitleRejectsTheRecordOnly) {
  ParseResult result = ParseIati(Activities(
      absl::StrCat("<iati-activity><title><narrative>No id</narrative></title>"
                   "<recipient-country code=\"EG\"/><sector code=\"23210\"/></iati-activity>",
                   "<iati-activity><iati-identifier>B-1</iati-identifier>"
                   "<recipient-country code=\"EG\"/><sector code=\"23210\"/></iati-activity>",
                   Activity("C-1"))));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_EQ(result.records[0].rejection, "no iati-identifier");
  EXPECT_THAT(result.records[0].rejected_fields, ElementsAre("external_ids"));
  EXPECT_EQ(result.records[1].external_id, "B-1");
  EXPECT_EQ(result.records[1].rejection, "no title");
  EXPECT_THAT(result.records[1].rejected_fields, ElementsAre("title"));
  EXPECT_EQ(result.records[2].index, 2);
  EXPECT_TRUE(result.records[2].rejection.empty());
}

TEST(IatiParserTest, ParticipatingOrgRolesFollowHostAndCollaboration) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>R-1</iati-identifier>
  <title><narrative>Roles</narrative></title>
  <participating-org ref="GB-GOV-1" role="1" type="10"><narrative>UK FCDO</narrative></participating-org>
  <participating-org ref="EG-MOF-1" role="2" type="10"><narrative>Egypt Ministry of Finance</narrative></participating-org>
  <participating-org ref="EG-GOV-7" role="2" type="11"><narrative>Giza Governorate</narrative></participating-org>
  <participating-org ref="GB-COH-2" role="2" type="10"><narrative>UK Accountable</narrative></participating-org>
  <participating-org ref="EG-NGO-3" role="2" type="22"><narrative>Egypt NGO</narrative></participating-org>
  <participating-org ref="XM-DAC-41114" role="3" type="40"><narrative>UNDP</narrative></participating-org>
  <participating-org ref="CN-USCC-9" role="4" type="71"><narrative>Huawei</narrative></participating-org>
  <participating-org ref="EG-COH-5" role="4" type="72"><narrative>Cairo Builders</narrative></participating-org>
  <participating-org role="4"><narrative>Local Contractor</narrative></participating-org>
  <participating-org ref="XI-IATI-1" role="4" type="40"><narrative>Some Multilateral</narrative></participating-org>
  <recipient-country code="EG"/>
  <sector code="23210"/>
</iati-activity>)");
  EXPECT_THAT(RolesOf(record, "UK FCDO"), ElementsAre(PARTNER_ROLE_FINANCIER));
  EXPECT_THAT(RolesOf(record, "Egypt Ministry of Finance"),
              ElementsAre(PARTNER_ROLE_HOST_GOVERNMENT));
  EXPECT_THAT(RolesOf(record, "Giza Governorate"), ElementsAre(PARTNER_ROLE_HOST_GOVERNMENT));
  EXPECT_THAT(RolesOf(record, "UK Accountable"), ElementsAre(PARTNER_ROLE_ACCOUNTABLE));
  EXPECT_THAT(RolesOf(record, "Egypt NGO"), ElementsAre(PARTNER_ROLE_ACCOUNTABLE));
  // Extending without collaboration-type 8 is just accountable.
  EXPECT_THAT(RolesOf(record, "UNDP"), ElementsAre(PARTNER_ROLE_ACCOUNTABLE));
  EXPECT_THAT(RolesOf(record, "Huawei"), ElementsAre(PARTNER_ROLE_TECHNOLOGY_PARTNER));
  EXPECT_THAT(RolesOf(record, "Cairo Builders"), ElementsAre(PARTNER_ROLE_IMPLEMENTER));
  EXPECT_THAT(RolesOf(record, "Local Contractor"), ElementsAre(PARTNER_ROLE_IMPLEMENTER));
  EXPECT_THAT(RolesOf(record, "Some Multilateral"), ElementsAre(PARTNER_ROLE_IMPLEMENTER));
  EXPECT_FALSE(record.project.triangular());
  EXPECT_EQ(record.project.cooperation_model(), v1::COOPERATION_MODEL_UNSPECIFIED);

  ASSERT_EQ(record.organizations.size(), 10u);
  const ImportedOrganization& huawei = record.organizations[6];
  EXPECT_EQ(huawei.ref, "CN-USCC-9");
  EXPECT_EQ(huawei.name, "Huawei");
  EXPECT_EQ(huawei.type, v1::ORGANIZATION_TYPE_PRIVATE_SECTOR_PROVIDER);
  EXPECT_EQ(huawei.country, "countries/CN");
  EXPECT_THAT(huawei.roles, ElementsAre(PARTNER_ROLE_TECHNOLOGY_PARTNER));
  EXPECT_EQ(record.organizations[5].country, "");  // XM is not a country
  EXPECT_EQ(record.organizations[5].type, v1::ORGANIZATION_TYPE_MULTILATERAL);
  const ImportedOrganization& local = record.organizations[8];
  EXPECT_EQ(local.ref, "");
  EXPECT_EQ(local.name, "Local Contractor");
  EXPECT_EQ(local.type, v1::ORGANIZATION_TYPE_UNSPECIFIED);
}

TEST(IatiParserTest, TriangularCollaborationSetsModelFromParticipantTypes) {
  auto triangular = [](absl::string_view participants) {
    return ParseOne(absl::StrCat(R"(
<iati-activity>
  <iati-identifier>T-1</iati-identifier><title><narrative>T</narrative></title>
  <participating-org ref="ZA-GOV-1" role="1" type="10"><narrative>South Africa DST</narrative></participating-org>
  )",
                                 participants, R"(
  <recipient-country code="EG"/><sector code="23210"/>
  <collaboration-type code="8"/>
</iati-activity>)"));
  };
  ImportRecord multilateral = triangular(
      R"(<participating-org ref="XM-DAC-41123" role="3" type="40"><narrative>UNIDO</narrative></participating-org>
         <participating-org ref="US-EIN-1" role="4" type="70"><narrative>Acme Corp</narrative></participating-org>)");
  EXPECT_TRUE(multilateral.project.triangular());
  EXPECT_EQ(multilateral.project.cooperation_model(),
            v1::COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL);
  EXPECT_THAT(RolesOf(multilateral, "UNIDO"), ElementsAre(PARTNER_ROLE_TRIANGULAR_PARTNER));

  ImportRecord mnc = triangular(
      R"(<participating-org ref="DE-HR-1" role="3" type="73"><narrative>Siemens</narrative></participating-org>)");
  EXPECT_TRUE(mnc.project.triangular());
  EXPECT_EQ(mnc.project.cooperation_model(), v1::COOPERATION_MODEL_TRIANGULAR_MNC);
  EXPECT_THAT(RolesOf(mnc, "Siemens"), ElementsAre(PARTNER_ROLE_TRIANGULAR_PARTNER));

  ImportRecord plain = triangular("");
  EXPECT_TRUE(plain.project.triangular());
  EXPECT_EQ(plain.project.cooperation_model(), v1::COOPERATION_MODEL_UNSPECIFIED);
}

TEST(IatiParserTest, SameOrganisationTwiceIsOneImportedOrganization) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>D-1</iati-identifier><title><narrative>Dup</narrative></title>
  <participating-org ref="XM-DAC-41114" role="1"><narrative>UNDP</narrative></participating-org>
  <participating-org ref="XM-DAC-41114" role="2" type="40"><narrative>United Nations Development Programme</narrative></participating-org>
  <participating-org ref="XM-DAC-41114" role="1"><narrative>UNDP</narrative></participating-org>
  <participating-org role="1"><narrative>Ministry of  Trade</narrative></participating-org>
  <participating-org role="4" type="10"><narrative>MINISTRY OF TRADE.</narrative></participating-org>
  <participating-org role="4" ref="GB-1"><narrative>Another Org</narrative></participating-org>
  <participating-org role="4" ref="GB-2"><narrative>Another Org</narrative></participating-org>
  <recipient-country code="EG"/><sector code="23210"/>
</iati-activity>)");
  ASSERT_EQ(record.organizations.size(), 3u);
  EXPECT_EQ(record.organizations[0].ref, "XM-DAC-41114");
  EXPECT_EQ(record.organizations[0].name, "UNDP");
  EXPECT_EQ(record.organizations[0].type, v1::ORGANIZATION_TYPE_MULTILATERAL);  // merged in
  EXPECT_THAT(record.organizations[0].roles,
              ElementsAre(PARTNER_ROLE_FINANCIER, PARTNER_ROLE_ACCOUNTABLE));
  EXPECT_EQ(record.organizations[1].name, "Ministry of Trade");  // whitespace collapsed
  EXPECT_EQ(record.organizations[1].type, v1::ORGANIZATION_TYPE_GOVERNMENT);
  EXPECT_EQ(record.organizations[2].ref, "GB-1");
  // One participant per organisation and role.
  ASSERT_EQ(record.project.participants_size(), 5);
  EXPECT_EQ(record.project.participants(0).organization(), "pending:0");
  EXPECT_EQ(record.project.participants(1).organization(), "pending:0");
  EXPECT_EQ(record.project.participants(2).organization(), "pending:1");
  EXPECT_EQ(record.project.participants(3).organization(), "pending:1");
  EXPECT_EQ(record.project.participants(3).role(), PARTNER_ROLE_IMPLEMENTER);
  EXPECT_EQ(record.project.participants(4).organization(), "pending:2");
}

TEST(IatiParserTest, OrganisationsWithoutRefOrNameOrRoleAreWarnedAbout) {
  ImportRecord record = ParseOne(Activity("W-1", R"(
  <participating-org role="1"/>
  <participating-org role="9" ref="GB-1"><narrative>Odd</narrative></participating-org>)"));
  EXPECT_TRUE(record.rejection.empty());
  EXPECT_EQ(record.organizations.size(), 0u);
  EXPECT_TRUE(HasWarning(record, "1 participating-org without @ref or name ignored"));
  EXPECT_TRUE(HasWarning(record, "participating-org \"Odd\" has unknown role \"9\""));
}

TEST(IatiParserTest, DevelopmentFinanceInstitutionsAreRecognisedByName) {
  for (absl::string_view name :
       {"China Development Bank", "Export-Import Bank of China", "African Development Bank Group",
        "India Exim Bank", "China Eximbank", "European Investment Bank",
        "China-Africa Development Fund", "International Finance Corporation",
        "Banque Ouest Africaine de Développement", "BANQUE DE DEVELOPPEMENT DES ETATS",
        "Banco Nacional de Desenvolvimento Econômico e Social",
        "Banco Interamericano de Desarrollo"}) {
    EXPECT_TRUE(LooksLikeDevelopmentFinanceInstitution(name)) << name;
  }
  for (absl::string_view name :
       {"Bank of China", "Ministry of Development", "Development Banking Institute of Learning",
        "World Food Programme", "Fund for Development", "Banque Populaire", ""}) {
    EXPECT_FALSE(LooksLikeDevelopmentFinanceInstitution(name)) << name;
  }
  ImportRecord record = ParseOne(Activity("DFI-1", R"(
  <participating-org ref="46002" role="1" type="40"><narrative>African Development Bank</narrative></participating-org>)"));
  ASSERT_EQ(record.organizations.size(), 1u);
  EXPECT_EQ(record.organizations[0].type, v1::ORGANIZATION_TYPE_DFI);
}

TEST(IatiParserTest, ActivityStatusMapsToStage) {
  const std::pair<const char*, v1::ProjectStage> cases[] = {
      {"1", v1::PROJECT_STAGE_PROPOSED},    {"2", v1::PROJECT_STAGE_IMPLEMENTATION},
      {"3", v1::PROJECT_STAGE_COMPLETED},   {"4", v1::PROJECT_STAGE_COMPLETED},
      {"5", v1::PROJECT_STAGE_CANCELLED},   {"6", v1::PROJECT_STAGE_SUSPENDED},
      {"9", v1::PROJECT_STAGE_UNSPECIFIED},
  };
  for (const auto& [code, stage] : cases) {
    ImportRecord record =
        ParseOne(Activity("S-1", absl::StrCat("<activity-status code=\"", code, "\"/>")));
    EXPECT_EQ(record.project.stage(), stage) << code;
  }
  ImportRecord unknown = ParseOne(Activity("S-2", "<activity-status code=\"9\"/>"));
  EXPECT_TRUE(HasWarning(unknown, "activity-status code \"9\" is unknown"));
}

TEST(IatiParserTest, ActivityDatesMapByTypeAndIgnoreTimeParts) {
  ImportRecord record = ParseOne(Activity("DT-1", R"(
  <activity-date type="1" iso-date="2020-01-15"/>
  <activity-date type="2" iso-date="2020-02-29T10:00:00Z"/>
  <activity-date type="3" iso-date="2023-12-31"/>
  <activity-date type="4" iso-date="2024-13-01"/>
  <activity-date type="7" iso-date="2024-01-01"/>)"));
  EXPECT_EQ(record.project.planned_start().year(), 2020);
  EXPECT_EQ(record.project.planned_start().month(), 1);
  EXPECT_EQ(record.project.planned_start().day(), 15);
  EXPECT_EQ(record.project.actual_start().month(), 2);
  EXPECT_EQ(record.project.actual_start().day(), 29);
  EXPECT_EQ(record.project.planned_end().year(), 2023);
  EXPECT_FALSE(record.project.has_actual_end());
  EXPECT_TRUE(HasWarning(record, "\"2024-13-01\" is not a YYYY-MM-DD date"));
  EXPECT_TRUE(HasWarning(record, "activity-date type \"7\" is unknown"));
}

TEST(IatiParserTest, HostIsTheRecipientCountryWithTheLargestShare) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>H-1</iati-identifier><title><narrative>H</narrative></title>
  <recipient-country code="LY" percentage="20"/>
  <recipient-country code="ZA" percentage="60.5"/>
  <recipient-country code="EG" percentage="19.5"/>
  <sector code="23210"/>
</iati-activity>)");
  EXPECT_EQ(record.project.host_country(), "countries/ZA");
  EXPECT_TRUE(HasWarning(record, "3 recipient countries (LY 20%, ZA 60.5%, EG 19.5%); host is ZA"));

  ImportRecord tie = ParseOne(R"(
<iati-activity>
  <iati-identifier>H-2</iati-identifier><title><narrative>H</narrative></title>
  <recipient-country code="KE" percentage="50"/><recipient-country code="TZ" percentage="50"/>
  <sector code="23210"/>
</iati-activity>)");
  EXPECT_EQ(tie.project.host_country(), "countries/KE");
}

TEST(IatiParserTest, NoRecipientCountryRejects) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>H-3</iati-identifier><title><narrative>Regional</narrative></title>
  <recipient-region code="289" vocabulary="1" percentage="100"/>
  <sector code="23210"/>
</iati-activity>)");
  EXPECT_EQ(record.rejection, "no recipient-country; recipient regions are not hosts");
  EXPECT_THAT(record.rejected_fields, ElementsAre("host_country"));
  EXPECT_EQ(record.project.host_country(), "");
}

TEST(IatiParserTest, SectorsGiveDacCodesAndAvenues) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>SE-1</iati-identifier><title><narrative>Sectors</narrative></title>
  <recipient-country code="EG"/>
  <sector code="12264" percentage="40"/>
  <sector vocabulary="1" code="31130"/>
  <sector vocabulary="1" code="12264"/>
  <sector vocabulary="2" code="321"/>
  <sector vocabulary="99" code="A1"/>
  <sector vocabulary="1"/>
  <sector vocabulary="1" code="123"/>
</iati-activity>)");
  EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  EXPECT_THAT(record.project.dac_sectors(), ElementsAre(12264, 31130));
  EXPECT_THAT(record.project.avenues(),
              ElementsAre(AVENUE_E_MANUFACTURING, AVENUE_PUBLIC_HEALTH, AVENUE_AGRICULTURE));
  EXPECT_TRUE(HasWarning(record, "1 sector element(s) without @code ignored"));
  EXPECT_TRUE(HasWarning(record, "sector \"123\" is not a 5-digit DAC code"));
}

TEST(IatiParserTest, NoAvenueRejectsNamingTheSectors) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>SE-2</iati-identifier><title><narrative>Governance</narrative></title>
  <recipient-country code="EG"/>
  <sector code="15110"/><sector vocabulary="2" code="111"/><sector vocabulary="8" code="1.4"/>
</iati-activity>)");
  EXPECT_EQ(record.rejection,
            "no avenue derivable from sectors 15110 (DAC), 111 (DAC-3), 1.4 (vocabulary 8)");
  EXPECT_THAT(record.rejected_fields, ElementsAre("avenues"));
  EXPECT_THAT(record.project.dac_sectors(), ElementsAre(15110));

  ImportRecord none = ParseOne(R"(
<iati-activity>
  <iati-identifier>SE-3</iati-identifier><title><narrative>No sectors</narrative></title>
  <recipient-country code="EG"/><sector vocabulary="1"/>
</iati-activity>)");
  EXPECT_EQ(none.rejection, "no avenue derivable: the activity has no sector with a code");
}

TEST(IatiParserTest, TransactionSectorsCountWhenTheActivityHasNone) {
  ImportRecord record = ParseOne(R"(
<iati-activity default-currency="USD">
  <iati-identifier>SE-4</iati-identifier><title><narrative>Per transaction</narrative></title>
  <recipient-country code="EG"/>
  <transaction><transaction-type code="2"/><value>5</value><sector code="31161"/></transaction>
</iati-activity>)");
  EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  EXPECT_THAT(record.project.avenues(), ElementsAre(AVENUE_AGRICULTURE));
}

TEST(IatiParserTest, BudgetSumsRevisedBudgetsElseOriginalsInTheActivityCurrency) {
  ImportRecord revised = ParseOne(Activity("B-1", R"(
  <budget type="1"><value>1000</value></budget>
  <budget type="2"><value value-date="2020-01-01">1500.25</value></budget>
  <budget type="2"><value currency="USD">499.75</value></budget>
  <budget type="2"><value currency="EUR">700</value></budget>)"));
  ASSERT_TRUE(revised.project.financing().has_budget());
  EXPECT_EQ(revised.project.financing().budget().currency_code(), "USD");
  EXPECT_EQ(revised.project.financing().budget().units(), 2000);
  EXPECT_EQ(revised.project.financing().budget().nanos(), 0);
  EXPECT_TRUE(
      HasWarning(revised, "budget value 700 EUR skipped: not in the activity currency USD"));

  ImportRecord original = ParseOne(Activity("B-2", R"(
  <budget><value currency="EUR">10.5</value></budget>
  <budget type="1"><value currency="EUR">20.25</value></budget>)",
                                            ""));
  EXPECT_EQ(original.project.financing().budget().currency_code(), "EUR");
  EXPECT_EQ(original.project.financing().budget().units(), 30);
  EXPECT_EQ(original.project.financing().budget().nanos(), 750'000'000);

  ImportRecord broken = ParseOne(Activity("B-3", R"(
  <budget><value>12,5</value></budget><budget><value>-4</value></budget>)"));
  EXPECT_FALSE(broken.project.has_financing());
  EXPECT_TRUE(HasWarning(broken, "budget value: \"12,5\" is not a decimal number"));
  EXPECT_TRUE(HasWarning(broken, "budget value -4 USD is negative"));
}

TEST(IatiParserTest, TransactionsBecomeCommitmentsAndDisbursements) {
  ImportRecord record = ParseOne(Activity("TR-1", R"(
  <participating-org ref="GB-GOV-1" role="1" type="10"><narrative>UK FCDO</narrative></participating-org>
  <default-finance-type code="110"/>
  <transaction>
    <transaction-type code="2"/>
    <transaction-date iso-date="2020-03-01"/>
    <value currency="GBP" value-date="2020-02-01">1000000</value>
    <provider-org ref="GB-GOV-1"><narrative>FCDO</narrative></provider-org>
    <finance-type code="410"/>
  </transaction>
  <transaction>
    <transaction-type code="3"/>
    <value value-date="2020-04-02">250000.50</value>
    <provider-org ref="CN-DFI-1" type="10"><narrative>China Development Bank</narrative></provider-org>
  </transaction>
  <transaction>
    <transaction-type code="3"/>
    <value>10</value>
    <provider-org><narrative>China Development Bank</narrative></provider-org>
    <finance-type code="510"/>
  </transaction>
  <transaction><transaction-type code="3"/><value>1</value><finance-type code="1100"/></transaction>
  <transaction><transaction-type code="3"/><value>2</value><finance-type code="111"/></transaction>
  <transaction><transaction-type code="3"/><value>3</value><finance-type code="210"/></transaction>
  <transaction><transaction-type code="1"/><value>99</value></transaction>
  <transaction><transaction-type code="4"/><value>98</value></transaction>)"));
  const v1::Financing& financing = record.project.financing();
  ASSERT_EQ(financing.commitments_size(), 1);
  const v1::FinancialFlow& commitment = financing.commitments(0);
  EXPECT_EQ(commitment.amount().currency_code(), "GBP");
  EXPECT_EQ(commitment.amount().units(), 1000000);
  EXPECT_EQ(commitment.date().year(), 2020);
  EXPECT_EQ(commitment.date().month(), 3);
  EXPECT_EQ(commitment.instrument(), v1::FINANCE_INSTRUMENT_LOAN);
  // The provider is a participant: same organisation, no extra role.
  EXPECT_EQ(Resolve(record, commitment.source_organization()).ref, "GB-GOV-1");
  EXPECT_THAT(Resolve(record, commitment.source_organization()).roles,
              ElementsAre(PARTNER_ROLE_FINANCIER));

  ASSERT_EQ(financing.disbursements_size(), 5);
  const v1::FinancialFlow& first = financing.disbursements(0);
  EXPECT_EQ(first.amount().currency_code(), "USD");
  EXPECT_EQ(first.amount().units(), 250000);
  EXPECT_EQ(first.amount().nanos(), 500'000'000);
  EXPECT_EQ(first.date().month(), 4);                           // from value-date
  EXPECT_EQ(first.instrument(), v1::FINANCE_INSTRUMENT_GRANT);  // default-finance-type
  const ImportedOrganization& cdb = Resolve(record, first.source_organization());
  EXPECT_EQ(cdb.name, "China Development Bank");
  EXPECT_EQ(cdb.type, v1::ORGANIZATION_TYPE_DFI);
  EXPECT_EQ(cdb.country, "countries/CN");
  EXPECT_THAT(cdb.roles, ElementsAre(PARTNER_ROLE_FINANCIER));
  // The same provider named by name only is the same organisation.
  EXPECT_EQ(financing.disbursements(1).source_organization(), first.source_organization());
  EXPECT_EQ(financing.disbursements(1).instrument(), v1::FINANCE_INSTRUMENT_EQUITY);
  EXPECT_EQ(financing.disbursements(2).instrument(), v1::FINANCE_INSTRUMENT_GUARANTEE);
  EXPECT_EQ(financing.disbursements(2).source_organization(), "");
  EXPECT_EQ(financing.disbursements(3).instrument(), v1::FINANCE_INSTRUMENT_GRANT);
  EXPECT_EQ(financing.disbursements(4).instrument(), v1::FINANCE_INSTRUMENT_UNSPECIFIED);
  // Providers are organisations, never participants.
  ASSERT_EQ(record.organizations.size(), 2u);
  EXPECT_EQ(record.project.participants_size(), 1);
}

// A negative transaction (a decommitment, a reversal) reduces what it reverses, latest first:
// its provider's flows of its kind and currency, never another financier's; without a
// provider, source-less flows first, then any. What is left over is left out with a warning,
// so amounts stay at or above zero; a reversal's provider adds no organisation.
TEST(IatiParserTest, NegativeTransactionsReduceTheFlowsTheyReverse) {
  auto transaction = [](const char* type, const char* value, const char* provider) {
    std::string org = provider[0] == '\0'
                          ? std::string()
                          : absl::StrCat("<provider-org ref=\"", provider, "\"><narrative>",
                                         provider, "</narrative></provider-org>");
    return absl::StrCat("<transaction><transaction-type code=\"", type, "\"/><value>", value,
                        "</value>", org, "</transaction>");
  };
  ImportRecord record = ParseOne(Activity(
      "NEG-1",
      absl::StrCat(transaction("2", "10000000", "CA-A"), transaction("3", "5000000", "CA-A"),
                   transaction("3", "5033364", "CA-B"), transaction("3", "-166682", "CA-A"),
                   transaction("3", "-166682", "CA-A"), transaction("2", "300", "NL-C"),
                   transaction("2", "-500", "NL-C"), transaction("3", "-7", "XX-NONE"))));
  const v1::Financing& financing = record.project.financing();
  // CA-A's disbursement takes both reversals: 5,000,000 - 333,364.
  ASSERT_EQ(financing.disbursements_size(), 2);
  EXPECT_EQ(financing.disbursements(0).amount().units(), 4'666'636);
  EXPECT_EQ(financing.disbursements(1).amount().units(), 5'033'364);
  // NL-C's decommitment of 500 empties its 300; the rest is not taken from CA-A.
  ASSERT_EQ(financing.commitments_size(), 1);
  EXPECT_EQ(financing.commitments(0).amount().units(), 10'000'000);
  EXPECT_TRUE(HasWarning(record, "a reversal of -200 USD exceeds the flows it could reduce"));
  // A provider named nowhere else has no flows: only source-less ones could be reversed.
  EXPECT_TRUE(HasWarning(record, "a reversal of -7 USD exceeds the flows it could reduce"));
  std::vector<std::string> providers;
  for (const auto& o : record.organizations) providers.push_back(o.ref);
  EXPECT_THAT(providers, ElementsAre("CA-A", "CA-B", "NL-C"));

  // Dated flows on or before the reversal go first, latest first; a reversal naming its
  // provider reaches flows naming no source after its provider's.
  auto dated = [](const char* type, const char* value, const char* provider, const char* date) {
    std::string org = provider[0] == '\0'
                          ? std::string()
                          : absl::StrCat("<provider-org ref=\"", provider, "\"><narrative>",
                                         provider, "</narrative></provider-org>");
    return absl::StrCat("<transaction><transaction-type code=\"", type,
                        "\"/><transaction-date iso-date=\"", date, "\"/><value>", value, "</value>",
                        org, "</transaction>");
  };
  ImportRecord by_date = ParseOne(Activity(
      "NEG-3",
      absl::StrCat(dated("3", "100", "SE-1", "2019-01-01"), dated("3", "200", "SE-1", "2020-06-01"),
                   dated("3", "300", "SE-1", "2021-01-01"),
                   dated("3", "-250", "SE-1", "2020-12-01"), dated("2", "1000", "", "2020-01-01"),
                   dated("2", "-400", "SE-1", "2020-02-01"))));
  const v1::Financing& netted = by_date.project.financing();
  // -250 on 2020-12-01: the 200 of 2020-06-01, then 50 of the 100 of 2019; the later 300 stays.
  ASSERT_EQ(netted.disbursements_size(), 2);
  EXPECT_EQ(netted.disbursements(0).amount().units(), 50);
  EXPECT_EQ(netted.disbursements(1).amount().units(), 300);
  ASSERT_EQ(netted.commitments_size(), 1);
  EXPECT_EQ(netted.commitments(0).amount().units(), 600);

  ImportRecord too_much = ParseOne(
      Activity("NEG-2", absl::StrCat(transaction("3", "100", ""), transaction("3", "-150.5", ""))));
  EXPECT_EQ(too_much.project.financing().disbursements_size(), 0);
  EXPECT_TRUE(HasWarning(too_much, "a reversal of -50.5 USD exceeds the flows it could reduce"));
}

// A revised budget replaces the original of the period it overlaps; an original of another
// period still counts.
TEST(IatiParserTest, ARevisedBudgetReplacesTheOriginalOfItsPeriodOnly) {
  ImportRecord record = ParseOne(Activity("BP-1", R"(
  <budget type="1"><period-start iso-date="2019-10-01"/><period-end iso-date="2020-04-19"/><value>2588430</value></budget>
  <budget type="1"><period-start iso-date="2020-04-20"/><period-end iso-date="2021-01-31"/><value>2000000</value></budget>
  <budget type="2"><period-start iso-date="2020-04-20"/><period-end iso-date="2021-01-31"/><value>1910467</value></budget>)"));
  EXPECT_EQ(record.project.financing().budget().units(), 2'588'430 + 1'910'467);
  // Quarters written end to start only touch: a revised second quarter leaves the first.
  ImportRecord quarters = ParseOne(Activity("BP-3", R"(
  <budget type="1"><period-start iso-date="2020-01-01"/><period-end iso-date="2020-04-01"/><value>10</value></budget>
  <budget type="1"><period-start iso-date="2020-04-01"/><period-end iso-date="2020-07-01"/><value>20</value></budget>
  <budget type="2"><period-start iso-date="2020-04-01"/><period-end iso-date="2020-07-01"/><value>25</value></budget>)"));
  EXPECT_EQ(quarters.project.financing().budget().units(), 35);
  // Without periods, a revised budget replaces every original, as before.
  ImportRecord undated = ParseOne(Activity("BP-2", R"(
  <budget type="1"><period-start iso-date="2019-10-01"/><period-end iso-date="2020-04-19"/><value>100</value></budget>
  <budget type="2"><value>70</value></budget>)"));
  EXPECT_EQ(undated.project.financing().budget().units(), 70);
}

// A ref matches organisations only when it identifies one. DAC channel categories, placeholders
// and a lender's identifier on its borrowers (other names, other types) leave matching to the
// name; publishers' own codes and one agency's names under one identifier still match.
TEST(IatiParserTest, RefsThatIdentifyNoOneOrganisationAreNotMatchedOn) {
  ImportRecord record = ParseOne(Activity("REF-1", R"(
  <participating-org ref="XM-DAC-46004" role="1" type="40"><narrative>Asian Development Bank</narrative></participating-org>
  <participating-org ref="XM-DAC-46004" role="2" type="10"><narrative>China National Investment and Guaranty Corporation</narrative></participating-org>
  <participating-org ref="XM-DAC-46004" role="4" type="10"><narrative>State Development &amp; Investment Corporation (SDIC)</narrative></participating-org>
  <participating-org ref="AU-5" role="1" type="10"><narrative>Australian Agency for International Development (AusAID)</narrative></participating-org>
  <participating-org ref="AU-5" role="3" type="10"><narrative>Australian DFAT</narrative></participating-org>
  <participating-org ref="41119" role="4"><narrative>UNFPA - United Nations Population Fund</narrative></participating-org>
  <participating-org ref="22000" role="4"><narrative>Diakonia</narrative></participating-org>
  <participating-org ref="22000" role="4"><narrative>Naturskyddsforeningen</narrative></participating-org>
  <participating-org ref="N/A" role="1"><narrative>EC_FPI</narrative></participating-org>
  <participating-org ref="N/A" role="1"/>
  <participating-org ref="12000" role="2"><narrative>Recipient Government</narrative></participating-org>
  <participating-org role="4"><narrative>N/A</narrative></participating-org>
  <participating-org ref="40-Multilateral" role="1"><narrative>EIB</narrative></participating-org>
  <participating-org ref="43000" role="1"><narrative>International Monetary Fund</narrative></participating-org>
  <participating-org ref="41119" role="1"/>
  <participating-org ref="XM-DAC-41114" role="1"><narrative>UNDP</narrative></participating-org>
  <participating-org ref="XM-DAC-41114" role="2"><narrative>United Nations Development Programme</narrative></participating-org>
  <transaction><transaction-type code="2"/><value>5</value><provider-org ref="XM-DAC-46004"><narrative>Asian Development Bank</narrative></provider-org></transaction>)"));
  std::vector<std::string> names, refs;
  for (const auto& o : record.organizations) {
    names.push_back(o.name);
    refs.push_back(o.ref);
  }
  // The unnamed participant with UNFPA's code is UNFPA; AU-5's two names, typed alike, are one
  // agency under its old and new names; UNDP's long name is a variant of its initials.
  EXPECT_THAT(
      names,
      ElementsAre("Asian Development Bank", "China National Investment and Guaranty Corporation",
                  "State Development & Investment Corporation (SDIC)",
                  "Australian Agency for International Development (AusAID)",
                  "UNFPA - United Nations Population Fund", "Diakonia", "Naturskyddsforeningen",
                  "EC_FPI", "EIB", "International Monetary Fund", "UNDP"));
  EXPECT_THAT(refs,
              ElementsAre("", "", "", "AU-5", "41119", "", "", "", "", "43000", "XM-DAC-41114"));
  // A placeholder ref alone names no one, nor does a kind of organisation.
  EXPECT_TRUE(HasWarning(record, "1 participating-org without @ref or name ignored"));
  EXPECT_TRUE(HasWarning(record,
                         "participating-org \"Recipient Government\" names a kind of "
                         "organisation, not one; ignored"));
  EXPECT_TRUE(HasWarning(record, "participating-org \"N/A\" names a kind of organisation"));
  EXPECT_EQ(record.organizations[3].country, "countries/AU");
  // The ADB's commitment is the ADB's, matched by name.
  EXPECT_EQ(Resolve(record, record.project.financing().commitments(0).source_organization()).name,
            "Asian Development Bank");
}

TEST(IatiParserTest, ResultsTakeBaselineAndTheLastPeriod) {
  ImportRecord record = ParseOne(Activity("RS-1", R"(
  <result type="1">
    <title><narrative>Firms incubated</narrative></title>
    <indicator measure="1">
      <title><narrative>Number of firms</narrative></title>
      <baseline year="2019" value="3"/>
      <period><target value="10"/><actual value="4"/></period>
      <period><target value="20"/><actual value="12.5"/></period>
    </indicator>
    <indicator measure="2">
      <baseline value="5"/>
      <period><target value="30"/></period>
    </indicator>
  </result>
  <result><indicator><period><target value="lots"/></period></indicator></result>)"));
  ASSERT_EQ(record.project.results_size(), 2);
  const v1::Result& firms = record.project.results(0);
  EXPECT_EQ(firms.indicator(), "Number of firms");
  EXPECT_EQ(firms.baseline(), 3);
  EXPECT_EQ(firms.target(), 20);
  EXPECT_EQ(firms.actual(), 12.5);
  EXPECT_TRUE(firms.has_actual());
  EXPECT_EQ(firms.unit(), "units");
  const v1::Result& share = record.project.results(1);
  EXPECT_EQ(share.indicator(), "Firms incubated");  // the result's title stands in
  EXPECT_EQ(share.unit(), "%");
  EXPECT_EQ(share.baseline(), 5);
  EXPECT_EQ(share.target(), 30);
  EXPECT_FALSE(share.has_actual());
  EXPECT_TRUE(HasWarning(record, "result indicator without a title; skipped"));
}

TEST(IatiParserTest, LegacyVersionOneFilesImportWithAWarningPerRecord) {
  ParseResult result = ParseIati(Activities(R"(
<iati-activity default-currency="USD">
  <iati-identifier>GB-1-LEGACY</iati-identifier>
  <title>Legacy agro park</title>
  <description type="1">Plain text description.</description>
  <participating-org role="Funding" ref="GB-1" type="10">DFID</participating-org>
  <participating-org role="Extending" ref="XM-DAC-41123" type="40">UNIDO</participating-org>
  <participating-org role="Implementing" ref="CN-1" type="70">China Agri Co</participating-org>
  <participating-org role="Accountable" ref="ET-GOV" type="10">Ethiopia MoA</participating-org>
  <activity-status code="2">Implementation</activity-status>
  <activity-date type="start-planned" iso-date="2010-01-01">1 Jan 2010</activity-date>
  <activity-date type="start-actual" iso-date="2010-02-01"/>
  <activity-date type="end-planned">2014-12-31</activity-date>
  <activity-date type="end-actual" iso-date="2015-06-30"/>
  <recipient-country code="ET" percentage="100">Ethiopia</recipient-country>
  <sector vocabulary="DAC" code="31120">Agricultural development</sector>
  <sector vocabulary="DAC-3" code="232">Energy</sector>
  <collaboration-type code="8"/>
  <transaction>
    <transaction-type code="C">Commitment</transaction-type>
    <value value-date="2010-01-01">500000</value>
    <provider-org ref="GB-1">DFID</provider-org>
  </transaction>
  <transaction>
    <transaction-type code="D">Disbursement</transaction-type>
    <value value-date="2011-01-01">100000</value>
  </transaction>
</iati-activity>
<iati-activity><iati-identifier>GB-1-LEGACY-2</iati-identifier><title>Second</title>
  <recipient-country code="ET"/><sector code="31120"/></iati-activity>)",
                                            "1.05"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 2u);
  for (const ImportRecord& record : result.records) {
    EXPECT_TRUE(HasWarning(record, "legacy IATI 1.05 activity")) << record.external_id;
    EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  }
  const ImportRecord& record = result.records[0];
  EXPECT_EQ(record.project.title(), "Legacy agro park");
  EXPECT_EQ(record.project.description(), "Plain text description.");
  EXPECT_EQ(record.project.host_country(), "countries/ET");
  EXPECT_THAT(record.project.avenues(), ElementsAre(AVENUE_GREEN_GROWTH, AVENUE_AGRICULTURE));
  EXPECT_THAT(record.project.dac_sectors(), ElementsAre(31120));
  EXPECT_EQ(record.project.stage(), v1::PROJECT_STAGE_IMPLEMENTATION);
  EXPECT_EQ(record.project.planned_start().year(), 2010);
  EXPECT_EQ(record.project.actual_start().month(), 2);
  EXPECT_EQ(record.project.planned_end().year(), 2014);
  EXPECT_EQ(record.project.actual_end().month(), 6);
  EXPECT_THAT(RolesOf(record, "DFID"), ElementsAre(PARTNER_ROLE_FINANCIER));
  EXPECT_THAT(RolesOf(record, "UNIDO"), ElementsAre(PARTNER_ROLE_TRIANGULAR_PARTNER));
  EXPECT_THAT(RolesOf(record, "China Agri Co"), ElementsAre(PARTNER_ROLE_TECHNOLOGY_PARTNER));
  EXPECT_THAT(RolesOf(record, "Ethiopia MoA"), ElementsAre(PARTNER_ROLE_HOST_GOVERNMENT));
  EXPECT_EQ(record.project.cooperation_model(),
            v1::COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL);
  ASSERT_EQ(record.project.financing().commitments_size(), 1);
  EXPECT_EQ(record.project.financing().commitments(0).amount().units(), 500000);
  EXPECT_EQ(Resolve(record, record.project.financing().commitments(0).source_organization()).name,
            "DFID");
  ASSERT_EQ(record.project.financing().disbursements_size(), 1);
  EXPECT_EQ(record.project.financing().disbursements(0).date().year(), 2011);
}

TEST(IatiParserTest, VersionTwoFilesCarryNoLegacyWarning) {
  ImportRecord record = ParseOne(Activity("V-2"));
  EXPECT_FALSE(HasWarning(record, "legacy"));
  EXPECT_TRUE(record.warnings.empty());
}

TEST(IatiParserTest, AnActivityAsTheRootElementIsOneRecord) {
  ParseResult result = ParseIati(Activity("ROOT-1"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].external_id, "ROOT-1");
}

TEST(IatiParserTest, ExtensionElementsAndOtherNamespacesAreIgnored) {
  ParseResult result = ParseIati(Activities(R"(
<iati-activity xmlns:ext="http://example.org/ext" ext:source="x" default-currency="USD">
  <iati-identifier>NS-1</iati-identifier>
  <ext:title><narrative>Not the title</narrative></ext:title>
  <title><narrative>The title</narrative></title>
  <recipient-country code="EG"/>
  <ext:sector code="31110"/>
  <sector code="23210"/>
  <location><name><narrative>Skipped</narrative></name></location>
</iati-activity>)"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].project.title(), "The title");
  EXPECT_THAT(result.records[0].project.avenues(), ElementsAre(AVENUE_GREEN_GROWTH));
}

TEST(IatiParserTest, ElementsOutsideActivitiesAreIgnored) {
  ParseResult result = ParseIati(Activities(absl::StrCat(
      "<!-- a comment --><?pi data?><foo><iati-activity><iati-identifier>NESTED</iati-identifier>"
      "</iati-activity></foo><![CDATA[ text ]]>",
      Activity("TOP-1"))));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].external_id, "TOP-1");
}

TEST(IatiParserTest, CharacterReferencesAndCdataAreText) {
  ImportRecord record = ParseOne(R"(
<iati-activity>
  <iati-identifier>CR-1</iati-identifier>
  <title><narrative>Parc &#xE0; Caire &lt;II&gt; <![CDATA[& more]]></narrative></title>
  <recipient-country code="EG"/><sector code="23210"/>
</iati-activity>)");
  EXPECT_EQ(record.project.title(), "Parc \xC3\xA0 Caire <II> & more");
}

// --- Hostile and broken input ---------------------------------------------------------------

TEST(IatiParserTest, RefusesBillionLaughs) {
  std::string xml =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      "]>\n<iati-activities version=\"2.03\">" +
      Activity("&lol9;") + "</iati-activities>";
  ParseResult result = ParseIati(xml);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("DOCTYPE"));
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("line 2"));
  EXPECT_TRUE(result.records.empty());
}

TEST(IatiParserTest, RefusesExternalEntitiesAndDtds) {
  for (const char* doctype : {
           "<!DOCTYPE iati-activities [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
           "<!DOCTYPE iati-activities SYSTEM \"http://127.0.0.1:1/evil.dtd\">",
           "<!DOCTYPE iati-activities [<!ENTITY % remote SYSTEM \"http://127.0.0.1:1/x\"> "
           "%remote;]>",
       }) {
    std::string xml =
        absl::StrCat("<?xml version=\"1.0\"?>\n", doctype, "\n<iati-activities version=\"2.03\">",
                     Activity("XXE-1",
                              "<description><narrative>&xxe;</narrative>"
                              "</description>"),
                     "</iati-activities>");
    ParseResult result = ParseIati(xml);
    EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument) << doctype;
    EXPECT_THAT(std::string(result.status.message()), HasSubstr("DOCTYPE")) << doctype;
    EXPECT_TRUE(result.records.empty()) << doctype;
  }
}

TEST(IatiParserTest, UndeclaredEntityIsMalformed) {
  ParseResult result = ParseIati(
      Activities(Activity("ENT-1", "<description><narrative>&xxe;</narrative></description>")));
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("malformed XML at line"));
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("xxe"));
}

TEST(IatiParserTest, MalformedXmlSaysWhereAndKeepsEarlierRecords) {
  std::string xml = Activities(absl::StrCat(Activity("OK-1"),
                                            "<iati-activity><iati-identifier>BAD</title>"
                                            "</iati-activity>",
                                            Activity("NEVER")));
  std::vector<ImportRecord> records;
  IatiParser parser(SectorAvenueTable::Default(),
                    [&](ImportRecord record) { records.push_back(std::move(record)); });
  absl::Status status = parser.Feed(xml);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("malformed XML at line 10, column"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("mismatch"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].external_id, "OK-1");
  // The error is final.
  EXPECT_EQ(parser.Feed(Activity("AFTER")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parser.Finish().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(records.size(), 1u);
}

TEST(IatiParserTest, TruncatedEmptyOrForeignDocumentsFail) {
  std::string whole = Activities(Activity("T-1"));
  ParseResult truncated = ParseIati(whole.substr(0, whole.size() / 2));
  EXPECT_EQ(truncated.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(truncated.status.message()), HasSubstr("malformed XML"));

  EXPECT_EQ(ParseIati("").status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseIati("   \n").status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseIati("project_id,title\n1,x\n").status.code(), absl::StatusCode::kInvalidArgument);

  ParseResult organisations =
      ParseIati("<iati-organisations version=\"2.03\"><iati-organisation/></iati-organisations>");
  EXPECT_EQ(organisations.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(organisations.status.message()),
              HasSubstr("root element is <iati-organisations>"));

  ParseResult two_roots = ParseIati(Activities(Activity("A")) + "<iati-activities/>");
  EXPECT_EQ(two_roots.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(two_roots.records.size(), 1u);
}

TEST(IatiParserTest, InvalidUtf8IsMalformed) {
  ParseResult result = ParseIati(Activities(Activity("U-1",
                                                     "<description><narrative>caf\xE9 "
                                                     "</narrative></description>")));
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status.message()), HasSubstr("UTF-8"));
}

TEST(IatiParserTest, BytesThatDoNotFitTheDeclaredEncodingAreMalformed) {
  ParseResult result = ParseIati(
      "<?xml version=\"1.0\" encoding=\"SHIFT_JIS\"?>\n<iati-activities>"
      "<a>\x82\xFF\x82</a></iati-activities>");
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status.message()),
              HasSubstr("malformed XML at line 2: input conversion failed"));
}

TEST(IatiParserTest, DeclaredLatin1IsConvertedToUtf8) {
  std::string xml = absl::StrCat("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n",
                                 "<iati-activities version=\"2.03\">",
                                 Activity("L1",
                                          "<description><narrative>caf\xE9</narrative>"
                                          "</description>"),
                                 "</iati-activities>");
  ParseResult result = ParseIati(xml);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 1u);
  EXPECT_EQ(result.records[0].project.description(), "caf\xC3\xA9");
}

TEST(IatiParserTest, OversizedActivityIsRejectedAndTheNextOneRead) {
  // 5 MiB of locations (skipped elements still count) and 5 MiB of description text.
  std::string locations;
  const std::string location =
      "<location><name><narrative>Somewhere far away in a big country</narrative></name>"
      "<point srsName=\"http://www.opengis.net/def/crs/EPSG/0/4326\"><pos>1 2</pos></point>"
      "</location>\n";
  while (locations.size() < (5u << 20)) locations += location;
  std::string text(5u << 20, 'x');
  std::string xml =
      Activities(absl::StrCat(Activity("BIG-1", locations), Activity("OK-1"),
                              Activity("BIG-2", absl::StrCat("<description><narrative>", text,
                                                             "</narrative></description>")),
                              Activity("OK-2")));
  ParseResult result = ParseIati(xml, 64 << 10);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 4u);
  EXPECT_EQ(result.records[0].external_id, "BIG-1");
  EXPECT_THAT(result.records[0].rejection, HasSubstr("iati-activity is larger than 4 MiB"));
  EXPECT_TRUE(result.records[1].rejection.empty()) << result.records[1].rejection;
  EXPECT_EQ(result.records[2].external_id, "BIG-2");
  EXPECT_THAT(result.records[2].rejection, HasSubstr("larger than 4 MiB"));
  EXPECT_EQ(result.records[3].external_id, "OK-2");
  EXPECT_EQ(result.records[3].index, 3);
  EXPECT_TRUE(result.records[3].rejection.empty());
}

TEST(IatiParserTest, ActivityJustUnderTheLimitIsRead) {
  std::string text(3u << 20, 'y');
  ImportRecord record = ParseOne(Activity(
      "NEAR-1", absl::StrCat("<description><narrative>", text, "</narrative></description>")));
  EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  EXPECT_EQ(record.project.description().size(), text.size());
}

// --- Chunking ---------------------------------------------------------------------------------

std::string ChunkingFixture() {
  return Activities(
      absl::StrCat(Activity("CH-1", R"(
  <description type="1"><narrative xml:lang="en">Multi-byte: 中国–埃及 café</narrative></description>
  <participating-org ref="CN-1" role="4" type="70"><narrative>中国农业公司</narrative></participating-org>
  <budget><value>1234.5678</value></budget>
  <transaction><transaction-type code="2"/><value>10</value></transaction>
  <result><indicator><title><narrative>Jobs</narrative></title><period><actual value="7"/></period></indicator></result>)"),
                   "<!-- between -->\n", Activity("CH-2", "<activity-status code=\"3\"/>"),
                   "<iati-activity><iati-identifier>CH-3</iati-identifier></iati-activity>"));
}

TEST(IatiParserTest, OneByteChunksGiveTheSameRecords) {
  std::string xml = ChunkingFixture();
  ParseResult whole = ParseIati(xml);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.records.size(), 3u);
  EXPECT_EQ(whole.records[0].project.description(), "Multi-byte: 中国–埃及 café");
  ParseResult bytes = ParseIati(xml, 1);
  ASSERT_TRUE(bytes.status.ok()) << bytes.status;
  ASSERT_EQ(bytes.records.size(), whole.records.size());
  for (size_t i = 0; i < whole.records.size(); ++i) {
    EXPECT_EQ(Fingerprint(bytes.records[i]), Fingerprint(whole.records[i])) << i;
  }
}

TEST(IatiParserTest, RandomChunksGiveTheSameRecords) {
  std::string xml = ChunkingFixture();
  ParseResult whole = ParseIati(xml);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  std::mt19937 random(20240611);
  for (int round = 0; round < 50; ++round) {
    std::vector<ImportRecord> records;
    IatiParser parser(SectorAvenueTable::Default(),
                      [&](ImportRecord record) { records.push_back(std::move(record)); });
    size_t offset = 0;
    while (offset < xml.size()) {
      size_t size = std::uniform_int_distribution<size_t>(0, 97)(random);
      ASSERT_TRUE(parser.Feed(absl::string_view(xml).substr(offset, size)).ok());
      offset += size;
    }
    ASSERT_TRUE(parser.Finish().ok());
    ASSERT_EQ(records.size(), whole.records.size()) << round;
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(Fingerprint(records[i]), Fingerprint(whole.records[i])) << round << "/" << i;
    }
  }
}

TEST(IatiParserTest, FeedAfterFinishIsAnError) {
  IatiParser parser(SectorAvenueTable::Default(), [](ImportRecord) {});
  ASSERT_TRUE(parser.Feed(Activities(Activity("F-1"))).ok());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_TRUE(parser.Finish().ok());
  EXPECT_EQ(parser.Feed("<x/>").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(parser.records(), 1);
}

TEST(IatiParserTest, ACustomSectorTableIsUsed) {
  absl::StatusOr<SectorAvenueTable> table = SectorAvenueTable::FromText("public_health: 15110\n");
  ASSERT_TRUE(table.ok());
  std::vector<ImportRecord> records;
  IatiParser parser(*table, [&](ImportRecord record) { records.push_back(std::move(record)); });
  ASSERT_TRUE(
      parser
          .Feed(Activities("<iati-activity><iati-identifier>CT-1</iati-identifier><title>"
                           "<narrative>x</narrative></title><recipient-country code=\"EG\"/>"
                           "<sector code=\"15110\"/></iati-activity>"))
          .ok());
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(records[0].project.avenues(), ElementsAre(AVENUE_PUBLIC_HEALTH));
}

}  // namespace
}  // namespace stp::ingestion
