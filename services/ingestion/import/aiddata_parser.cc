#include "services/ingestion/import/aiddata_parser.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/ingestion/import/csv_row_reader.h"
#include "services/ingestion/import/record_organizations.h"
#include "services/ingestion/import/record_remarks.h"
#include "services/ingestion/import/value_parsing.h"

namespace stp::ingestion {
namespace {

namespace v1 = stp::ingestion::v1;
using stp::common::v1::PARTNER_ROLE_FINANCIER;
using stp::common::v1::PARTNER_ROLE_HOST_GOVERNMENT;
using stp::common::v1::PARTNER_ROLE_IMPLEMENTER;
using stp::common::v1::PARTNER_ROLE_TECHNOLOGY_PARTNER;

// AidData records China's official finance: funders and implementers are Chinese.
constexpr absl::string_view kChina = "countries/CN";

// The columns read, by header name. Other columns are ignored.
struct Columns {
  int project_id = -1;
  int title = -1;
  int description = -1;
  int status = -1;
  int flow = -1;
  int year = -1;
  int amount = -1;
  int currency = -1;
  int usd_current = -1;
  int crs_sector_code = -1;
  int crs_sector_name = -1;
  int funding_agency = -1;
  int implementing_agency = -1;
  int cofinancing_agency = -1;
  int recipient_agencies = -1;
  int recipient_iso2 = -1;
  int start_actual = -1;
  int start_planned = -1;
  int end_actual = -1;
  int end_planned = -1;
};

struct ColumnName {
  absl::string_view name;
  int Columns::*column;
  bool required;
};
constexpr ColumnName kColumnNames[] = {
    {"project_id", &Columns::project_id, true},
    {"title", &Columns::title, true},
    {"description", &Columns::description, false},
    {"status", &Columns::status, false},
    {"flow", &Columns::flow, false},
    {"year", &Columns::year, false},
    {"amount", &Columns::amount, false},
    {"currency", &Columns::currency, false},
    {"usd_current", &Columns::usd_current, false},
    {"crs_sector_code", &Columns::crs_sector_code, false},
    {"crs_sector_name", &Columns::crs_sector_name, false},
    {"funding_agency", &Columns::funding_agency, false},
    {"implementing_agency", &Columns::implementing_agency, false},
    {"cofinancing_agency", &Columns::cofinancing_agency, false},
    {"recipient_agencies", &Columns::recipient_agencies, false},
    {"recipient_iso2", &Columns::recipient_iso2, true},
    {"start_actual", &Columns::start_actual, false},
    {"start_planned", &Columns::start_planned, false},
    {"end_actual", &Columns::end_actual, false},
    {"end_planned", &Columns::end_planned, false},
};

// AidData's agency types ("Name, Type" in the agency lists).
struct AgencyType {
  absl::string_view label;
  v1::OrganizationType type;
};
constexpr AgencyType kAgencyTypes[] = {
    // First: the one label with a comma of its own.
    {"Academic, Training and Research", v1::ORGANIZATION_TYPE_ACADEMIC},
    {"Government Agency", v1::ORGANIZATION_TYPE_GOVERNMENT},
    {"State-Owned Company", v1::ORGANIZATION_TYPE_PRIVATE_SECTOR},
    {"Private Sector", v1::ORGANIZATION_TYPE_PRIVATE_SECTOR},
    {"Multilateral", v1::ORGANIZATION_TYPE_MULTILATERAL},
    {"Public Private Partnership", v1::ORGANIZATION_TYPE_PUBLIC_PRIVATE_PARTNERSHIP},
    {"Foundation", v1::ORGANIZATION_TYPE_FOUNDATION},
    {"National NGO", v1::ORGANIZATION_TYPE_NATIONAL_NGO},
    {"Other", v1::ORGANIZATION_TYPE_OTHER},
};

struct Agency {
  std::string name;
  std::string label;  // the AidData type as written, "" when the entry has none
  v1::OrganizationType type = v1::ORGANIZATION_TYPE_UNSPECIFIED;
};

absl::string_view Trim(absl::string_view s) { return absl::StripAsciiWhitespace(s); }

// One "Name, Type" entry. Names contain commas too ("Co., Ltd., Private Sector"), so only a
// known type after the last comma (or "Academic, Training and Research") is taken as the
// type; otherwise the whole entry is the name.
Agency ParseAgency(absl::string_view entry) {
  Agency agency;
  for (const AgencyType& known : kAgencyTypes) {
    if (entry.size() <= known.label.size() || !absl::EndsWithIgnoreCase(entry, known.label)) {
      continue;
    }
    absl::string_view rest =
        absl::StripTrailingAsciiWhitespace(entry.substr(0, entry.size() - known.label.size()));
    if (!absl::ConsumeSuffix(&rest, ",")) continue;
    agency.name = std::string(Trim(rest));
    agency.label = std::string(known.label);
    agency.type = known.type;
    return agency;
  }
  size_t comma = entry.rfind(',');
  if (comma != absl::string_view::npos &&
      absl::StartsWithIgnoreCase(Trim(entry.substr(comma + 1)), "NGO")) {
    agency.name = std::string(Trim(entry.substr(0, comma)));
    agency.label = std::string(Trim(entry.substr(comma + 1)));
    agency.type = v1::ORGANIZATION_TYPE_INTERNATIONAL_NGO;
    return agency;
  }
  agency.name = std::string(entry);
  return agency;
}

std::vector<Agency> ParseAgencyList(absl::string_view list) {
  std::vector<Agency> agencies;
  for (absl::string_view entry : absl::StrSplit(list, ';')) {
    entry = Trim(entry);
    if (entry.empty()) continue;
    Agency agency = ParseAgency(entry);
    if (!agency.name.empty()) agencies.push_back(std::move(agency));
  }
  return agencies;
}

v1::ProjectStage StageFromStatus(absl::string_view status) {
  if (absl::EqualsIgnoreCase(status, "Completion")) return v1::PROJECT_STAGE_COMPLETED;
  if (absl::EqualsIgnoreCase(status, "Implementation")) return v1::PROJECT_STAGE_IMPLEMENTATION;
  if (absl::EqualsIgnoreCase(status, "Pipeline: Commitment")) return v1::PROJECT_STAGE_FINANCED;
  if (absl::EqualsIgnoreCase(status, "Pipeline: Pledge")) return v1::PROJECT_STAGE_PROPOSED;
  if (absl::EqualsIgnoreCase(status, "Suspended")) return v1::PROJECT_STAGE_SUSPENDED;
  if (absl::EqualsIgnoreCase(status, "Cancelled")) return v1::PROJECT_STAGE_CANCELLED;
  return v1::PROJECT_STAGE_UNSPECIFIED;
}

v1::FinanceInstrument InstrumentFromFlow(absl::string_view flow) {
  if (absl::EqualsIgnoreCase(flow, "Grant") ||
      absl::EqualsIgnoreCase(flow, "Free-standing technical assistance")) {
    return v1::FINANCE_INSTRUMENT_GRANT;
  }
  if (absl::StartsWithIgnoreCase(flow, "Loan")) return v1::FINANCE_INSTRUMENT_LOAN;
  return v1::FINANCE_INSTRUMENT_UNSPECIFIED;
}

// Maps one data row. The row has exactly the header's number of fields, all valid UTF-8.
class RowMapping {
 public:
  RowMapping(const std::vector<std::string>& fields, const Columns& columns,
             const SectorAvenueTable& table, ImportRecord* record)
      : fields_(fields), columns_(columns), table_(table), record_(record), remarks_(record) {
    project_ = &record->project;
  }

  void Run() {
    MapIdentity();
    MapHost();
    MapStatus();
    std::optional<google::type::Money> amount = MapAmount();
    MapOrganizations();
    MapFinancing(amount);
    MapSector();
    MapDates();
    record_->organizations = std::move(organizations_).Release();
  }

 private:
  absl::string_view Field(int column) const {
    if (column < 0 || column >= static_cast<int>(fields_.size())) return {};
    return Trim(fields_[column]);
  }

  void MapIdentity() {
    record_->external_id = std::string(Field(columns_.project_id));
    if (record_->external_id.empty()) {
      remarks_.Reject("no project_id", "external_ids");
    } else {
      auto* external_id = project_->add_external_ids();
      external_id->set_source("aiddata");
      external_id->set_value(record_->external_id);
    }
    project_->set_title(CollapseWhitespace(Field(columns_.title)));
    if (project_->title().empty()) remarks_.Reject("no title", "title");
    project_->set_description(std::string(Field(columns_.description)));
  }

  void MapHost() {
    std::string iso2 = absl::AsciiStrToUpper(Field(columns_.recipient_iso2));
    if (iso2.empty()) {
      remarks_.Reject("no single recipient country", "host_country");
      return;
    }
    if (iso2.size() != 2 || !absl::ascii_isalpha(iso2[0]) || !absl::ascii_isalpha(iso2[1])) {
      remarks_.Reject(absl::StrCat("no single recipient country (recipient_iso2 \"", iso2, "\")"),
                      "host_country");
      return;
    }
    host_ = absl::StrCat("countries/", iso2);
    project_->set_host_country(host_);
  }

  void MapStatus() {
    absl::string_view status = Field(columns_.status);
    project_->set_stage(StageFromStatus(status));
    if (!status.empty() && project_->stage() == v1::PROJECT_STAGE_UNSPECIFIED) {
      remarks_.Warn(absl::StrCat("status \"", status, "\" is unknown; stage left unspecified"));
    }
  }

  // The amount: usd_current when given, else amount in currency. Unreadable numbers reject
  // the row.
  std::optional<google::type::Money> MapAmount() {
    std::optional<google::type::Money> usd = ReadNumber("usd_current", columns_.usd_current, "USD");
    std::string currency = absl::AsciiStrToUpper(Field(columns_.currency));
    std::optional<google::type::Money> original = ReadNumber("amount", columns_.amount, currency);
    if (usd) return usd;
    if (!original) return std::nullopt;
    if (!IsCurrencyCode(currency)) {
      remarks_.Warn(absl::StrCat("amount ", Field(columns_.amount), " has no ISO 4217 currency (\"",
                                 Field(columns_.currency), "\"); left out"));
      return std::nullopt;
    }
    return original;
  }

  std::optional<google::type::Money> ReadNumber(absl::string_view name, int column,
                                                absl::string_view currency) {
    absl::string_view text = Field(column);
    if (text.empty()) return std::nullopt;
    absl::StatusOr<google::type::Money> money = ParseDecimalMoney(text, currency);
    if (!money.ok()) {
      remarks_.Reject(absl::StrCat(name, ": ", money.status().message()), "financing");
      return std::nullopt;
    }
    if (IsNegative(*money)) {
      remarks_.Reject(absl::StrCat(name, " \"", text, "\" is negative"), "financing");
      return std::nullopt;
    }
    return *money;
  }

  // One participant per organisation and role.
  void AddParticipant(int organization_index, PartnerRole role) {
    if (!participations_.emplace(organization_index, role).second) return;
    v1::Participant* participant = project_->add_participants();
    participant->set_organization(PendingOrganization(organization_index));
    participant->set_role(role);
  }

  // Adds one agency in `role`; returns its organisation index.
  int AddAgency(const Agency& agency, PartnerRole role, absl::string_view country) {
    ImportedOrganization organization;
    organization.name = agency.name;
    organization.type = agency.type;
    if (LooksLikeDevelopmentFinanceInstitution(agency.name)) {
      organization.type = v1::ORGANIZATION_TYPE_DFI;
    }
    // Multilateral bodies belong to no single country.
    if (agency.type != v1::ORGANIZATION_TYPE_MULTILATERAL) {
      organization.country = std::string(country);
    }
    organization.roles = {role};
    int index = organizations_.Add(std::move(organization));
    AddParticipant(index, role);
    return index;
  }

  void MapOrganizations() {
    for (const Agency& agency : ParseAgencyList(Field(columns_.funding_agency))) {
      int index = AddAgency(agency, PARTNER_ROLE_FINANCIER, kChina);
      if (first_funder_ < 0) first_funder_ = index;
    }
    bool multilateral_cofinancier = false;
    for (const Agency& agency : ParseAgencyList(Field(columns_.cofinancing_agency))) {
      AddAgency(agency, PARTNER_ROLE_FINANCIER, "");
      multilateral_cofinancier =
          multilateral_cofinancier || agency.type == v1::ORGANIZATION_TYPE_MULTILATERAL;
    }
    if (multilateral_cofinancier) {
      project_->set_triangular(true);
      project_->set_cooperation_model(v1::COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL);
    }
    std::set<int> recipient_side;
    for (const Agency& agency : ParseAgencyList(Field(columns_.recipient_agencies))) {
      PartnerRole role = agency.type == v1::ORGANIZATION_TYPE_GOVERNMENT
                             ? PARTNER_ROLE_HOST_GOVERNMENT
                             : PARTNER_ROLE_IMPLEMENTER;
      recipient_side.insert(AddAgency(agency, role, host_));
    }
    for (const Agency& agency : ParseAgencyList(Field(columns_.implementing_agency))) {
      // An implementer that is also a recipient agency is on the host's side (a Liberian
      // ministry implementing with a Chinese firm), not a Chinese technology partner.
      if (recipient_side.count(organizations_.Find("", agency.name)) > 0) continue;
      AddAgency(agency, PARTNER_ROLE_TECHNOLOGY_PARTNER, kChina);
    }
  }

  void MapFinancing(const std::optional<google::type::Money>& amount) {
    if (!amount) return;
    v1::Financing* financing = project_->mutable_financing();
    *financing->mutable_budget() = *amount;
    // A pledge is money promised, not yet committed: the amount is the budget only.
    if (absl::EqualsIgnoreCase(Field(columns_.status), "Pipeline: Pledge")) return;
    v1::FinancialFlow* commitment = financing->add_commitments();
    *commitment->mutable_amount() = *amount;
    commitment->set_instrument(InstrumentFromFlow(Field(columns_.flow)));
    if (first_funder_ >= 0) commitment->set_source_organization(PendingOrganization(first_funder_));
    // AidData's year is the commitment year; a year is written as January 1st of it, as for
    // country indicators.
    absl::string_view year_text = Field(columns_.year);
    int year = 0;
    if (absl::SimpleAtoi(year_text, &year) && year >= 1900 && year <= 2100) {
      commitment->mutable_date()->set_year(year);
      commitment->mutable_date()->set_month(1);
      commitment->mutable_date()->set_day(1);
    } else if (!year_text.empty()) {
      remarks_.Warn(absl::StrCat("year \"", year_text, "\" is not a year; commitment undated"));
    }
  }

  void MapSector() {
    absl::string_view code_text = Field(columns_.crs_sector_code);
    absl::string_view name = Field(columns_.crs_sector_name);
    std::string described =
        name.empty() ? std::string(code_text) : absl::StrCat(code_text, " (", name, ")");
    int code = 0;
    if (code_text.empty()) {
      remarks_.Reject("no avenue derivable: no crs_sector_code", "avenues");
      return;
    }
    if (!absl::SimpleAtoi(code_text, &code) || code < 100 || code > 999) {
      remarks_.Reject(absl::StrCat("crs_sector_code \"", code_text, "\" is not a 3-digit code"),
                      "avenues");
      return;
    }
    std::vector<Avenue> avenues = table_.ForCategory(code);
    for (Avenue avenue : avenues) project_->add_avenues(avenue);
    if (avenues.empty()) {
      remarks_.Reject(absl::StrCat("no avenue derivable from CRS sector ", described), "avenues");
    }
  }

  void MapDates() {
    struct DateColumn {
      absl::string_view name;
      int column;
      google::type::Date* (v1::Project::*field)();
    };
    const DateColumn date_columns[] = {
        {"start_actual", columns_.start_actual, &v1::Project::mutable_actual_start},
        {"start_planned", columns_.start_planned, &v1::Project::mutable_planned_start},
        {"end_actual", columns_.end_actual, &v1::Project::mutable_actual_end},
        {"end_planned", columns_.end_planned, &v1::Project::mutable_planned_end},
    };
    for (const DateColumn& date_column : date_columns) {
      absl::string_view text = Field(date_column.column);
      if (text.empty()) continue;
      absl::StatusOr<google::type::Date> date = ParseIsoDate(text);
      if (date.ok()) {
        *(project_->*date_column.field)() = *date;
      } else {
        remarks_.Warn(absl::StrCat(date_column.name, ": ", date.status().message()));
      }
    }
  }

  const std::vector<std::string>& fields_;
  const Columns& columns_;
  const SectorAvenueTable& table_;
  ImportRecord* record_;
  RecordRemarks remarks_;
  v1::Project* project_;
  RecordOrganizations organizations_;
  std::set<std::pair<int, PartnerRole>> participations_;
  std::string host_;
  int first_funder_ = -1;
};

}  // namespace

class AidDataCsvParser::Impl {
 public:
  Impl(const SectorAvenueTable& table, RecordSink sink)
      : table_(table),
        sink_(std::move(sink)),
        reader_([this](CsvRow row) { OnRow(std::move(row)); }) {}

  absl::Status Feed(absl::string_view chunk) {
    if (!error_.ok()) return error_;
    if (finished_) return absl::FailedPreconditionError("AidData input fed after Finish()");
    reader_.Feed(chunk);
    return error_;
  }

  absl::Status Finish() {
    if (!error_.ok() || finished_) return error_;
    finished_ = true;
    reader_.Finish();
    if (error_.ok() && !header_read_) {
      error_ = absl::InvalidArgumentError("the AidData CSV input is empty: no header row");
    }
    return error_;
  }

  int records() const { return records_; }

 private:
  void OnRow(CsvRow row) {
    if (!error_.ok()) return;
    if (!header_read_) {
      ReadHeader(row);
      return;
    }
    ImportRecord record = MapRow(std::move(row));
    ++records_;
    if (sink_) sink_(std::move(record));
  }

  void ReadHeader(const CsvRow& row) {
    header_read_ = true;
    if (!row.error.empty()) {
      error_ = absl::InvalidArgumentError(absl::StrCat("AidData CSV header row: ", row.error));
      return;
    }
    header_size_ = row.fields.size();
    std::vector<std::string> missing;
    for (const ColumnName& name : kColumnNames) {
      for (size_t i = 0; i < row.fields.size(); ++i) {
        if (absl::EqualsIgnoreCase(Trim(row.fields[i]), name.name)) {
          columns_.*name.column = static_cast<int>(i);
          break;
        }
      }
      if (name.required && columns_.*name.column < 0) missing.emplace_back(name.name);
    }
    if (!missing.empty()) {
      error_ = absl::InvalidArgumentError(
          absl::StrCat("not an AidData CSV file: the header row has no column ",
                       absl::StrJoin(missing, ", "), " (line ", row.line, ")"));
    }
  }

  ImportRecord MapRow(CsvRow row) {
    ImportRecord record;
    record.index = records_;
    FillRecord(std::move(row), &record);
    return record;
  }

  void FillRecord(CsvRow row, ImportRecord* record) {
    RecordRemarks remarks(record);
    bool repaired = false;
    for (std::string& field : row.fields) {
      bool field_repaired = false;
      field = RepairUtf8(field, &field_repaired);
      repaired = repaired || field_repaired;
    }
    if (columns_.project_id < static_cast<int>(row.fields.size())) {
      record->external_id = std::string(Trim(row.fields[columns_.project_id]));
    }
    if (!row.error.empty()) {
      remarks.Reject(absl::StrCat(row.error, " (line ", row.line, ")"), "");
      return;
    }
    if (row.fields.size() != header_size_) {
      remarks.Reject(absl::StrCat("the row has ", row.fields.size(), " fields, the header ",
                                  header_size_, " (line ", row.line, ")"),
                     "");
      return;
    }
    if (repaired) remarks.Warn("invalid UTF-8 replaced by U+FFFD");
    for (const std::string& note : row.notes)
      remarks.Warn(absl::StrCat(note, " (line ", row.line, ")"));
    RowMapping mapping(row.fields, columns_, table_, record);
    mapping.Run();
    return;
  }

  SectorAvenueTable table_;
  RecordSink sink_;
  CsvRowReader reader_;
  absl::Status error_;
  bool finished_ = false;
  bool header_read_ = false;
  size_t header_size_ = 0;
  Columns columns_;
  int records_ = 0;
};

AidDataCsvParser::AidDataCsvParser(const SectorAvenueTable& table, RecordSink sink)
    : impl_(std::make_unique<Impl>(table, std::move(sink))) {}
AidDataCsvParser::~AidDataCsvParser() = default;
absl::Status AidDataCsvParser::Feed(absl::string_view chunk) { return impl_->Feed(chunk); }
absl::Status AidDataCsvParser::Finish() { return impl_->Finish(); }
int AidDataCsvParser::records() const { return impl_->records(); }

}  // namespace stp::ingestion
