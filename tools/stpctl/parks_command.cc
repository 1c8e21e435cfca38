// stpctl parks list|get|create|delete.
#include <cstdio>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/resource_flags.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace iv1 = stp::ingestion::v1;
using stp::common::v1::Avenue_descriptor;

void PrintPark(const iv1::Park& p) {
  std::vector<std::string> ids;
  for (const auto& id : p.external_ids()) ids.push_back(id.source() + ":" + id.value());
  PrintDetails(
      {{"name", p.name()},
       {"park", p.display_name()},
       {"host country", p.host_country()},
       {"operator", p.operator_()},
       {"status", p.status() ? EnumWord(iv1::Park::Status_descriptor(), p.status()) : ""},
       {"origin", p.origin() ? EnumWord(iv1::Park::Origin_descriptor(), p.origin()) : ""},
       {"established", p.established_year() ? absl::StrCat(p.established_year()) : ""},
       {"focus avenues", AvenueList(p.focus_avenues())},
       {"tenants", p.tenant_count() ? absl::StrCat(p.tenant_count()) : ""},
       {"location", p.has_location() ? absl::StrFormat("%.5f, %.5f", p.location().latitude(),
                                                       p.location().longitude())
                                     : ""},
       {"IASP member", p.iasp_member() ? "yes" : ""},
       {"external ids", absl::StrJoin(ids, ", ")},
       {"updated", absl::StrCat(FormatTime(p.update_time()), " by ", p.updated_by())},
       {"etag", p.etag()}});
  if (!p.description().empty()) std::printf("\n%s\n", p.description().c_str());
}

int List(Invocation& inv) {
  std::string country, avenue;
  int limit = 50;
  FlagSet flags = inv.NewFlags("Lists parks in creation order.");
  flags.String("host-country", &country, "only parks in this country, for example EG");
  flags.String("country", &country, "same as --host-country");
  flags.String("avenue", &avenue, "only parks focusing on this avenue");
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  iv1::ListParksRequest request;
  request.set_host_country(CountryName(country));
  if (!avenue.empty()) {
    auto v = ParseEnum(Avenue_descriptor(), avenue);
    if (!v.ok()) return inv.Usage("--avenue: " + std::string(v.status().message()));
    request.set_avenue(static_cast<stp::common::v1::Avenue>(*v));
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  iv1::ListParksResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, registry.ListParks(request));
        for (auto& p : *page.mutable_parks()) *all.add_parks() = std::move(p);
        return page.next_page_token();
      },
      [&] { return all.parks_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"PARK"},
               {"NAME", Table::Align::kLeft, 44},
               {"HOST"},
               {"STATUS"},
               {"AVENUES", Table::Align::kLeft, 36},
               {"TENANTS", Table::Align::kRight}});
  for (const auto& p : all.parks()) {
    table.AddRow({p.name(), p.display_name(), IdOf(p.host_country()),
                  EnumWord(iv1::Park::Status_descriptor(), p.status()),
                  AvenueList(p.focus_avenues()), absl::StrCat(p.tenant_count())});
  }
  table.Print();
  return kExitOk;
}

int Get(Invocation& inv) {
  FlagSet flags = inv.NewFlags("Shows one park.");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "PARK")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  iv1::GetParkRequest request;
  request.set_name(ResourceName("parks", words[0]));
  auto park = client::IngestionClient(*connection).GetPark(request);
  if (!park.ok()) return inv.Fail(park.status());
  return inv.Print(*park, [&] { PrintPark(*park); });
}

int Create(Invocation& inv) {
  std::string file, name, country, operator_org, status, origin, avenues, external_ids;
  std::string description, request_id;
  int year = 0, tenants = 0;
  double lat = 0, lon = 0;
  bool iasp = false;
  FlagSet flags =
      inv.NewFlags("Creates a park from --file (a Park in protobuf JSON) and/or flags.");
  flags.String("file", &file, "a Park in protobuf JSON; the flags below override it");
  flags.String("name", &name, "the park's name");
  flags.String("host-country", &country, "host country, for example EG");
  flags.String("country", &country, "same as --host-country");
  flags.String("operator", &operator_org, "operating organisation id or organizations/{id}");
  flags.String("status", &status, "status: " + EnumWords(iv1::Park::Status_descriptor()));
  flags.String("origin", &origin, "origin: " + EnumWords(iv1::Park::Origin_descriptor()));
  flags.Int("year", &year, "year established");
  flags.String("avenues", &avenues, "focus avenues, comma-separated");
  flags.Int("tenants", &tenants, "number of tenant firms and institutes");
  flags.Double("lat", &lat, "latitude");
  flags.Double("lon", &lon, "longitude");
  flags.Bool("iasp", &iasp, "a member of IASP");
  flags.String("external-ids", &external_ids, "source:value,...");
  flags.String("description", &description, "description");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  if (auto done = inv.Parse(&flags)) return *done;
  iv1::CreateParkRequest request;
  iv1::Park* park = request.mutable_park();
  if (!file.empty()) {
    absl::Status read = ReadJsonFile(file, park);
    if (!read.ok()) return inv.Usage(std::string(read.message()));
  }
  const auto& args = inv.args();
  if (Given(args, "name")) park->set_display_name(name);
  if (Given(args, "host-country") || Given(args, "country")) {
    park->set_host_country(CountryName(country));
  }
  if (Given(args, "operator")) park->set_operator_(ResourceName("organizations", operator_org));
  if (Given(args, "status")) {
    auto v = ParseEnum(iv1::Park::Status_descriptor(), status);
    if (!v.ok()) return inv.Usage("--status: " + std::string(v.status().message()));
    park->set_status(static_cast<iv1::Park::Status>(*v));
  }
  if (Given(args, "origin")) {
    auto v = ParseEnum(iv1::Park::Origin_descriptor(), origin);
    if (!v.ok()) return inv.Usage("--origin: " + std::string(v.status().message()));
    park->set_origin(static_cast<iv1::Park::Origin>(*v));
  }
  if (Given(args, "year")) park->set_established_year(year);
  if (Given(args, "avenues")) {
    auto v = ParseEnumList(Avenue_descriptor(), avenues);
    if (!v.ok()) return inv.Usage("--avenues: " + std::string(v.status().message()));
    park->clear_focus_avenues();
    for (int a : *v) park->add_focus_avenues(static_cast<stp::common::v1::Avenue>(a));
  }
  if (Given(args, "tenants")) park->set_tenant_count(tenants);
  if (Given(args, "lat") != Given(args, "lon")) return inv.Usage("--lat and --lon go together");
  if (Given(args, "lat")) {
    park->mutable_location()->set_latitude(lat);
    park->mutable_location()->set_longitude(lon);
  }
  if (Given(args, "iasp")) park->set_iasp_member(iasp);
  if (Given(args, "external-ids")) {
    auto ids = ParseExternalIds(external_ids);
    if (!ids.ok()) return inv.Usage("--external-ids: " + std::string(ids.status().message()));
    park->clear_external_ids();
    for (auto& id : *ids) *park->add_external_ids() = std::move(id);
  }
  if (Given(args, "description")) park->set_description(description);
  request.set_request_id(request_id);
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto created = client::IngestionClient(*connection).CreatePark(request);
  if (!created.ok()) return inv.Fail(created.status());
  return inv.Print(*created, [&] {
    std::printf("%s created: %s\n", created->name().c_str(), created->display_name().c_str());
  });
}

int Delete(Invocation& inv) {
  std::string etag, request_id;
  FlagSet flags = inv.NewFlags("Deletes a park.");
  flags.String("etag", &etag, "delete only if it still has this etag");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "PARK")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  iv1::DeleteParkRequest request;
  request.set_name(ResourceName("parks", words[0]));
  request.set_etag(etag);
  request.set_request_id(request_id);
  auto deleted = client::IngestionClient(*connection).DeletePark(request);
  if (!deleted.ok()) return inv.Fail(deleted.status());
  return inv.Print(*deleted, [&] { std::printf("%s deleted\n", deleted->name().c_str()); });
}

}  // namespace

int RunParks(Invocation& inv) {
  return inv.Dispatch("Parks: science and technology parks.",
                      {{"list", "list parks", List},
                       {"get", "show one park", Get},
                       {"create", "create a park", Create},
                       {"delete", "delete a park", Delete}});
}

}  // namespace stp::stpctl
