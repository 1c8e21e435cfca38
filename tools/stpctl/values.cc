#include "tools/stpctl/values.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/common/status.h"
#include "libs/common/vocabulary.h"

namespace stp::stpctl {
namespace {

using google::protobuf::EnumDescriptor;

// "AVENUE_" for Avenue: the zero value's name less "UNSPECIFIED".
std::string PrefixOf(const EnumDescriptor* type) {
  std::string zero = type->FindValueByNumber(0) ? type->FindValueByNumber(0)->name() : "";
  if (absl::EndsWith(zero, "UNSPECIFIED")) return zero.substr(0, zero.size() - 11);
  return "";
}

std::string Squash(absl::string_view text) {
  return absl::StrReplaceAll(absl::AsciiStrToUpper(text), {{"_", ""}, {"-", ""}, {" ", ""}});
}

}  // namespace

absl::StatusOr<int> ParseEnum(const EnumDescriptor* type, absl::string_view text) {
  std::string prefix = PrefixOf(type);
  std::string wanted = Squash(absl::StripAsciiWhitespace(text));
  for (int i = 0; i < type->value_count(); ++i) {
    const auto* value = type->value(i);
    if (value->number() == 0) continue;
    std::string name = value->name();
    std::string bare = absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
    if (!wanted.empty() && (Squash(name) == wanted || Squash(bare) == wanted)) {
      return value->number();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not one of: ", EnumWords(type)));
}

absl::StatusOr<std::vector<int>> ParseEnumList(const EnumDescriptor* type, absl::string_view text) {
  std::vector<int> out;
  for (const auto& item : SplitList(text)) {
    STP_ASSIGN_OR_RETURN(int value, ParseEnum(type, item));
    out.push_back(value);
  }
  return out;
}

std::string EnumWord(const EnumDescriptor* type, int value) {
  if (value == 0) return "-";
  const auto* v = type->FindValueByNumber(value);
  if (v == nullptr) return absl::StrCat(value);
  std::string prefix = PrefixOf(type);
  std::string name = v->name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

std::string EnumWords(const EnumDescriptor* type) {
  std::vector<std::string> words;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) words.push_back(EnumWord(type, type->value(i)->number()));
  }
  return absl::StrJoin(words, ", ");
}

std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

std::string ResourceName(absl::string_view collection, absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty() || absl::StartsWith(text, absl::StrCat(collection, "/"))) {
    return std::string(text);
  }
  return absl::StrCat(collection, "/", text);
}

std::string CountryName(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return "";
  absl::ConsumePrefix(&text, "countries/");
  return absl::StrCat("countries/", absl::AsciiStrToUpper(text));
}

std::string IdOf(absl::string_view name) {
  auto slash = name.rfind('/');
  return std::string(slash == absl::string_view::npos ? name : name.substr(slash + 1));
}

absl::StatusOr<google::type::Date> ParseDate(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), '-');
  int year = 0, month = 1, day = 1;
  bool ok = !parts.empty() && parts.size() != 2 && parts.size() <= 3 &&
            absl::SimpleAtoi(parts[0], &year) &&
            (parts.size() == 1 ||
             (absl::SimpleAtoi(parts[1], &month) && absl::SimpleAtoi(parts[2], &day)));
  if (!ok || year < 1900 || year > 2200 || month < 1 || month > 12 || day < 1 || day > 31) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a date like 2026-01-31 (or a year)"));
  }
  google::type::Date date;
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

std::string FormatDate(const google::type::Date& date) {
  if (date.year() == 0) return "";
  return absl::StrFormat("%04d-%02d-%02d", date.year(), date.month(), date.day());
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

absl::StatusOr<google::type::Money> ParseMoney(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::string currency = "USD";
  std::vector<absl::string_view> parts = absl::StrSplit(text, ' ', absl::SkipEmpty());
  absl::string_view amount_text = text;
  if (parts.size() == 2) {
    currency = absl::AsciiStrToUpper(parts[0]);
    amount_text = parts[1];
  }
  std::string digits = absl::StrReplaceAll(amount_text, {{",", ""}, {"_", ""}});
  double amount = 0;
  if (parts.size() > 2 || currency.size() != 3 || !absl::SimpleAtod(digits, &amount) ||
      amount < 0 || !std::isfinite(amount)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not an amount like 12000000 or \"EUR 5000000\""));
  }
  google::type::Money money;
  money.set_currency_code(currency);
  double units = std::floor(amount);
  money.set_units(static_cast<int64_t>(units));
  money.set_nanos(static_cast<int32_t>(std::llround((amount - units) * 1e9)));
  return money;
}

std::string FormatMoney(const google::type::Money& money) {
  if (money.currency_code().empty() && money.units() == 0 && money.nanos() == 0) return "";
  return stp::FormatMoney(static_cast<double>(money.units()) + money.nanos() / 1e9,
                          money.currency_code());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status ReadJsonFile(const std::string& path, google::protobuf::Message* message) {
  STP_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  google::protobuf::util::JsonParseOptions options;
  auto status = google::protobuf::util::JsonStringToMessage(text, message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a ", message->GetDescriptor()->name(),
                     " in protobuf JSON: ", std::string(status.message())));
  }
  return absl::OkStatus();
}

}  // namespace stp::stpctl
