// CSV splitting and AidData Chinese official finance rows -> ImportRecord.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/ingestion/import/aiddata_parser.h"
#include "services/ingestion/import/csv_row_reader.h"

namespace stp::ingestion {
namespace {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::AVENUE_AGRICULTURE;
using stp::common::v1::AVENUE_E_COMMERCE;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::common::v1::AVENUE_PUBLIC_HEALTH;
using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT;
using stp::common::v1::PARTNER_ROLE_IMPLEMENTER;
using stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// --- CsvRowReader -----------------------------------------------------------------------------

std::vector<CsvRow> SplitCsv(absl::string_view text, size_t chunk_size = 0,
                             size_t max_row_bytes = CsvRowReader::kDefaultMaxRowBytes) {
  std::vector<CsvRow> rows;
  CsvRowReader reader([&](CsvRow row) { rows.push_back(std::move(row)); }, max_row_bytes);
  if (chunk_size == 0) chunk_size = std::max<size_t>(text.size(), 1);
  for (size_t offset = 0; offset < text.size(); offset += chunk_size) {
    reader.Feed(text.substr(offset, chunk_size));
  }
  reader.Finish();
  return rows;
}

std::string Render(const std::vector<CsvRow>& rows) {
  std::string out;
  for (const CsvRow& row : rows) {
    absl::StrAppend(&out, row.line, ":[", absl::StrJoin(row.fields, "|"), "]", row.error, "{",
                    absl::StrJoin(row.notes, ";"), "}\n");
  }
  return out;
}

TEST(CsvRowReaderTest, SplitsQuotedFieldsWithCommasQuotesAndNewlines) {
  std::vector<CsvRow> rows = SplitCsv(
      "a,b,c\r\n"
      "1,\"x, y\",\"say \"\"hi\"\"\"\r\n"
      "2,\"line one\nline two\r\nline three\",\n"
      "3,,\"\"\n");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_THAT(rows[0].fields, ElementsAre("a", "b", "c"));
  EXPECT_THAT(rows[1].fields, ElementsAre("1", "x, y", "say \"hi\""));
  EXPECT_THAT(rows[2].fields, ElementsAre("2", "line one\nline two\r\nline three", ""));
  EXPECT_THAT(rows[3].fields, ElementsAre("3", "", ""));
  EXPECT_EQ(rows[0].line, 1);
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].line, 3);
  EXPECT_EQ(rows[3].line, 6);
  for (const CsvRow& row : rows) {
    EXPECT_TRUE(row.error.empty());
    EXPECT_TRUE(row.notes.empty());
  }
}

TEST(CsvRowReaderTest, DropsTheBomSkipsBlankLinesAndKeepsALastRowWithoutNewline) {
  std::vector<CsvRow> rows = SplitCsv("\xEF\xBB\xBFid,name\n\n1,\xC3\xA9t\xC3\xA9\r\n\r\n2,z");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_THAT(rows[0].fields, ElementsAre("id", "name"));
  EXPECT_THAT(rows[1].fields, ElementsAre("1", "\xC3\xA9t\xC3\xA9"));
  EXPECT_EQ(rows[1].line, 3);
  EXPECT_THAT(rows[2].fields, ElementsAre("2", "z"));
  EXPECT_EQ(rows[2].line, 5);
  // Only a whole BOM at the very start is dropped.
  EXPECT_THAT(SplitCsv("\xEF\xBBx\n")[0].fields, ElementsAre("\xEF\xBBx"));
  EXPECT_THAT(SplitCsv("\xEF\xBB")[0].fields, ElementsAre("\xEF\xBB"));
  EXPECT_THAT(SplitCsv("a\n\xEF\xBB\xBF"
                       "b\n")[1]
                  .fields,
              ElementsAre("\xEF\xBB\xBF"
                          "b"));
  EXPECT_TRUE(SplitCsv("\xEF\xBB\xBF").empty());
  EXPECT_TRUE(SplitCsv("").empty());
}

TEST(CsvRowReaderTest, BareCarriageReturnsEndRows) {
  std::vector<CsvRow> rows = SplitCsv("a,b\r1,2\r");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_THAT(rows[1].fields, ElementsAre("1", "2"));
  EXPECT_EQ(rows[1].line, 2);
}

TEST(CsvRowReaderTest, ReadsStrayQuotesLenientlyWithANote) {
  std::vector<CsvRow> rows = SplitCsv("5\" screen,\"quoted\"tail,x\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].fields, ElementsAre("5\" screen", "quotedtail", "x"));
  EXPECT_EQ(rows[0].notes.size(), 2u);
}

TEST(CsvRowReaderTest, UnterminatedQuoteIsAnErrorRow) {
  std::vector<CsvRow> rows = SplitCsv("a,b\n1,\"never closed\n2,3\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].error, "unterminated quoted field (opened on line 2)");
}

TEST(CsvRowReaderTest, OverlongRowsAreDroppedNotKept) {
  std::string text =
      absl::StrCat("a,b\n", std::string(100, 'x'), ",", std::string(100, ','), "\n1,2\n");
  std::vector<CsvRow> rows = SplitCsv(text, 7, 64);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].error, "row longer than 64 bytes");
  EXPECT_TRUE(rows[1].fields.empty());
  EXPECT_THAT(rows[2].fields, ElementsAre("1", "2"));
  EXPECT_EQ(rows[2].line, 3);
}

TEST(CsvRowReaderTest, SameRowsWhereverTheChunksSplit) {
  const std::string text =
      "\xEF\xBB\xBFid,title,desc\r\n"
      "1,\"Caf\xC3\xA9, \"\"Cairo\"\"\",\"two\r\nlines\"\r\n"
      "\r\n"
      "2,\xE4\xB8\xAD\xE5\x9B\xBD,\"\"\r\n"
      "3,x,\"end\"";
  const std::string expected = Render(SplitCsv(text));
  ASSERT_THAT(expected, HasSubstr("2:[1|Caf\xC3\xA9, \"Cairo\"|two\r\nlines]"));
  for (size_t split = 0; split <= text.size(); ++split) {
    std::vector<CsvRow> rows;
    CsvRowReader reader([&](CsvRow row) { rows.push_back(std::move(row)); });
    reader.Feed(absl::string_view(text).substr(0, split));
    reader.Feed(absl::string_view(text).substr(split));
    reader.Finish();
    EXPECT_EQ(Render(rows), expected) << "split at " << split;
  }
  EXPECT_EQ(Render(SplitCsv(text, 1)), expected);
}

// --- AidDataCsvParser on fixtures ---------------------------------------------------------------

const std::vector<std::string> kHeader = {"project_id",
                                          "title",
                                          "description",
                                          "status",
                                          "flow",
                                          "year",
                                          "amount",
                                          "currency",
                                          "usd_current",
                                          "crs_sector_code",
                                          "crs_sector_name",
                                          "funding_agency",
                                          "implementing_agency",
                                          "cofinancing_agency",
                                          "recipient_agencies",
                                          "recipient_iso2",
                                          "start_actual",
                                          "start_planned",
                                          "end_actual",
                                          "end_planned"};

std::string CsvLine(const std::vector<std::string>& fields) {
  std::vector<std::string> quoted;
  for (const std::string& field : fields) {
    if (field.find_first_of(",\"\r\n") == std::string::npos) {
      quoted.push_back(field);
    } else {
      std::string escaped;
      for (char c : field) {
        if (c == '"') escaped += '"';
        escaped += c;
      }
      quoted.push_back(absl::StrCat("\"", escaped, "\""));
    }
  }
  return absl::StrCat(absl::StrJoin(quoted, ","), "\r\n");
}

// A row that is accepted, with `overrides` by column name.
std::string Row(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> values = {
      {"project_id", "1"},
      {"title", "Agricultural technology demonstration centre"},
      {"description", "China builds a demonstration centre."},
      {"status", "Completion"},
      {"flow", "Grant"},
      {"year", "2010"},
      {"crs_sector_code", "310"},
      {"crs_sector_name", "Agriculture, Forestry and Fishing"},
      {"funding_agency", "Chinese Ministry of Commerce, Government Agency"},
      {"recipient_iso2", "ZA"},
  };
  for (const auto& [key, value] : overrides) values[key] = value;
  std::vector<std::string> fields;
  for (const std::string& column : kHeader) fields.push_back(values[column]);
  return CsvLine(fields);
}

struct ParseResult {
  absl::Status status;
  std::vector<ImportRecord> records;
};

ParseResult ParseCsv(absl::string_view csv, size_t chunk_size = 0) {
  ParseResult result;
  AidDataCsvParser parser(SectorAvenueTable::Default(), [&](ImportRecord record) {
    result.records.push_back(std::move(record));
  });
  if (chunk_size == 0) chunk_size = std::max<size_t>(csv.size(), 1);
  for (size_t offset = 0; offset < csv.size() && result.status.ok(); offset += chunk_size) {
    result.status = parser.Feed(csv.substr(offset, chunk_size));
  }
  if (result.status.ok()) result.status = parser.Finish();
  EXPECT_EQ(parser.records(), static_cast<int>(result.records.size()));
  return result;
}

std::string WithHeader(absl::string_view rows) { return absl::StrCat(CsvLine(kHeader), rows); }

ImportRecord ParseOneRow(const std::map<std::string, std::string>& overrides) {
  ParseResult result = ParseCsv(WithHeader(Row(overrides)));
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.records.size(), 1u);
  return result.records.empty() ? ImportRecord() : result.records[0];
}

const ImportedOrganization* FindOrganization(const ImportRecord& record, absl::string_view name) {
  for (const ImportedOrganization& organization : record.organizations) {
    if (organization.name == name) return &organization;
  }
  return nullptr;
}

std::vector<PartnerRole> RolesOf(const ImportRecord& record, absl::string_view name) {
  std::vector<PartnerRole> roles;
  for (const v1::Participant& participant : record.project.participants()) {
    int index = std::atoi(participant.organization().substr(8).c_str());
    if (record.organizations[index].name == name) roles.push_back(participant.role());
  }
  return roles;
}

std::string Fingerprint(const ImportRecord& record) {
  std::string text = absl::StrCat(record.index, "|", record.external_id, "|",
                                  record.project.SerializeAsString(), "|", record.rejection);
  for (const auto& org : record.organizations) {
    absl::StrAppend(&text, "|", org.name, "/", org.type, "/", org.country);
  }
  for (const auto& warning : record.warnings) absl::StrAppend(&text, "|", warning);
  return text;
}

TEST(AidDataCsvParserTest, MapsABasicRow) {
  ImportRecord record = ParseOneRow({{"project_id", " 706 "},
                                     {"usd_current", "4000000.5"},
                                     {"amount", "30000000"},
                                     {"currency", "CNY"},
                                     {"start_actual", "2009-04-28"},
                                     {"start_planned", "2009-01-01"},
                                     {"end_actual", "2011-01-01"},
                                     {"end_planned", "2010-02-01"}});
  EXPECT_EQ(record.index, 0);
  EXPECT_EQ(record.external_id, "706");
  EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  const v1::Project& project = record.project;
  ASSERT_EQ(project.external_ids_size(), 1);
  EXPECT_EQ(project.external_ids(0).source(), "aiddata");
  EXPECT_EQ(project.external_ids(0).value(), "706");
  EXPECT_EQ(project.title(), "Agricultural technology demonstration centre");
  EXPECT_EQ(project.description(), "China builds a demonstration centre.");
  EXPECT_EQ(project.host_country(), "countries/ZA");
  EXPECT_EQ(project.stage(), v1::PROJECT_STAGE_COMPLETED);
  EXPECT_THAT(project.avenues(), ElementsAre(AVENUE_AGRICULTURE));
  EXPECT_TRUE(project.dac_sectors().empty());
  // usd_current wins over amount + currency.
  EXPECT_EQ(project.financing().budget().currency_code(), "USD");
  EXPECT_EQ(project.financing().budget().units(), 4000000);
  EXPECT_EQ(project.financing().budget().nanos(), 500'000'000);
  ASSERT_EQ(project.financing().commitments_size(), 1);
  const v1::FinancialFlow& commitment = project.financing().commitments(0);
  EXPECT_EQ(commitment.amount().units(), 4000000);
  EXPECT_EQ(commitment.instrument(), v1::FINANCE_INSTRUMENT_GRANT);
  EXPECT_EQ(commitment.source_organization(), "pending:0");
  EXPECT_EQ(commitment.date().year(), 2010);
  EXPECT_EQ(commitment.date().month(), 1);
  EXPECT_EQ(commitment.date().day(), 1);
  EXPECT_EQ(project.actual_start().day(), 28);
  EXPECT_EQ(project.planned_start().year(), 2009);
  EXPECT_EQ(project.actual_end().year(), 2011);
  EXPECT_EQ(project.planned_end().month(), 2);
  ASSERT_EQ(record.organizations.size(), 1u);
  EXPECT_EQ(record.organizations[0].name, "Chinese Ministry of Commerce");
  EXPECT_EQ(record.organizations[0].type, v1::ORGANIZATION_TYPE_GOVERNMENT);
  EXPECT_EQ(record.organizations[0].country, "countries/CN");
  EXPECT_THAT(RolesOf(record, "Chinese Ministry of Commerce"), ElementsAre(PARTNER_ROLE_FINANCIER));
  EXPECT_TRUE(record.warnings.empty());
}

TEST(AidDataCsvParserTest, StatusesAndFlows) {
  const std::pair<const char*, v1::ProjectStage> statuses[] = {
      {"Completion", v1::PROJECT_STAGE_COMPLETED},
      {"Implementation", v1::PROJECT_STAGE_IMPLEMENTATION},
      {"Pipeline: Commitment", v1::PROJECT_STAGE_FINANCED},
      {"Pipeline: Pledge", v1::PROJECT_STAGE_PROPOSED},
      {"Suspended", v1::PROJECT_STAGE_SUSPENDED},
      {"Cancelled", v1::PROJECT_STAGE_CANCELLED},
      {"", v1::PROJECT_STAGE_UNSPECIFIED},
      {"Rumoured", v1::PROJECT_STAGE_UNSPECIFIED},
  };
  for (const auto& [status, stage] : statuses) {
    EXPECT_EQ(ParseOneRow({{"status", status}}).project.stage(), stage) << status;
  }
  EXPECT_THAT(ParseOneRow({{"status", "Rumoured"}}).warnings,
              ElementsAre("status \"Rumoured\" is unknown; stage left unspecified"));

  const std::pair<const char*, v1::FinanceInstrument> flows[] = {
      {"Grant", v1::FINANCE_INSTRUMENT_GRANT},
      {"Free-standing technical assistance", v1::FINANCE_INSTRUMENT_GRANT},
      {"Loan (excluding debt rescheduling)", v1::FINANCE_INSTRUMENT_LOAN},
      {"Vague TBD", v1::FINANCE_INSTRUMENT_UNSPECIFIED},
      {"Scholarships/training in the donor country", v1::FINANCE_INSTRUMENT_UNSPECIFIED},
  };
  for (const auto& [flow, instrument] : flows) {
    ImportRecord record = ParseOneRow({{"flow", flow}, {"usd_current", "10"}});
    ASSERT_EQ(record.project.financing().commitments_size(), 1) << flow;
    EXPECT_EQ(record.project.financing().commitments(0).instrument(), instrument) << flow;
  }
}

// A pledge is money promised: the amount is the project's budget, not a commitment.
TEST(AidDataCsvParserTest, APledgeGivesABudgetButNoCommitment) {
  ImportRecord pledge = ParseOneRow({{"status", "Pipeline: Pledge"}, {"usd_current", "2000"}});
  EXPECT_EQ(pledge.project.financing().budget().units(), 2000);
  EXPECT_EQ(pledge.project.financing().commitments_size(), 0);
  ImportRecord committed =
      ParseOneRow({{"status", "Pipeline: Commitment"}, {"usd_current", "2000"}});
  EXPECT_EQ(committed.project.financing().commitments_size(), 1);
}

TEST(AidDataCsvParserTest, AmountFallsBackToAmountAndCurrency) {
  ImportRecord original = ParseOneRow({{"amount", "14000000000"}, {"currency", "XAF"}});
  EXPECT_EQ(original.project.financing().budget().currency_code(), "XAF");
  EXPECT_EQ(original.project.financing().budget().units(), 14000000000);

  ImportRecord no_currency = ParseOneRow({{"amount", "120000000"}, {"currency", " D"}});
  EXPECT_FALSE(no_currency.project.has_financing());
  EXPECT_THAT(no_currency.warnings, ElementsAre(HasSubstr("has no ISO 4217 currency")));

  ImportRecord none = ParseOneRow({});
  EXPECT_FALSE(none.project.has_financing());
}

TEST(AidDataCsvParserTest, UnreadableOrNegativeNumbersRejectTheRowOnly) {
  ParseResult result = ParseCsv(WithHeader(absl::StrCat(
      Row({{"project_id", "10"}, {"usd_current", "1,5 million"}}),
      Row({{"project_id", "11"}, {"amount", "-3"}, {"currency", "USD"}}),
      Row({{"project_id", "12"}, {"usd_current", "1e6"}}), Row({{"project_id", "13"}}))));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 4u);
  EXPECT_EQ(result.records[0].rejection, "usd_current: \"1,5 million\" is not a decimal number");
  EXPECT_THAT(result.records[0].rejected_fields, ElementsAre("financing"));
  EXPECT_EQ(result.records[1].rejection, "amount \"-3\" is negative");
  EXPECT_THAT(result.records[2].rejection, HasSubstr("\"1e6\" is not a decimal number"));
  EXPECT_EQ(result.records[3].index, 3);
  EXPECT_TRUE(result.records[3].rejection.empty());
}

TEST(AidDataCsvParserTest, AgenciesBecomeOrganisationsWithRolesAndCountries) {
  ImportRecord record = ParseOneRow({
      {"recipient_iso2", "lr"},
      {"funding_agency",
       "Export-Import Bank of China, Government Agency; China Development Bank (CDB), Government "
       "Agency"},
      {"implementing_agency",
       "Yuan Longping High-Tech Agriculture Co., Ltd. (LPHT), State-Owned Company; Liberian "
       "Ministry of Agriculture, Government Agency; Guangzhou Shipyard International Co, Ltd., "
       "Private Sector; Jiangsu Construction Engineering Group Co., Ltd.; Hunan Academy of "
       "Agricultural Sciences, Academic, Training and Research; United Nations Development "
       "Programme (UNDP), Multilateral"},
      {"recipient_agencies",
       "Liberian Ministry of Agriculture, Government Agency; Central Agricultural Research "
       "Institute (CARI), Academic, Training and Research; Liberia Farmers Union, NGO/CSO"},
      {"usd_current", "6000000"},
  });
  EXPECT_TRUE(record.rejection.empty()) << record.rejection;
  EXPECT_EQ(record.project.host_country(), "countries/LR");

  const ImportedOrganization* exim = FindOrganization(record, "Export-Import Bank of China");
  ASSERT_NE(exim, nullptr);
  EXPECT_EQ(exim->type, v1::ORGANIZATION_TYPE_DFI);
  EXPECT_EQ(exim->country, "countries/CN");
  EXPECT_THAT(RolesOf(record, "Export-Import Bank of China"), ElementsAre(PARTNER_ROLE_FINANCIER));
  EXPECT_EQ(FindOrganization(record, "China Development Bank (CDB)")->type,
            v1::ORGANIZATION_TYPE_DFI);
  // The first funder is the commitment's source.
  EXPECT_EQ(record.organizations[0].name, "Export-Import Bank of China");
  EXPECT_EQ(record.project.financing().commitments(0).source_organization(), "pending:0");

  const ImportedOrganization* ministry =
      FindOrganization(record, "Liberian Ministry of Agriculture");
  ASSERT_NE(ministry, nullptr);
  EXPECT_EQ(ministry->country, "countries/LR");
  // Also listed as an implementer, it stays on the host's side.
  EXPECT_THAT(RolesOf(record, "Liberian Ministry of Agriculture"),
              ElementsAre(PARTNER_ROLE_HOST_GOVERNMENT));
  const ImportedOrganization* cari =
      FindOrganization(record, "Central Agricultural Research Institute (CARI)");
  ASSERT_NE(cari, nullptr);
  EXPECT_EQ(cari->type, v1::ORGANIZATION_TYPE_ACADEMIC);
  EXPECT_THAT(RolesOf(record, "Central Agricultural Research Institute (CARI)"),
              ElementsAre(PARTNER_ROLE_IMPLEMENTER));
  EXPECT_EQ(FindOrganization(record, "Liberia Farmers Union")->type,
            v1::ORGANIZATION_TYPE_INTERNATIONAL_NGO);

  const ImportedOrganization* yuan =
      FindOrganization(record, "Yuan Longping High-Tech Agriculture Co., Ltd. (LPHT)");
  ASSERT_NE(yuan, nullptr);
  EXPECT_EQ(yuan->type, v1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  EXPECT_EQ(yuan->country, "countries/CN");
  EXPECT_THAT(RolesOf(record, "Yuan Longping High-Tech Agriculture Co., Ltd. (LPHT)"),
              ElementsAre(PARTNER_ROLE_TECHNOLOGY_PARTNER));
  EXPECT_EQ(FindOrganization(record, "Guangzhou Shipyard International Co, Ltd.")->type,
            v1::ORGANIZATION_TYPE_PRIVATE_SECTOR);
  // No type after the last comma: the whole entry is the name.
  const ImportedOrganization* jiangsu =
      FindOrganization(record, "Jiangsu Construction Engineering Group Co., Ltd.");
  ASSERT_NE(jiangsu, nullptr);
  EXPECT_EQ(jiangsu->type, v1::ORGANIZATION_TYPE_UNSPECIFIED);
  EXPECT_EQ(FindOrganization(record, "Hunan Academy of Agricultural Sciences")->type,
            v1::ORGANIZATION_TYPE_ACADEMIC);
  // A multilateral implementer belongs to no country.
  const ImportedOrganization* undp =
      FindOrganization(record, "United Nations Development Programme (UNDP)");
  ASSERT_NE(undp, nullptr);
  EXPECT_EQ(undp->type, v1::ORGANIZATION_TYPE_MULTILATERAL);
  EXPECT_EQ(undp->country, "");
  EXPECT_EQ(record.organizations.size(), 10u);
  EXPECT_FALSE(record.project.triangular());
}

TEST(AidDataCsvParserTest, MultilateralCofinancierMakesItTriangular) {
  ImportRecord record = ParseOneRow({
      {"cofinancing_agency",
       "African Development Bank, Multilateral; Standard Bank of South Africa Ltd., Private "
       "Sector"},
  });
  EXPECT_TRUE(record.project.triangular());
  EXPECT_EQ(record.project.cooperation_model(),
            v1::COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL);
  const ImportedOrganization* afdb = FindOrganization(record, "African Development Bank");
  ASSERT_NE(afdb, nullptr);
  EXPECT_EQ(afdb->type, v1::ORGANIZATION_TYPE_DFI);
  EXPECT_EQ(afdb->country, "");
  EXPECT_THAT(RolesOf(record, "African Development Bank"), ElementsAre(PARTNER_ROLE_FINANCIER));
  EXPECT_EQ(FindOrganization(record, "Standard Bank of South Africa Ltd.")->country, "");

  ImportRecord private_only = ParseOneRow({
      {"cofinancing_agency", "Standard Bank of South Africa Ltd., Private Sector"},
  });
  EXPECT_FALSE(private_only.project.triangular());
  EXPECT_EQ(private_only.project.cooperation_model(), v1::COOPERATION_MODEL_UNSPECIFIED);
}

TEST(AidDataCsvParserTest, SectorGroupsGiveAvenuesOrARejection) {
  EXPECT_THAT(ParseOneRow({{"crs_sector_code", "120"}}).project.avenues(),
              ElementsAre(AVENUE_PUBLIC_HEALTH));
  EXPECT_THAT(ParseOneRow({{"crs_sector_code", "230"}}).project.avenues(),
              ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_THAT(ParseOneRow({{"crs_sector_code", "250"}}).project.avenues(),
              ElementsAre(AVENUE_E_COMMERCE));
  ImportRecord education =
      ParseOneRow({{"crs_sector_code", "110"}, {"crs_sector_name", "Education"}});
  EXPECT_EQ(education.rejection, "no avenue derivable from CRS sector 110 (Education)");
  EXPECT_THAT(education.rejected_fields, ElementsAre("avenues"));
  EXPECT_THAT(education.project.avenues(), IsEmpty());
  EXPECT_EQ(ParseOneRow({{"crs_sector_code", ""}}).rejection,
            "no avenue derivable: no crs_sector_code");
  EXPECT_EQ(ParseOneRow({{"crs_sector_code", "12x"}}).rejection,
            "crs_sector_code \"12x\" is not a 3-digit code");
}

TEST(AidDataCsvParserTest, RecipientMustBeOneCountry) {
  ImportRecord empty = ParseOneRow({{"recipient_iso2", ""}});
  EXPECT_EQ(empty.rejection, "no single recipient country");
  EXPECT_THAT(empty.rejected_fields, ElementsAre("host_country"));
  ImportRecord several = ParseOneRow({{"recipient_iso2", "GH; ZM"}});
  EXPECT_EQ(several.rejection, "no single recipient country (recipient_iso2 \"GH; ZM\")");
}

TEST(AidDataCsvParserTest, BadDatesAreWarningsOnly) {
  ImportRecord record =
      ParseOneRow({{"start_actual", "2009-02-30"}, {"year", "20xx"}, {"usd_current", "5"}});
  EXPECT_TRUE(record.rejection.empty());
  EXPECT_FALSE(record.project.has_actual_start());
  EXPECT_FALSE(record.project.financing().commitments(0).has_date());
  EXPECT_THAT(record.warnings,
              ElementsAre("year \"20xx\" is not a year; commitment undated",
                          "start_actual: \"2009-02-30\" is not a YYYY-MM-DD date"));
}

TEST(AidDataCsvParserTest, WrongColumnCountRejectsWithIndexAndGoesOn) {
  std::string csv = WithHeader(
      absl::StrCat(Row({{"project_id", "1"}}), "2,too,few\r\n", "\"3\",\"unterminated\n", ""));
  ParseResult result = ParseCsv(csv);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_TRUE(result.records[0].rejection.empty());
  EXPECT_EQ(result.records[1].index, 1);
  EXPECT_EQ(result.records[1].external_id, "2");
  EXPECT_EQ(result.records[1].rejection, "the row has 3 fields, the header 20 (line 3)");
  EXPECT_EQ(result.records[2].index, 2);
  EXPECT_EQ(result.records[2].external_id, "3");
  EXPECT_EQ(result.records[2].rejection, "unterminated quoted field (opened on line 4) (line 4)");
}

TEST(AidDataCsvParserTest, InvalidUtf8IsReplacedWithAWarning) {
  ImportRecord record = ParseOneRow({{"title", "Caf\xE9 park"}});
  EXPECT_EQ(record.project.title(), "Caf\xEF\xBF\xBD park");
  EXPECT_THAT(record.warnings, ElementsAre("invalid UTF-8 replaced by U+FFFD"));
}

TEST(AidDataCsvParserTest, HeaderProblemsAreErrorsOfTheStream) {
  ParseResult not_aiddata = ParseCsv("id,name\n1,x\n");
  EXPECT_EQ(not_aiddata.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(not_aiddata.status.message()),
              HasSubstr("no column project_id, title, recipient_iso2"));
  EXPECT_TRUE(not_aiddata.records.empty());

  ParseResult empty = ParseCsv("");
  EXPECT_EQ(empty.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status.message()), HasSubstr("no header row"));

  ParseResult header_only = ParseCsv(CsvLine(kHeader));
  EXPECT_TRUE(header_only.status.ok()) << header_only.status;
  EXPECT_TRUE(header_only.records.empty());

  // Columns are found by name, in any order; unknown ones are ignored.
  ParseResult reordered = ParseCsv(
      "extra,recipient_iso2,crs_sector_code,title,project_id\r\n"
      "x,EG,230,Solar park,77\r\n");
  ASSERT_TRUE(reordered.status.ok()) << reordered.status;
  ASSERT_EQ(reordered.records.size(), 1u);
  EXPECT_EQ(reordered.records[0].external_id, "77");
  EXPECT_EQ(reordered.records[0].project.host_country(), "countries/EG");
  EXPECT_THAT(reordered.records[0].project.avenues(), ElementsAre(AVENUE_GREEN_GROWTH));
}

TEST(AidDataCsvParserTest, SameRecordsWhereverTheChunksSplit) {
  std::string csv =
      absl::StrCat("\xEF\xBB\xBF", CsvLine(kHeader),
                   Row({{"project_id", "1"},
                        {"title", "Parc technologique, \"Abidjan\""},
                        {"description", "Line one,\nline two \xE4\xB8\xAD\xE5\x9B\xBD.\r\nEnd."},
                        {"funding_agency", "China-Africa Development Fund, Government Agency"},
                        {"usd_current", "12.75"}}),
                   Row({{"project_id", "2"}, {"crs_sector_code", "110"}}), "3,short\r\n");
  ParseResult whole = ParseCsv(csv);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.records.size(), 3u);
  EXPECT_EQ(whole.records[0].project.title(), "Parc technologique, \"Abidjan\"");
  EXPECT_EQ(whole.records[0].project.description(),
            "Line one,\nline two \xE4\xB8\xAD\xE5\x9B\xBD.\r\nEnd.");
  EXPECT_EQ(whole.records[0].organizations[0].type, v1::ORGANIZATION_TYPE_DFI);
  for (size_t split = 0; split <= csv.size(); ++split) {
    std::vector<ImportRecord> records;
    AidDataCsvParser parser(SectorAvenueTable::Default(),
                            [&](ImportRecord record) { records.push_back(std::move(record)); });
    ASSERT_TRUE(parser.Feed(absl::string_view(csv).substr(0, split)).ok());
    ASSERT_TRUE(parser.Feed(absl::string_view(csv).substr(split)).ok());
    ASSERT_TRUE(parser.Finish().ok());
    ASSERT_EQ(records.size(), whole.records.size()) << split;
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(Fingerprint(records[i]), Fingerprint(whole.records[i])) << split << "/" << i;
    }
  }
  ParseResult bytes = ParseCsv(csv, 1);
  ASSERT_EQ(bytes.records.size(), whole.records.size());
  for (size_t i = 0; i < bytes.records.size(); ++i) {
    EXPECT_EQ(Fingerprint(bytes.records[i]), Fingerprint(whole.records[i]));
  }
}

// --- The real AidData subset ------------------------------------------------------------------

class AidDataFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = std::getenv("STP_SHARED_DATA");
    path_ = absl::StrCat(env != nullptr && *env != '\0' ? env : "/work/shared/data",
                         "/chinese-finance/aiddata-gcof-v1.0-subset-stp-egypt-southafrica.csv");
    if (!std::filesystem::exists(path_)) {
      GTEST_SKIP() << "shared test data not found at " << path_
                   << "; set STP_SHARED_DATA to the shared data directory to run this test";
    }
    std::ifstream in(path_, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    content_ = content.str();
  }
  std::string path_;
  std::string content_;
};

const ImportRecord* FindRecord(const std::vector<ImportRecord>& records, absl::string_view id) {
  for (const ImportRecord& record : records) {
    if (record.external_id == id) return &record;
  }
  return nullptr;
}

TEST_F(AidDataFileTest, EgyptSouthAfricaAndParksSubset) {
  ParseResult result = ParseCsv(content_, 64 << 10);
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 218u);
  int accepted = 0;
  int egypt = 0;
  for (size_t i = 0; i < result.records.size(); ++i) {
    const ImportRecord& record = result.records[i];
    EXPECT_EQ(record.index, static_cast<int>(i));
    EXPECT_FALSE(record.external_id.empty());
    accepted += record.rejection.empty();
    egypt += record.project.host_country() == "countries/EG";
  }
  std::cout << "[ counts   ] aiddata-gcof-v1.0-subset-stp-egypt-southafrica.csv: "
            << result.records.size() << " rows, " << accepted << " accepted, "
            << result.records.size() - accepted << " rejected; " << egypt << " hosted by EG\n";
  // Measured with the default sector table: education (110, 45 rows), multisector (430),
  // governance (150), unallocated (998) and the like give no avenue; four rows name several
  // recipient countries.
  EXPECT_EQ(accepted, 121);
  EXPECT_EQ(egypt, 35);

  // #706: the Abidjan technology park, in CRS group 160, which gives no avenue.
  const ImportRecord* park = FindRecord(result.records, "706");
  ASSERT_NE(park, nullptr);
  EXPECT_EQ(park->project.title(), "China co-finances multi-million dollar technology park");
  EXPECT_EQ(park->project.host_country(), "countries/CI");
  EXPECT_EQ(park->project.stage(), v1::PROJECT_STAGE_IMPLEMENTATION);
  EXPECT_FALSE(park->project.has_financing());
  EXPECT_EQ(park->rejection,
            "no avenue derivable from CRS sector 160 (Other Social infrastructure and services)");
  ASSERT_EQ(park->organizations.size(), 1u);
  EXPECT_EQ(park->organizations[0].name, "Unspecified Chinese Government Institution");
  EXPECT_EQ(park->organizations[0].country, "countries/CN");

  // #30426: China Development Bank's SME loan to Egypt.
  const ImportRecord* sme = FindRecord(result.records, "30426");
  ASSERT_NE(sme, nullptr);
  EXPECT_TRUE(sme->rejection.empty()) << sme->rejection;
  EXPECT_EQ(sme->project.host_country(), "countries/EG");
  EXPECT_EQ(sme->project.stage(), v1::PROJECT_STAGE_FINANCED);
  EXPECT_THAT(sme->project.avenues(), ElementsAre(AVENUE_E_COMMERCE));
  EXPECT_EQ(sme->project.financing().budget().units(), 200000000);
  EXPECT_EQ(sme->project.financing().budget().currency_code(), "USD");
  ASSERT_EQ(sme->project.financing().commitments_size(), 1);
  EXPECT_EQ(sme->project.financing().commitments(0).instrument(), v1::FINANCE_INSTRUMENT_LOAN);
  EXPECT_EQ(sme->project.financing().commitments(0).date().year(), 2012);
  ASSERT_EQ(sme->organizations.size(), 2u);
  EXPECT_EQ(sme->organizations[0].name, "China Development Bank (CDB)");
  EXPECT_EQ(sme->organizations[0].type, v1::ORGANIZATION_TYPE_DFI);
  EXPECT_EQ(sme->organizations[1].name, "National Bank of Egypt");
  EXPECT_EQ(sme->organizations[1].country, "countries/EG");
  EXPECT_THAT(RolesOf(*sme, "National Bank of Egypt"), ElementsAre(PARTNER_ROLE_IMPLEMENTER));

  // #420: co-financed by the African Development Bank, hence triangular.
  const ImportRecord* boali = FindRecord(result.records, "420");
  ASSERT_NE(boali, nullptr);
  EXPECT_TRUE(boali->project.triangular());
  EXPECT_EQ(boali->project.cooperation_model(),
            v1::COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL);
  EXPECT_THAT(boali->project.avenues(), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_EQ(boali->project.actual_end().year(), 2013);

  // The same records in random chunks (splitting quoted fields, CRLFs and characters).
  std::mt19937 random(3);
  std::vector<ImportRecord> chunked;
  AidDataCsvParser parser(SectorAvenueTable::Default(),
                          [&](ImportRecord record) { chunked.push_back(std::move(record)); });
  for (size_t offset = 0; offset < content_.size();) {
    size_t size = std::uniform_int_distribution<size_t>(1, 300)(random);
    ASSERT_TRUE(parser.Feed(absl::string_view(content_).substr(offset, size)).ok());
    offset += size;
  }
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(chunked.size(), result.records.size());
  for (size_t i = 0; i < chunked.size(); ++i) {
    EXPECT_EQ(Fingerprint(chunked[i]), Fingerprint(result.records[i])) << i;
  }
}

}  // namespace
}  // namespace stp::ingestion
