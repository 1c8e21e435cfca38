// stpctl countries list|get|upsert|load: countries are reference data that operators load
// and everything else names.
#include <google/protobuf/field_mask.pb.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/common/vocabulary.h"
#include "services/ingestion/reference_data.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

using client::iv1::Country;

std::string BriText(const Country& c) {
  if (!c.bri().member())
    return c.bri().has_exit_date() ? "left " + FormatDate(c.bri().exit_date()) : "";
  return c.bri().has_join_date() ? "since " + FormatDate(c.bri().join_date()) : "member";
}

void PrintCountries(const std::vector<Country>& countries) {
  Table table({{"CODE"},
               {"ALPHA3"},
               {"NAME", Table::Align::kLeft, 40},
               {"REGION"},
               {"INCOME"},
               {"BRI"},
               {"INDICATORS", Table::Align::kRight}});
  for (const auto& c : countries) {
    table.AddRow({c.alpha2(), c.alpha3(), c.display_name(), c.region(),
                  c.income_group() ? IncomeGroupLabel(c.income_group()) : "", BriText(c),
                  c.indicators_size() ? absl::StrCat(c.indicators_size()) : ""});
  }
  table.Print();
}

// Lines starting with '#' are comments in the project's own country files.
std::string WithoutComments(const std::string& text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "#")) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

int List(Invocation& inv) {
  bool bri = false;
  std::string income;
  int limit = 0;
  FlagSet flags = inv.NewFlags("Lists countries in alpha-2 order.");
  flags.Bool("bri", &bri, "only Belt and Road members");
  flags.String("income", &income,
               "only this income group: " + EnumWords(stp::common::v1::IncomeGroup_descriptor()));
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  client::iv1::ListCountriesRequest request;
  request.set_bri_members_only(bri);
  if (!income.empty()) {
    auto group = ParseEnum(stp::common::v1::IncomeGroup_descriptor(), income);
    if (!group.ok()) return inv.Usage("--income: " + std::string(group.status().message()));
    request.set_income_group(static_cast<stp::common::v1::IncomeGroup>(*group));
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  client::iv1::ListCountriesResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, registry.ListCountries(request));
        for (auto& c : *page.mutable_countries()) *all.add_countries() = std::move(c);
        return page.next_page_token();
      },
      [&] { return all.countries_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  return inv.Print(all, [&] { PrintCountries({all.countries().begin(), all.countries().end()}); });
}

int Get(Invocation& inv) {
  FlagSet flags = inv.NewFlags("Shows one country with its indicators.");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "COUNTRY")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::iv1::GetCountryRequest request;
  request.set_name(CountryName(words[0]));
  auto country = client::IngestionClient(*connection).GetCountry(request);
  if (!country.ok()) return inv.Fail(country.status());
  if (inv.json()) {
    inv.PrintJson(*country);
    return kExitOk;
  }
  const Country& c = *country;
  PrintDetails({{"name", c.name()},
                {"country", c.display_name()},
                {"alpha-3", c.alpha3()},
                {"region", absl::StrJoin({c.region(), c.sub_region()}, " / ")},
                {"income group", c.income_group() ? IncomeGroupLabel(c.income_group()) : ""},
                {"belt and road", BriText(c)},
                {"updated", absl::StrCat(FormatTime(c.update_time()), " by ", c.updated_by())},
                {"etag", c.etag()}});
  if (c.indicators_size() > 0) {
    std::printf("\n");
    Table table({{"INDICATOR"}, {"VALUE", Table::Align::kRight}, {"AS OF"}, {"SOURCE"}});
    for (const auto& i : c.indicators()) {
      table.AddRow({i.name(), absl::StrCat(i.value()), FormatDate(i.as_of()), i.source()});
    }
    table.Print();
  }
  return kExitOk;
}

// "internet_users_pct=72.1@2023,gdp_per_capita_usd=4295" into indicators.
absl::Status ParseIndicators(const std::string& text, Country* country) {
  for (const auto& item : SplitList(text)) {
    std::pair<std::string, std::string> name_value = absl::StrSplit(item, '=');
    std::pair<std::string, std::string> value_date = absl::StrSplit(name_value.second, '@');
    auto* indicator = country->add_indicators();
    indicator->set_name(name_value.first);
    double value;
    if (name_value.first.empty() || !absl::SimpleAtod(value_date.first, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--indicators: '", item, "' is not name=value[@date]"));
    }
    indicator->set_value(value);
    if (!value_date.second.empty()) {
      STP_ASSIGN_OR_RETURN(*indicator->mutable_as_of(), ParseDate(value_date.second));
    }
  }
  return absl::OkStatus();
}

int Upsert(Invocation& inv) {
  std::string file, alpha3, name, region, sub_region, income, bri_join, bri_exit, indicators;
  std::string mask, etag, request_id;
  bool bri = false;
  FlagSet flags = inv.NewFlags(
      "Creates or replaces a country (operators). Values come from --file (a Country in "
      "protobuf JSON) and/or the flags, which win. With --mask, only the fields named change.");
  flags.String("file", &file, "a Country in protobuf JSON");
  flags.String("alpha3", &alpha3, "ISO 3166-1 alpha-3 code");
  flags.String("name", &name, "English short name");
  flags.String("region", &region, "UN M49 region, for example Africa");
  flags.String("sub-region", &sub_region, "UN M49 sub-region");
  flags.String("income", &income,
               "World Bank income group: " + EnumWords(stp::common::v1::IncomeGroup_descriptor()));
  flags.Bool("bri", &bri, "a Belt and Road member");
  flags.String("bri-join", &bri_join,
               "date it joined the Belt and Road Initiative (implies --bri)");
  flags.String("bri-exit", &bri_exit, "date it left");
  flags.String("indicators", &indicators,
               "name=value[@date],... for example internet_users_pct=72@2023");
  flags.String("mask", &mask, "fields to replace when the country exists (default: all)");
  flags.String("etag", &etag, "apply only if the stored country still has this etag");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 0, 1, "[COUNTRY]")) return *done;
  client::iv1::UpsertCountryRequest request;
  Country* c = request.mutable_country();
  if (!file.empty()) {
    absl::Status read = ReadJsonFile(file, c);
    if (!read.ok()) return inv.Usage(std::string(read.message()));
  }
  if (!words.empty()) c->set_name(CountryName(words[0]));
  if (!c->name().empty() && c->alpha2().empty()) c->set_alpha2(IdOf(c->name()));
  if (!alpha3.empty()) c->set_alpha3(alpha3);
  if (!name.empty()) c->set_display_name(name);
  if (!region.empty()) c->set_region(region);
  if (!sub_region.empty()) c->set_sub_region(sub_region);
  if (!income.empty()) {
    auto group = ParseEnum(stp::common::v1::IncomeGroup_descriptor(), income);
    if (!group.ok()) return inv.Usage("--income: " + std::string(group.status().message()));
    c->set_income_group(static_cast<stp::common::v1::IncomeGroup>(*group));
  }
  if (bri || !bri_join.empty()) c->mutable_bri()->set_member(true);
  for (const auto& [text, date] : {std::pair{bri_join, c->mutable_bri()->mutable_join_date()},
                                   std::pair{bri_exit, c->mutable_bri()->mutable_exit_date()}}) {
    if (text.empty()) continue;
    auto parsed = ParseDate(text);
    if (!parsed.ok()) return inv.Usage(std::string(parsed.status().message()));
    *date = *parsed;
  }
  if (!c->bri().has_join_date() && !c->bri().has_exit_date() && !c->bri().member()) {
    c->clear_bri();
  }
  if (absl::Status s = ParseIndicators(indicators, c); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  if (c->alpha2().empty()) return inv.Usage("name the country: COUNTRY or --file");
  for (const auto& path : SplitList(mask)) request.mutable_update_mask()->add_paths(path);
  request.set_etag(etag);
  request.set_request_id(request_id);
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto stored = client::IngestionClient(*connection).UpsertCountry(request);
  if (!stored.ok()) return inv.Fail(stored.status());
  return inv.Print(*stored, [&] {
    std::printf("%s %s (etag %s)\n", stored->name().c_str(), stored->display_name().c_str(),
                stored->etag().c_str());
  });
}

int Load(Invocation& inv) {
  std::string iso, income, bri;
  bool dry_run = false;
  FlagSet flags = inv.NewFlags(
      "Upserts every country of a file (operators): the project's own country CSV (alpha2, "
      "alpha3, name, region, sub_region, income_group, bri_join_date, bri_exit_date, "
      "indicator_year, then indicator columns), or the three public files together: --iso "
      "(ISO 3166 with UN regions), --income (World Bank country metadata) and --bri (the "
      "GFDC Belt and Road country list).");
  flags.String("iso", &iso, "ISO 3166 countries with regional codes (all.csv)");
  flags.String("income", &income, "World Bank country metadata with IncomeGroup");
  flags.String("bri", &bri, "GFDC Belt and Road countries (iso3, likely_join_date, ...)");
  flags.Bool("dry-run", &dry_run, "parse and show the countries, upsert nothing");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 0, 1, "[FILE]")) return *done;
  bool official = !iso.empty() || !income.empty() || !bri.empty();
  if (official == !words.empty()) {
    return inv.Usage("give either FILE or all three of --iso, --income and --bri");
  }
  absl::StatusOr<std::vector<Country>> countries;
  if (official) {
    if (iso.empty() || income.empty() || bri.empty()) {
      return inv.Usage("--iso, --income and --bri go together");
    }
    auto iso_text = ReadFile(iso);
    auto income_text = ReadFile(income);
    auto bri_text = ReadFile(bri);
    for (const auto* text : {&iso_text, &income_text, &bri_text}) {
      if (!text->ok()) return inv.Usage(std::string(text->status().message()));
    }
    countries = ingestion::JoinOfficialCountryFiles(*iso_text, *income_text, *bri_text);
  } else {
    auto text = ReadFile(words[0]);
    if (!text.ok()) return inv.Usage(std::string(text.status().message()));
    countries = ingestion::ParseCountryTable(WithoutComments(*text));
  }
  if (!countries.ok()) return inv.Usage(std::string(countries.status().message()));
  if (dry_run) {
    if (inv.json()) {
      client::iv1::ListCountriesResponse all;
      for (const auto& c : *countries) *all.add_countries() = c;
      inv.PrintJson(all);
    } else {
      PrintCountries(*countries);
      std::printf("%zu countries read; nothing written (--dry-run)\n", countries->size());
    }
    return kExitOk;
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  int stored = 0;
  absl::Status first_error;
  for (const auto& c : *countries) {
    client::iv1::UpsertCountryRequest request;
    *request.mutable_country() = c;
    // The public files carry no indicators: a stored country keeps the ones it has.
    if (official) {
      for (const char* path :
           {"alpha3", "display_name", "region", "sub_region", "income_group", "bri"})
        request.mutable_update_mask()->add_paths(path);
    }
    auto result = registry.UpsertCountry(request);
    if (result.ok()) {
      ++stored;
      continue;
    }
    // A missing credential or a server that is down fails every row alike: stop at once.
    int code = Invocation::ExitCodeOf(result.status());
    if (code == kExitDenied || code == kExitUnavailable) return inv.Fail(result.status());
    std::fprintf(stderr, "%s: %s\n", c.alpha2().c_str(),
                 std::string(result.status().message()).c_str());
    if (first_error.ok()) first_error = result.status();
  }
  std::printf("%d of %zu countries upserted\n", stored, countries->size());
  return first_error.ok() ? kExitOk : inv.Fail(first_error);
}

}  // namespace

int RunCountries(Invocation& inv) {
  return inv.Dispatch("Countries: reference data that operators load.",
                      {{"list", "list countries", List},
                       {"get", "show one country", Get},
                       {"upsert", "create or replace a country", Upsert},
                       {"load", "upsert every country of a CSV file", Load}});
}

}  // namespace stp::stpctl
