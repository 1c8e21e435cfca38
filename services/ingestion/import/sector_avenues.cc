#include "services/ingestion/import/sector_avenues.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stp::ingestion {
namespace {

using stp::common::v1::AVENUE_AGRICULTURE;
using stp::common::v1::AVENUE_E_COMMERCE;
using stp::common::v1::AVENUE_E_MANUFACTURING;
using stp::common::v1::AVENUE_GREEN_GROWTH;
using stp::common::v1::AVENUE_PUBLIC_HEALTH;

struct AvenueKey {
  absl::string_view key;
  Avenue avenue;
};
constexpr std::array<AvenueKey, 5> kAvenueKeys = {{
    {"e_commerce", AVENUE_E_COMMERCE},
    {"e_manufacturing", AVENUE_E_MANUFACTURING},
    {"public_health", AVENUE_PUBLIC_HEALTH},
    {"green_growth", AVENUE_GREEN_GROWTH},
    {"agriculture", AVENUE_AGRICULTURE},
}};

// SPEC §5.1, in the same order and format FromText reads.
constexpr absl::string_view kDefaultTable =
    "e_commerce: 22040 22020 33110 33120 25010 25030 24030\n"
    "e_manufacturing: 32110 32120 32130 32182 32171 32172 32163 43082 11430\n"
    "public_health: 12182 12191 12250 12264\n"
    "green_growth: 23182 23183 23210 23230 23240 41010 41082 32173 32174\n"
    "agriculture: 31110 31120 31161 31166 31182 31191 32161 43073\n";

}  // namespace

SectorAvenueTable SectorAvenueTable::Default() {
  // The default text is a constant checked by the unit tests; it always parses.
  return *FromText(kDefaultTable);
}

absl::StatusOr<SectorAvenueTable> SectorAvenueTable::FromText(absl::string_view text) {
  SectorAvenueTable table;
  std::map<Avenue, int> line_of_avenue;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("sector table line ", line_number,
                                                     ": expected \"<avenue>: <code> <code> ...\""));
    }
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, colon));
    auto known = std::find_if(kAvenueKeys.begin(), kAvenueKeys.end(),
                              [&](const AvenueKey& k) { return k.key == key; });
    if (known == kAvenueKeys.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sector table line ", line_number, ": unknown avenue \"", key,
                       "\"; expected e_commerce, e_manufacturing, public_health, "
                       "green_growth or agriculture"));
    }
    auto [previous, inserted] = line_of_avenue.emplace(known->avenue, line_number);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("sector table line ", line_number, ": avenue \"", key,
                       "\" is already listed on line ", previous->second));
    }
    for (absl::string_view token :
         absl::StrSplit(line.substr(colon + 1), absl::ByAnyChar(" \t,\r"), absl::SkipEmpty())) {
      int code = 0;
      if (token.size() != 5 || !absl::SimpleAtoi(token, &code) || code < 10000) {
        return absl::InvalidArgumentError(absl::StrCat("sector table line ", line_number, ": \"",
                                                       token,
                                                       "\" is not a 5-digit DAC purpose code"));
      }
      std::vector<Avenue>& avenues = table.avenues_by_code_[code];
      if (std::find(avenues.begin(), avenues.end(), known->avenue) == avenues.end()) {
        avenues.push_back(known->avenue);
        std::sort(avenues.begin(), avenues.end());
      }
    }
  }
  if (table.avenues_by_code_.empty()) {
    return absl::InvalidArgumentError("sector table lists no codes");
  }
  return table;
}

std::vector<Avenue> SectorAvenueTable::Vote(int low, int high, int min_votes, bool* found) const {
  std::map<Avenue, int> votes;
  for (auto it = avenues_by_code_.lower_bound(low);
       it != avenues_by_code_.end() && it->first <= high; ++it) {
    for (Avenue avenue : it->second) ++votes[avenue];
  }
  *found = !votes.empty();
  Avenue winner = stp::common::v1::AVENUE_UNSPECIFIED;
  int best = 0;
  bool tie = false;
  for (const auto& [avenue, count] : votes) {
    if (count > best) {
      best = count;
      winner = avenue;
      tie = false;
    } else if (count == best) {
      tie = true;
    }
  }
  if (!*found || tie || best < min_votes) return {};
  return {winner};
}

std::vector<Avenue> SectorAvenueTable::ForGroup(int two_digit_group) const {
  bool found = false;
  return Vote(two_digit_group * 1000, two_digit_group * 1000 + 999, kMinGroupVotes, &found);
}

std::vector<Avenue> SectorAvenueTable::ForPurposeCode(int code) const {
  if (code < 10000 || code > 99999) return {};
  if (auto exact = avenues_by_code_.find(code); exact != avenues_by_code_.end()) {
    return exact->second;
  }
  return ForCategoryRange(code / 100);
}

std::vector<Avenue> SectorAvenueTable::ForCategory(int code) const {
  if (code < 100 || code > 999) return {};
  // A CRS group code ("120") is not a category of its own: it stands for the whole group.
  if (code % 10 == 0) return ForGroup(code / 10);
  return ForCategoryRange(code);
}

std::vector<Avenue> SectorAvenueTable::ForCategoryRange(int category) const {
  bool found = false;
  std::vector<Avenue> avenues = Vote(category * 100, category * 100 + 99, 1, &found);
  if (found) return avenues;  // a tie inside the category stays "none"
  return ForGroup(category / 10);
}

}  // namespace stp::ingestion
