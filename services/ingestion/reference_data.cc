#include "services/ingestion/reference_data.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stp::ingestion {
namespace {

using stp::common::v1::IncomeGroup;

bool ParseIsoDate(absl::string_view text, google::type::Date* date) {
  std::vector<absl::string_view> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), '-');
  int y, m, d;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &y) || !absl::SimpleAtoi(parts[1], &m) ||
      !absl::SimpleAtoi(parts[2], &d)) {
    return false;
  }
  date->set_year(y);
  date->set_month(m);
  date->set_day(d);
  return true;
}

IncomeGroup IncomeFromText(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "low" || t == "low income") return stp::common::v1::INCOME_GROUP_LOW;
  if (t == "lower_middle" || t == "lower middle income")
    return stp::common::v1::INCOME_GROUP_LOWER_MIDDLE;
  if (t == "upper_middle" || t == "upper middle income")
    return stp::common::v1::INCOME_GROUP_UPPER_MIDDLE;
  if (t == "high" || t == "high income") return stp::common::v1::INCOME_GROUP_HIGH;
  return stp::common::v1::INCOME_GROUP_UNSPECIFIED;
}

std::map<std::string, size_t> HeaderIndex(const std::vector<std::string>& header) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < header.size(); ++i)
    index[std::string(absl::StripAsciiWhitespace(header[i]))] = i;
  return index;
}

std::string Cell(const std::vector<std::string>& row, const std::map<std::string, size_t>& index,
                 const std::string& column) {
  auto it = index.find(column);
  if (it == index.end() || it->second >= row.size()) return "";
  return std::string(absl::StripAsciiWhitespace(row[it->second]));
}

}  // namespace

std::vector<std::vector<std::string>> ParseCsv(absl::string_view text) {
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    any = true;
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field.push_back(c);
    }
  }
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<v1::Country>> ParseCountryTable(absl::string_view csv) {
  auto rows = ParseCsv(csv);
  if (rows.empty()) return absl::InvalidArgumentError("the country table is empty");
  auto index = HeaderIndex(rows[0]);
  for (const char* required : {"alpha2", "name"}) {
    if (!index.count(required)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the country table has no \"", required, "\" column"));
    }
  }
  static const std::set<std::string> kFixed = {"alpha2",        "alpha3",        "name",
                                               "region",        "sub_region",    "income_group",
                                               "bri_join_date", "bri_exit_date", "indicator_year"};
  std::vector<v1::Country> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() == 1 && row[0].empty()) continue;
    v1::Country c;
    c.set_alpha2(Cell(row, index, "alpha2"));
    c.set_name("countries/" + c.alpha2());
    c.set_alpha3(Cell(row, index, "alpha3"));
    c.set_display_name(Cell(row, index, "name"));
    c.set_region(Cell(row, index, "region"));
    c.set_sub_region(Cell(row, index, "sub_region"));
    c.set_income_group(IncomeFromText(Cell(row, index, "income_group")));
    google::type::Date d;
    if (ParseIsoDate(Cell(row, index, "bri_join_date"), &d)) {
      c.mutable_bri()->set_member(true);
      *c.mutable_bri()->mutable_join_date() = d;
    }
    if (ParseIsoDate(Cell(row, index, "bri_exit_date"), &d)) {
      c.mutable_bri()->set_member(false);
      *c.mutable_bri()->mutable_exit_date() = d;
    }
    int year = 0;
    (void)absl::SimpleAtoi(Cell(row, index, "indicator_year"), &year);
    for (const auto& [column, i] : index) {
      if (kFixed.count(column) || i >= row.size()) continue;
      double value;
      if (!absl::SimpleAtod(absl::StripAsciiWhitespace(row[i]), &value)) continue;
      auto* ind = c.add_indicators();
      ind->set_name(column);
      ind->set_value(value);
      if (year > 0) {
        ind->mutable_as_of()->set_year(year);
        ind->mutable_as_of()->set_month(1);
        ind->mutable_as_of()->set_day(1);
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Country>> JoinOfficialCountryFiles(absl::string_view iso_csv,
                                                                  absl::string_view wb_csv,
                                                                  absl::string_view bri_csv) {
  auto iso = ParseCsv(iso_csv);
  auto wb = ParseCsv(wb_csv);
  auto bri = ParseCsv(bri_csv);
  if (iso.empty() || wb.empty() || bri.empty())
    return absl::InvalidArgumentError("a country file is empty");
  auto iso_i = HeaderIndex(iso[0]), wb_i = HeaderIndex(wb[0]), bri_i = HeaderIndex(bri[0]);
  if (!iso_i.count("alpha-2") || !wb_i.count("Country Code") || !bri_i.count("iso3")) {
    return absl::InvalidArgumentError("unexpected columns in the country files");
  }
  std::map<std::string, IncomeGroup> income;
  for (size_t r = 1; r < wb.size(); ++r)
    income[Cell(wb[r], wb_i, "Country Code")] = IncomeFromText(Cell(wb[r], wb_i, "IncomeGroup"));
  std::map<std::string, std::pair<std::string, std::string>> membership;
  for (size_t r = 1; r < bri.size(); ++r) {
    membership[Cell(bri[r], bri_i, "iso3")] = {Cell(bri[r], bri_i, "likely_join_date"),
                                               Cell(bri[r], bri_i, "likely_exit_date")};
  }
  std::vector<v1::Country> out;
  for (size_t r = 1; r < iso.size(); ++r) {
    const auto& row = iso[r];
    v1::Country c;
    c.set_alpha2(Cell(row, iso_i, "alpha-2"));
    if (c.alpha2().size() != 2) continue;
    c.set_name("countries/" + c.alpha2());
    c.set_alpha3(Cell(row, iso_i, "alpha-3"));
    c.set_display_name(Cell(row, iso_i, "name"));
    c.set_region(Cell(row, iso_i, "region"));
    c.set_sub_region(Cell(row, iso_i, "sub-region"));
    auto inc = income.find(c.alpha3());
    if (inc != income.end()) c.set_income_group(inc->second);
    auto m = membership.find(c.alpha3());
    if (m != membership.end()) {
      google::type::Date d;
      c.mutable_bri()->set_member(true);
      if (ParseIsoDate(m->second.first, &d)) *c.mutable_bri()->mutable_join_date() = d;
      if (ParseIsoDate(m->second.second, &d)) {
        c.mutable_bri()->set_member(false);
        *c.mutable_bri()->mutable_exit_date() = d;
      }
    }
    out.push_back(std::move(c));
  }
  // Countries the World Bank lists under a code of its own, which the ISO file has no row for
  // but which IATI and AidData records name (validation accepts their codes).
  struct Unlisted {
    const char* wb_code;
    const char* alpha2;
    const char* region;
    const char* sub_region;
  };
  static constexpr Unlisted kUnlisted[] = {{"XKX", "XK", "Europe", "Southern Europe"}};
  for (const Unlisted& u : kUnlisted) {
    const bool listed = std::any_of(out.begin(), out.end(),
                                    [&](const v1::Country& c) { return c.alpha2() == u.alpha2; });
    if (listed) continue;
    for (size_t r = 1; r < wb.size(); ++r) {
      if (Cell(wb[r], wb_i, "Country Code") != u.wb_code) continue;
      v1::Country c;
      c.set_alpha2(u.alpha2);
      c.set_name(absl::StrCat("countries/", u.alpha2));
      c.set_alpha3(u.wb_code);
      c.set_display_name(Cell(wb[r], wb_i, "TableName"));
      c.set_region(u.region);
      c.set_sub_region(u.sub_region);
      c.set_income_group(income[u.wb_code]);
      auto m = membership.find(u.wb_code);
      google::type::Date d;
      if (m != membership.end() && ParseIsoDate(m->second.first, &d)) {
        c.mutable_bri()->set_member(true);
        *c.mutable_bri()->mutable_join_date() = d;
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace stp::ingestion
