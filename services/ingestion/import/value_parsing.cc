#include "services/ingestion/import/value_parsing.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stp::ingestion {
namespace {

constexpr int32_t kNanosPerUnit = 1'000'000'000;

// ISO 3166-1 alpha-2 codes officially assigned, plus XK (Kosovo), which IATI's Country
// codelist uses.
constexpr absl::string_view kAssignedCountryCodes =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS XK YE YT ZA ZM ZW";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

absl::StatusOr<google::type::Money> ParseDecimalMoney(absl::string_view text,
                                                      absl::string_view currency_code) {
  absl::string_view digits = absl::StripAsciiWhitespace(text);
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  size_t dot = digits.find('.');
  absl::string_view whole = digits.substr(0, dot);
  absl::string_view fraction =
      dot == absl::string_view::npos ? absl::string_view() : digits.substr(dot + 1);
  auto all_digits = [](absl::string_view s) {
    for (char c : s) {
      if (!IsDigit(c)) return false;
    }
    return true;
  };
  if ((whole.empty() && fraction.empty()) || !all_digits(whole) || !all_digits(fraction)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a decimal number"));
  }
  int64_t units = 0;
  for (char c : whole) {
    if (units > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is too large"));
    }
    units = units * 10 + (c - '0');
  }
  int32_t nanos = 0;
  for (int i = 0; i < 9; ++i) {
    nanos = nanos * 10 + (i < static_cast<int>(fraction.size()) ? fraction[i] - '0' : 0);
  }
  google::type::Money money;
  money.set_currency_code(std::string(currency_code));
  money.set_units(negative ? -units : units);
  money.set_nanos(negative ? -nanos : nanos);
  return money;
}

bool AddMoney(const google::type::Money& amount, google::type::Money* total) {
  // Work in (units, nanos) with nanos normalised to the sign of the sum.
  int64_t units = total->units();
  int64_t add_units = amount.units();
  if ((add_units > 0 && units > std::numeric_limits<int64_t>::max() - add_units) ||
      (add_units < 0 && units < std::numeric_limits<int64_t>::min() - add_units)) {
    return false;
  }
  units += add_units;
  int64_t nanos = static_cast<int64_t>(total->nanos()) + amount.nanos();
  if (nanos >= kNanosPerUnit) {
    nanos -= kNanosPerUnit;
    if (units == std::numeric_limits<int64_t>::max()) return false;
    ++units;
  } else if (nanos <= -kNanosPerUnit) {
    nanos += kNanosPerUnit;
    if (units == std::numeric_limits<int64_t>::min()) return false;
    --units;
  }
  if (units > 0 && nanos < 0) {
    --units;
    nanos += kNanosPerUnit;
  } else if (units < 0 && nanos > 0) {
    ++units;
    nanos -= kNanosPerUnit;
  }
  total->set_units(units);
  total->set_nanos(static_cast<int32_t>(nanos));
  return true;
}

bool IsNegative(const google::type::Money& money) { return money.units() < 0 || money.nanos() < 0; }

bool IsZero(const google::type::Money& money) { return money.units() == 0 && money.nanos() == 0; }

absl::StatusOr<google::type::Date> ParseIsoDate(absl::string_view text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a YYYY-MM-DD date"));
  };
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return bad();
  if (s.size() > 10 && s[10] != 'T' && s[10] != ' ' && s[10] != 'Z' && s[10] != '+' &&
      s[10] != '-') {
    return bad();
  }
  int year = 0, month = 0, day = 0;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!IsDigit(s[i])) return bad();
  }
  year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  month = (s[5] - '0') * 10 + (s[6] - '0');
  day = (s[8] - '0') * 10 + (s[9] - '0');
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return bad();
  }
  google::type::Date date;
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

std::optional<double> ParseNumber(absl::string_view text) {
  double value = 0;
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (s.empty() || !absl::SimpleAtod(s, &value) || !std::isfinite(value)) return std::nullopt;
  return value;
}

bool IsCurrencyCode(absl::string_view code) {
  return code.size() == 3 && absl::ascii_isupper(code[0]) && absl::ascii_isupper(code[1]) &&
         absl::ascii_isupper(code[2]);
}

bool IsAssignedCountryCode(absl::string_view code) {
  if (code.size() != 2 || !absl::ascii_isupper(code[0]) || !absl::ascii_isupper(code[1])) {
    return false;
  }
  for (size_t i = 0; i + 1 < kAssignedCountryCodes.size(); i += 3) {
    if (kAssignedCountryCodes.substr(i, 2) == code) return true;
  }
  return false;
}

std::string CollapseWhitespace(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string RepairUtf8(absl::string_view text, bool* repaired) {
  static constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  *repaired = false;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t min_code_point = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      min_code_point = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      min_code_point = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      min_code_point = 0x10000;
    }
    bool valid = length > 0 && i + length <= text.size();
    uint32_t code_point = length > 0 ? c & (0x7F >> length) : 0;
    for (size_t k = 1; valid && k < length; ++k) {
      unsigned char next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0) == 0x80;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    valid = valid && code_point >= min_code_point && code_point <= 0x10FFFF &&
            !(code_point >= 0xD800 && code_point <= 0xDFFF);
    if (valid) {
      out.append(text.data() + i, length);
      i += length;
    } else {
      out.append(kReplacement.data(), kReplacement.size());
      *repaired = true;
      ++i;
    }
  }
  return out;
}

}  // namespace stp::ingestion
