// The IATI parser on the real files of $STP_SHARED_DATA/iati, and its memory on a long stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/runtime/allocator.h"
#include "services/ingestion/import/iati_parser.h"

namespace stp::ingestion {
namespace {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::common::v1::AVENUE_PUBLIC_HEALTH;
using stp::common::v1::PARTNER_ROLE_ACCOUNTABLE;
using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_IMPLEMENTER;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string SharedDataDir() {
  const char* env = std::getenv("STP_SHARED_DATA");
  return env != nullptr && *env != '\0' ? env : "/work/shared/data";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

struct FileResult {
  absl::Status status;
  std::vector<ImportRecord> records;
  int accepted = 0;
  int rejected = 0;
};

FileResult Parse(absl::string_view content, size_t chunk_size = 1 << 20) {
  FileResult result;
  IatiParser parser(SectorAvenueTable::Default(), [&](ImportRecord record) {
    (record.rejection.empty() ? result.accepted : result.rejected)++;
    result.records.push_back(std::move(record));
  });
  for (size_t offset = 0; offset < content.size() && result.status.ok(); offset += chunk_size) {
    result.status = parser.Feed(content.substr(offset, chunk_size));
  }
  if (result.status.ok()) result.status = parser.Finish();
  return result;
}

const ImportRecord* FindRecord(const FileResult& result, absl::string_view external_id) {
  for (const ImportRecord& record : result.records) {
    if (record.external_id == external_id) return &record;
  }
  return nullptr;
}

std::string Fingerprint(const ImportRecord& record) {
  std::string text = absl::StrCat(record.index, "|", record.external_id, "|",
                                  record.project.SerializeAsString(), "|", record.rejection);
  for (const auto& org : record.organizations) {
    absl::StrAppend(&text, "|", org.ref, "/", org.name, "/", org.type, "/", org.country);
  }
  for (const auto& warning : record.warnings) absl::StrAppend(&text, "|", warning);
  return text;
}

class IatiFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = SharedDataDir() + "/iati";
    if (!std::filesystem::is_directory(dir_)) {
      GTEST_SKIP() << "shared test data not found at " << dir_
                   << "; set STP_SHARED_DATA to the shared data directory to run this test";
    }
  }
  std::string Load(const std::string& relative) {
    std::string content = ReadFile(dir_ + "/" + relative);
    EXPECT_FALSE(content.empty()) << relative;
    return content;
  }
  void Report(const std::string& name, const FileResult& result) {
    std::cout << "[ counts   ] " << name << ": " << result.records.size() << " activities, "
              << result.accepted << " accepted, " << result.rejected << " rejected\n";
  }
  std::string dir_;
};

TEST_F(IatiFilesTest, AnnotatedStandardExample) {
  FileResult result = Parse(Load("examples/activity-standard-example-annotated.xml"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.records.size(), 1u);
  const ImportRecord& record = result.records[0];
  const v1::Project& project = record.project;
  EXPECT_EQ(record.external_id, "AA-AAA-123456789-ABC123");
  EXPECT_EQ(project.title(), "Activity title");
  EXPECT_TRUE(absl::StartsWith(project.description(), "General activity description text."));
  EXPECT_THAT(project.description(), HasSubstr("\n\nObjectives for the activity"));
  EXPECT_THAT(project.description(), ::testing::Not(HasSubstr("Activité")));
  // AF and AG share 25% each: the first one hosts.
  EXPECT_EQ(project.host_country(), "countries/AF");
  EXPECT_EQ(project.stage(), v1::PROJECT_STAGE_IMPLEMENTATION);
  EXPECT_EQ(project.planned_start().year(), 2012);
  EXPECT_EQ(project.planned_start().month(), 4);
  EXPECT_EQ(project.planned_start().day(), 15);
  EXPECT_EQ(project.actual_start().day(), 28);
  EXPECT_EQ(project.planned_end().year(), 2015);
  EXPECT_FALSE(project.has_actual_end());
  // The only budget is in EUR while the activity's currency is USD; the only transaction is
  // incoming funds (type 1), which is not project financing.
  EXPECT_FALSE(project.financing().has_budget());
  EXPECT_EQ(project.financing().commitments_size(), 0);
  EXPECT_EQ(project.financing().disbursements_size(), 0);
  EXPECT_THAT(record.warnings,
              ::testing::Contains("budget value 3000 EUR skipped: not in the activity currency "
                                  "USD"));
  ASSERT_EQ(project.results_size(), 1);
  EXPECT_EQ(project.results(0).indicator(), "Indicator title");
  EXPECT_EQ(project.results(0).baseline(), 10);
  EXPECT_EQ(project.results(0).target(), 10);
  EXPECT_EQ(project.results(0).actual(), 11);
  EXPECT_TRUE(project.results(0).has_actual());
  ASSERT_EQ(project.participants_size(), 3);
  EXPECT_EQ(project.participants(0).role(), PARTNER_ROLE_FINANCIER);
  EXPECT_EQ(project.participants(1).role(), PARTNER_ROLE_ACCOUNTABLE);
  EXPECT_EQ(project.participants(2).role(), PARTNER_ROLE_ACCOUNTABLE);
  ASSERT_EQ(record.organizations.size(), 3u);
  EXPECT_EQ(record.organizations[0].ref, "BB-BBB-123456789");
  EXPECT_EQ(record.organizations[0].name, "Name of Agency B");
  EXPECT_EQ(record.organizations[0].type, v1::ORGANIZATION_TYPE_MULTILATERAL);
  // Its sectors are education categories 111 and 112 and a private vocabulary: no avenue.
  EXPECT_EQ(record.rejection,
            "no avenue derivable from sectors 111 (DAC-3), 112 (DAC-3), A1 (vocabulary 99)");
}

TEST_F(IatiFilesTest, AnnotatedExampleInOneByteAndRandomChunks) {
  std::string content = Load("examples/activity-standard-example-annotated.xml");
  FileResult whole = Parse(content);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  FileResult bytes = Parse(content, 1);
  ASSERT_TRUE(bytes.status.ok()) << bytes.status;
  ASSERT_EQ(bytes.records.size(), whole.records.size());
  EXPECT_EQ(Fingerprint(bytes.records[0]), Fingerprint(whole.records[0]));
  std::mt19937 random(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<ImportRecord> records;
    IatiParser parser(SectorAvenueTable::Default(),
                      [&](ImportRecord record) { records.push_back(std::move(record)); });
    for (size_t offset = 0; offset < content.size();) {
      size_t size = std::uniform_int_distribution<size_t>(1, 4096)(random);
      ASSERT_TRUE(parser.Feed(absl::string_view(content).substr(offset, size)).ok());
      offset += size;
    }
    ASSERT_TRUE(parser.Finish().ok());
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(Fingerprint(records[0]), Fingerprint(whole.records[0])) << round;
  }
}

TEST_F(IatiFilesTest, AidDataNigeria) {
  FileResult result = Parse(Load("real/aiddata-nigeria-aims-geocoded-v2.03.xml"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  Report("aiddata-nigeria-aims-geocoded-v2.03.xml", result);
  ASSERT_EQ(result.records.size(), 140u);
  // Measured with the default sector table; most activities are in governance, education
  // and general health (121xx is public health, 122xx too), which give no avenue.
  EXPECT_EQ(result.accepted, 52);
  EXPECT_EQ(result.rejected, 88);
  for (size_t i = 0; i < result.records.size(); ++i) {
    const ImportRecord& record = result.records[i];
    EXPECT_EQ(record.index, static_cast<int>(i));
    EXPECT_TRUE(absl::StartsWith(record.external_id, "US-501c3-522318905-SG-NGA/"))
        << record.external_id;
    if (record.rejection.empty()) {
      EXPECT_EQ(record.project.host_country(), "countries/NG") << record.external_id;
      EXPECT_GT(record.project.avenues_size(), 0);
      EXPECT_FALSE(record.project.title().empty());
    }
  }
  // The second activity: two sectors with avenues, funded by Canada, three transactions of
  // which one commitment and one disbursement.
  const ImportRecord* stockpiles = FindRecord(result, "US-501c3-522318905-SG-NGA/000088");
  ASSERT_NE(stockpiles, nullptr);
  EXPECT_EQ(stockpiles->project.title(), "Africa Stockpiles Program");
  EXPECT_EQ(stockpiles->project.stage(), v1::PROJECT_STAGE_COMPLETED);
  EXPECT_EQ(stockpiles->project.actual_start().year(), 2005);
  EXPECT_THAT(stockpiles->project.dac_sectors(), ElementsAre(23000, 31100, 12100));
  ASSERT_EQ(stockpiles->project.financing().commitments_size(), 1);
  EXPECT_EQ(stockpiles->project.financing().commitments(0).amount().units(), 2962075);
  ASSERT_EQ(stockpiles->project.financing().disbursements_size(), 1);
  EXPECT_EQ(stockpiles->project.financing().disbursements(0).amount().units(), 493679);
  ASSERT_EQ(stockpiles->organizations.size(), 1u);
  EXPECT_EQ(stockpiles->organizations[0].name, "Canada");
}

TEST_F(IatiFilesTest, DPortalPage111) {
  FileResult result = Parse(Load("real/dportal-export-page111-v2.03.xml"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  Report("dportal-export-page111-v2.03.xml", result);
  ASSERT_EQ(result.records.size(), 100u);
  EXPECT_EQ(result.accepted, 13);
  EXPECT_EQ(result.rejected, 87);
  for (const ImportRecord& record : result.records) {
    EXPECT_TRUE(absl::StartsWith(record.external_id, "XM-DAC-41114-")) << record.external_id;
  }
  const ImportRecord* cabo_verde = FindRecord(result, "XM-DAC-41114-PROJECT-00126855");
  ASSERT_NE(cabo_verde, nullptr);
  EXPECT_EQ(cabo_verde->project.host_country(), "countries/CV");
  EXPECT_EQ(cabo_verde->project.title(), "WEST AFRICA COMPETITIVENESS SUPPORT - CABO VERDE");
  EXPECT_THAT(cabo_verde->rejection, HasSubstr("16050 (DAC), 51010 (DAC)"));
}

TEST_F(IatiFilesTest, DerivedEgyptSouthAfricaChinaTriangularSubset) {
  std::string content = Load("derived/dportal-subset-eg-za-china-triangular-v2.03.xml");
  FileResult result = Parse(content);
  ASSERT_TRUE(result.status.ok()) << result.status;
  Report("dportal-subset-eg-za-china-triangular-v2.03.xml", result);
  ASSERT_EQ(result.records.size(), 375u);
  EXPECT_EQ(result.accepted, 117);
  EXPECT_EQ(result.rejected, 258);
  int triangular = 0;
  int egypt = 0;
  int south_africa = 0;
  for (const ImportRecord& record : result.records) {
    EXPECT_FALSE(record.external_id.empty());
    triangular += record.project.triangular();
    egypt += record.project.host_country() == "countries/EG";
    south_africa += record.project.host_country() == "countries/ZA";
  }
  EXPECT_EQ(triangular, 18);  // every activity with collaboration-type 8
  std::cout << "[ counts   ] hosts: EG " << egypt << ", ZA " << south_africa << "\n";

  // Egypt: an African Development Bank loan for green growth.
  const ImportRecord* egypt_green = FindRecord(result, "46002-P-EG-FA0-005");
  ASSERT_NE(egypt_green, nullptr);
  EXPECT_TRUE(egypt_green->rejection.empty()) << egypt_green->rejection;
  const v1::Project& eg = egypt_green->project;
  EXPECT_EQ(eg.title(), "Egypt- Electricity and Green Growth Support Program (EGGSP) - Phase I");
  EXPECT_TRUE(absl::StartsWith(eg.description(), "The Electricity and Green Growth Support"));
  EXPECT_EQ(eg.host_country(), "countries/EG");
  EXPECT_THAT(eg.avenues(), ElementsAre(AVENUE_GREEN_GROWTH));
  EXPECT_THAT(eg.dac_sectors(), ElementsAre(23630));
  EXPECT_EQ(eg.stage(), v1::PROJECT_STAGE_IMPLEMENTATION);
  EXPECT_EQ(eg.financing().budget().currency_code(), "XDR");
  EXPECT_EQ(eg.financing().budget().units(), 377048640);
  ASSERT_EQ(eg.financing().commitments_size(), 1);
  EXPECT_EQ(eg.financing().commitments(0).amount().units(), 188524315);
  EXPECT_EQ(eg.financing().commitments(0).amount().nanos(), 450'000'000);
  EXPECT_EQ(eg.financing().commitments(0).instrument(), v1::FINANCE_INSTRUMENT_LOAN);
  EXPECT_EQ(eg.financing().commitments(0).date().year(), 2020);

  // South Africa: a Canadian public-health grant with seven disbursements and two reversals
  // (negative) that cancel two of the three of 166,682: 9,700,000 disbursed, not 10,033,364.
  const ImportRecord* south_africa_health = FindRecord(result, "CA-3-A035417001");
  ASSERT_NE(south_africa_health, nullptr);
  EXPECT_TRUE(south_africa_health->rejection.empty()) << south_africa_health->rejection;
  const v1::Project& za = south_africa_health->project;
  EXPECT_EQ(za.title(), "Building a Capable State");
  EXPECT_EQ(za.host_country(), "countries/ZA");
  EXPECT_THAT(za.avenues(), ElementsAre(AVENUE_PUBLIC_HEALTH));
  EXPECT_THAT(za.dac_sectors(), ElementsAre(12264, 15150));
  EXPECT_EQ(za.financing().budget().currency_code(), "CAD");
  EXPECT_EQ(za.financing().budget().units(), 10466682);
  ASSERT_EQ(za.financing().commitments_size(), 1);
  EXPECT_EQ(za.financing().commitments(0).amount().units(), 10000000);
  EXPECT_EQ(za.financing().commitments(0).instrument(), v1::FINANCE_INSTRUMENT_GRANT);
  ASSERT_EQ(za.financing().disbursements_size(), 5);
  int64_t disbursed = 0;
  for (const auto& flow : za.financing().disbursements()) disbursed += flow.amount().units();
  EXPECT_EQ(disbursed, 9'700'000);
  EXPECT_EQ(za.financing().disbursements(4).amount().units(), 166'682);
  EXPECT_EQ(
      std::count_if(south_africa_health->warnings.begin(), south_africa_health->warnings.end(),
                    [](const std::string& w) {
                      return absl::StrContains(w, "negative") || absl::StrContains(w, "reversal");
                    }),
      0);
  ASSERT_EQ(south_africa_health->organizations.size(), 3u);
  EXPECT_EQ(south_africa_health->organizations[2].name,
            "Government of South Africa - National Treasury - International Development "
            "Cooperation");
  EXPECT_EQ(za.participants(2).role(), PARTNER_ROLE_IMPLEMENTER);

  // Triangular with a Dutch company implementing in South Africa.
  const ImportRecord* wash = FindRecord(result, "NL-KVK-27378529-DSS220ZA01");
  ASSERT_NE(wash, nullptr);
  EXPECT_TRUE(wash->project.triangular());
  EXPECT_EQ(wash->project.cooperation_model(), v1::COOPERATION_MODEL_TRIANGULAR_MNC);

  // The same records whatever the chunking.
  std::mt19937 random(11);
  std::vector<ImportRecord> chunked;
  IatiParser parser(SectorAvenueTable::Default(),
                    [&](ImportRecord record) { chunked.push_back(std::move(record)); });
  for (size_t offset = 0; offset < content.size();) {
    size_t size = std::uniform_int_distribution<size_t>(1, 70000)(random);
    ASSERT_TRUE(parser.Feed(absl::string_view(content).substr(offset, size)).ok());
    offset += size;
  }
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(chunked.size(), result.records.size());
  for (size_t i = 0; i < chunked.size(); ++i) {
    EXPECT_EQ(Fingerprint(chunked[i]), Fingerprint(result.records[i])) << i;
  }
}

// Whether the allocator's count sees what malloc hands out here; a sanitizer's allocator, for
// one, is invisible to it, and the memory check would pass without measuring anything.
bool HeapBytesInUseIsMeasurable() {
  constexpr size_t kProbeBytes = 8 << 20;
  size_t before = HeapBytesInUse();
  void* volatile probe = std::malloc(kProbeBytes);  // volatile: the call cannot be elided
  bool seen = HeapBytesInUse() >= before + kProbeBytes;
  std::free(probe);
  return seen;
}

TEST(IatiParserMemoryTest, FiftyMegabyteStreamKeepsTheParserFlat) {
  if (!HeapBytesInUseIsMeasurable()) {
    GTEST_SKIP() << "the heap count does not see this build's allocator (a sanitizer's?); the "
                    "heap cannot be measured";
  }
  // One activity of ~2.5 KB with the usual bulk (locations, transactions, results).
  std::string activity = R"(
 <iati-activity default-currency="USD" xml:lang="en">
  <iati-identifier>XM-TEST-MEMORY</iati-identifier>
  <title><narrative>Technology park</narrative><narrative xml:lang="fr">Parc</narrative></title>
  <description type="1"><narrative>A park that grows and grows.</narrative></description>
  <participating-org ref="CN-1" role="4" type="70"><narrative>Builder</narrative></participating-org>
  <participating-org ref="EG-GOV-1" role="2" type="10"><narrative>Ministry</narrative></participating-org>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2020-01-01"/>
  <recipient-country code="EG" percentage="100"/>
  <sector vocabulary="1" code="23210"/>)";
  for (int i = 0; i < 10; ++i) {
    activity += R"(
  <location ref="x"><name><narrative>Place</narrative></name><point srsName="http://www.opengis.net/def/crs/EPSG/0/4326"><pos>30.0 31.2</pos></point></location>)";
  }
  activity += R"(
  <budget type="1"><value>1000</value></budget>
  <transaction><transaction-type code="2"/><transaction-date iso-date="2020-01-01"/><value>500</value></transaction>
  <transaction><transaction-type code="3"/><transaction-date iso-date="2020-06-01"/><value>250</value></transaction>
  <result><indicator><title><narrative>Firms</narrative></title><period><target value="5"/><actual value="3"/></period></indicator></result>
 </iati-activity>)";
  const size_t kStreamBytes = 50u << 20;
  const size_t kChunkBytes = 64u << 10;
  const int activity_count = static_cast<int>(kStreamBytes / activity.size());

  int records = 0;
  int rejected = 0;
  size_t peak = 0;
  size_t baseline = 0;
  {
    IatiParser parser(SectorAvenueTable::Default(), [&](ImportRecord record) {
      ++records;
      rejected += !record.rejection.empty();
      peak = std::max(peak, HeapBytesInUse());
    });
    // The stream is generated chunk by chunk so only the parser holds on to it.
    std::string chunk;
    chunk.reserve(kChunkBytes + activity.size() + 64);
    chunk = "<?xml version=\"1.0\"?>\n<iati-activities version=\"2.03\">";
    baseline = HeapBytesInUse();
    int written = 0;
    while (written < activity_count) {
      while (chunk.size() < kChunkBytes && written < activity_count) {
        chunk += activity;
        ++written;
      }
      if (written == activity_count) chunk += "\n</iati-activities>\n";
      ASSERT_TRUE(parser.Feed(chunk).ok());
      peak = std::max(peak, HeapBytesInUse());
      chunk.clear();
    }
    ASSERT_TRUE(parser.Finish().ok());
  }
  EXPECT_EQ(records, activity_count);
  EXPECT_EQ(rejected, 0);
  size_t growth = peak > baseline ? peak - baseline : 0;
  std::cout << "[ memory   ] " << activity_count << " activities (" << (kStreamBytes >> 20)
            << " MB) in " << (kChunkBytes >> 10) << " KiB chunks: heap grew by at most "
            << growth / 1024 << " KiB\n";
  // Keeping the activities (or the input) would take well over 50 MB.
  EXPECT_LT(growth, 4u << 20);
}

}  // namespace
}  // namespace stp::ingestion
