#include "services/ingestion/import_session.h"

#include <google/protobuf/util/field_mask_util.h>

#include <algorithm>
#include <functional>
#include <iterator>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "libs/common/logging.h"
#include "libs/common/proto_time.h"
#include "libs/common/status.h"
#include "services/ingestion/import/record_organizations.h"
#include "services/ingestion/validation.h"

namespace stp::ingestion {
namespace {

constexpr int kMaxListedProblems = 1000;

std::string ExternalIdKey(const v1::Project& p) {
  if (p.external_ids().empty()) return "";
  return ExternalIdKeys(p.external_ids())[0];
}

// The organisation's IATI identifier, or "" (it keeps one per source).
std::string IatiIdentifier(const v1::Organization& o) {
  for (const auto& x : o.external_ids()) {
    if (x.source() == "iati") return x.value();
  }
  return "";
}

// Index of a "pending:<k>" placeholder, or -1.
int PendingIndex(absl::string_view ref) {
  int k = -1;
  if (!absl::ConsumePrefix(&ref, "pending:") || !absl::SimpleAtoi(ref, &k)) return -1;
  return k;
}

// An imported organisation's name, as stored and as its participants show it.
std::string DisplayName(const ImportedOrganization& org) {
  return Utf8Prefix(org.name.empty() ? org.ref : org.name, kMaxName);
}

}  // namespace

ImportSession::ImportSession(Registry* registry, RequestContext rc,
                             const v1::ImportProjectsRequest& first)
    : registry_(registry),
      rc_(std::move(rc)),
      format_(first.format()),
      request_id_(first.request_id()),
      source_reference_(first.source_reference()),
      dry_run_(first.dry_run()) {
  switch (format_) {
    case v1::IMPORT_FORMAT_IATI_XML:
      change_source_.source = "import:iati";
      break;
    case v1::IMPORT_FORMAT_AIDDATA_CSV:
      change_source_.source = "import:aiddata";
      break;
    default:
      change_source_.source = "import:projects";
      break;
  }
  summary_.set_dry_run(dry_run_);
}

absl::StatusOr<std::unique_ptr<ImportSession>> ImportSession::Start(
    Registry* registry, const SectorAvenueTable* sectors, RequestContext rc,
    const v1::ImportProjectsRequest& first) {
  FieldViolations v;
  if (first.format() == v1::IMPORT_FORMAT_UNSPECIFIED ||
      !v1::ImportFormat_IsValid(first.format())) {
    v.Add("format",
          "the first message must say the stream's format: PROJECTS, IATI_XML or AIDDATA_CSV");
  }
  CheckString(first.request_id(), "request_id", 64, false, &v);
  CheckString(first.source_reference(), "source_reference", 500, false, &v);
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::unique_ptr<ImportSession> session(new ImportSession(registry, std::move(rc), first));
  auto sink = [s = session.get()](ImportRecord r) { s->OnRecord(std::move(r)); };
  if (first.format() == v1::IMPORT_FORMAT_IATI_XML)
    session->iati_ = std::make_unique<IatiParser>(*sectors, sink);
  if (first.format() == v1::IMPORT_FORMAT_AIDDATA_CSV) {
    session->csv_ = std::make_unique<AidDataCsvParser>(*sectors, sink);
  }
  return session;
}

absl::Status ImportSession::Add(const v1::ImportProjectsRequest& message) {
  switch (message.payload_case()) {
    case v1::ImportProjectsRequest::kProject: {
      if (format_ != v1::IMPORT_FORMAT_PROJECTS) {
        return InvalidField("project",
                            "this stream carries file chunks; a project message is not allowed");
      }
      ImportRecord record;
      record.index = next_index_;
      record.project = message.project();
      record.external_id = ExternalIdKey(record.project);
      OnRecord(std::move(record));
      break;
    }
    case v1::ImportProjectsRequest::kChunk: {
      if (format_ == v1::IMPORT_FORMAT_PROJECTS) {
        return InvalidField("chunk",
                            "this stream carries project messages; a file chunk is not allowed");
      }
      if (message.chunk().size() > kMaxChunkBytes) {
        return InvalidField("chunk",
                            absl::StrCat("at most ", kMaxChunkBytes, " bytes per message"));
      }
      absl::Status fed = iati_ ? iati_->Feed(message.chunk()) : csv_->Feed(message.chunk());
      if (!fed.ok()) return WriteAllThen(fed);
      break;
    }
    case v1::ImportProjectsRequest::PAYLOAD_NOT_SET:
      break;  // the first message may carry only the format
  }
  return FlushIfFull();
}

absl::Status ImportSession::WriteAllThen(absl::Status fault) {
  // Records read before a fault (a truncated file too) are still written, before the answer.
  STP_RETURN_IF_ERROR(FlushAll());
  STP_RETURN_IF_ERROR(WaitForCommit());
  return fault;
}

ImportSession::~ImportSession() {
  if (in_flight_ != nullptr) in_flight_->thread.join();
}

absl::StatusOr<v1::ImportSummary> ImportSession::Finish() {
  absl::Status parsed = iati_ ? iati_->Finish() : csv_ ? csv_->Finish() : absl::OkStatus();
  STP_RETURN_IF_ERROR(WriteAllThen(parsed));
  // A batch's write results are counted after the next batch was checked: list the problems
  // in record order.
  auto by_index = [](const auto& a, const auto& b) { return a.index() < b.index(); };
  std::stable_sort(summary_.mutable_rejections()->begin(), summary_.mutable_rejections()->end(),
                   by_index);
  std::stable_sort(summary_.mutable_warnings()->begin(), summary_.mutable_warnings()->end(),
                   by_index);
  return summary_;
}

void ImportSession::OnRecord(ImportRecord record) {
  record.index = next_index_++;
  record.first_external_id = ExternalIdKey(record.project);
  // Records the parser rejected take no place in a project's count.
  if (!record.first_external_id.empty() && record.rejection.empty()) {
    record.occurrence = ++occurrences_[record.first_external_id];
    // Each later record of a project waits for the write of the one before: bound the waits.
    if (record.occurrence > kMaxRecordsPerProject) {
      record.rejection =
          absl::StrCat("this import names the project more than ", kMaxRecordsPerProject,
                       " times; the later records were skipped");
      record.rejected_fields = {"project.external_ids"};
    }
  }
  summary_.set_received(summary_.received() + 1);
  pending_bytes_ += record.project.ByteSizeLong();
  pending_.push_back(std::move(record));
}

absl::Status ImportSession::FlushIfFull() {
  if (static_cast<int>(pending_.size()) >= kBatchSize || pending_bytes_ >= kMaxBatchBytes)
    return Flush();
  return absl::OkStatus();
}

void ImportSession::Reject(const ImportRecord& record, const std::string& reason,
                           const std::vector<std::string>& fields) {
  summary_.set_rejected(summary_.rejected() + 1);
  if (summary_.rejections_size() >= kMaxListedProblems) return;
  auto* r = summary_.add_rejections();
  r->set_index(record.index);
  r->set_external_id(record.external_id);
  r->set_reason(reason);
  for (const auto& f : fields) r->add_fields(f);
}

// Written by an earlier attempt of this import, if the content is the same, or superseded
// there by a later record of the project.
bool ImportSession::SameRequestContent(const std::string& prior, const std::string& ours) {
  std::string prior_fingerprint = RequestRecordFingerprint(prior);
  return prior_fingerprint == kSuperseded || prior_fingerprint == RequestRecordFingerprint(ours);
}

void ImportSession::RejectReusedRequest(const ImportRecord& record) {
  Reject(record,
         "this import's request_id was used before for different content of this record; import "
         "with a new request_id",
         {"request_id"});
}

void ImportSession::Warn(const ImportRecord& record, const std::string& message) {
  if (summary_.warnings_size() >= kMaxListedProblems) return;
  auto* w = summary_.add_warnings();
  w->set_index(record.index);
  w->set_external_id(record.external_id);
  w->set_message(message);
}

std::string ImportSession::OrgKey(const ImportedOrganization& org) const {
  if (!org.ref.empty()) return "iati:" + org.ref;
  // A name in a country the record states (an AidData agency) is another organisation than the
  // same name in another country: two countries' ministries of finance.
  if (!org.country.empty()) {
    return "name:" + Registry::NameInCountry(Registry::NormalizeName(org.name), org.country);
  }
  return "name:" + Registry::NormalizeName(org.name);
}

std::string ImportSession::RecordRequestId(const ImportRecord& record, int occurrence) const {
  if (request_id_.empty()) return "";
  // From the record as read: an update replaces the record's external ids with the project's.
  const std::string& key = record.first_external_id;
  if (key.empty()) return absl::StrCat(request_id_, ":#", record.index);
  // A retry of the import numbers the records of one project the same way. "k#" cannot begin
  // an external id key: sources have no '#'.
  if (occurrence == 0) occurrence = record.occurrence;
  if (occurrence > 1) return absl::StrCat(request_id_, ":", occurrence, "#", key);
  return absl::StrCat(request_id_, ":", key);
}

std::vector<std::string> ImportSession::UpdateMask(const v1::Project& incoming) const {
  if (format_ == v1::IMPORT_FORMAT_PROJECTS) {
    std::vector<std::string> mask = {
        "title",       "description",       "park",         "host_country", "avenues",
        "dac_sectors", "cooperation_model", "participants", "stage",        "planned_start",
        "planned_end", "actual_start",      "actual_end",   "financing",    "milestones",
        "results",     "visibility",        "external_ids", "triangular"};
    // The sources a record gives replace the stored ones; a record that gives none leaves
    // them (a project first imported from a file keeps where it came from).
    if (!incoming.sources().empty()) mask.push_back("sources");
    return mask;
  }
  // File imports own what the file says; partner-maintained fields (park, milestones,
  // visibility) are left as they are.
  std::vector<std::string> mask = {"title",       "description",  "host_country", "avenues",
                                   "dac_sectors", "participants", "stage",        "planned_start",
                                   "planned_end", "actual_start", "actual_end",   "financing",
                                   "results",     "triangular"};
  if (incoming.cooperation_model() != 0) mask.push_back("cooperation_model");
  return mask;
}

absl::Status ImportSession::KnownCountries(const std::set<std::string>& names) {
  std::vector<std::string> ask;
  for (const auto& n : names) {
    if (IsCountryName(n) && !countries_.count(n)) ask.push_back(n);
  }
  if (ask.empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  for (const auto& n : ask) ids.push_back(n.substr(10));
  STP_ASSIGN_OR_RETURN(auto found, registry_->store()->GetMany(Kind::kCountry, ids, rc_.deadline));
  for (size_t i = 0; i < ask.size(); ++i) countries_[ask[i]] = found[i].has_value();
  return absl::OkStatus();
}

bool ImportSession::NamesOwnOrganization(const ImportRecord& r) const {
  if (rc_.principal.is_operator()) return true;
  return std::any_of(r.project.participants().begin(), r.project.participants().end(),
                     [&](const v1::Participant& part) {
                       int k = PendingIndex(part.organization());
                       if (k < 0) return part.organization() == rc_.principal.organization;
                       if (k >= static_cast<int>(r.organizations.size())) return false;
                       // Not resolved yet: it is to be created, so it is not the partner's (which
                       // exists).
                       auto it = orgs_.find(OrgKey(r.organizations[k]));
                       return it != orgs_.end() && it->second.name == rc_.principal.organization;
                     });
}

absl::Status ImportSession::ResolveOrganizations(std::vector<ImportRecord>* records) {
  // Everything not yet known to this session: look up by identifier, then by name.
  std::map<std::string, ImportedOrganization> unknown;
  std::set<std::string> org_countries;
  for (const auto& r : *records) {
    for (const auto& org : r.organizations) {
      std::string key = OrgKey(org);
      if (!org.country.empty()) org_countries.insert(org.country);
      if (orgs_.count(key)) continue;
      auto [it, inserted] = unknown.emplace(key, org);
      if (!inserted) {  // named again in the batch: the roles it plays in every record
        for (auto role : org.roles) AddRole(&it->second.roles, role);
      }
    }
  }
  std::vector<std::string> missing;  // keys of organisations no lookup found
  if (!unknown.empty()) {
    STP_RETURN_IF_ERROR(KnownCountries(org_countries));
    std::vector<std::string> keys, refs, names;
    for (const auto& [key, org] : unknown) {
      keys.push_back(key);
      refs.push_back(org.ref.empty() ? std::string("-") : key);
      names.push_back(Registry::NormalizeName(org.name.empty() ? org.ref : org.name));
    }
    // By name within the organisation's country first, when the record tells it: the name
    // alone finds the organisation of that name written last, in whichever country.
    const size_t n = keys.size();
    for (size_t i = 0; i < n; ++i) {
      const std::string& country = unknown[keys[i]].country;
      names.push_back(country.empty() || names[i].empty()
                          ? std::string("-")
                          : Registry::NameInCountry(names[i], country));
    }
    RegistryStore* store = registry_->store();
    STP_ASSIGN_OR_RETURN(auto by_ref,
                         store->FindExternalIds(Kind::kOrganization, refs, rc_.deadline));
    STP_ASSIGN_OR_RETURN(auto by_name, store->FindOrganizationNames(names, rc_.deadline));
    std::vector<std::string> found_ids;
    std::vector<std::string> found_keys;
    std::vector<bool> found_by_name;
    for (size_t i = 0; i < n; ++i) {
      std::string id = !by_ref[i].empty()        ? by_ref[i]
                       : !by_name[n + i].empty() ? by_name[n + i]
                                                 : by_name[i];
      if (id.empty()) {
        missing.push_back(keys[i]);
        continue;
      }
      found_ids.push_back(id);
      found_keys.push_back(keys[i]);
      found_by_name.push_back(by_ref[i].empty());
      orgs_[keys[i]] = {"organizations/" + id, DisplayName(unknown[keys[i]])};
    }
    // Names found by lookup keep their stored display names.
    std::map<std::string, v1::Organization> identify;  // by id: found by name, identifier added
    if (!found_ids.empty()) {
      STP_ASSIGN_OR_RETURN(auto stored,
                           store->GetMany(Kind::kOrganization, found_ids, rc_.deadline));
      for (size_t j = 0; j < found_ids.size(); ++j) {
        v1::Organization o;
        if (!stored[j].has_value() || !o.ParseFromString(stored[j]->data)) continue;
        const std::string& key = found_keys[j];
        const ImportedOrganization& org = unknown[key];
        const std::string ref = Utf8Prefix(org.ref, 200);
        // Found by name. One the record places (by its identifier, or as an AidData row
        // states) in another country than the stored one is another organisation with that
        // name (two countries' ministries of finance): created apart.
        if (found_by_name[j] && !org.country.empty() && !o.country().empty() &&
            org.country != o.country()) {
          orgs_.erase(key);
          missing.push_back(key);
          continue;
        }
        if (found_by_name[j] && !ref.empty()) {
          // Named here with an identifier: it is recorded when the organisation has none, so
          // that files naming it by identifier alone find it.
          // One identifier per source: an organisation that has one (stored, or given earlier
          // in this batch) keeps it.
          if (IatiIdentifier(o).empty() && !identify.count(found_ids[j])) {
            auto* x = (identify[found_ids[j]] = o).add_external_ids();
            x->set_source("iati");
            x->set_value(ref);
          }
        }
        orgs_[key].display_name = o.display_name();
      }
    }
    if (!dry_run_) STP_RETURN_IF_ERROR(RecordIdentifiers(identify));
  }
  // A partner imports only projects its own organisation takes part in. That organisation
  // exists, so the check needs only what the lookups found, and a record that fails it is
  // rejected before anything is created on its behalf.
  std::set<std::string> needed;
  std::vector<ImportRecord> kept;
  kept.reserve(records->size());
  for (auto& r : *records) {
    if (!NamesOwnOrganization(r)) {
      Reject(r, "a partner imports only projects its own organisation takes part in",
             {"project.participants"});
      continue;
    }
    for (const auto& org : r.organizations) needed.insert(OrgKey(org));
    kept.push_back(std::move(r));
  }
  records->swap(kept);

  // An organisation some records name by identifier and others by name only is created once:
  // the name-only key becomes an alias of the one identifier key with that name (none or
  // several: no alias, as two identifiers are two organisations).
  std::map<std::string, std::vector<std::string>> identified_by_name;  // name -> ref keys
  for (const std::string& key : missing) {
    const ImportedOrganization& org = unknown[key];
    std::string name = Registry::NormalizeName(org.name);
    if (needed.count(key) && !org.ref.empty() && !name.empty()) {
      identified_by_name[name].push_back(key);
    }
  }
  std::vector<std::pair<std::string, std::string>> aliases;  // name-only key, identifier key
  for (const std::string& key : missing) {
    const ImportedOrganization& org = unknown[key];
    std::string name = Registry::NormalizeName(org.name);
    if (!needed.count(key) || !org.ref.empty() || name.empty()) continue;
    auto found = identified_by_name.find(name);
    if (found == identified_by_name.end() || found->second.size() != 1) continue;
    const std::string& identified_in = unknown[found->second[0]].country;
    if (!org.country.empty() && !identified_in.empty() && org.country != identified_in) continue;
    for (auto role : org.roles) AddRole(&unknown[found->second[0]].roles, role);
    aliases.emplace_back(key, found->second[0]);
  }
  std::set<std::string> aliased;
  for (const auto& alias : aliases) aliased.insert(alias.first);
  absl::Cleanup resolve_aliases = [&] {
    for (const auto& [alias, key] : aliases) {
      if (auto it = orgs_.find(key); it != orgs_.end()) orgs_[alias] = it->second;
    }
  };

  std::map<std::string, ResolvedOrg> dry_run_batch;  // joins dry_run_created_ after the batch
  std::vector<WriteOp> creates;
  std::vector<std::string> create_keys;
  std::vector<v1::Organization> create_inputs;
  std::vector<std::pair<std::string, std::string>> create_ids;  // request id, anchor
  for (const std::string& key : missing) {
    if (!needed.count(key) || aliased.count(key)) continue;
    const ImportedOrganization& org = unknown[key];
    // The organisation's name and the participants' display name alike.
    std::string display = DisplayName(org);
    if (dry_run_) {
      // A later batch finds what an earlier one would have created by identifier, by name
      // within its country, or by name, as the store lookups of a real import do (within one
      // batch, a real import creates each key); by name only in the same country when it
      // has an identifier.
      std::string name = Registry::NormalizeName(org.name.empty() ? org.ref : org.name);
      std::string by_ref = org.ref.empty() ? "" : "\x01" + key;  // apart from the names
      const std::string country =
          !org.country.empty() && countries_[org.country] ? org.country : "";
      const std::string in_country =
          country.empty() || name.empty() ? "" : Registry::NameInCountry(name, country);
      auto find = [this](const std::string& k) {
        return k.empty() ? dry_run_created_.end() : dry_run_created_.find(k);
      };
      auto earlier = find(by_ref);
      if (earlier == dry_run_created_.end()) earlier = find(in_country);
      if (earlier == dry_run_created_.end()) {
        earlier = find(name);
        if (earlier != dry_run_created_.end() && !org.country.empty() &&
            !earlier->second.country.empty() && earlier->second.country != org.country) {
          earlier = dry_run_created_.end();
        }
      }
      if (earlier != dry_run_created_.end()) {
        orgs_[key] = earlier->second;
        continue;
      }
      orgs_[key] = {"organizations/" + registry_->NewIdNear(""), display, country};
      if (!name.empty()) dry_run_batch.emplace(name, orgs_[key]);
      if (!in_country.empty()) dry_run_batch.emplace(in_country, orgs_[key]);
      if (!by_ref.empty()) dry_run_batch.emplace(by_ref, orgs_[key]);
      summary_.set_organizations_created(summary_.organizations_created() + 1);
      continue;
    }
    v1::Organization created;
    created.set_display_name(display);
    created.set_type(org.type);
    // The roles it plays in the records that named it, so that partner matching sees them.
    for (auto role : org.roles) {
      if (role != stp::common::v1::PARTNER_ROLE_UNSPECIFIED) created.add_roles(role);
    }
    if (!org.country.empty() && countries_[org.country]) created.set_country(org.country);
    if (!org.ref.empty()) {
      auto* x = created.add_external_ids();
      x->set_source("iati");
      x->set_value(Utf8Prefix(org.ref, 200));
    }
    std::string request_id = request_id_.empty() ? "" : absl::StrCat(request_id_, ":org:", key);
    std::string anchor = org.ref.empty() ? key : "iati:" + Utf8Prefix(org.ref, 200);
    create_inputs.push_back(created);
    creates.push_back(
        registry_->PrepareOrganizationCreate(rc_, &created, request_id, "import", anchor));
    create_keys.push_back(key);
    create_ids.emplace_back(request_id, anchor);
  }
  dry_run_created_.merge(dry_run_batch);
  if (creates.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto results, registry_->WriteRedrawingTakenIds(
                                         &creates,
                                         [&](size_t i) {
                                           v1::Organization created = create_inputs[i];
                                           return registry_->PrepareOrganizationCreate(
                                               rc_, &created, create_ids[i].first, "import",
                                               create_ids[i].second);
                                         },
                                         rc_.deadline));
  for (size_t j = 0; j < results.size(); ++j) {
    const std::string& key = create_keys[j];
    const std::string display = DisplayName(unknown[key]);
    switch (results[j].code) {
      case WriteResult::Code::kOk:
        orgs_[key] = {"organizations/" + creates[j].id, display};
        summary_.set_organizations_created(summary_.organizations_created() + 1);
        break;
      case WriteResult::Code::kDuplicateRequest:  // created by an earlier attempt of this import
        orgs_[key] = {"organizations/" + RequestRecordId(results[j].detail), display};
        break;
      case WriteResult::Code::kExternalIdTaken:  // created concurrently by another import
        orgs_[key] = {"organizations/" + results[j].detail.substr(results[j].detail.find('=') + 1),
                      display};
        break;
      case WriteResult::Code::kExists:  // after Registry::kCreateAttempts draws
        return WithErrorInfo(
            absl::AbortedError("every id drawn for a new organisation was taken by another "
                               "server's create at the same moment; import again with the "
                               "same request_id"),
            "ID_TAKEN");
      default:
        return absl::AbortedError(
            "an organisation changed while the import created it; import again");
    }
  }
  return absl::OkStatus();
}

absl::Status ImportSession::FlushAll() {
  // Each pass writes at least the first record of every project still pending.
  while (!pending_.empty()) STP_RETURN_IF_ERROR(Flush());
  return absl::OkStatus();
}

absl::Status ImportSession::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  std::vector<ImportRecord> records;
  records.swap(pending_);
  pending_bytes_ = 0;
  std::vector<ImportRecord> live;
  for (auto& r : records) {
    for (const auto& w : r.warnings) Warn(r, w);
    if (!r.rejection.empty()) {
      Reject(r, r.rejection, r.rejected_fields);
    } else {
      live.push_back(std::move(r));
    }
  }
  std::set<std::string> hosts;
  for (const auto& r : live) hosts.insert(r.project.host_country());
  STP_RETURN_IF_ERROR(KnownCountries(hosts));
  // Every record is checked before its organisations are resolved, so that a rejected record
  // leaves no organisation created on its behalf.
  live = RejectInvalidBeforeOrganizations(std::move(live));
  // The duplicate probe's reads go out now, to travel while the batch is resolved and matched,
  // unless the batch must see the write in flight first. It reads the title words of every
  // record; only those of new projects are used.
  std::shared_ptr<Registry::DuplicateProbe> probe;
  {
    std::vector<ImportRecord*> all;
    std::vector<const v1::Project*> projects;
    for (auto& r : live) {
      all.push_back(&r);
      projects.push_back(&r.project);
    }
    if (!DependsOnCommit(all)) probe = registry_->StartDuplicateProbe(projects, rc_.deadline);
  }
  STP_RETURN_IF_ERROR(ResolveOrganizations(&live));

  // Resolve placeholders, check, and collect external ids to match.
  std::vector<ImportRecord*> ready;
  absl::Time now = registry_->Now();
  for (auto& r : live) {
    v1::Project& p = r.project;
    auto resolve = [&](std::string* ref) {
      int k = PendingIndex(*ref);
      if (k >= 0 && k < static_cast<int>(r.organizations.size()))
        *ref = orgs_[OrgKey(r.organizations[k])].name;
    };
    google::protobuf::RepeatedPtrField<v1::Participant> participants;
    std::set<std::pair<std::string, int>> seen;
    for (auto& part : *p.mutable_participants()) {
      int k = PendingIndex(part.organization());
      resolve(part.mutable_organization());
      if (k >= 0 && k < static_cast<int>(r.organizations.size())) {
        part.set_display_name(orgs_[OrgKey(r.organizations[k])].display_name);
      }
      // Two names of one organisation in one record become one participant.
      if (seen.insert({part.organization(), part.role()}).second) *participants.Add() = part;
    }
    p.mutable_participants()->Swap(&participants);
    for (auto& f : *p.mutable_financing()->mutable_commitments())
      resolve(f.mutable_source_organization());
    for (auto& f : *p.mutable_financing()->mutable_disbursements())
      resolve(f.mutable_source_organization());
    // Before the source is stamped with the time: a retry of the import reads the same record.
    if (r.fingerprint.empty()) r.fingerprint = Fingerprint(p);
    if (p.sources().empty() && format_ != v1::IMPORT_FORMAT_PROJECTS) {
      auto* src = p.add_sources();
      src->set_source(format_ == v1::IMPORT_FORMAT_IATI_XML ? "iati" : "aiddata");
      src->set_reference(source_reference_);
      *src->mutable_retrieved_time() = common::ToTimestamp(now);
    }
    ready.push_back(&r);
  }
  STP_RETURN_IF_ERROR(CheckNamedReferences(&ready));
  if (ready.empty()) return absl::OkStatus();
  // The write of the batch before may still be under way; this batch's reads wait for it only
  // when they could see it.
  if (DependsOnCommit(ready)) STP_RETURN_IF_ERROR(WaitForCommit());

  // Match to stored projects, by any of a record's external ids: a record that adds an id
  // before one the project has is the same project.
  std::vector<std::string> lookup;
  std::vector<size_t> lookup_record;
  for (size_t i = 0; i < ready.size(); ++i) {
    for (auto& key : ExternalIdKeys(ready[i]->project.external_ids())) {
      lookup.push_back(std::move(key));
      lookup_record.push_back(i);
    }
  }
  std::vector<std::string> existing_ids(ready.size());
  std::vector<std::string> other_project(ready.size());  // a second project another id names
  if (!lookup.empty()) {
    STP_ASSIGN_OR_RETURN(auto found,
                         registry_->store()->FindExternalIds(Kind::kProject, lookup, rc_.deadline));
    for (size_t k = 0; k < found.size(); ++k) {
      std::string& id = existing_ids[lookup_record[k]];
      if (found[k].empty()) continue;
      if (id.empty())
        id = found[k];
      else if (found[k] != id)
        other_project[lookup_record[k]] = found[k];
    }
  }
  std::vector<std::string> to_load;
  for (const auto& id : existing_ids) {
    if (!id.empty()) to_load.push_back(id);
  }
  STP_ASSIGN_OR_RETURN(auto loaded,
                       registry_->store()->GetMany(Kind::kProject, to_load, rc_.deadline));
  std::map<std::string, StoredResource> stored;
  for (auto& s : loaded) {
    if (s.has_value()) stored[s->id] = *s;
  }

  std::vector<v1::Project*> check_duplicates;
  std::vector<std::pair<ImportRecord*, std::optional<StoredResource>>> writes;
  // A record matched by an external id that an earlier record of this batch names, or to a
  // project an earlier record of this batch updates (a project's later record), goes to the
  // next batch, which sees this one's write, as a later record in a later batch does.
  std::set<std::string> batch_xids, batch_projects;
  std::vector<ImportRecord> deferred;
  std::vector<WriteOp> kept_requests;
  std::vector<const ImportRecord*> kept_for;  // per kept request: its unchanged record, if any
  // The project's earlier records of this import that wrote nothing and kept no request id
  // (they were rejected, perhaps for a reason a retry no longer has) are superseded by its
  // record `r`, written or unchanged: a retry must not write them over it.
  auto supersede_earlier = [&](const ImportRecord& r, const std::string& project_id) {
    if (request_id_.empty() || dry_run_) return;
    for (int k = 1; k < r.occurrence; ++k) {
      WriteOp superseded;
      superseded.id = project_id;
      KeepRequest(rc_.principal, RecordRequestId(r, k), RequestRecord(project_id, kSuperseded),
                  &superseded);
      kept_requests.push_back(std::move(superseded));
      kept_for.push_back(nullptr);
    }
  };
  for (size_t i = 0; i < ready.size(); ++i) {
    ImportRecord& r = *ready[i];
    std::vector<std::string> xids = ExternalIdKeys(r.project.external_ids());
    if (std::any_of(xids.begin(), xids.end(), [&](const auto& x) { return batch_xids.count(x); }) ||
        (!existing_ids[i].empty() && batch_projects.count(existing_ids[i]))) {
      r.warnings.clear();  // listed already
      deferred.push_back(std::move(r));
      continue;
    }
    if (!other_project[i].empty()) {
      // Named to operators only: either may be hidden from a partner.
      Reject(r,
             rc_.principal.is_operator()
                 ? absl::StrCat("its external ids name two projects: projects/", existing_ids[i],
                                " and projects/", other_project[i])
                 : std::string("its external ids name two projects"),
             {"project.external_ids"});
      continue;
    }
    for (auto& key : xids) batch_xids.insert(std::move(key));
    if (!existing_ids[i].empty()) batch_projects.insert(existing_ids[i]);
    std::optional<StoredResource> current;
    auto it = stored.find(existing_ids[i]);
    if (!existing_ids[i].empty() && it != stored.end()) current = it->second;
    if (current.has_value()) {
      v1::Project before;
      before.ParseFromString(current->data);
      // A partner updates only projects its organisation takes part in, as UpdateProject.
      if (!rc_.principal.is_operator() && !Registry::IsParticipant(rc_.principal, before)) {
        Reject(r, "another organisation's project has this external id", {"project.external_ids"});
        continue;
      }
      v1::Project merged = before;
      google::protobuf::FieldMask mask;
      for (const auto& m : UpdateMask(r.project)) mask.add_paths(m);
      google::protobuf::util::FieldMaskUtil::MergeOptions options;
      options.set_replace_message_fields(true);
      options.set_replace_repeated_fields(true);
      google::protobuf::util::FieldMaskUtil::MergeMessageTo(r.project, mask, options, &merged);
      if (Registry::ChangedFields(before, merged).empty()) {
        summary_.set_unchanged(summary_.unchanged() + 1);
        // Its request id is kept all the same: were a later record of the project written
        // and the import retried, this record must not be written over it.
        if (!request_id_.empty() && !dry_run_) {
          WriteOp remember;
          remember.id = current->id;
          KeepRequest(rc_.principal, RecordRequestId(r), RequestRecord(current->id, r.fingerprint),
                      &remember);
          kept_requests.push_back(std::move(remember));
          kept_for.push_back(&r);
        }
        supersede_earlier(r, current->id);
        continue;
      }
      r.project = std::move(merged);
      // Flags stand while what they were found by stands; an edited title, host, dates or
      // sources looks again.
      if (DuplicateSummary::Of(r.project).ComparesLike(DuplicateSummary::Of(before)))
        r.project.mutable_possible_duplicates()->CopyFrom(before.possible_duplicates());
      else
        check_duplicates.push_back(&r.project);
    } else {
      check_duplicates.push_back(&r.project);
    }
    writes.emplace_back(&r, current);
  }
  for (auto& r : deferred) {
    pending_bytes_ += r.project.ByteSizeLong();
    pending_.push_back(std::move(r));
  }
  STP_RETURN_IF_ERROR(registry_->FlagDuplicates(check_duplicates, rc_.deadline, std::move(probe),
                                                &known_projects_));

  auto commit = std::make_unique<Commit>();
  for (auto& [r, current] : writes) {
    std::string xid = ExternalIdKey(r->project);
    std::string request_id = RecordRequestId(*r);
    std::string anchor = current.has_value() ? current->id : (xid.empty() ? request_id : xid);
    PreparedWrite prepared =
        registry_->PrepareProjectWrite(rc_, change_source_, r->project, current,
                                       UpdateMask(r->project), request_id, r->fingerprint, anchor);
    commit->writes.push_back(static_cast<size_t>(r - live.data()));
    // Every external id the write claims or lets go of: a later record is matched by its
    // first one, which may be any of these.
    commit->external_ids.insert(prepared.op.external_ids_remove.begin(),
                                prepared.op.external_ids_remove.end());
    for (auto& key : ExternalIdKeys(r->project.external_ids()))
      commit->external_ids.insert(std::move(key));
    supersede_earlier(*r, prepared.op.id);
    commit->ops.push_back(std::move(prepared.op));
    commit->created.push_back(prepared.created);
    std::set<std::string> sources;
    for (const auto& x : r->project.external_ids()) sources.insert(x.source());
    if (commit->ops.size() == 1) {
      commit->common_sources = std::move(sources);
    } else {
      std::set<std::string> common;
      std::set_intersection(commit->common_sources.begin(), commit->common_sources.end(),
                            sources.begin(), sources.end(), std::inserter(common, common.end()));
      commit->common_sources = std::move(common);
    }
  }
  // Before any later record of these projects is written.
  STP_ASSIGN_OR_RETURN(auto prior,
                       registry_->store()->RememberRequests(kept_requests, rc_.deadline));
  // An unchanged record whose request id holds other content is answered as the write would
  // answer it.
  for (size_t i = 0; i < prior.size(); ++i) {
    if (kept_for[i] == nullptr || !prior[i].has_value()) continue;
    if (!SameRequestContent(*prior[i], kept_requests[i].request_record)) {
      summary_.set_unchanged(summary_.unchanged() - 1);
      RejectReusedRequest(*kept_for[i]);
    }
  }
  if (dry_run_) {
    for (bool created : commit->created) {
      if (created)
        summary_.set_created(summary_.created() + 1);
      else
        summary_.set_updated(summary_.updated() + 1);
    }
    return absl::OkStatus();
  }
  if (commit->ops.empty()) return absl::OkStatus();
  commit->records = std::move(live);  // the buffer moves, so `writes` still point into it
  // One batch in flight: this one's write starts once the one before has landed.
  STP_RETURN_IF_ERROR(WaitForCommit());
  StartCommit(std::move(commit));
  return absl::OkStatus();
}

bool ImportSession::Valid(const ImportRecord& r, const v1::Project& p) {
  FieldViolations v;
  ValidateProject(p, "project", &v);
  if (!v.empty()) {
    std::vector<std::string> fields;
    std::string reason;
    for (const auto& fv : v.violations()) {
      fields.push_back(fv.field);
      if (reason.empty()) reason = fv.field + ": " + fv.description;
    }
    if (v.size() > 1) absl::StrAppend(&reason, " (and ", v.size() - 1, " more)");
    Reject(r, reason, fields);
    return false;
  }
  if (!countries_[p.host_country()]) {
    Reject(r, p.host_country() + " is not a known country; load reference data first",
           {"project.host_country"});
    return false;
  }
  return true;
}

std::vector<ImportRecord> ImportSession::RejectInvalidBeforeOrganizations(
    std::vector<ImportRecord> records) {
  std::vector<ImportRecord> kept;
  kept.reserve(records.size());
  for (auto& r : records) {
    if (r.organizations.empty()) {  // names its organisations itself (PROJECTS)
      if (Valid(r, r.project)) kept.push_back(std::move(r));
      continue;
    }
    // Each organisation the record has yet to resolve stands in as a distinct valid name
    // (resolving can only merge two names of one organisation, which no check minds).
    v1::Project probe = r.project;
    auto stand_in = [](std::string* ref) {
      int k = PendingIndex(*ref);
      if (k >= 0) *ref = absl::StrCat("organizations/", absl::StrFormat("%016d", k));
    };
    for (auto& part : *probe.mutable_participants()) stand_in(part.mutable_organization());
    for (auto& f : *probe.mutable_financing()->mutable_commitments())
      stand_in(f.mutable_source_organization());
    for (auto& f : *probe.mutable_financing()->mutable_disbursements())
      stand_in(f.mutable_source_organization());
    if (Valid(r, probe)) kept.push_back(std::move(r));
  }
  return kept;
}

// Best effort: an importer that may not update the organisation (a partner, another's), or a
// writer that changed it meanwhile, leaves it as it was, and the lookup by name still finds
// it. Only a store that cannot be reached fails the import, as any write would.
absl::Status ImportSession::RecordIdentifiers(const std::map<std::string, v1::Organization>& orgs) {
  // An identifier another organisation took meanwhile (another import created it) stays
  // theirs. The external-id index is kept per partition, so the write itself would not see
  // one taken in another partition.
  if (orgs.empty()) return absl::OkStatus();
  std::vector<std::string> keys;
  for (const auto& [id, o] : orgs) keys.push_back("iati:" + IatiIdentifier(o));
  STP_ASSIGN_OR_RETURN(
      auto holders, registry_->store()->FindExternalIds(Kind::kOrganization, keys, rc_.deadline));
  size_t k = 0;
  for (const auto& [id, o] : orgs) {
    const std::string& holder = holders[k++];
    if (!holder.empty() && holder != id) {
      LogInfo("an imported identifier was not added: another organisation has it",
              {{"organization", o.name()}});
      continue;
    }
    v1::UpdateOrganizationRequest req;
    *req.mutable_organization() = o;
    req.mutable_update_mask()->add_paths("external_ids");
    req.set_etag(o.etag());
    if (!request_id_.empty()) req.set_request_id(absl::StrCat(request_id_, ":ids:", o.name()));
    absl::Status updated = registry_->UpdateOrganization(rc_, req).status();
    if (absl::IsUnavailable(updated) || absl::IsDeadlineExceeded(updated)) return updated;
    if (!updated.ok()) {
      LogInfo("an imported identifier was not added to the organisation found by its name",
              {{"organization", o.name()}, {"error", std::string(updated.message())}});
    }
  }
  return absl::OkStatus();
}

absl::Status ImportSession::CheckNamedReferences(std::vector<ImportRecord*>* ready) {
  // Organisations this import resolved (found or created, or in a dry run, would create) are
  // known; any other name a record gives (a PROJECTS record's participants and sources, its
  // park) must exist, as CreateProject asks.
  std::set<std::string> resolved;
  for (const auto& [key, org] : orgs_) resolved.insert(org.name);
  struct Named {
    size_t record;
    std::string path, name;
    int participant;  // -1: not a participant
  };
  std::vector<Named> named;
  for (size_t i = 0; i < ready->size(); ++i) {
    const v1::Project& p = (*ready)[i]->project;
    for (int k = 0; k < p.participants_size(); ++k) {
      const std::string& org = p.participants(k).organization();
      if (!resolved.count(org))
        named.push_back({i, absl::StrCat("project.participants[", k, "].organization"), org, k});
    }
    auto flows = [&](const auto& list, const char* field) {
      for (int k = 0; k < list.size(); ++k) {
        const std::string& org = list.Get(k).source_organization();
        if (!org.empty() && !resolved.count(org)) {
          named.push_back(
              {i, absl::StrCat("project.financing.", field, "[", k, "].source_organization"), org,
               -1});
        }
      }
    };
    flows(p.financing().commitments(), "commitments");
    flows(p.financing().disbursements(), "disbursements");
    if (!p.park().empty()) named.push_back({i, "project.park", p.park(), -1});
  }
  // Each name is read once per import (while the import's memory for it lasts).
  std::map<std::string, std::optional<std::string>> batch;  // name -> display name, if it exists
  for (const auto& n : named) {
    auto known = known_refs_.find(n.name);
    if (known != known_refs_.end()) batch[n.name] = known->second;
  }
  std::vector<ResourceRef> reads;
  std::vector<std::string> read_names;
  for (const auto& n : named) {
    if (!batch.emplace(n.name, std::nullopt).second) continue;
    const bool park = n.path == "project.park";
    reads.push_back(
        {park ? Kind::kPark : Kind::kOrganization, IdOf(n.name, park ? "parks" : "organizations")});
    read_names.push_back(n.name);
  }
  if (!reads.empty()) {
    STP_ASSIGN_OR_RETURN(auto found, registry_->store()->GetMany(reads, rc_.deadline));
    for (size_t j = 0; j < reads.size(); ++j) {
      if (!found[j].has_value()) continue;
      std::string display;
      v1::Organization org;
      if (reads[j].kind == Kind::kOrganization && org.ParseFromString(found[j]->data))
        display = org.display_name();
      if (known_refs_.size() < kMaxKnownRefs) known_refs_[read_names[j]] = display;
      batch[read_names[j]] = std::move(display);
    }
  }
  std::map<size_t, std::vector<const Named*>> missing;  // record -> its missing references
  for (const Named& n : named) {
    const std::optional<std::string>& display = batch[n.name];
    if (!display.has_value()) {
      missing[n.record].push_back(&n);
      continue;
    }
    // A participant shows the organisation's registered name, not one the record gives.
    if (n.participant >= 0) {
      (*ready)[n.record]->project.mutable_participants(n.participant)->set_display_name(*display);
    }
  }
  if (missing.empty()) return absl::OkStatus();
  std::vector<ImportRecord*> kept;
  for (size_t i = 0; i < ready->size(); ++i) {
    auto it = missing.find(i);
    if (it == missing.end()) {
      kept.push_back((*ready)[i]);
      continue;
    }
    const std::vector<const Named*>& refs = it->second;
    std::string reason = absl::StrCat(refs[0]->path, ": ", refs[0]->name, " does not exist");
    if (refs.size() > 1) absl::StrAppend(&reason, " (and ", refs.size() - 1, " more)");
    std::vector<std::string> fields;
    for (const Named* n : refs) fields.push_back(n->path);
    Reject(*(*ready)[i], reason, fields);
  }
  ready->swap(kept);
  return absl::OkStatus();
}

bool ImportSession::DependsOnCommit(const std::vector<ImportRecord*>& ready) const {
  if (in_flight_ == nullptr) return false;
  for (const ImportRecord* r : ready) {
    for (const auto& key : ExternalIdKeys(r->project.external_ids())) {
      if (in_flight_->external_ids.count(key)) return true;
    }
  }
  // A project is never a duplicate of one from a source it names too (LooksLikeDuplicate):
  // when each record here shares a source with every project being written, none of those
  // can be flagged, and the duplicate probe need not see them.
  const std::set<std::string>& common = in_flight_->common_sources;
  return std::any_of(ready.begin(), ready.end(), [&](const ImportRecord* r) {
    return std::none_of(r->project.external_ids().begin(), r->project.external_ids().end(),
                        [&](const auto& x) { return common.count(x.source()) > 0; });
  });
}

void ImportSession::StartCommit(std::unique_ptr<Commit> commit) {
  in_flight_ = std::move(commit);
  Commit* c = in_flight_.get();
  const absl::Time deadline = rc_.deadline;
  c->thread = std::thread([this, c, deadline] {
    // Only what the batch owns (its records) and what does not change while it is written
    // (the registry, the request context) is read here.
    c->results = registry_->WriteRedrawingTakenIds(
        &c->ops,
        [&](size_t i) {
          const ImportRecord& r = c->records[c->writes[i]];
          std::string xid = ExternalIdKey(r.project);
          std::string request_id = RecordRequestId(r);
          return registry_
              ->PrepareProjectWrite(rc_, change_source_, r.project, std::nullopt,
                                    UpdateMask(r.project), request_id, r.fingerprint,
                                    xid.empty() ? request_id : xid)
              .op;
        },
        deadline);
  });
}

absl::Status ImportSession::WaitForCommit() {
  if (in_flight_ == nullptr) return absl::OkStatus();
  std::unique_ptr<Commit> c = std::move(in_flight_);
  c->thread.join();
  if (!c->results.ok()) return c->results.status();
  const std::vector<WriteResult>& results = *c->results;
  for (size_t i = 0; i < results.size(); ++i) {
    const ImportRecord& r = c->records[c->writes[i]];
    switch (results[i].code) {
      case WriteResult::Code::kOk: {
        DuplicateSummary written = DuplicateSummary::Of(r.project);
        written.name = "projects/" + c->ops[i].id;
        known_projects_.Remember(c->ops[i].id, std::move(written));
        if (c->created[i])
          summary_.set_created(summary_.created() + 1);
        else
          summary_.set_updated(summary_.updated() + 1);
        break;
      }
      case WriteResult::Code::kDuplicateRequest: {
        // Written by an earlier attempt of this import, if the content is the same, or
        // superseded there by a later record of the project.
        if (SameRequestContent(results[i].detail, c->ops[i].request_record)) {
          summary_.set_unchanged(summary_.unchanged() + 1);
        } else {
          RejectReusedRequest(r);
        }
        break;
      }
      case WriteResult::Code::kExternalIdTaken:
        Reject(
            r,
            "another import created a project with this external id at the same time; import again "
            "to update it",
            {"project.external_ids"});
        break;
      case WriteResult::Code::kExists:  // after Registry::kCreateAttempts draws
        Reject(r,
               "every id drawn for this new project was taken by another server's create at the "
               "same moment; import again");
        break;
      default:
        Reject(r, "the project changed while it was imported; import again");
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace stp::ingestion
