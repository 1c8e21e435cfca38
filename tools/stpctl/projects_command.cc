// stpctl projects list|get|create|update|delete|history.
#include <google/protobuf/util/time_util.h>

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

const std::set<std::string> kOutputOnly = {
    "name", "etag", "create_time", "update_time", "updated_by", "revision", "possible_duplicates"};

// The flags that set a project's fields, shared by create and update.
struct ProjectFlags {
  std::string file, title, description, country, park, avenues, sectors, model, stage;
  std::string visibility, participants, budget, planned_start, planned_end, actual_start;
  std::string actual_end, external_ids;
  bool triangular = false;

  void Register(FlagSet* flags) {
    flags->String("file", &file, "a Project in protobuf JSON; the flags below override it");
    flags->String("title", &title, "title");
    flags->String("description", &description, "description");
    flags->String("host-country", &country, "host country, for example EG");
    flags->String("country", &country, "same as --host-country");
    flags->String("park", &park, "park id or parks/{id}");
    flags->String("avenues", &avenues, "comma-separated: " + EnumWords(Avenue_descriptor()));
    flags->String("sectors", &sectors, "DAC 5-digit sector codes, comma-separated");
    flags->String("model", &model,
                  "cooperation model: " + EnumWords(iv1::CooperationModel_descriptor()));
    flags->String("stage", &stage, "stage: " + EnumWords(iv1::ProjectStage_descriptor()));
    flags->String("visibility", &visibility,
                  "visibility: " + EnumWords(iv1::Visibility_descriptor()));
    flags->String("participants", &participants,
                  "org:role[:lead],... for example abc:technology-partner:lead,def:financier");
    flags->String("budget", &budget, "total budget, for example 12000000 or \"EUR 5000000\"");
    flags->String("planned-start", &planned_start, "planned start date, YYYY-MM-DD");
    flags->String("planned-end", &planned_end, "planned end date");
    flags->String("actual-start", &actual_start, "actual start date");
    flags->String("actual-end", &actual_end, "actual end date");
    flags->String("external-ids", &external_ids, "source:value,... for example partner:SCZ-7");
    flags->Bool("triangular", &triangular, "the partners declare triangular cooperation");
  }

  // Applies the given flags to `project`, naming each top-level field changed in `touched`.
  absl::Status Apply(const std::vector<std::string>& args, iv1::Project* project,
                     std::set<std::string>* touched) const {
    auto given = [&](const char* flag, const char* field) {
      if (!Given(args, flag)) return false;
      touched->insert(field);
      return true;
    };
    if (given("title", "title")) project->set_title(title);
    if (given("description", "description")) project->set_description(description);
    if (given("host-country", "host_country") || given("country", "host_country")) {
      project->set_host_country(CountryName(country));
    }
    if (given("park", "park")) project->set_park(ResourceName("parks", park));
    if (given("avenues", "avenues")) {
      STP_ASSIGN_OR_RETURN(auto values, ParseEnumList(Avenue_descriptor(), avenues));
      project->clear_avenues();
      for (int v : values) project->add_avenues(static_cast<stp::common::v1::Avenue>(v));
    }
    if (given("sectors", "dac_sectors")) {
      STP_ASSIGN_OR_RETURN(auto values, ParseIntList(sectors));
      project->mutable_dac_sectors()->Assign(values.begin(), values.end());
    }
    if (given("model", "cooperation_model")) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(iv1::CooperationModel_descriptor(), model));
      project->set_cooperation_model(static_cast<iv1::CooperationModel>(v));
    }
    if (given("stage", "stage")) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(iv1::ProjectStage_descriptor(), stage));
      project->set_stage(static_cast<iv1::ProjectStage>(v));
    }
    if (given("visibility", "visibility")) {
      STP_ASSIGN_OR_RETURN(int v, ParseEnum(iv1::Visibility_descriptor(), visibility));
      project->set_visibility(static_cast<iv1::Visibility>(v));
    }
    if (given("participants", "participants")) {
      STP_ASSIGN_OR_RETURN(auto values, ParseParticipants(participants));
      project->clear_participants();
      for (auto& p : values) *project->add_participants() = std::move(p);
    }
    if (given("budget", "financing")) {
      STP_ASSIGN_OR_RETURN(*project->mutable_financing()->mutable_budget(), ParseMoney(budget));
    }
    struct DateFlag {
      const char* flag;
      const std::string* text;
      google::type::Date* date;
    };
    for (const DateFlag& d :
         {DateFlag{"planned-start", &planned_start, project->mutable_planned_start()},
          DateFlag{"planned-end", &planned_end, project->mutable_planned_end()},
          DateFlag{"actual-start", &actual_start, project->mutable_actual_start()},
          DateFlag{"actual-end", &actual_end, project->mutable_actual_end()}}) {
      std::string field = d.flag;
      field[field.find('-')] = '_';
      if (given(d.flag, field.c_str())) {
        STP_ASSIGN_OR_RETURN(*d.date, ParseDate(*d.text));
      }
    }
    // Unset dates stay unset rather than becoming 0000-00-00.
    if (project->planned_start().year() == 0) project->clear_planned_start();
    if (project->planned_end().year() == 0) project->clear_planned_end();
    if (project->actual_start().year() == 0) project->clear_actual_start();
    if (project->actual_end().year() == 0) project->clear_actual_end();
    if (given("external-ids", "external_ids")) {
      STP_ASSIGN_OR_RETURN(auto ids, ParseExternalIds(external_ids));
      project->clear_external_ids();
      for (auto& id : ids) *project->add_external_ids() = std::move(id);
    }
    if (given("triangular", "triangular")) project->set_triangular(triangular);
    return absl::OkStatus();
  }
};

std::string CountryCode(const std::string& name) { return name.empty() ? "" : IdOf(name); }

void PrintProjects(const google::protobuf::RepeatedPtrField<iv1::Project>& projects) {
  Table table({{"PROJECT"},
               {"TITLE", Table::Align::kLeft, 48},
               {"HOST"},
               {"AVENUES", Table::Align::kLeft, 32},
               {"STAGE"},
               {"MODEL"},
               {"REV", Table::Align::kRight}});
  for (const auto& p : projects) {
    table.AddRow({p.name(), p.title(), CountryCode(p.host_country()), AvenueList(p.avenues()),
                  EnumWord(iv1::ProjectStage_descriptor(), p.stage()),
                  EnumWord(iv1::CooperationModel_descriptor(), p.cooperation_model()),
                  absl::StrCat(p.revision())});
  }
  table.Print();
}

void PrintProject(const iv1::Project& p) {
  std::vector<std::string> ids;
  for (const auto& id : p.external_ids()) ids.push_back(id.source() + ":" + id.value());
  std::vector<std::string> sectors;
  for (int s : p.dac_sectors()) sectors.push_back(absl::StrCat(s));
  auto dates = [](const google::type::Date& from, const google::type::Date& to) {
    if (from.year() == 0 && to.year() == 0) return std::string();
    return absl::StrCat(FormatDate(from), " to ", FormatDate(to));
  };
  PrintDetails(
      {{"name", p.name()},
       {"title", p.title()},
       {"host country", p.host_country()},
       {"park", p.park()},
       {"avenues", AvenueList(p.avenues())},
       {"DAC sectors", absl::StrJoin(sectors, ", ")},
       {"model", p.cooperation_model()
                     ? EnumWord(iv1::CooperationModel_descriptor(), p.cooperation_model())
                     : ""},
       {"stage", p.stage() ? StageLabel(p.stage()) : ""},
       {"triangular", p.triangular() ? "yes" : ""},
       {"visibility", p.visibility() ? EnumWord(iv1::Visibility_descriptor(), p.visibility()) : ""},
       {"planned", dates(p.planned_start(), p.planned_end())},
       {"actual", dates(p.actual_start(), p.actual_end())},
       {"budget", FormatMoney(p.financing().budget())},
       {"external ids", absl::StrJoin(ids, ", ")},
       {"possible duplicates", absl::StrJoin(p.possible_duplicates(), ", ")},
       {"revision", absl::StrCat(p.revision())},
       {"updated", absl::StrCat(FormatTime(p.update_time()), " by ", p.updated_by())},
       {"etag", p.etag()}});
  if (!p.description().empty()) std::printf("\n%s\n", p.description().c_str());
  if (p.participants_size() > 0) {
    std::printf("\n");
    Table table({{"PARTICIPANT"}, {"NAME", Table::Align::kLeft, 48}, {"ROLE"}, {"LEAD"}});
    for (const auto& part : p.participants()) {
      table.AddRow({part.organization(), part.display_name(), RoleLabel(part.role()),
                    part.lead() ? "yes" : ""});
    }
    table.Print();
  }
  const auto& f = p.financing();
  if (f.commitments_size() + f.disbursements_size() > 0) {
    std::printf("\n");
    Table table({{"FLOW"}, {"SOURCE"}, {"AMOUNT", Table::Align::kRight}, {"INSTRUMENT"}, {"DATE"}});
    for (const auto* flows : {&f.commitments(), &f.disbursements()}) {
      for (const auto& flow : *flows) {
        table.AddRow({flows == &f.commitments() ? "commitment" : "disbursement",
                      flow.source_organization(), FormatMoney(flow.amount()),
                      EnumWord(iv1::FinanceInstrument_descriptor(), flow.instrument()),
                      FormatDate(flow.date())});
      }
    }
    table.Print();
  }
  if (p.milestones_size() > 0) {
    std::printf("\n");
    Table table({{"MILESTONE", Table::Align::kLeft, 48}, {"DUE"}, {"DONE"}});
    for (const auto& m : p.milestones()) {
      table.AddRow({m.name(), FormatDate(m.due_date()),
                    m.done() ? (m.has_done_date() ? FormatDate(m.done_date()) : "yes") : ""});
    }
    table.Print();
  }
  if (p.results_size() > 0) {
    std::printf("\n");
    Table table({{"RESULT", Table::Align::kLeft, 40},
                 {"BASELINE", Table::Align::kRight},
                 {"TARGET", Table::Align::kRight},
                 {"ACTUAL", Table::Align::kRight},
                 {"UNIT"}});
    for (const auto& r : p.results()) {
      table.AddRow({r.indicator(), absl::StrCat(r.baseline()), absl::StrCat(r.target()),
                    r.has_actual() ? absl::StrCat(r.actual()) : "", r.unit()});
    }
    table.Print();
  }
}

int List(Invocation& inv) {
  std::string country, avenue, stage, park, org, model, updated_since;
  int limit = 50;
  FlagSet flags =
      inv.NewFlags("Lists projects in creation order (update order with --updated-since).");
  flags.String("host-country", &country, "only projects hosted by this country, for example EG");
  flags.String("country", &country, "same as --host-country");
  flags.String("avenue", &avenue, "only projects serving this avenue");
  flags.String("stage", &stage, "only projects at this stage");
  flags.String("park", &park, "only projects of this park");
  flags.String("org", &org, "only projects this organisation takes part in");
  flags.String("model", &model, "only projects with this cooperation model");
  flags.String("updated-since", &updated_since,
               "only projects changed since this time (RFC 3339, or a date)");
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  iv1::ListProjectsRequest request;
  request.set_host_country(CountryName(country));
  request.set_park(ResourceName("parks", park));
  request.set_organization(ResourceName("organizations", org));
  if (!avenue.empty()) {
    auto v = ParseEnum(Avenue_descriptor(), avenue);
    if (!v.ok()) return inv.Usage("--avenue: " + std::string(v.status().message()));
    request.set_avenue(static_cast<stp::common::v1::Avenue>(*v));
  }
  if (!stage.empty()) {
    auto v = ParseEnum(iv1::ProjectStage_descriptor(), stage);
    if (!v.ok()) return inv.Usage("--stage: " + std::string(v.status().message()));
    request.set_stage(static_cast<iv1::ProjectStage>(*v));
  }
  if (!model.empty()) {
    auto v = ParseEnum(iv1::CooperationModel_descriptor(), model);
    if (!v.ok()) return inv.Usage("--model: " + std::string(v.status().message()));
    request.set_cooperation_model(static_cast<iv1::CooperationModel>(*v));
  }
  if (!updated_since.empty()) {
    google::protobuf::Timestamp since;
    if (!google::protobuf::util::TimeUtil::FromString(updated_since, &since)) {
      auto date = ParseDate(updated_since);
      if (!date.ok()) return inv.Usage("--updated-since: not a time or a date: " + updated_since);
      since.set_seconds(absl::ToUnixSeconds(absl::FromCivil(
          absl::CivilDay(date->year(), date->month(), date->day()), absl::UTCTimeZone())));
    }
    *request.mutable_updated_since() = since;
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  iv1::ListProjectsResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, registry.ListProjects(request));
        for (auto& p : *page.mutable_projects()) *all.add_projects() = std::move(p);
        return page.next_page_token();
      },
      [&] { return all.projects_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  return inv.Print(all, [&] { PrintProjects(all.projects()); });
}

int Get(Invocation& inv) {
  FlagSet flags = inv.NewFlags("Shows one project.");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "PROJECT")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  iv1::GetProjectRequest request;
  request.set_name(ResourceName("projects", words[0]));
  auto project = client::IngestionClient(*connection).GetProject(request);
  if (!project.ok()) return inv.Fail(project.status());
  return inv.Print(*project, [&] { PrintProject(*project); });
}

int Create(Invocation& inv) {
  ProjectFlags fields;
  std::string request_id;
  FlagSet flags = inv.NewFlags(
      "Creates a project from --file (a Project in protobuf JSON) and/or flags. A project "
      "needs a title, a known host country, at least one avenue and existing participants; a "
      "PARTNER key must name its own organisation among them.");
  fields.Register(&flags);
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  if (auto done = inv.Parse(&flags)) return *done;
  iv1::CreateProjectRequest request;
  if (!fields.file.empty()) {
    absl::Status read = ReadJsonFile(fields.file, request.mutable_project());
    if (!read.ok()) return inv.Usage(std::string(read.message()));
  }
  std::set<std::string> touched;
  if (absl::Status s = fields.Apply(inv.args(), request.mutable_project(), &touched); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_request_id(request_id);
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto project = client::IngestionClient(*connection).CreateProject(request);
  if (!project.ok()) return inv.Fail(project.status());
  return inv.Print(*project, [&] {
    std::printf("%s created (revision %lld, etag %s)\n", project->name().c_str(),
                static_cast<long long>(project->revision()), project->etag().c_str());
  });
}

int Update(Invocation& inv) {
  ProjectFlags fields;
  std::string mask, etag, request_id;
  FlagSet flags = inv.NewFlags(
      "Changes the fields given as flags (or, from --file, those named by --mask, else those "
      "set in the file). The project is read first and written back with its etag, so a "
      "change made meanwhile by someone else is reported (ABORTED) rather than overwritten.");
  fields.Register(&flags);
  flags.String("mask", &mask, "with --file: top-level fields to change, comma-separated");
  flags.String("etag", &etag, "the etag you last read (default: the one read now)");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "PROJECT")) return *done;
  std::set<std::string> touched;
  iv1::Project from_file;
  if (!fields.file.empty()) {
    absl::Status read = ReadJsonFile(fields.file, &from_file);
    if (!read.ok()) return inv.Usage(std::string(read.message()));
    std::vector<std::string> paths =
        mask.empty() ? SetFields(from_file, kOutputOnly) : SplitList(mask);
    touched.insert(paths.begin(), paths.end());
  } else if (!mask.empty()) {
    return inv.Usage("--mask goes with --file; flags name their own fields");
  }
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  iv1::GetProjectRequest get;
  get.set_name(ResourceName("projects", words[0]));
  auto current = registry.GetProject(get);
  if (!current.ok()) return inv.Fail(current.status());
  iv1::UpdateProjectRequest request;
  iv1::Project* project = request.mutable_project();
  *project = *current;
  // The file's fields replace the current ones; the flags then change single values.
  const auto* reflection = project->GetReflection();
  for (const auto& path : touched) {
    const auto* field = iv1::Project::descriptor()->FindFieldByName(path);
    if (field == nullptr) return inv.Usage("--mask: no project field named " + path);
    reflection->ClearField(project, field);
  }
  from_file.clear_name();
  project->MergeFrom(from_file);
  project->set_name(current->name());
  if (absl::Status s = fields.Apply(inv.args(), project, &touched); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  if (touched.empty()) return inv.Usage("nothing to change: give flags or --file");
  for (const auto& path : touched) request.mutable_update_mask()->add_paths(path);
  request.set_etag(etag.empty() ? current->etag() : etag);
  request.set_request_id(request_id);
  auto updated = registry.UpdateProject(request);
  if (!updated.ok()) return inv.Fail(updated.status());
  return inv.Print(*updated, [&] {
    std::printf("%s updated: %s (revision %lld, etag %s)\n", updated->name().c_str(),
                absl::StrJoin(touched, ", ").c_str(), static_cast<long long>(updated->revision()),
                updated->etag().c_str());
  });
}

int Delete(Invocation& inv) {
  std::string etag, request_id;
  FlagSet flags = inv.NewFlags("Deletes a project.");
  flags.String("etag", &etag, "delete only if the project still has this etag");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "PROJECT")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  iv1::DeleteProjectRequest request;
  request.set_name(ResourceName("projects", words[0]));
  request.set_etag(etag);
  request.set_request_id(request_id);
  auto deleted = client::IngestionClient(*connection).DeleteProject(request);
  if (!deleted.ok()) return inv.Fail(deleted.status());
  return inv.Print(*deleted, [&] { std::printf("%s deleted\n", deleted->name().c_str()); });
}

int History(Invocation& inv) {
  int limit = 0;
  FlagSet flags = inv.NewFlags("Shows every revision of a project, newest first.");
  flags.Int("limit", &limit, "at most this many revisions (0: all)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "PROJECT")) return *done;
  auto connection = inv.Connect();
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::IngestionClient registry(*connection);
  iv1::GetProjectHistoryRequest request;
  request.set_name(ResourceName("projects", words[0]));
  iv1::GetProjectHistoryResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, registry.GetProjectHistory(request));
        for (auto& r : *page.mutable_revisions()) *all.add_revisions() = std::move(r);
        return page.next_page_token();
      },
      [&] { return all.revisions_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"REV", Table::Align::kRight},
               {"TIME"},
               {"KIND"},
               {"ACTOR"},
               {"SOURCE"},
               {"FIELDS", Table::Align::kLeft, 40},
               {"REQUEST ID"}});
  for (const auto& r : all.revisions()) {
    table.AddRow({absl::StrCat(r.revision()), FormatTime(r.time()),
                  EnumWord(iv1::ProjectRevision::Kind_descriptor(), r.kind()), r.actor(),
                  r.source(), absl::StrJoin(r.changed_fields(), ","), r.request_id()});
  }
  table.Print();
  return kExitOk;
}

}  // namespace

int RunProjects(Invocation& inv) {
  return inv.Dispatch("Projects: STP cooperation projects.",
                      {{"list", "list projects", List},
                       {"get", "show one project", Get},
                       {"create", "create a project", Create},
                       {"update", "change a project", Update},
                       {"delete", "delete a project", Delete},
                       {"history", "every revision of a project", History}});
}

}  // namespace stp::stpctl
