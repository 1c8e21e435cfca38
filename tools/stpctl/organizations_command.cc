// stpctl orgs list|get|create|update|delete.
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/vocabulary.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/resource_flags.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace iv1 = stp::ingestion::v1;
using stp::common::v1::Avenue_descriptor;
using stp::common::v1::PartnerRole_descriptor;

const std::set<std::string> kOutputOnly = {"name", "etag", "create_time", "update_time",
                                           "updated_by"};

struct OrganizationFlags {
  std::string file, name, type, country, avenues, sectors, roles, capacity, languages;
  std::string external_ids, description, website;
  bool iasp = false;

  void Register(FlagSet* flags) {
    flags->String("file", &file, "an Organization in protobuf JSON; the flags below override it");
    flags->String("name", &name, "the organisation's name");
    flags->String("type", &type, "type: " + EnumWords(iv1::OrganizationType_descriptor()));
    flags->String("country", &country, "country it is based in, for example CN");
    flags->String("avenues", &avenues, "comma-separated: " + EnumWords(Avenue_descriptor()));
    flags->String("sectors", &sectors, "DAC 5-digit sector codes, comma-separated");
    flags->String("roles", &roles,
                  "roles it can play, comma-separated: " + EnumWords(PartnerRole_descriptor()));
    flags->String("capacity", &capacity, "financing capacity per project, for example 50000000");
    flags->String("languages", &languages, "ISO 639-1 codes, comma-separated");
    flags->String("external-ids", &external_ids, "source:value,...");
    flags->String("description", &description, "description");
    flags->String("website", &website, "web site URL");
    flags->Bool("iasp", &iasp, "a member of IASP");
  }

  absl::Status Apply(const std::vector<std::string>& args, iv1::Organization* org,
                     std::set<std::string>* touched) const {
    auto given = [&](const char* flag, const char* field) {
      if (!Given(args, flag)) return false;
      touched->insert(field);
      return true;
    };
    if (given("name", "display_name")) org->set_display_name(name);
    if (given("type", "type")) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(iv1::OrganizationType_descriptor(), type));
      org->set_type(static_cast<iv1::OrganizationType>(v));
    }
    if (given("country", "country")) org->set_country(CountryName(country));
    if (given("avenues", "avenues")) {
      STP_ASSIGN_OR_RETURN(auto values, ParseEnumList(Avenue_descriptor(), avenues));
      org->clear_avenues();
      for (int v : values) org->add_avenues(static_cast<stp::common::v1::Avenue>(v));
    }
    if (given("sectors", "dac_sectors")) {
      STP_ASSIGN_OR_RETURN(auto values, ParseIntList(sectors));
      org->mutable_dac_sectors()->Assign(values.begin(), values.end());
    }
    if (given("roles", "roles")) {
      STP_ASSIGN_OR_RETURN(auto values, ParseEnumList(PartnerRole_descriptor(), roles));
      org->clear_roles();
      for (int v : values) org->add_roles(static_cast<stp::common::v1::PartnerRole>(v));
    }
    if (given("capacity", "financing_capacity")) {
      STP_ASSIGN_OR_RETURN(*org->mutable_financing_capacity(), ParseMoney(capacity));
    }
    if (given("languages", "languages")) {
      org->clear_languages();
      for (const auto& l : SplitList(languages)) org->add_languages(l);
    }
    if (given("external-ids", "external_ids")) {
      STP_ASSIGN_OR_RETURN(auto ids, ParseExternalIds(external_ids));
      org->clear_external_ids();
      for (auto& id : ids) *org->add_external_ids() = std::move(id);
    }
    if (given("description", "description")) org->set_description(description);
    if (given("website", "website")) org->set_website(website);
    if (given("iasp", "iasp_member")) org->set_iasp_member(iasp);
    return absl::OkStatus();
  }
};

void PrintOrganization(const iv1::Organization& o) {
  std::vector<std::string> ids, sectors;
  for (const auto& id : o.external_ids()) ids.push_back(id.source() + ":" + id.value());
  for (int s : o.dac_sectors()) sectors.push_back(absl::StrCat(s));
  PrintDetails({{"name", o.name()},
                {"organisation", o.display_name()},
                {"type", o.type() ? OrganizationTypeLabel(o.type()) : ""},
                {"country", o.country()},
                {"avenues", AvenueList(o.avenues())},
                {"DAC sectors", absl::StrJoin(sectors, ", ")},
                {"roles", RoleList(o.roles())},
                {"financing capacity", FormatMoney(o.financing_capacity())},
                {"languages", absl::StrJoin(o.languages(), ", ")},
                {"IASP member", o.iasp_member() ? "yes" : ""},
                {"external ids", absl::StrJoin(ids, ", ")},
                {"website", o.website()},
                {"updated", absl::StrCat(FormatTime(o.update_time()), " by ", o.updated_by())},
                {"etag", o.etag()}});
  if (!o.description().empty()) std::printf("\n%s\n", o.description().c_str());
}

int List(Invocation& inv) {
  std::string country, avenue, role, type;
  int limit = 50;
  FlagSet flags = inv.NewFlags("Lists organisations in creation order.");
  flags.String("country", &country, "only organisations based in this country");
  flags.String("avenue", &avenue, "only organisations working in this avenue");
  flags.String("role", &role, "only organisations able to play this role");
  flags.String("type", &type, "only organisations of this type");
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  iv1::ListOrganizationsRequest request;
  request.set_country(CountryName(country));
  if (!avenue.empty()) {
    auto v = ParseEnum(Avenue_descriptor(), avenue);
    if (!v.ok()) return inv.Usage("--avenue: " + std::string(v.status().message()));
    request.set_avenue(static_cast<stp::common::v1::Avenue>(*v));
  }
  if (!role.empty()) {
    auto v = ParseEnum(PartnerRole_descriptor(), role);
    if (!v.ok()) return inv.Usage("--role: " + std::string(v.status().message()));
    request.set_role(static_cast<stp::common::v1::PartnerRole>(*v));
  }
  if (!type.empty()) {
    auto v = ParseEnum(iv1::OrganizationType_descriptor(), type);
    if (!v.ok()) return inv.Usage("--type: " + std::string(v.status().message()));
    request.set_type(static_cast<iv1::OrganizationType>(*v));
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  iv1::ListOrganizationsResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, registry.ListOrganizations(request));
        for (auto& o : *page.mutable_organizations()) *all.add_organizations() = std::move(o);
        return page.next_page_token();
      },
      [&] { return all.organizations_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"ORGANIZATION"},
               {"NAME", Table::Align::kLeft, 44},
               {"TYPE", Table::Align::kLeft, 28},
               {"COUNTRY"},
               {"ROLES", Table::Align::kLeft, 36}});
  for (const auto& o : all.organizations()) {
    table.AddRow({o.name(), o.display_name(), o.type() ? OrganizationTypeLabel(o.type()) : "",
                  o.country().empty() ? "" : IdOf(o.country()), RoleList(o.roles())});
  }
  table.Print();
  return kExitOk;
}

int Get(Invocation& inv) {
  FlagSet flags = inv.NewFlags("Shows one organisation.");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "ORGANIZATION")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  iv1::GetOrganizationRequest request;
  request.set_name(ResourceName("organizations", words[0]));
  auto org = client::IngestionClient(*connection).GetOrganization(request);
  if (!org.ok()) return inv.Fail(org.status());
  return inv.Print(*org, [&] { PrintOrganization(*org); });
}

int Create(Invocation& inv) {
  OrganizationFlags fields;
  std::string request_id;
  FlagSet flags = inv.NewFlags("Creates an organisation from --file and/or flags.");
  fields.Register(&flags);
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  if (auto done = inv.Parse(&flags)) return *done;
  iv1::CreateOrganizationRequest request;
  if (!fields.file.empty()) {
    absl::Status read = ReadJsonFile(fields.file, request.mutable_organization());
    if (!read.ok()) return inv.Usage(std::string(read.message()));
  }
  std::set<std::string> touched;
  if (absl::Status s = fields.Apply(inv.args(), request.mutable_organization(), &touched);
      !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_request_id(request_id);
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto org = client::IngestionClient(*connection).CreateOrganization(request);
  if (!org.ok()) return inv.Fail(org.status());
  return inv.Print(*org, [&] {
    std::printf("%s created: %s\n", org->name().c_str(), org->display_name().c_str());
  });
}

int Update(Invocation& inv) {
  OrganizationFlags fields;
  std::string mask, etag, request_id;
  FlagSet flags = inv.NewFlags(
      "Changes the fields given as flags (or, from --file, those named by --mask, else those "
      "set in the file), guarded by the etag read first.");
  fields.Register(&flags);
  flags.String("mask", &mask, "with --file: top-level fields to change, comma-separated");
  flags.String("etag", &etag, "the etag you last read (default: the one read now)");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "ORGANIZATION")) return *done;
  std::set<std::string> touched;
  iv1::Organization from_file;
  if (!fields.file.empty()) {
    absl::Status read = ReadJsonFile(fields.file, &from_file);
    if (!read.ok()) return inv.Usage(std::string(read.message()));
    std::vector<std::string> paths =
        mask.empty() ? SetFields(from_file, kOutputOnly) : SplitList(mask);
    touched.insert(paths.begin(), paths.end());
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  iv1::GetOrganizationRequest get;
  get.set_name(ResourceName("organizations", words[0]));
  auto current = registry.GetOrganization(get);
  if (!current.ok()) return inv.Fail(current.status());
  iv1::UpdateOrganizationRequest request;
  iv1::Organization* org = request.mutable_organization();
  *org = *current;
  for (const auto& path : touched) {
    const auto* field = iv1::Organization::descriptor()->FindFieldByName(path);
    if (field == nullptr) return inv.Usage("--mask: no organisation field named " + path);
    org->GetReflection()->ClearField(org, field);
  }
  from_file.clear_name();
  org->MergeFrom(from_file);
  if (absl::Status s = fields.Apply(inv.args(), org, &touched); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  if (touched.empty()) return inv.Usage("nothing to change: give flags or --file");
  for (const auto& path : touched) request.mutable_update_mask()->add_paths(path);
  request.set_etag(etag.empty() ? current->etag() : etag);
  request.set_request_id(request_id);
  auto updated = registry.UpdateOrganization(request);
  if (!updated.ok()) return inv.Fail(updated.status());
  return inv.Print(*updated, [&] {
    std::printf("%s updated: %s\n", updated->name().c_str(), absl::StrJoin(touched, ", ").c_str());
  });
}

int Delete(Invocation& inv) {
  std::string etag, request_id;
  FlagSet flags = inv.NewFlags("Deletes an organisation; projects that name it keep the name.");
  flags.String("etag", &etag, "delete only if it still has this etag");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "ORGANIZATION")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  iv1::DeleteOrganizationRequest request;
  request.set_name(ResourceName("organizations", words[0]));
  request.set_etag(etag);
  request.set_request_id(request_id);
  auto deleted = client::IngestionClient(*connection).DeleteOrganization(request);
  if (!deleted.ok()) return inv.Fail(deleted.status());
  return inv.Print(*deleted, [&] { std::printf("%s deleted\n", deleted->name().c_str()); });
}

}  // namespace

int RunOrganizations(Invocation& inv) {
  return inv.Dispatch("Organisations: ministries, park operators, universities, companies, DFIs.",
                      {{"list", "list organisations", List},
                       {"get", "show one organisation", Get},
                       {"create", "create an organisation", Create},
                       {"update", "change an organisation", Update},
                       {"delete", "delete an organisation", Delete}});
}

}  // namespace stp::stpctl
