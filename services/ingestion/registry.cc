#include "services/ingestion/registry.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/field_mask_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/proto_time.h"
#include "services/ingestion/validation.h"

namespace stp::ingestion {

using google::protobuf::FieldMask;
using google::protobuf::Message;
using google::protobuf::util::FieldMaskUtil;
using stp::events::v1::Event;
using stp::events::v1::EventType;

namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;
constexpr int kUpdateAttempts = 5;
constexpr int kListScanBudget = 5000;  // entries examined per List call before a partial page

template <typename R>
struct Traits;
template <>
struct Traits<v1::Country> {
  static constexpr Kind kKind = Kind::kCountry;
  static constexpr const char* kCollection = "countries";
  static constexpr EventType kCreated = stp::events::v1::EVENT_TYPE_COUNTRY_CREATED;
  static constexpr EventType kUpdated = stp::events::v1::EVENT_TYPE_COUNTRY_UPDATED;
  static constexpr EventType kDeleted = stp::events::v1::EVENT_TYPE_COUNTRY_UPDATED;
  static constexpr int kSnapshotField = Event::kCountryFieldNumber;
};
template <>
struct Traits<v1::Organization> {
  static constexpr Kind kKind = Kind::kOrganization;
  static constexpr const char* kCollection = "organizations";
  static constexpr EventType kCreated = stp::events::v1::EVENT_TYPE_ORGANIZATION_CREATED;
  static constexpr EventType kUpdated = stp::events::v1::EVENT_TYPE_ORGANIZATION_UPDATED;
  static constexpr EventType kDeleted = stp::events::v1::EVENT_TYPE_ORGANIZATION_DELETED;
  static constexpr int kSnapshotField = Event::kOrganizationFieldNumber;
};
template <>
struct Traits<v1::Park> {
  static constexpr Kind kKind = Kind::kPark;
  static constexpr const char* kCollection = "parks";
  static constexpr EventType kCreated = stp::events::v1::EVENT_TYPE_PARK_CREATED;
  static constexpr EventType kUpdated = stp::events::v1::EVENT_TYPE_PARK_UPDATED;
  static constexpr EventType kDeleted = stp::events::v1::EVENT_TYPE_PARK_DELETED;
  static constexpr int kSnapshotField = Event::kParkFieldNumber;
};
template <>
struct Traits<v1::Project> {
  static constexpr Kind kKind = Kind::kProject;
  static constexpr const char* kCollection = "projects";
  static constexpr EventType kCreated = stp::events::v1::EVENT_TYPE_PROJECT_CREATED;
  static constexpr EventType kUpdated = stp::events::v1::EVENT_TYPE_PROJECT_UPDATED;
  static constexpr EventType kDeleted = stp::events::v1::EVENT_TYPE_PROJECT_DELETED;
  static constexpr int kSnapshotField = Event::kProjectFieldNumber;
};

// Fields the server owns; never copied from a request.
const std::set<std::string>& OutputOnlyFields() {
  static const auto* fields =
      new std::set<std::string>{"name",       "etag",     "create_time",        "update_time",
                                "updated_by", "revision", "possible_duplicates"};
  return *fields;
}

int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

// The time of a write to a stored resource: now, in whole milliseconds, but at least one
// millisecond after the resource's last write. A replica whose clock is behind the one that
// wrote last therefore never stamps a change as older than the state it replaces, and readers
// that order a resource's states by time (the scoring read model's rebuild) see them in order.
absl::Time WriteTimeAfter(absl::Time now, const google::protobuf::Timestamp& last) {
  return absl::FromUnixMillis(
      std::max(absl::ToUnixMillis(now),
               google::protobuf::util::TimeUtil::TimestampToMilliseconds(last) + 1));
}

absl::Status NotFound(const std::string& name) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat(name, " does not exist")), "NOT_FOUND",
                       {{"resource", name}});
}

absl::Status InvalidPageSize() {
  return InvalidField("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
}

int PageSizeOf(int requested) { return requested == 0 ? kDefaultPageSize : requested; }

// Page tokens: base64url of "<filter fingerprint>|<score>|<last id>".
std::string EncodeToken(const std::string& fingerprint, double score, const std::string& id) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(fingerprint, "|", static_cast<int64_t>(score), "|", id));
}

absl::Status DecodeToken(const std::string& token, const std::string& fingerprint, double* score,
                         std::string* id) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '|');
  int64_t s = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &s)) {
    return InvalidField("page_token", "is not a token this method returned");
  }
  if (parts[0] != fingerprint) {
    return InvalidField("page_token",
                        "was issued for a different filter; start again without a token");
  }
  *score = static_cast<double>(s);
  *id = parts[2];
  return absl::OkStatus();
}

template <typename R>
void StampMetadata(R* r, const RequestContext& rc, absl::Time now, const std::string& etag,
                   bool create) {
  if (create) *r->mutable_create_time() = common::ToTimestamp(now);
  *r->mutable_update_time() = common::ToTimestamp(now);
  r->set_updated_by(rc.principal.Actor());
  r->set_etag(etag);
}

// The event of a write. Its snapshot is the record as stored, already serialized: the bytes
// are appended as the snapshot field rather than copied into the event and serialized a second
// time. A field may come in any order on the wire, so a reader parses the same event.
template <typename R>
std::string MakeEvent(const RequestContext& rc, EventType type, const R& snapshot,
                      const std::string& serialized, int partition, int64_t revision,
                      const std::vector<std::string>& changed, absl::Time now,
                      const std::string& request_id) {
  using google::protobuf::internal::WireFormatLite;
  Event e;
  e.set_type(type);
  e.set_resource(snapshot.name());
  *e.mutable_occur_time() = common::ToTimestamp(now);
  e.set_actor(rc.principal.Actor());
  e.set_request_id(request_id);
  e.set_partition(partition);
  e.set_revision(revision);
  for (const auto& f : changed) e.add_changed_fields(f);
  e.set_traceparent(rc.traceparent);
  std::string out = e.SerializeAsString();
  uint8_t prefix[16];
  uint8_t* end = WireFormatLite::WriteTagToArray(Traits<R>::kSnapshotField,
                                                 WireFormatLite::WIRETYPE_LENGTH_DELIMITED, prefix);
  end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(serialized.size()), end);
  out.append(reinterpret_cast<const char*>(prefix), end - prefix);
  out.append(serialized);
  return out;
}

std::pair<std::vector<std::string>, std::vector<std::string>> Diff(std::vector<std::string> before,
                                                                   std::vector<std::string> after) {
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  std::vector<std::string> removed, added;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(removed));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  return {removed, added};
}

std::string CountryCode(const std::string& country_name) {
  return country_name.size() == 12 ? country_name.substr(10) : "";
}

// Copies the fields of `mask` (or every writable field) from `input` onto `merged`.
template <typename R>
absl::Status ApplyMask(const R& input, const FieldMask& mask, R* merged) {
  FieldMaskUtil::MergeOptions options;
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  if (mask.paths().empty()) {
    // Every writable field from the input; the output-only ones stay as stored.
    R saved = *merged;
    *merged = input;
    FieldMask keep;
    for (const auto& f : OutputOnlyFields()) {
      if (R::descriptor()->FindFieldByName(f) != nullptr) keep.add_paths(f);
    }
    FieldMaskUtil::MergeMessageTo(saved, keep, options, merged);
    return absl::OkStatus();
  }
  FieldViolations v;
  for (int i = 0; i < mask.paths_size(); ++i) {
    const std::string& path = mask.paths(i);
    std::string top = path.substr(0, path.find('.'));
    if (R::descriptor()->FindFieldByName(top) == nullptr) {
      v.Add(absl::StrCat("update_mask.paths[", i, "]"), absl::StrCat("no field \"", path, "\""));
    } else if (OutputOnlyFields().count(top)) {
      v.Add(absl::StrCat("update_mask.paths[", i, "]"),
            absl::StrCat("\"", top, "\" is output only"));
    } else if (!FieldMaskUtil::GetFieldDescriptors(R::descriptor(), path, nullptr)) {
      v.Add(absl::StrCat("update_mask.paths[", i, "]"), absl::StrCat("no field \"", path, "\""));
    }
  }
  STP_RETURN_IF_ERROR(v.ToStatus());
  FieldMaskUtil::MergeMessageTo(input, mask, options, merged);
  return absl::OkStatus();
}

// Reports the top-level field of each difference.
class TopLevelReporter : public google::protobuf::util::MessageDifferencer::Reporter {
 public:
  explicit TopLevelReporter(std::set<std::string>* fields) : fields_(fields) {}
  using SpecificField = google::protobuf::util::MessageDifferencer::SpecificField;
  void ReportAdded(const Message&, const Message&,
                   const std::vector<SpecificField>& path) override {
    Add(path);
  }
  void ReportDeleted(const Message&, const Message&,
                     const std::vector<SpecificField>& path) override {
    Add(path);
  }
  void ReportModified(const Message&, const Message&,
                      const std::vector<SpecificField>& path) override {
    Add(path);
  }

 private:
  void Add(const std::vector<SpecificField>& path) {
    if (!path.empty() && path[0].field != nullptr) fields_->insert(path[0].field->name());
  }
  std::set<std::string>* fields_;
};

absl::Status Denied(const std::string& message, const std::string& reason) {
  return WithErrorInfo(absl::PermissionDeniedError(message), reason);
}

}  // namespace

// ------------------------------------------------------------------ helpers

std::vector<std::string> ExternalIdKeys(
    const google::protobuf::RepeatedPtrField<stp::common::v1::ExternalId>& ids) {
  std::vector<std::string> out;
  for (const auto& x : ids) out.push_back(absl::StrCat(x.source(), ":", x.value()));
  return out;
}

std::vector<std::string> IndexTerms(const v1::Country& c) {
  std::vector<std::string> terms = {""};
  if (c.bri().member()) terms.push_back("bri:1");
  if (c.income_group() != 0) terms.push_back(absl::StrCat("income:", c.income_group()));
  return terms;
}

std::vector<std::string> IndexTerms(const v1::Organization& o) {
  std::vector<std::string> terms = {""};
  if (!o.country().empty()) terms.push_back("country:" + CountryCode(o.country()));
  for (int a : o.avenues()) terms.push_back(absl::StrCat("avenue:", a));
  for (int r : o.roles()) terms.push_back(absl::StrCat("role:", r));
  if (o.type() != 0) terms.push_back(absl::StrCat("type:", o.type()));
  return terms;
}

std::vector<std::string> IndexTerms(const v1::Park& p) {
  std::vector<std::string> terms = {"", "country:" + CountryCode(p.host_country())};
  for (int a : p.focus_avenues()) terms.push_back(absl::StrCat("avenue:", a));
  return terms;
}

std::vector<std::string> IndexTerms(const v1::Project& p) {
  std::string cc = CountryCode(p.host_country());
  std::vector<std::string> terms = {"", "country:" + cc, absl::StrCat("stage:", p.stage())};
  for (int a : p.avenues()) terms.push_back(absl::StrCat("avenue:", a));
  if (!p.park().empty()) terms.push_back("park:" + IdOf(p.park(), "parks"));
  for (const auto& part : p.participants()) {
    terms.push_back("org:" + IdOf(part.organization(), "organizations"));
  }
  if (p.cooperation_model() != 0) terms.push_back(absl::StrCat("model:", p.cooperation_model()));
  for (const auto& t : TitleTokens(p.title())) terms.push_back(absl::StrCat("dup:", cc, ":", t));
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  return terms;
}

std::vector<std::string> TitleTokens(absl::string_view title) {
  static const auto* stop = new std::set<std::string>{
      "project",     "projects",   "programme",    "program",     "support",
      "development", "phase",      "with",         "from",        "that",
      "this",        "into",       "their",        "other",       "national",
      "technical",   "assistance", "construction", "cooperation", "china",
      "chinese",     "provides",   "grant",        "loan",        "fund"};
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    bool digits =
        std::all_of(cur.begin(), cur.end(), [](char c) { return absl::ascii_isdigit(c); });
    if (cur.size() >= 4 && !digits && !stop->count(cur)) out.push_back(cur);
    cur.clear();
  };
  for (char c : title) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(c) || u >= 0x80)
      cur.push_back(absl::ascii_tolower(c));
    else
      flush();
  }
  flush();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  // The longest words say most about a title; six are enough to recognise it.
  if (out.size() > 6) {
    std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
      return a.size() > b.size();
    });
    out.resize(6);
    std::sort(out.begin(), out.end());
  }
  return out;
}

std::string Fingerprint(const Message& request) { return MessageFingerprint(request); }

std::string Registry::NameInCountry(const std::string& normalized, const std::string& country) {
  // '|' never appears in a normalised name.
  return absl::StrCat(normalized, "|", country);
}

std::vector<std::string> Registry::NameKeys(const v1::Organization& org) {
  std::vector<std::string> keys = {NormalizeName(org.display_name())};
  if (!org.country().empty()) keys.push_back(NameInCountry(keys[0], org.country()));
  return keys;
}

std::string Registry::NormalizeName(absl::string_view name) {
  std::string out;
  bool space = false;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(c) || u >= 0x80) {
      if (space && !out.empty()) out.push_back(' ');
      out.push_back(absl::ascii_tolower(c));
      space = false;
    } else {
      space = true;
    }
  }
  if (absl::StartsWith(out, "the ")) out = out.substr(4);
  return out;
}

std::vector<std::string> Registry::ChangedFields(const Message& a, const Message& b) {
  std::set<std::string> fields;
  google::protobuf::util::MessageDifferencer differ;
  TopLevelReporter reporter(&fields);
  differ.ReportDifferencesTo(&reporter);
  for (const auto& f : OutputOnlyFields()) {
    if (const auto* field = a.GetDescriptor()->FindFieldByName(f)) differ.IgnoreField(field);
  }
  differ.Compare(a, b);
  return {fields.begin(), fields.end()};
}

bool Registry::IsParticipant(const Principal& principal, const v1::Project& project) {
  if (principal.organization.empty()) return false;
  for (const auto& p : project.participants()) {
    if (p.organization() == principal.organization) return true;
  }
  return false;
}

bool Registry::Visible(const Principal& principal, const v1::Project& project) {
  if (project.visibility() != v1::VISIBILITY_PARTICIPANTS) return true;
  return principal.is_operator() || IsParticipant(principal, project);
}

Registry::Registry(RegistryStore* store, Clock clock) : store_(store), clock_(std::move(clock)) {}

std::string Registry::NewIdNear(const std::string& anchor) const {
  absl::Time now = clock_();
  std::string id = NewResourceId(now);
  if (anchor.empty()) return id;
  int want = store_->PartitionOf(anchor);
  while (store_->PartitionOf(id) != want) id = NewResourceId(now);
  return id;
}

namespace {

template <typename R>
absl::StatusOr<R> ParseLoaded(const std::string& id, std::optional<StoredResource> found) {
  if (!found.has_value()) return NotFound(absl::StrCat(Traits<R>::kCollection, "/", id));
  R r;
  if (!r.ParseFromString(found->data)) {
    return absl::DataLossError(
        absl::StrCat("stored ", Traits<R>::kCollection, "/", id, " is unreadable"));
  }
  return r;
}

}  // namespace

template <typename R>
absl::StatusOr<R> Registry::Load(Kind kind, const std::string& id, absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(auto found, store_->GetMany(kind, {id}, deadline));
  return ParseLoaded<R>(id, std::move(found[0]));
}

namespace {

// The id a request record ("<id>|<fingerprint>") answers with, for a request whose
// fingerprint is `fingerprint`.
absl::StatusOr<std::string> ReplayedId(const std::string& record, const std::string& fingerprint) {
  std::vector<std::string> parts = absl::StrSplit(record, '|');
  if (parts.size() != 2 || parts[1] != fingerprint) {
    return WithErrorInfo(InvalidField("request_id",
                                      "was already used for a different request; use a new "
                                      "request_id for a new request"),
                         "REQUEST_ID_REUSED");
  }
  return parts[0];
}

absl::Status IdTaken(Kind kind) {
  return WithErrorInfo(
      absl::AbortedError(absl::StrCat("every id drawn for the new ", KindName(kind),
                                      " was taken; retry with the same request_id")),
      "ID_TAKEN");
}

}  // namespace

absl::StatusOr<std::optional<std::string>> Registry::FindRequest(const RequestContext& rc,
                                                                 const std::string& anchor,
                                                                 const std::string& request_id) {
  return store_->FindRequest(anchor, RequestScope(rc.principal), request_id, rc.deadline);
}

namespace {

// A replayed answer is the resource as it is now, and only for a caller that may still see it:
// a project made visible to its participants only, without the caller's organisation, since.
template <typename R>
absl::StatusOr<R> VisibleTo(const Principal& principal, absl::StatusOr<R> resource) {
  if constexpr (std::is_same_v<R, v1::Project>) {
    if (resource.ok() && !Registry::Visible(principal, *resource))
      return NotFound(resource->name());
  }
  return resource;
}

}  // namespace

template <typename R>
absl::StatusOr<R> Registry::Replay(const RequestContext& rc, Kind kind, const std::string& record,
                                   const std::string& fingerprint) {
  STP_ASSIGN_OR_RETURN(std::string id, ReplayedId(record, fingerprint));
  return VisibleTo<R>(rc.principal, Load<R>(kind, id, rc.deadline));
}

template <typename R>
void Registry::ReplayAsync(const RequestContext& rc, Kind kind, const std::string& record,
                           const std::string& fingerprint,
                           std::function<void(absl::StatusOr<R>)> reply) {
  absl::StatusOr<std::string> id = ReplayedId(record, fingerprint);
  if (!id.ok()) return reply(id.status());
  store_->GetAsync({kind, *id}, rc.deadline,
                   [principal = rc.principal, id = *id,
                    reply = std::move(reply)](absl::StatusOr<std::optional<StoredResource>> found) {
                     if (!found.ok()) return reply(found.status());
                     reply(VisibleTo<R>(principal, ParseLoaded<R>(id, *std::move(found))));
                   });
}

template <typename R>
absl::StatusOr<R> Registry::AnswerUnchanged(const RequestContext& rc, Kind kind,
                                            const std::string& id, const std::string& request_id,
                                            const std::string& fingerprint, R current) {
  if (request_id.empty()) return current;
  WriteOp op;
  op.kind = kind;
  op.id = id;  // the partition FindRequest(rc, id, ...) reads
  KeepRequest(rc.principal, request_id, RequestRecord(id, fingerprint), &op);
  STP_ASSIGN_OR_RETURN(auto prior, store_->RememberRequests({op}, rc.deadline));
  // Kept meanwhile by a request of the same id: its answer (or REQUEST_ID_REUSED).
  if (prior[0].has_value()) return Replay<R>(rc, kind, *prior[0], fingerprint);
  return current;
}

template <typename R>
absl::StatusOr<R> Registry::Commit(const RequestContext& rc, WriteOp op, const R& resource) {
  STP_ASSIGN_OR_RETURN(auto results, store_->Write({op}, rc.deadline));
  return Answer(rc, op, results[0], resource);
}

namespace {

// RedrawTakenIds between its writes.
struct Redraw {
  std::vector<WriteOp>* ops;
  std::function<WriteOp(size_t)> redraw;
  Registry::WriteFn write;
  RegistryStore::WriteDone done;
  std::vector<WriteResult> results;
  std::vector<size_t> taken;  // the ops the last write wrote again
  int writes = 1;

  static void Written(std::shared_ptr<Redraw> r, absl::StatusOr<std::vector<WriteResult>> written) {
    if (!written.ok()) return r->done(written.status());
    if (r->writes == 1) {
      r->results = *std::move(written);
    } else {
      for (size_t k = 0; k < r->taken.size(); ++k)
        r->results[r->taken[k]] = std::move((*written)[k]);
    }
    r->taken.clear();
    std::vector<WriteOp> again;
    // A refused create left nothing behind (the write script checks before it writes), so
    // the redrawn one is written in its place.
    for (size_t i = 0; r->writes < Registry::kCreateAttempts && i < r->results.size(); ++i) {
      WriteOp& op = (*r->ops)[i];
      if (r->results[i].code != WriteResult::Code::kExists || op.type != WriteOp::Type::kCreate)
        continue;
      LogWarning("a newly drawn id was taken; drawing another",
                 {{"id", op.id}, {"kind", KindName(op.kind)}});
      op = r->redraw(i);
      r->taken.push_back(i);
      again.push_back(op);
    }
    if (r->taken.empty()) return r->done(std::move(r->results));
    ++r->writes;
    r->write(again, [r](absl::StatusOr<std::vector<WriteResult>> retried) {
      Written(r, std::move(retried));
    });
  }
};

}  // namespace

void Registry::RedrawTakenIds(std::vector<WriteOp>* ops, std::function<WriteOp(size_t)> redraw,
                              WriteFn write, RegistryStore::WriteDone done) {
  auto r = std::make_shared<Redraw>();
  r->ops = ops;
  r->redraw = std::move(redraw);
  r->write = std::move(write);
  r->done = std::move(done);
  r->write(*ops, [r](absl::StatusOr<std::vector<WriteResult>> written) {
    Redraw::Written(r, std::move(written));
  });
}

absl::StatusOr<std::vector<WriteResult>> Registry::WriteRedrawingTakenIds(
    std::vector<WriteOp>* ops, const std::function<WriteOp(size_t)>& redraw, absl::Time deadline) {
  // Each write answers before it returns, so the whole loop has run when this call returns.
  absl::StatusOr<std::vector<WriteResult>> out = absl::InternalError("the write did not answer");
  RedrawTakenIds(
      ops, redraw,
      [this, deadline](const std::vector<WriteOp>& batch, RegistryStore::WriteDone done) {
        done(store_->Write(batch, deadline));
      },
      [&out](absl::StatusOr<std::vector<WriteResult>> results) { out = std::move(results); });
  return out;
}

template <typename R>
absl::StatusOr<R> Registry::CommitCreate(const RequestContext& rc,
                                         const std::function<std::pair<WriteOp, R>()>& prepare) {
  // The caller named no id, so a taken one is drawn again rather than answered with
  // ALREADY_EXISTS.
  std::pair<WriteOp, R> prepared = prepare();
  std::vector<WriteOp> ops{std::move(prepared.first)};
  STP_ASSIGN_OR_RETURN(auto results, WriteRedrawingTakenIds(
                                         &ops,
                                         [&](size_t) {
                                           prepared = prepare();
                                           return prepared.first;
                                         },
                                         rc.deadline));
  if (results[0].code == WriteResult::Code::kExists) return IdTaken(ops[0].kind);
  return Answer(rc, ops[0], results[0], prepared.second);
}

template <typename R>
absl::StatusOr<R> Registry::Answer(const RequestContext& rc, const WriteOp& op,
                                   const WriteResult& result, const R& resource) {
  switch (result.code) {
    case WriteResult::Code::kOk:
      return resource;
    case WriteResult::Code::kDuplicateRequest:
      return Replay<R>(rc, op.kind, result.detail, RequestRecordFingerprint(op.request_record));
    case WriteResult::Code::kExists:
      return WithErrorInfo(absl::AlreadyExistsError(resource.name() + " already exists"),
                           "ALREADY_EXISTS");
    case WriteResult::Code::kNotFound:
      return NotFound(resource.name());
    case WriteResult::Code::kEtagMismatch:
      return WithErrorInfo(
          absl::AbortedError(resource.name() + " changed concurrently; read it again and retry"),
          "ETAG_MISMATCH", {{"current_etag", result.detail}});
    case WriteResult::Code::kExternalIdTaken: {
      std::string xid = result.detail.substr(0, result.detail.find('='));
      std::string owner = result.detail.substr(result.detail.find('=') + 1);
      // The project holding it may be hidden from the caller: only operators are told which.
      if (op.kind == Kind::kProject && !rc.principal.is_operator()) {
        return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                 "external id ", xid, " already belongs to another project")),
                             "EXTERNAL_ID_TAKEN", {{"external_id", xid}});
      }
      return WithErrorInfo(
          absl::AlreadyExistsError(absl::StrCat("external id ", xid, " already belongs to ",
                                                Traits<R>::kCollection, "/", owner)),
          "EXTERNAL_ID_TAKEN",
          {{"external_id", xid}, {"resource", absl::StrCat(Traits<R>::kCollection, "/", owner)}});
    }
  }
  return absl::InternalError("unknown write result");
}

// ------------------------------------------------------------------ reference checks

// Countries are never deleted, so one that was seen once stays known: most checks need no
// round trip.
bool Registry::CountryKnown(const std::string& name) {
  absl::MutexLock lock(&known_countries_mu_);
  return known_countries_.contains(name);
}

void Registry::CountryRead(const std::string& path, const std::string& name, bool exists,
                           FieldViolations* v) {
  if (!exists) {
    v->Add(path, absl::StrCat(name,
                              " is not a known country; an operator loads countries before "
                              "projects name them"));
    return;
  }
  absl::MutexLock lock(&known_countries_mu_);
  known_countries_.insert(name);
}

absl::Status Registry::CheckCountriesExist(
    const std::vector<std::pair<std::string, std::string>>& refs, absl::Time deadline,
    FieldViolations* v) {
  std::vector<size_t> unknown;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (!CountryKnown(refs[i].second)) unknown.push_back(i);
  }
  if (unknown.empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  for (size_t i : unknown) ids.push_back(CountryCode(refs[i].second));
  STP_ASSIGN_OR_RETURN(auto found, store_->GetMany(Kind::kCountry, ids, deadline));
  for (size_t j = 0; j < unknown.size(); ++j) {
    const auto& [path, name] = refs[unknown[j]];
    CountryRead(path, name, found[j].has_value(), v);
  }
  return absl::OkStatus();
}

absl::Status Registry::CheckOrganizationsExist(
    const std::vector<std::pair<std::string, std::string>>& refs, absl::Time deadline,
    FieldViolations* v) {
  std::vector<std::string> ids;
  for (const auto& [path, name] : refs) ids.push_back(IdOf(name, "organizations"));
  if (ids.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto found, store_->GetMany(Kind::kOrganization, ids, deadline));
  for (size_t i = 0; i < refs.size(); ++i) {
    if (!found[i].has_value()) v->Add(refs[i].first, refs[i].second + " does not exist");
  }
  return absl::OkStatus();
}

// The reads CheckReferences makes for a project, and what each answers.
struct Registry::ReferenceCheck {
  std::vector<ResourceRef> reads;
  bool country_read = false;  // reads[0] is the host country, not yet known to exist
  // (field path, name) of the organisations named, and the read of each (-1: not a name).
  std::vector<std::pair<std::string, std::string>> refs;
  std::vector<int> read_of;
  bool park_read = false;  // the last read is the park
  // Organisations and park the stored project already names: kept if deleted since.
  std::set<std::string> kept;
};

Registry::ReferenceCheck Registry::PlanReferenceCheck(const v1::Project& project,
                                                      const std::string& path,
                                                      const v1::Project* current) {
  ReferenceCheck check;
  if (current != nullptr) {
    for (const auto& p : current->participants()) check.kept.insert(p.organization());
    for (const auto& f : current->financing().commitments())
      check.kept.insert(f.source_organization());
    for (const auto& f : current->financing().disbursements())
      check.kept.insert(f.source_organization());
    if (!current->park().empty()) check.kept.insert(current->park());
  }
  check.country_read =
      IsCountryName(project.host_country()) && !CountryKnown(project.host_country());
  if (check.country_read)
    check.reads.push_back({Kind::kCountry, CountryCode(project.host_country())});
  // Every organisation named, read once: existence, and the participants' display names.
  for (int i = 0; i < project.participants_size(); ++i) {
    check.refs.emplace_back(absl::StrCat(path, ".participants[", i, "].organization"),
                            project.participants(i).organization());
  }
  auto flows = [&](const auto& list, const char* field) {
    for (int i = 0; i < list.size(); ++i) {
      if (!list.Get(i).source_organization().empty()) {
        check.refs.emplace_back(
            absl::StrCat(path, ".financing.", field, "[", i, "].source_organization"),
            list.Get(i).source_organization());
      }
    }
  };
  flows(project.financing().commitments(), "commitments");
  flows(project.financing().disbursements(), "disbursements");
  for (const auto& [field, name] : check.refs) {
    if (!IsResourceName(name, "organizations")) {
      check.read_of.push_back(-1);
      continue;
    }
    check.read_of.push_back(static_cast<int>(check.reads.size()));
    check.reads.push_back({Kind::kOrganization, IdOf(name, "organizations")});
  }
  check.park_read = IsResourceName(project.park(), "parks");
  if (check.park_read) check.reads.push_back({Kind::kPark, IdOf(project.park(), "parks")});
  return check;
}

void Registry::ApplyReferenceCheck(const ReferenceCheck& check,
                                   const std::vector<std::optional<StoredResource>>& found,
                                   const std::string& path, v1::Project* project,
                                   FieldViolations* v) {
  if (check.country_read) {
    CountryRead(path + ".host_country", project->host_country(), found[0].has_value(), v);
  }
  for (size_t i = 0; i < check.refs.size(); ++i) {
    if (check.read_of[i] < 0) continue;
    const std::optional<StoredResource>& org = found[check.read_of[i]];
    if (!org.has_value()) {
      if (!check.kept.count(check.refs[i].second))
        v->Add(check.refs[i].first, check.refs[i].second + " does not exist");
      continue;
    }
    if (static_cast<int>(i) < project->participants_size()) {
      v1::Organization parsed;
      if (parsed.ParseFromString(org->data)) {
        project->mutable_participants(static_cast<int>(i))->set_display_name(parsed.display_name());
      }
    }
  }
  if (check.park_read && !found.back().has_value() && !check.kept.count(project->park())) {
    v->Add(path + ".park", project->park() + " does not exist");
  }
}

absl::Status Registry::CheckReferences(v1::Project* project, const std::string& path,
                                       const RequestContext& rc, FieldViolations* v,
                                       const v1::Project* current) {
  ReferenceCheck check = PlanReferenceCheck(*project, path, current);
  if (check.reads.empty()) return absl::OkStatus();
  STP_ASSIGN_OR_RETURN(auto found, store_->GetMany(check.reads, rc.deadline));
  ApplyReferenceCheck(check, found, path, project, v);
  return absl::OkStatus();
}

// ------------------------------------------------------------------ duplicates

DuplicateSummary DuplicateSummary::Of(const v1::Project& p) {
  DuplicateSummary d;
  d.name = p.name();
  d.host_country = p.host_country();
  if (p.has_actual_start() && IsValidDate(p.actual_start()))
    d.start = DateToDays(p.actual_start());
  else if (p.has_planned_start() && IsValidDate(p.planned_start()))
    d.start = DateToDays(p.planned_start());
  if (p.has_actual_end() && IsValidDate(p.actual_end()))
    d.end = DateToDays(p.actual_end());
  else if (p.has_planned_end() && IsValidDate(p.planned_end()))
    d.end = DateToDays(p.planned_end());
  d.tokens = TitleTokens(p.title());
  d.hidden = p.visibility() == v1::VISIBILITY_PARTICIPANTS;
  for (const auto& x : p.external_ids()) d.sources.push_back(x.source());
  std::sort(d.sources.begin(), d.sources.end());
  d.sources.erase(std::unique(d.sources.begin(), d.sources.end()), d.sources.end());
  return d;
}

bool LooksLikeDuplicate(const DuplicateSummary& a, const DuplicateSummary& b) {
  if (a.host_country != b.host_country) return false;
  // One source never duplicates itself.
  std::vector<std::string> common;
  std::set_intersection(a.sources.begin(), a.sources.end(), b.sources.begin(), b.sources.end(),
                        std::back_inserter(common));
  if (!common.empty()) return false;
  if (a.start > b.end || b.start > a.end) return false;
  std::vector<std::string> shared;
  std::set_intersection(a.tokens.begin(), a.tokens.end(), b.tokens.begin(), b.tokens.end(),
                        std::back_inserter(shared));
  size_t uni = a.tokens.size() + b.tokens.size() - shared.size();
  return shared.size() >= 2 && uni > 0 && 2 * shared.size() >= uni;
}

void DuplicateCandidates::Remember(const std::string& id, DuplicateSummary summary) {
  auto it = by_id_.find(id);
  if (!summary.CanMatch()) {  // never anyone's duplicate: no need to keep it
    if (it != by_id_.end()) by_id_.erase(it);
    return;
  }
  if (it != by_id_.end()) {
    it->second = std::move(summary);
  } else if (by_id_.size() < capacity_) {
    by_id_.emplace(id, std::move(summary));
  }
}

const DuplicateSummary* DuplicateCandidates::Find(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

struct Registry::DuplicateProbe {
  std::vector<std::string> terms;
  std::map<std::string, size_t> term_index;
  absl::Notification done;
  absl::StatusOr<std::vector<std::vector<std::string>>> ids_by_term;
};

// A word shared by many projects of a country ("solar" in a solar-heavy portfolio) says
// nothing about sameness: terms that fill the probe are ignored.
constexpr int kDuplicateProbe = 48;

namespace {

// The index terms under which a project's look-alikes are found: one per title word, in its
// host country. None for a title of fewer than two words.
std::vector<std::string> DuplicateTerms(const std::string& host_country,
                                        const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  if (tokens.size() < 2) return out;
  std::string cc = CountryCode(host_country);
  for (const auto& t : tokens) out.push_back(absl::StrCat("dup:", cc, ":", t));
  return out;
}

}  // namespace

std::shared_ptr<Registry::DuplicateProbe> Registry::StartDuplicateProbe(
    const std::vector<const v1::Project*>& projects, absl::Time deadline,
    std::function<void()> then) {
  auto probe = std::make_shared<DuplicateProbe>();
  for (const v1::Project* p : projects) {
    for (auto& term : DuplicateTerms(p->host_country(), TitleTokens(p->title()))) {
      if (probe->term_index.emplace(term, probe->terms.size()).second)
        probe->terms.push_back(std::move(term));
    }
  }
  if (probe->terms.empty()) {
    probe->ids_by_term = std::vector<std::vector<std::string>>();
    probe->done.Notify();
    if (then) then();
    return probe;
  }
  store_->IdsOfTermsAsync(
      Kind::kProject, probe->terms, kDuplicateProbe, deadline,
      [probe, then = std::move(then)](absl::StatusOr<std::vector<std::vector<std::string>>> ids) {
        probe->ids_by_term = std::move(ids);
        probe->done.Notify();
        if (then) then();
      });
  return probe;
}

// FlagDuplicates' state between its steps.
struct Registry::DuplicateCheck {
  std::vector<v1::Project*> projects;
  std::vector<DuplicateSummary> ours;
  std::vector<std::vector<std::string>> terms;       // per project (DuplicateTerms)
  std::vector<std::vector<std::string>> candidates;  // per project: ids the probe names
  std::vector<std::string> to_read;                  // candidates `known` does not hold

  // Nothing to look for (no project, or titles of fewer than two words): no read to wait for.
  bool Empty() const {
    return std::all_of(terms.begin(), terms.end(), [](const auto& t) { return t.empty(); });
  }
  bool CoveredBy(const DuplicateProbe* probe) const {
    if (probe == nullptr) return false;
    for (const auto& list : terms) {
      for (const auto& term : list) {
        if (!probe->term_index.count(term)) return false;
      }
    }
    return true;
  }
};

Registry::DuplicateCheck Registry::BeginDuplicateCheck(std::vector<v1::Project*> projects) {
  DuplicateCheck check;
  // Flags are the probe's alone: none that a client sent, none that an earlier title earned.
  for (v1::Project* p : projects) p->clear_possible_duplicates();
  check.projects = std::move(projects);
  for (v1::Project* p : check.projects) {
    check.ours.push_back(DuplicateSummary::Of(*p));
    check.terms.push_back(DuplicateTerms(check.ours.back().host_country, check.ours.back().tokens));
  }
  check.candidates.resize(check.projects.size());
  return check;
}

absl::Status Registry::FindDuplicateCandidates(DuplicateCheck* check, const DuplicateProbe& probe,
                                               DuplicateCandidates* known) {
  if (probe.terms.empty()) return absl::OkStatus();
  if (!probe.ids_by_term.ok()) return probe.ids_by_term.status();
  const std::vector<std::vector<std::string>>& ids_by_term = *probe.ids_by_term;
  std::set<std::string> to_read;
  for (size_t i = 0; i < check->projects.size(); ++i) {
    absl::flat_hash_map<absl::string_view, int> hits;
    const std::string self = IdOf(check->projects[i]->name(), "projects");
    for (const auto& term : check->terms[i]) {
      // A term that fills the probe comes back empty.
      for (const auto& id : ids_by_term[probe.term_index.at(term)]) {
        if (id != self) ++hits[id];
      }
    }
    for (const auto& [id, n] : hits) {
      if (n < 2) continue;
      check->candidates[i].emplace_back(id);
      if (known == nullptr || known->Find(check->candidates[i].back()) == nullptr)
        to_read.emplace(id);
    }
  }
  check->to_read.assign(to_read.begin(), to_read.end());
  return absl::OkStatus();
}

void Registry::FlagCandidates(DuplicateCheck* check,
                              const std::vector<std::optional<StoredResource>>& found,
                              DuplicateCandidates* known) {
  std::map<std::string, DuplicateSummary> read;
  for (size_t i = 0; i < check->to_read.size(); ++i) {
    v1::Project stored;
    if (!found[i].has_value() || !stored.ParseFromString(found[i]->data)) continue;
    DuplicateSummary summary = DuplicateSummary::Of(stored);
    if (known != nullptr) known->Remember(check->to_read[i], summary);
    read.emplace(check->to_read[i], std::move(summary));
  }
  for (size_t i = 0; i < check->projects.size(); ++i) {
    std::vector<std::string>& candidates = check->candidates[i];
    std::sort(candidates.begin(), candidates.end());  // flags in id order
    for (const auto& id : candidates) {
      auto it = read.find(id);
      const DuplicateSummary* other = it != read.end()   ? &it->second
                                      : known != nullptr ? known->Find(id)
                                                         : nullptr;
      if (other != nullptr && !other->hidden && LooksLikeDuplicate(check->ours[i], *other)) {
        check->projects[i]->add_possible_duplicates(other->name);
      }
    }
  }
}

absl::Status Registry::FlagDuplicates(std::vector<v1::Project*> projects, absl::Time deadline,
                                      std::shared_ptr<DuplicateProbe> probe,
                                      DuplicateCandidates* known) {
  DuplicateCheck check = BeginDuplicateCheck(std::move(projects));
  if (check.Empty()) return absl::OkStatus();
  if (!check.CoveredBy(probe.get())) {
    probe = StartDuplicateProbe({check.projects.begin(), check.projects.end()}, deadline);
  }
  // The probe answers within its deadline or the Redis command timeout.
  probe->done.WaitForNotification();
  STP_RETURN_IF_ERROR(FindDuplicateCandidates(&check, *probe, known));
  std::vector<std::optional<StoredResource>> found;
  if (!check.to_read.empty()) {
    STP_ASSIGN_OR_RETURN(found, store_->GetMany(Kind::kProject, check.to_read, deadline));
  }
  FlagCandidates(&check, found, known);
  return absl::OkStatus();
}

// ------------------------------------------------------------------ listing

template <typename R>
absl::Status Registry::ListResources(const RequestContext& rc, Kind kind,
                                     std::vector<std::string> terms,
                                     const std::function<bool(const R&)>& keep, int page_size,
                                     const std::string& page_token,
                                     const std::string& filter_fingerprint,
                                     int64_t updated_since_millis, std::vector<R>* out,
                                     std::string* next_token) {
  if (page_size < 0 || page_size > kMaxPageSize) return InvalidPageSize();
  page_size = PageSizeOf(page_size);
  double after_score = 0;
  std::string after;
  if (!page_token.empty())
    STP_RETURN_IF_ERROR(DecodeToken(page_token, filter_fingerprint, &after_score, &after));
  // The most selective index term drives the scan; the other filters are checked per entry.
  std::string term;
  if (updated_since_millis < 0 && !terms.empty()) {
    term = terms[0];
    if (terms.size() > 1) {
      STP_ASSIGN_OR_RETURN(auto counts, store_->CountTerms(kind, terms, rc.deadline));
      size_t best = std::min_element(counts.begin(), counts.end()) - counts.begin();
      term = terms[best];
    }
  }
  int scanned = 0;
  const int batch = std::min(std::max(page_size * 2, 64), 1000);
  while (static_cast<int>(out->size()) < page_size) {
    std::vector<std::string> ids;
    std::vector<double> scores;
    if (updated_since_millis >= 0) {
      STP_ASSIGN_OR_RETURN(auto positions,
                           store_->ListIdsByUpdate(kind, updated_since_millis, {after_score, after},
                                                   batch, rc.deadline));
      for (const auto& p : positions) {
        ids.push_back(p.id);
        scores.push_back(p.score);
      }
    } else {
      STP_ASSIGN_OR_RETURN(ids, store_->ListIds(kind, term, after, batch, rc.deadline));
      scores.assign(ids.size(), 0);
    }
    if (ids.empty()) return absl::OkStatus();  // the end: no next page
    STP_ASSIGN_OR_RETURN(auto found, store_->GetMany(kind, ids, rc.deadline));
    for (size_t i = 0; i < ids.size(); ++i) {
      after = ids[i];
      after_score = scores[i];
      ++scanned;
      if (!found[i].has_value()) continue;  // deleted since the index was read
      R r;
      if (!r.ParseFromString(found[i]->data) || !keep(r)) continue;
      out->push_back(std::move(r));
      if (static_cast<int>(out->size()) == page_size) break;
    }
    if (scanned >= kListScanBudget) break;  // a partial page; the token continues the scan
  }
  *next_token = EncodeToken(filter_fingerprint, after_score, after);
  return absl::OkStatus();
}

// ------------------------------------------------------------------ generic update and delete

template <typename R, typename Req>
absl::StatusOr<R> Registry::UpdateResource(
    const RequestContext& rc, const Req& req, const R& input, const std::string& collection,
    Kind kind,
    const std::function<absl::Status(const R& current, R* merged, FieldViolations* v)>& check) {
  std::string id = IdOf(input.name(), collection);
  if (id.empty()) {
    std::string singular =
        collection == "countries" ? "country" : collection.substr(0, collection.size() - 1);
    return InvalidField(singular + ".name",
                        absl::StrCat("must be a name such as \"", collection, "/{id}\""));
  }
  std::string fingerprint = Fingerprint(req);
  if (!req.request_id().empty()) {
    STP_ASSIGN_OR_RETURN(auto record, FindRequest(rc, id, req.request_id()));
    if (record.has_value()) return Replay<R>(rc, kind, *record, fingerprint);
  }
  for (int attempt = 0;; ++attempt) {
    STP_ASSIGN_OR_RETURN(auto stored, store_->GetMany(kind, {id}, rc.deadline));
    if (!stored[0].has_value()) return NotFound(input.name());
    R current;
    current.ParseFromString(stored[0]->data);
    if (!req.etag().empty() && req.etag() != current.etag()) {
      return WithErrorInfo(
          absl::AbortedError(input.name() + " has changed since it was read (stale etag); "
                                            "read it again, re-apply the change and retry"),
          "ETAG_MISMATCH", {{"current_etag", current.etag()}});
    }
    R merged = current;
    STP_RETURN_IF_ERROR(ApplyMask(input, req.update_mask(), &merged));
    FieldViolations v;
    STP_RETURN_IF_ERROR(check(current, &merged, &v));
    STP_RETURN_IF_ERROR(v.ToStatus());
    std::vector<std::string> changed = ChangedFields(current, merged);
    if (changed.empty()) {  // nothing to change: no write, no event
      return AnswerUnchanged(rc, kind, id, req.request_id(), fingerprint, std::move(current));
    }
    absl::Time now = WriteTimeAfter(clock_(), current.update_time());
    WriteOp op;
    op.kind = kind;
    op.type = WriteOp::Type::kUpdate;
    op.id = id;
    op.expected_etag = stored[0]->etag;
    op.revision = stored[0]->revision + 1;
    op.etag = RandomHex(8);
    op.update_millis = ToMillis(now);
    StampMetadata(&merged, rc, now, op.etag, false);
    std::tie(op.index_remove, op.index_add) = Diff(IndexTerms(current), IndexTerms(merged));
    if constexpr (!std::is_same_v<R, v1::Country>) {
      std::tie(op.external_ids_remove, op.external_ids_add) =
          Diff(ExternalIdKeys(current.external_ids()), ExternalIdKeys(merged.external_ids()));
    }
    if constexpr (std::is_same_v<R, v1::Organization>) {
      std::tie(op.names_remove, op.names_add) = Diff(NameKeys(current), NameKeys(merged));
    }
    op.data = merged.SerializeAsString();
    op.event = MakeEvent(rc, Traits<R>::kUpdated, merged, op.data, store_->PartitionOf(id),
                         op.revision, changed, now, req.request_id());
    KeepRequest(rc.principal, req.request_id(), RequestRecord(id, fingerprint), &op);
    absl::StatusOr<R> result = Commit(rc, op, merged);
    if (result.ok() || result.status().code() != absl::StatusCode::kAborted ||
        !req.etag().empty() || attempt + 1 >= kUpdateAttempts) {
      return result;
    }
    // A concurrent writer won; without a caller etag, re-read and re-apply.
  }
}

template <typename R>
absl::StatusOr<v1::DeleteResponse> Registry::DeleteResource(
    const RequestContext& rc, Kind kind, const std::string& collection, const std::string& name,
    const std::string& etag, const std::string& request_id, const std::string& fingerprint,
    const std::function<absl::Status(const R&)>& allowed) {
  std::string id = IdOf(name, collection);
  if (id.empty())
    return InvalidField("name", absl::StrCat("must be a name such as \"", collection, "/{id}\""));
  v1::DeleteResponse response;
  response.set_name(name);
  // A retry gets the first answer, from the request record (DeleteRequestRecord).
  auto replay = [&](const std::string& record) -> absl::StatusOr<v1::DeleteResponse> {
    if (RequestRecordFingerprint(record) != fingerprint) {
      return WithErrorInfo(InvalidField("request_id", "was already used for a different request"),
                           "REQUEST_ID_REUSED");
    }
    if (auto millis = RequestRecordDeleteMillis(record))
      *response.mutable_delete_time() = common::ToTimestamp(absl::FromUnixMillis(*millis));
    return response;
  };
  if (!request_id.empty()) {
    STP_ASSIGN_OR_RETURN(auto record, FindRequest(rc, id, request_id));
    if (record.has_value()) return replay(*record);
  }
  STP_ASSIGN_OR_RETURN(auto stored, store_->GetMany(kind, {id}, rc.deadline));
  if (!stored[0].has_value()) return NotFound(name);
  R current;
  current.ParseFromString(stored[0]->data);
  STP_RETURN_IF_ERROR(allowed(current));
  if (!etag.empty() && etag != current.etag()) {
    return WithErrorInfo(absl::AbortedError(name + " has changed since it was read (stale etag)"),
                         "ETAG_MISMATCH", {{"current_etag", current.etag()}});
  }
  // Whole milliseconds: the request record keeps the time, and a retry answers it.
  absl::Time now = WriteTimeAfter(clock_(), current.update_time());
  WriteOp op;
  op.kind = kind;
  op.type = WriteOp::Type::kDelete;
  op.id = id;
  op.expected_etag = stored[0]->etag;
  op.revision = stored[0]->revision + 1;
  op.update_millis = ToMillis(now);
  op.index_remove = IndexTerms(current);
  if constexpr (!std::is_same_v<R, v1::Country>)
    op.external_ids_remove = ExternalIdKeys(current.external_ids());
  if constexpr (std::is_same_v<R, v1::Organization>) op.names_remove = NameKeys(current);
  if constexpr (std::is_same_v<R, v1::Project>) {
    v1::ProjectRevision rev;
    rev.set_revision(op.revision);
    rev.set_actor(rc.principal.Actor());
    *rev.mutable_time() = common::ToTimestamp(now);
    rev.set_request_id(request_id);
    rev.set_source("api");
    rev.set_kind(v1::ProjectRevision::KIND_DELETED);
    op.history_entry = rev.SerializeAsString();
  }
  op.event = MakeEvent(rc, Traits<R>::kDeleted, current, stored[0]->data, store_->PartitionOf(id),
                       op.revision, {}, now, request_id);
  KeepRequest(rc.principal, request_id, DeleteRequestRecord(id, ToMillis(now), fingerprint), &op);
  STP_ASSIGN_OR_RETURN(auto results, store_->Write({op}, rc.deadline));
  switch (results[0].code) {
    case WriteResult::Code::kOk:
      *response.mutable_delete_time() = common::ToTimestamp(now);
      return response;
    case WriteResult::Code::kDuplicateRequest:  // a retry that raced the first attempt
      return replay(results[0].detail);
    case WriteResult::Code::kNotFound:
      return NotFound(name);
    default:
      return WithErrorInfo(
          absl::AbortedError(name + " changed concurrently; read it again and retry"),
          "ETAG_MISMATCH");
  }
}

// ------------------------------------------------------------------ countries

absl::StatusOr<v1::Country> Registry::UpsertCountry(const RequestContext& rc,
                                                    const v1::UpsertCountryRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kOperator));
  v1::Country input = req.country();
  if (input.alpha2().empty() && IsCountryName(input.name()))
    input.set_alpha2(input.name().substr(10));
  input.set_name("countries/" + input.alpha2());
  const std::string id = input.alpha2();
  std::string fingerprint = Fingerprint(req);
  FieldViolations v;
  // With an update mask, the input holds only the fields it names: what the stored country
  // becomes is validated once merged (below). Without one, it is the whole country.
  const bool partial = req.update_mask().paths_size() > 0;
  if (partial)
    ValidateCountryCodeShape(input.alpha2(), "country.alpha2", &v);
  else
    ValidateCountry(input, "country", &v, /*stored_code=*/true);
  STP_RETURN_IF_ERROR(v.ToStatus());
  STP_ASSIGN_OR_RETURN(auto stored, store_->GetMany(Kind::kCountry, {id}, rc.deadline));
  if (stored[0].has_value()) {
    return UpdateResource<v1::Country>(
        rc, req, input, "countries", Kind::kCountry,
        [](const v1::Country&, v1::Country* merged, FieldViolations* v) {
          ValidateCountry(*merged, "country", v, /*stored_code=*/true);
          return absl::OkStatus();
        });
  }
  // A new country: validated whole (above, or here when a mask let that wait).
  if (partial) ValidateCountry(input, "country", &v, /*stored_code=*/true);
  ValidateNewCountryCode(id, "country.alpha2", &v);
  STP_RETURN_IF_ERROR(v.ToStatus());
  if (!req.etag().empty()) return NotFound(input.name());
  if (!req.request_id().empty()) {
    STP_ASSIGN_OR_RETURN(auto record, FindRequest(rc, id, req.request_id()));
    if (record.has_value()) return Replay<v1::Country>(rc, Kind::kCountry, *record, fingerprint);
  }
  absl::Time now = clock_();
  WriteOp op;
  op.kind = Kind::kCountry;
  op.type = WriteOp::Type::kCreate;
  op.id = id;
  op.revision = 1;
  op.etag = RandomHex(8);
  op.update_millis = ToMillis(now);
  StampMetadata(&input, rc, now, op.etag, true);
  op.index_add = IndexTerms(input);
  op.data = input.SerializeAsString();
  op.event = MakeEvent(rc, Traits<v1::Country>::kCreated, input, op.data, store_->PartitionOf(id),
                       1, {}, now, req.request_id());
  KeepRequest(rc.principal, req.request_id(), RequestRecord(id, fingerprint), &op);
  absl::StatusOr<v1::Country> created = Commit(rc, op, input);
  if (!created.ok() && created.status().code() == absl::StatusCode::kAlreadyExists) {
    return UpsertCountry(rc, req);  // created concurrently: apply as an update
  }
  return created;
}

absl::StatusOr<v1::Country> Registry::GetCountry(const RequestContext& rc,
                                                 const std::string& name) {
  if (!IsCountryName(name)) return InvalidField("name", "must look like \"countries/EG\"");
  return Load<v1::Country>(Kind::kCountry, name.substr(10), rc.deadline);
}

absl::StatusOr<v1::ListCountriesResponse> Registry::ListCountries(
    const RequestContext& rc, const v1::ListCountriesRequest& req) {
  if (!stp::common::v1::IncomeGroup_IsValid(req.income_group())) {
    return InvalidField("income_group", "unknown value");
  }
  std::vector<std::string> terms;
  if (req.bri_members_only()) terms.push_back("bri:1");
  if (req.income_group() != 0) terms.push_back(absl::StrCat("income:", req.income_group()));
  v1::ListCountriesRequest filter = req;
  filter.clear_page_size();
  filter.clear_page_token();
  std::vector<v1::Country> page;
  std::string next;
  STP_RETURN_IF_ERROR(ListResources<v1::Country>(
      rc, Kind::kCountry, terms,
      [&](const v1::Country& c) {
        return (!req.bri_members_only() || c.bri().member()) &&
               (req.income_group() == 0 || c.income_group() == req.income_group());
      },
      req.page_size(), req.page_token(), Fingerprint(filter), -1, &page, &next));
  v1::ListCountriesResponse resp;
  for (auto& c : page) *resp.add_countries() = std::move(c);
  resp.set_next_page_token(next);
  return resp;
}

// ------------------------------------------------------------------ organizations

WriteOp Registry::PrepareOrganizationCreate(const RequestContext& rc, v1::Organization* org,
                                            const std::string& request_id,
                                            const std::string& fingerprint,
                                            const std::string& anchor) {
  absl::Time now = clock_();
  WriteOp op;
  op.kind = Kind::kOrganization;
  op.type = WriteOp::Type::kCreate;
  op.id = NewIdNear(anchor);
  org->set_name("organizations/" + op.id);
  op.revision = 1;
  op.etag = RandomHex(8);
  op.update_millis = ToMillis(now);
  StampMetadata(org, rc, now, op.etag, true);
  op.index_add = IndexTerms(*org);
  op.external_ids_add = ExternalIdKeys(org->external_ids());
  op.names_add = NameKeys(*org);
  op.data = org->SerializeAsString();
  op.event = MakeEvent(rc, Traits<v1::Organization>::kCreated, *org, op.data,
                       store_->PartitionOf(op.id), 1, {}, now, request_id);
  KeepRequest(rc.principal, request_id, RequestRecord(op.id, fingerprint), &op);
  return op;
}

absl::StatusOr<v1::Organization> Registry::CreateOrganization(
    const RequestContext& rc, const v1::CreateOrganizationRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  v1::Organization org = req.organization();
  org.clear_name();
  FieldViolations v;
  ValidateOrganization(org, "organization", &v);
  if (IsCountryName(org.country())) {
    STP_RETURN_IF_ERROR(
        CheckCountriesExist({{"organization.country", org.country()}}, rc.deadline, &v));
  }
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::string fingerprint = Fingerprint(req);
  std::string anchor =
      org.external_ids().empty() ? req.request_id() : ExternalIdKeys(org.external_ids())[0];
  if (!req.request_id().empty()) {
    STP_ASSIGN_OR_RETURN(auto record, FindRequest(rc, anchor, req.request_id()));
    if (record.has_value())
      return Replay<v1::Organization>(rc, Kind::kOrganization, *record, fingerprint);
  }
  return CommitCreate<v1::Organization>(rc, [&] {
    v1::Organization created = org;
    WriteOp op = PrepareOrganizationCreate(rc, &created, req.request_id(), fingerprint, anchor);
    return std::make_pair(std::move(op), std::move(created));
  });
}

absl::StatusOr<v1::Organization> Registry::GetOrganization(const RequestContext& rc,
                                                           const std::string& name) {
  std::string id = IdOf(name, "organizations");
  if (id.empty()) return InvalidField("name", "must look like \"organizations/{id}\"");
  return Load<v1::Organization>(Kind::kOrganization, id, rc.deadline);
}

absl::StatusOr<v1::ListOrganizationsResponse> Registry::ListOrganizations(
    const RequestContext& rc, const v1::ListOrganizationsRequest& req) {
  FieldViolations v;
  if (!req.country().empty() && !IsCountryName(req.country()))
    v.Add("country", "must look like \"countries/CN\"");
  if (!stp::common::v1::Avenue_IsValid(req.avenue())) v.Add("avenue", "unknown value");
  if (!stp::common::v1::PartnerRole_IsValid(req.role())) v.Add("role", "unknown value");
  if (!v1::OrganizationType_IsValid(req.type())) v.Add("type", "unknown value");
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::vector<std::string> terms;
  if (!req.country().empty()) terms.push_back("country:" + CountryCode(req.country()));
  if (req.avenue() != 0) terms.push_back(absl::StrCat("avenue:", req.avenue()));
  if (req.role() != 0) terms.push_back(absl::StrCat("role:", req.role()));
  if (req.type() != 0) terms.push_back(absl::StrCat("type:", req.type()));
  v1::ListOrganizationsRequest filter = req;
  filter.clear_page_size();
  filter.clear_page_token();
  std::vector<v1::Organization> page;
  std::string next;
  STP_RETURN_IF_ERROR(ListResources<v1::Organization>(
      rc, Kind::kOrganization, terms,
      [&](const v1::Organization& o) {
        return (req.country().empty() || o.country() == req.country()) &&
               (req.avenue() == 0 ||
                std::count(o.avenues().begin(), o.avenues().end(), req.avenue())) &&
               (req.role() == 0 || std::count(o.roles().begin(), o.roles().end(), req.role())) &&
               (req.type() == 0 || o.type() == req.type());
      },
      req.page_size(), req.page_token(), Fingerprint(filter), -1, &page, &next));
  v1::ListOrganizationsResponse resp;
  for (auto& o : page) *resp.add_organizations() = std::move(o);
  resp.set_next_page_token(next);
  return resp;
}

absl::StatusOr<v1::Organization> Registry::UpdateOrganization(
    const RequestContext& rc, const v1::UpdateOrganizationRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  return UpdateResource<v1::Organization>(
      rc, req, req.organization(), "organizations", Kind::kOrganization,
      [&](const v1::Organization& current, v1::Organization* merged,
          FieldViolations* v) -> absl::Status {
        if (!rc.principal.is_operator() && rc.principal.organization != current.name()) {
          return Denied("a partner may update only its own organisation", "NOT_YOUR_ORGANIZATION");
        }
        ValidateOrganization(*merged, "organization", v);
        if (IsCountryName(merged->country()) && merged->country() != current.country()) {
          STP_RETURN_IF_ERROR(
              CheckCountriesExist({{"organization.country", merged->country()}}, rc.deadline, v));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::DeleteResponse> Registry::DeleteOrganization(
    const RequestContext& rc, const v1::DeleteOrganizationRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  return DeleteResource<v1::Organization>(
      rc, Kind::kOrganization, "organizations", req.name(), req.etag(), req.request_id(),
      Fingerprint(req), [&](const v1::Organization& current) -> absl::Status {
        if (!rc.principal.is_operator() && rc.principal.organization != current.name()) {
          return Denied("a partner may delete only its own organisation", "NOT_YOUR_ORGANIZATION");
        }
        return absl::OkStatus();
      });
}

// ------------------------------------------------------------------ parks

absl::StatusOr<v1::Park> Registry::CreatePark(const RequestContext& rc,
                                              const v1::CreateParkRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  v1::Park park = req.park();
  park.clear_name();
  FieldViolations v;
  ValidatePark(park, "park", &v);
  if (IsCountryName(park.host_country())) {
    STP_RETURN_IF_ERROR(
        CheckCountriesExist({{"park.host_country", park.host_country()}}, rc.deadline, &v));
  }
  if (IsResourceName(park.operator_(), "organizations")) {
    STP_RETURN_IF_ERROR(
        CheckOrganizationsExist({{"park.operator", park.operator_()}}, rc.deadline, &v));
  }
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::string fingerprint = Fingerprint(req);
  std::string anchor =
      park.external_ids().empty() ? req.request_id() : ExternalIdKeys(park.external_ids())[0];
  if (!req.request_id().empty()) {
    STP_ASSIGN_OR_RETURN(auto record, FindRequest(rc, anchor, req.request_id()));
    if (record.has_value()) return Replay<v1::Park>(rc, Kind::kPark, *record, fingerprint);
  }
  return CommitCreate<v1::Park>(rc, [&] {
    absl::Time now = clock_();
    v1::Park created = park;
    WriteOp op;
    op.kind = Kind::kPark;
    op.type = WriteOp::Type::kCreate;
    op.id = NewIdNear(anchor);
    created.set_name("parks/" + op.id);
    op.revision = 1;
    op.etag = RandomHex(8);
    op.update_millis = ToMillis(now);
    StampMetadata(&created, rc, now, op.etag, true);
    op.index_add = IndexTerms(created);
    op.external_ids_add = ExternalIdKeys(created.external_ids());
    op.data = created.SerializeAsString();
    op.event = MakeEvent(rc, Traits<v1::Park>::kCreated, created, op.data,
                         store_->PartitionOf(op.id), 1, {}, now, req.request_id());
    KeepRequest(rc.principal, req.request_id(), RequestRecord(op.id, fingerprint), &op);
    return std::make_pair(std::move(op), std::move(created));
  });
}

absl::StatusOr<v1::Park> Registry::GetPark(const RequestContext& rc, const std::string& name) {
  std::string id = IdOf(name, "parks");
  if (id.empty()) return InvalidField("name", "must look like \"parks/{id}\"");
  return Load<v1::Park>(Kind::kPark, id, rc.deadline);
}

absl::StatusOr<v1::ListParksResponse> Registry::ListParks(const RequestContext& rc,
                                                          const v1::ListParksRequest& req) {
  FieldViolations v;
  if (!req.host_country().empty() && !IsCountryName(req.host_country())) {
    v.Add("host_country", "must look like \"countries/EG\"");
  }
  if (!stp::common::v1::Avenue_IsValid(req.avenue())) v.Add("avenue", "unknown value");
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::vector<std::string> terms;
  if (!req.host_country().empty()) terms.push_back("country:" + CountryCode(req.host_country()));
  if (req.avenue() != 0) terms.push_back(absl::StrCat("avenue:", req.avenue()));
  v1::ListParksRequest filter = req;
  filter.clear_page_size();
  filter.clear_page_token();
  std::vector<v1::Park> page;
  std::string next;
  STP_RETURN_IF_ERROR(ListResources<v1::Park>(
      rc, Kind::kPark, terms,
      [&](const v1::Park& p) {
        return (req.host_country().empty() || p.host_country() == req.host_country()) &&
               (req.avenue() == 0 ||
                std::count(p.focus_avenues().begin(), p.focus_avenues().end(), req.avenue()));
      },
      req.page_size(), req.page_token(), Fingerprint(filter), -1, &page, &next));
  v1::ListParksResponse resp;
  for (auto& p : page) *resp.add_parks() = std::move(p);
  resp.set_next_page_token(next);
  return resp;
}

absl::StatusOr<v1::Park> Registry::UpdatePark(const RequestContext& rc,
                                              const v1::UpdateParkRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  return UpdateResource<v1::Park>(
      rc, req, req.park(), "parks", Kind::kPark,
      [&](const v1::Park& current, v1::Park* merged, FieldViolations* v) -> absl::Status {
        if (!rc.principal.is_operator() && (rc.principal.organization.empty() ||
                                            rc.principal.organization != current.operator_())) {
          return Denied("only the park's operator organisation may update it", "NOT_YOUR_PARK");
        }
        ValidatePark(*merged, "park", v);
        if (IsCountryName(merged->host_country()) &&
            merged->host_country() != current.host_country()) {
          STP_RETURN_IF_ERROR(
              CheckCountriesExist({{"park.host_country", merged->host_country()}}, rc.deadline, v));
        }
        if (IsResourceName(merged->operator_(), "organizations") &&
            merged->operator_() != current.operator_()) {
          STP_RETURN_IF_ERROR(
              CheckOrganizationsExist({{"park.operator", merged->operator_()}}, rc.deadline, v));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::DeleteResponse> Registry::DeletePark(const RequestContext& rc,
                                                        const v1::DeleteParkRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  return DeleteResource<v1::Park>(
      rc, Kind::kPark, "parks", req.name(), req.etag(), req.request_id(), Fingerprint(req),
      [&](const v1::Park& current) -> absl::Status {
        if (!rc.principal.is_operator() && (rc.principal.organization.empty() ||
                                            rc.principal.organization != current.operator_())) {
          return Denied("only the park's operator organisation may delete it", "NOT_YOUR_PARK");
        }
        return absl::OkStatus();
      });
}

// ------------------------------------------------------------------ projects

PreparedWrite Registry::PrepareProjectWrite(
    const RequestContext& rc, const ChangeSource& source, const v1::Project& input,
    const std::optional<StoredResource>& current_stored, const std::vector<std::string>& mask,
    const std::string& request_id, const std::string& fingerprint, const std::string& anchor) {
  absl::Time now = clock_();
  PreparedWrite out;
  WriteOp& op = out.op;
  op.kind = Kind::kProject;
  op.etag = RandomHex(8);
  v1::Project current;
  std::vector<std::string> changed;
  EventType type = Traits<v1::Project>::kCreated;
  v1::Project& next = out.project;
  if (current_stored.has_value()) {
    current.ParseFromString(current_stored->data);
    now = WriteTimeAfter(now, current.update_time());
    next = current;
    FieldMask fm;
    for (const auto& m : mask) fm.add_paths(m);
    (void)ApplyMask(input, fm, &next);
    next.mutable_possible_duplicates()->CopyFrom(input.possible_duplicates());
    op.type = WriteOp::Type::kUpdate;
    op.id = current_stored->id;
    op.expected_etag = current_stored->etag;
    op.revision = current_stored->revision + 1;
    changed = ChangedFields(current, next);
    type = current.stage() != next.stage() ? stp::events::v1::EVENT_TYPE_STAGE_CHANGED
                                           : Traits<v1::Project>::kUpdated;
  } else {
    next = input;
    op.type = WriteOp::Type::kCreate;
    op.id = NewIdNear(anchor);
    next.set_name("projects/" + op.id);
    op.revision = 1;
    out.created = true;
  }
  op.update_millis = ToMillis(now);
  next.set_revision(op.revision);
  StampMetadata(&next, rc, now, op.etag, !current_stored.has_value());
  if (current_stored.has_value()) {
    op.index_terms = IndexTerms(next);
    std::tie(op.index_remove, op.index_add) = Diff(IndexTerms(current), op.index_terms);
    std::tie(op.external_ids_remove, op.external_ids_add) =
        Diff(ExternalIdKeys(current.external_ids()), ExternalIdKeys(next.external_ids()));
  } else {
    op.index_terms = op.index_add = IndexTerms(next);
    op.external_ids_add = ExternalIdKeys(next.external_ids());
  }
  v1::ProjectRevision rev;
  rev.set_revision(op.revision);
  rev.set_actor(rc.principal.Actor());
  *rev.mutable_time() = common::ToTimestamp(now);
  rev.set_request_id(request_id);
  rev.set_source(source.source);
  for (const auto& f : changed) rev.add_changed_fields(f);
  rev.set_kind(current_stored.has_value() ? v1::ProjectRevision::KIND_UPDATED
                                          : v1::ProjectRevision::KIND_CREATED);
  op.history_entry = rev.SerializeAsString();
  op.data = next.SerializeAsString();
  op.event = MakeEvent(rc, type, next, op.data, store_->PartitionOf(op.id), op.revision, changed,
                       now, request_id);
  KeepRequest(rc.principal, request_id, RequestRecord(op.id, fingerprint), &op);
  return out;
}

// A CreateProject between its round trips to the store.
struct Registry::CreateProjectCall {
  RequestContext rc;
  std::function<void(absl::StatusOr<v1::Project>)> reply;
  v1::Project project;
  std::string request_id, fingerprint, anchor;
  FieldViolations v;
  ReferenceCheck references;
  absl::StatusOr<std::vector<std::optional<StoredResource>>> found =
      std::vector<std::optional<StoredResource>>();
  std::shared_ptr<DuplicateProbe> probe;
  std::atomic<int> pending{0};  // reads (and the thread that sent them) not yet arrived
  DuplicateCheck duplicates;
  std::vector<WriteOp> ops;
  v1::Project written;  // as the last prepared write stores it
};

void Registry::CreateProjectAsync(const RequestContext& rc, const v1::CreateProjectRequest& req,
                                  std::function<void(absl::StatusOr<v1::Project>)> reply) {
  absl::Status allowed = RequireRole(rc.principal, AccessRole::kPartner);
  if (!allowed.ok()) return reply(allowed);
  auto call = std::make_shared<CreateProjectCall>();
  call->rc = rc;
  call->reply = std::move(reply);
  v1::Project& project = call->project;
  project = req.project();
  for (const auto& f : OutputOnlyFields()) {
    project.GetReflection()->ClearField(&project, v1::Project::descriptor()->FindFieldByName(f));
  }
  ValidateProject(project, "project", &call->v);
  call->request_id = req.request_id();
  call->fingerprint = Fingerprint(req);
  // No request-id lookup here: the write script checks the request id before anything else,
  // and a retry answers from the first write.
  call->anchor =
      project.external_ids().empty() ? req.request_id() : ExternalIdKeys(project.external_ids())[0];
  call->references = PlanReferenceCheck(project, "project");
  // The reference reads and the duplicate probe go out together; the call goes on when the
  // last of them (or this thread, once both are sent) arrives.
  const bool probe = call->v.empty();
  const bool read = !call->references.reads.empty();
  call->pending = 1 + (probe ? 1 : 0) + (read ? 1 : 0);
  auto arrive = [this, call] {
    if (call->pending.fetch_sub(1) == 1) CreateProjectChecked(call);
  };
  if (probe) call->probe = StartDuplicateProbe({&project}, rc.deadline, arrive);
  if (read) {
    store_->GetManyAsync(
        call->references.reads, rc.deadline,
        [call, arrive](absl::StatusOr<std::vector<std::optional<StoredResource>>> found) {
          call->found = std::move(found);
          arrive();
        });
  }
  arrive();
}

void Registry::CreateProjectChecked(const std::shared_ptr<CreateProjectCall>& call) {
  if (!call->found.ok()) return call->reply(call->found.status());
  ApplyReferenceCheck(call->references, *call->found, "project", &call->project, &call->v);
  if (!call->v.empty()) return CreateProjectRefused(call, call->v.ToStatus());
  const Principal& principal = call->rc.principal;
  if (!principal.is_operator() && !IsParticipant(principal, call->project)) {
    return call->reply(Denied("a partner creates projects only with its own organisation (" +
                                  principal.organization + ") among the participants",
                              "NOT_A_PARTICIPANT"));
  }
  call->duplicates = BeginDuplicateCheck({&call->project});
  if (call->duplicates.Empty()) return CreateProjectWrite(call);
  // The probe went out with the reads (a project without violations, as this one is), for
  // this title and host, which the reference checks do not change: it covers the check.
  CreateProjectProbed(call);
}

void Registry::CreateProjectRefused(const std::shared_ptr<CreateProjectCall>& call,
                                    absl::Status refusal) {
  if (call->request_id.empty()) return call->reply(std::move(refusal));
  store_->FindRequestAsync(
      call->anchor, RequestScope(call->rc.principal), call->request_id, call->rc.deadline,
      [this, call, refusal](absl::StatusOr<std::optional<std::string>> record) {
        if (!record.ok() || !record->has_value()) return call->reply(refusal);
        ReplayAsync<v1::Project>(call->rc, Kind::kProject, **record, call->fingerprint,
                                 call->reply);
      });
}

void Registry::CreateProjectProbed(const std::shared_ptr<CreateProjectCall>& call) {
  absl::Status found = FindDuplicateCandidates(&call->duplicates, *call->probe, nullptr);
  if (!found.ok()) return call->reply(found);
  if (call->duplicates.to_read.empty()) {
    FlagCandidates(&call->duplicates, {}, nullptr);
    return CreateProjectWrite(call);
  }
  std::vector<ResourceRef> reads;
  for (const auto& id : call->duplicates.to_read) reads.push_back({Kind::kProject, id});
  store_->GetManyAsync(
      reads, call->rc.deadline,
      [this, call](absl::StatusOr<std::vector<std::optional<StoredResource>>> stored) {
        if (!stored.ok()) return call->reply(stored.status());
        FlagCandidates(&call->duplicates, *stored, nullptr);
        CreateProjectWrite(call);
      });
}

void Registry::CreateProjectWrite(const std::shared_ptr<CreateProjectCall>& call) {
  // The caller named no id, so a taken one is drawn again rather than answered with
  // ALREADY_EXISTS.
  auto prepare = [this, call] {
    PreparedWrite w = PrepareProjectWrite(call->rc, ChangeSource(), call->project, std::nullopt, {},
                                          call->request_id, call->fingerprint, call->anchor);
    call->written = std::move(w.project);
    return std::move(w.op);
  };
  call->ops = {prepare()};
  RedrawTakenIds(
      &call->ops, [prepare](size_t) { return prepare(); },
      [this, call](const std::vector<WriteOp>& ops, RegistryStore::WriteDone done) {
        store_->WriteAsync(
            ops, call->rc.deadline,
            [call, done = std::move(done)](absl::StatusOr<std::vector<WriteResult>> results) {
              // The call's context for what is logged from here on (a redraw).
              ScopedLogContext log(
                  {call->rc.request_id, call->rc.trace_id, call->rc.principal.id, call->rc.method});
              done(std::move(results));
            });
      },
      [this, call](absl::StatusOr<std::vector<WriteResult>> results) {
        if (!results.ok()) return call->reply(results.status());
        const WriteResult& result = (*results)[0];
        const WriteOp& op = call->ops[0];
        switch (result.code) {
          case WriteResult::Code::kOk:
            return call->reply(std::move(call->written));
          case WriteResult::Code::kExists:
            return call->reply(IdTaken(op.kind));
          case WriteResult::Code::kDuplicateRequest:  // a read: not answered on this thread
            return ReplayAsync<v1::Project>(call->rc, op.kind, result.detail,
                                            RequestRecordFingerprint(op.request_record),
                                            std::move(call->reply));
          default:  // answered without a read
            return call->reply(Answer(call->rc, op, result, call->written));
        }
      });
}

absl::StatusOr<v1::Project> Registry::CreateProject(const RequestContext& rc,
                                                    const v1::CreateProjectRequest& req) {
  absl::Notification answered;
  absl::StatusOr<v1::Project> out;
  CreateProjectAsync(rc, req, [&](absl::StatusOr<v1::Project> project) {
    out = std::move(project);
    answered.Notify();
  });
  answered.WaitForNotification();
  return out;
}

absl::StatusOr<v1::Project> Registry::GetProject(const RequestContext& rc,
                                                 const std::string& name) {
  std::string id = IdOf(name, "projects");
  if (id.empty()) return InvalidField("name", "must look like \"projects/{id}\"");
  STP_ASSIGN_OR_RETURN(v1::Project p, Load<v1::Project>(Kind::kProject, id, rc.deadline));
  if (!Visible(rc.principal, p)) return NotFound(name);
  return p;
}

void Registry::GetSerializedProjectAsync(const RequestContext& rc, const std::string& name,
                                         std::function<void(absl::StatusOr<std::string>)> reply) {
  std::string id = IdOf(name, "projects");
  if (id.empty()) return reply(InvalidField("name", "must look like \"projects/{id}\""));
  store_->GetAsync(
      {Kind::kProject, id}, rc.deadline,
      [principal = rc.principal, name, id,
       reply = std::move(reply)](absl::StatusOr<std::optional<StoredResource>> found) {
        if (!found.ok()) return reply(found.status());
        if (!found->has_value()) return reply(NotFound(absl::StrCat("projects/", id)));
        std::string& data = (*found)->data;
        // What Visible decides, from the two fields it reads.
        auto access = ReadSerializedAccess(
            data, v1::Project::kVisibilityFieldNumber,
            {v1::Project::kParticipantsFieldNumber, v1::Participant::kOrganizationFieldNumber},
            principal.organization);
        if (!access.has_value()) {
          return reply(absl::DataLossError(absl::StrCat("stored projects/", id, " is unreadable")));
        }
        if (!access->VisibleTo(principal, v1::VISIBILITY_PARTICIPANTS))
          return reply(NotFound(name));
        reply(std::move(data));
      });
}

absl::StatusOr<v1::ListProjectsResponse> Registry::ListProjects(
    const RequestContext& rc, const v1::ListProjectsRequest& req) {
  FieldViolations v;
  if (!req.host_country().empty() && !IsCountryName(req.host_country())) {
    v.Add("host_country", "must look like \"countries/EG\"");
  }
  if (!req.park().empty() && !IsResourceName(req.park(), "parks"))
    v.Add("park", "must look like \"parks/{id}\"");
  if (!req.organization().empty() && !IsResourceName(req.organization(), "organizations")) {
    v.Add("organization", "must look like \"organizations/{id}\"");
  }
  if (!stp::common::v1::Avenue_IsValid(req.avenue())) v.Add("avenue", "unknown value");
  if (!v1::ProjectStage_IsValid(req.stage())) v.Add("stage", "unknown value");
  if (!v1::CooperationModel_IsValid(req.cooperation_model()))
    v.Add("cooperation_model", "unknown value");
  STP_RETURN_IF_ERROR(v.ToStatus());
  std::vector<std::string> terms;
  if (!req.host_country().empty()) terms.push_back("country:" + CountryCode(req.host_country()));
  if (req.avenue() != 0) terms.push_back(absl::StrCat("avenue:", req.avenue()));
  if (req.stage() != 0) terms.push_back(absl::StrCat("stage:", req.stage()));
  if (!req.park().empty()) terms.push_back("park:" + IdOf(req.park(), "parks"));
  if (!req.organization().empty())
    terms.push_back("org:" + IdOf(req.organization(), "organizations"));
  if (req.cooperation_model() != 0)
    terms.push_back(absl::StrCat("model:", req.cooperation_model()));
  int64_t since = -1;
  if (req.has_updated_since()) {
    since = req.updated_since().seconds() * 1000 + req.updated_since().nanos() / 1000000;
    if (since < 0) return InvalidField("updated_since", "must not be before 1970");
  }
  v1::ListProjectsRequest filter = req;
  filter.clear_page_size();
  filter.clear_page_token();
  std::vector<v1::Project> page;
  std::string next;
  STP_RETURN_IF_ERROR(ListResources<v1::Project>(
      rc, Kind::kProject, terms,
      [&](const v1::Project& p) {
        if (!Visible(rc.principal, p)) return false;
        if (!req.host_country().empty() && p.host_country() != req.host_country()) return false;
        if (req.avenue() != 0 && !std::count(p.avenues().begin(), p.avenues().end(), req.avenue()))
          return false;
        if (req.stage() != 0 && p.stage() != req.stage()) return false;
        if (!req.park().empty() && p.park() != req.park()) return false;
        if (req.cooperation_model() != 0 && p.cooperation_model() != req.cooperation_model())
          return false;
        if (!req.organization().empty() &&
            std::none_of(
                p.participants().begin(), p.participants().end(),
                [&](const v1::Participant& x) { return x.organization() == req.organization(); })) {
          return false;
        }
        if (since >= 0 &&
            p.update_time().seconds() * 1000 + p.update_time().nanos() / 1000000 < since)
          return false;
        return true;
      },
      req.page_size(), req.page_token(), Fingerprint(filter), since, &page, &next));
  v1::ListProjectsResponse resp;
  for (auto& p : page) *resp.add_projects() = std::move(p);
  resp.set_next_page_token(next);
  return resp;
}

absl::StatusOr<v1::Project> Registry::UpdateProject(const RequestContext& rc,
                                                    const v1::UpdateProjectRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  std::string id = IdOf(req.project().name(), "projects");
  if (id.empty()) return InvalidField("project.name", "must be a name such as \"projects/{id}\"");
  std::string fingerprint = Fingerprint(req);
  if (!req.request_id().empty()) {
    STP_ASSIGN_OR_RETURN(auto record, FindRequest(rc, id, req.request_id()));
    if (record.has_value()) return Replay<v1::Project>(rc, Kind::kProject, *record, fingerprint);
  }
  for (int attempt = 0;; ++attempt) {
    STP_ASSIGN_OR_RETURN(auto stored, store_->GetMany(Kind::kProject, {id}, rc.deadline));
    if (!stored[0].has_value()) return NotFound(req.project().name());
    v1::Project current;
    current.ParseFromString(stored[0]->data);
    if (!Visible(rc.principal, current)) return NotFound(req.project().name());
    if (!rc.principal.is_operator() && !IsParticipant(rc.principal, current)) {
      return Denied("a partner may update only projects its organisation takes part in",
                    "NOT_A_PARTICIPANT");
    }
    if (!req.etag().empty() && req.etag() != current.etag()) {
      return WithErrorInfo(
          absl::AbortedError(req.project().name() +
                             " has changed since it was read (stale etag); read it "
                             "again, re-apply the change and retry"),
          "ETAG_MISMATCH", {{"current_etag", current.etag()}});
    }
    v1::Project merged = current;
    STP_RETURN_IF_ERROR(ApplyMask(req.project(), req.update_mask(), &merged));
    FieldViolations v;
    ValidateProject(merged, "project", &v);
    STP_RETURN_IF_ERROR(CheckReferences(&merged, "project", rc, &v, &current));
    STP_RETURN_IF_ERROR(v.ToStatus());
    if (ChangedFields(current, merged).empty()) {
      return AnswerUnchanged(rc, Kind::kProject, id, req.request_id(), fingerprint,
                             std::move(current));
    }
    if (!DuplicateSummary::Of(merged).ComparesLike(DuplicateSummary::Of(current))) {
      STP_RETURN_IF_ERROR(FlagDuplicates({&merged}, rc.deadline));
    }
    std::vector<std::string> mask;
    for (const auto* f :
         {"title",       "description",       "park",         "host_country", "avenues",
          "dac_sectors", "cooperation_model", "participants", "stage",        "planned_start",
          "planned_end", "actual_start",      "actual_end",   "financing",    "milestones",
          "results",     "visibility",        "sources",      "external_ids", "triangular"}) {
      mask.push_back(f);
    }
    PreparedWrite w = PrepareProjectWrite(rc, ChangeSource(), merged, stored[0], mask,
                                          req.request_id(), fingerprint, id);
    absl::StatusOr<v1::Project> result = Commit(rc, w.op, w.project);
    if (result.ok() || result.status().code() != absl::StatusCode::kAborted ||
        !req.etag().empty() || attempt + 1 >= kUpdateAttempts) {
      return result;
    }
  }
}

absl::StatusOr<v1::DeleteResponse> Registry::DeleteProject(const RequestContext& rc,
                                                           const v1::DeleteProjectRequest& req) {
  STP_RETURN_IF_ERROR(RequireRole(rc.principal, AccessRole::kPartner));
  return DeleteResource<v1::Project>(
      rc, Kind::kProject, "projects", req.name(), req.etag(), req.request_id(), Fingerprint(req),
      [&](const v1::Project& current) -> absl::Status {
        if (!Visible(rc.principal, current)) return NotFound(req.name());
        if (!rc.principal.is_operator() && !IsParticipant(rc.principal, current)) {
          return Denied("a partner may delete only projects its organisation takes part in",
                        "NOT_A_PARTICIPANT");
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::GetProjectHistoryResponse> Registry::GetProjectHistory(
    const RequestContext& rc, const v1::GetProjectHistoryRequest& req) {
  absl::StatusOr<v1::Project> project = GetProject(rc, req.name());
  int64_t newest = 0;
  if (project.ok()) {
    newest = project->revision();
  } else if (absl::IsNotFound(project.status()) && rc.principal.is_operator()) {
    // A deleted project's history, its deletion last, stays readable by operators (whom the
    // project's visibility, gone with it, would not have hidden it from).
    STP_ASSIGN_OR_RETURN(auto last,
                         store_->History(IdOf(req.name(), "projects"), 0, 1, rc.deadline));
    v1::ProjectRevision deletion;
    if (last.empty() || !deletion.ParseFromString(last[0])) return project.status();
    newest = deletion.revision();
  } else {
    return project.status();
  }
  if (req.page_size() < 0 || req.page_size() > kMaxPageSize) return InvalidPageSize();
  int page_size = PageSizeOf(req.page_size());
  // Revisions are numbered 1..N and stored newest first, so revision r sits at N - r: paging
  // by revision number stays exact while new revisions arrive.
  int64_t before = newest + 1;
  if (!req.page_token().empty()) {
    double unused_score;
    std::string position;
    STP_RETURN_IF_ERROR(DecodeToken(req.page_token(), req.name(), &unused_score, &position));
    if (!absl::SimpleAtoi(position, &before) || before < 1)
      return InvalidField("page_token", "is not valid");
  }
  int offset = static_cast<int>(newest + 1 - before);
  STP_ASSIGN_OR_RETURN(auto entries, store_->History(IdOf(req.name(), "projects"), offset,
                                                     page_size + 1, rc.deadline));
  v1::GetProjectHistoryResponse resp;
  for (size_t i = 0; i < entries.size() && static_cast<int>(i) < page_size; ++i) {
    resp.add_revisions()->ParseFromString(entries[i]);
  }
  if (static_cast<int>(entries.size()) > page_size && resp.revisions_size() > 0) {
    int64_t last = resp.revisions(resp.revisions_size() - 1).revision();
    resp.set_next_page_token(EncodeToken(req.name(), 0, absl::StrCat(last)));
  }
  return resp;
}

}  // namespace stp::ingestion
