#include "services/ingestion/import/iati_parser.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/ingestion/import/iati_activity.h"
#include "services/ingestion/import/value_parsing.h"

namespace stp::ingestion {
namespace {

// xmlParseChunk takes an int size; larger chunks are pushed in pieces of this size.
constexpr size_t kMaxPushBytes = 1 << 20;
// Bound on the kept tree of one activity (element overhead included), next to the source
// bound kMaxActivityBytes: many tiny elements cost more memory than their bytes suggest.
constexpr int64_t kMaxActivityTreeBytes = 4 * IatiParser::kMaxActivityBytes;

// The children of iati-activity the mapping reads; anything else (locations, documents,
// contacts, crs-add...) is skipped while parsing and never kept.
constexpr std::array<absl::string_view, 13> kMappedActivityChildren = {"iati-identifier",
                                                                       "title",
                                                                       "description",
                                                                       "participating-org",
                                                                       "activity-status",
                                                                       "activity-date",
                                                                       "recipient-country",
                                                                       "sector",
                                                                       "collaboration-type",
                                                                       "budget",
                                                                       "default-finance-type",
                                                                       "transaction",
                                                                       "result"};

const char* AsChars(const xmlChar* s) { return reinterpret_cast<const char*>(s); }

std::string QualifiedName(const xmlChar* prefix, const xmlChar* local_name) {
  if (prefix == nullptr) return AsChars(local_name);
  return absl::StrCat(AsChars(prefix), ":", AsChars(local_name));
}

// libxml2 messages end with a newline and may span lines.
std::string OneLine(absl::string_view message) { return CollapseWhitespace(message); }

// libxml2 reports encoding and I/O failures through the thread's generic error handler, which
// prints to stderr. While a chunk is parsed, this points that handler at the parser, so the
// message ends up in the returned error instead, and puts the previous handler back after.
class GenericErrorRedirect {
 public:
  GenericErrorRedirect(void* context, xmlGenericErrorFunc handler)
      : saved_handler_(xmlGenericError), saved_context_(xmlGenericErrorContext) {
    xmlSetGenericErrorFunc(context, handler);
  }
  ~GenericErrorRedirect() { xmlSetGenericErrorFunc(saved_context_, saved_handler_); }
  GenericErrorRedirect(const GenericErrorRedirect&) = delete;
  GenericErrorRedirect& operator=(const GenericErrorRedirect&) = delete;

 private:
  xmlGenericErrorFunc saved_handler_;
  void* saved_context_;
};

constexpr size_t kMaxGenericErrorBytes = 300;

}  // namespace

class IatiParser::Impl {
 public:
  Impl(const SectorAvenueTable& table, RecordSink sink)
      : mapper_(table, IatiFileInfo{}), sink_(std::move(sink)) {
    xmlInitParser();
    xmlSAXHandler sax;
    std::memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = &Impl::OnStartElement;
    sax.endElementNs = &Impl::OnEndElement;
    sax.characters = &Impl::OnCharacters;
    sax.ignorableWhitespace = &Impl::OnCharacters;
    sax.cdataBlock = &Impl::OnCharacters;
    sax.internalSubset = &Impl::OnDoctype;
    sax.externalSubset = &Impl::OnDoctype;
    sax.entityDecl = &Impl::OnEntityDeclaration;
    sax.getEntity = &Impl::OnGetEntity;
    sax.getParameterEntity = &Impl::OnGetEntity;
    sax.serror = &Impl::OnError;
    context_ = xmlCreatePushParserCtxt(&sax, this, nullptr, 0, nullptr);
    if (context_ == nullptr) {
      error_ = absl::ResourceExhaustedError("cannot allocate an XML parser");
      return;
    }
    // No network, no entity substitution, no DTD loading, no HUGE: the options are the
    // defaults minus the network, and set explicitly so no global default can change them.
    xmlCtxtUseOptions(context_, XML_PARSE_NONET);
    context_->replaceEntities = 0;
    context_->loadsubset = 0;
    context_->validate = 0;
  }

  ~Impl() {
    if (context_ != nullptr) xmlFreeParserCtxt(context_);
  }

  absl::Status Feed(absl::string_view chunk) {
    if (!error_.ok()) return error_;
    if (finished_) return absl::FailedPreconditionError("IATI input fed after Finish()");
    GenericErrorRedirect redirect(this, &Impl::OnGenericError);
    while (!chunk.empty()) {
      size_t size = std::min(chunk.size(), kMaxPushBytes);
      int result = xmlParseChunk(context_, chunk.data(), static_cast<int>(size), 0);
      chunk.remove_prefix(size);
      if (!error_.ok()) return error_;
      if (result != 0) return Fail(MalformedXmlError());
    }
    return absl::OkStatus();
  }

  absl::Status Finish() {
    if (!error_.ok() || finished_) return error_;
    finished_ = true;
    GenericErrorRedirect redirect(this, &Impl::OnGenericError);
    int result = xmlParseChunk(context_, nullptr, 0, 1);
    if (!error_.ok()) return error_;
    if (result != 0) return Fail(MalformedXmlError());
    if (!root_seen_) return Fail(absl::InvalidArgumentError("the IATI input holds no XML element"));
    return absl::OkStatus();
  }

  int records() const { return records_; }

 private:
  static Impl* Self(void* user_data) { return static_cast<Impl*>(user_data); }

  static void OnStartElement(void* user_data, const xmlChar* local_name, const xmlChar* prefix,
                             const xmlChar* /*uri*/, int /*namespace_count*/,
                             const xmlChar** /*namespaces*/, int attribute_count,
                             int /*defaulted_count*/, const xmlChar** attributes) {
    Self(user_data)->StartElement(QualifiedName(prefix, local_name), attribute_count, attributes);
  }
  static void OnEndElement(void* user_data, const xmlChar*, const xmlChar*, const xmlChar*) {
    Self(user_data)->EndElement();
  }
  static void OnCharacters(void* user_data, const xmlChar* text, int length) {
    Self(user_data)->Characters(absl::string_view(AsChars(text), length));
  }
  static void OnDoctype(void* user_data, const xmlChar* name, const xmlChar*, const xmlChar*) {
    Impl* self = Self(user_data);
    self->Stop(absl::InvalidArgumentError(
        absl::StrCat("the XML document has a DOCTYPE (<!DOCTYPE ", name ? AsChars(name) : "",
                     "> at line ", xmlSAX2GetLineNumber(self->context_),
                     "); DTDs and entity declarations are not accepted in IATI imports")));
  }
  static void OnEntityDeclaration(void* user_data, const xmlChar* name, int, const xmlChar*,
                                  const xmlChar*, xmlChar*) {
    // Unreachable while DOCTYPEs are refused; kept so an entity can never be declared.
    Self(user_data)->Stop(absl::InvalidArgumentError(
        absl::StrCat("entity declaration \"", name ? AsChars(name) : "", "\" refused")));
  }
  static xmlEntityPtr OnGetEntity(void*, const xmlChar*) { return nullptr; }
  static void OnError(void* user_data, xmlErrorPtr error) {
    Impl* self = Self(user_data);
    if (error == nullptr || error->level != XML_ERR_FATAL || !self->first_fatal_.empty()) return;
    self->first_fatal_ = absl::StrCat("line ", error->line, ", column ", error->int2, ": ",
                                      OneLine(error->message ? error->message : "unknown error"));
  }

  static void OnGenericError(void* user_data, const char* format, ...) {
    Impl* self = Self(user_data);
    // The first message is enough; libxml2 repeats itself as the failure unwinds.
    if (self->generic_error_.size() >= kMaxGenericErrorBytes ||
        self->generic_error_.find('\n') != std::string::npos) {
      return;
    }
    char message[kMaxGenericErrorBytes];
    va_list arguments;
    va_start(arguments, format);
    std::vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    self->generic_error_.append(message);
  }

  absl::Status MalformedXmlError() {
    std::string where = first_fatal_;
    if (where.empty() && !generic_error_.empty()) {
      where = absl::StrCat("line ", xmlSAX2GetLineNumber(context_), ": ",
                           OneLine(generic_error_.substr(0, kMaxGenericErrorBytes)));
    }
    if (where.empty()) {
      if (const xmlError* last = xmlCtxtGetLastError(context_)) {
        where = absl::StrCat("line ", last->line, ", column ", last->int2, ": ",
                             OneLine(last->message ? last->message : "unknown error"));
      } else {
        where = absl::StrCat("line ", xmlSAX2GetLineNumber(context_));
      }
    }
    return absl::InvalidArgumentError(absl::StrCat("malformed XML at ", where));
  }

  // Records the first final error and stops the parser; returns that error.
  absl::Status Fail(absl::Status status) {
    if (error_.ok()) error_ = std::move(status);
    xmlStopParser(context_);
    return error_;
  }
  // The same from inside a callback, where there is no one to return to.
  void Stop(absl::Status status) { Fail(std::move(status)).IgnoreError(); }

  // Bytes of (UTF-8) source read so far.
  int64_t StreamPosition() const {
    const xmlParserInput* input = context_->input;
    if (input == nullptr) return 0;
    return static_cast<int64_t>(input->consumed) + (input->cur - input->base);
  }

  void StartElement(std::string name, int attribute_count, const xmlChar** attributes) {
    ++depth_;
    if (depth_ == 1) {
      root_seen_ = true;
      if (name == "iati-activities") {
        IatiFileInfo file;
        for (int i = 0; i < attribute_count; ++i) {
          const xmlChar** attribute = attributes + 5 * i;
          if (attribute[1] == nullptr && std::strcmp(AsChars(attribute[0]), "version") == 0) {
            file.version.assign(AsChars(attribute[3]), attribute[4] - attribute[3]);
          }
        }
        file.legacy = absl::StartsWith(file.version, "1.");
        mapper_.set_file(std::move(file));
      } else if (name == "iati-activity") {
        BeginActivity(std::move(name), attribute_count, attributes);  // a single-activity file
      } else {
        Stop(absl::InvalidArgumentError(absl::StrCat("the root element is <", name,
                                                     ">: not an IATI activity file "
                                                     "(<iati-activities>)")));
      }
      return;
    }
    if (activity_ == nullptr) {
      if (depth_ == 2 && name == "iati-activity") {
        BeginActivity(std::move(name), attribute_count, attributes);
      }
      return;
    }
    if (oversized_ || skip_depth_ > 0) return;
    if (depth_ == activity_depth_ + 1 &&
        std::find(kMappedActivityChildren.begin(), kMappedActivityChildren.end(), name) ==
            kMappedActivityChildren.end()) {
      skip_depth_ = depth_;
      return;
    }
    std::unique_ptr<XmlElement> element = MakeElement(std::move(name), attribute_count, attributes);
    if (ExceedsActivityLimits()) return;
    XmlElement* raw = element.get();
    open_.back()->children.push_back(std::move(element));
    open_.push_back(raw);
  }

  void EndElement() {
    if (activity_ != nullptr) {
      if (depth_ == activity_depth_) {
        EndActivity();
      } else if (!oversized_) {
        if (skip_depth_ > 0) {
          if (depth_ == skip_depth_) skip_depth_ = 0;
        } else {
          open_.pop_back();
        }
      }
    }
    --depth_;
  }

  void Characters(absl::string_view text) {
    // Text directly inside iati-activity is layout only.
    if (activity_ == nullptr || oversized_ || skip_depth_ > 0 || open_.size() < 2) return;
    tree_bytes_ += static_cast<int64_t>(text.size());
    if (ExceedsActivityLimits()) return;
    open_.back()->text.append(text.data(), text.size());
  }

  std::unique_ptr<XmlElement> MakeElement(std::string name, int attribute_count,
                                          const xmlChar** attributes) {
    auto element = std::make_unique<XmlElement>();
    element->name = std::move(name);
    tree_bytes_ += static_cast<int64_t>(sizeof(XmlElement) + element->name.size());
    element->attributes.reserve(attribute_count);
    for (int i = 0; i < attribute_count; ++i) {
      const xmlChar** attribute = attributes + 5 * i;
      std::string key = QualifiedName(attribute[1], attribute[0]);
      std::string value(AsChars(attribute[3]), attribute[4] - attribute[3]);
      tree_bytes_ += static_cast<int64_t>(key.size() + value.size() + 2 * sizeof(std::string));
      element->attributes.emplace_back(std::move(key), std::move(value));
    }
    return element;
  }

  void BeginActivity(std::string name, int attribute_count, const xmlChar** attributes) {
    tree_bytes_ = 0;
    activity_ = MakeElement(std::move(name), attribute_count, attributes);
    activity_depth_ = depth_;
    activity_start_ = StreamPosition();
    open_.assign(1, activity_.get());
    oversized_ = false;
    skip_depth_ = 0;
  }

  // True (and the activity's tree dropped) once the current activity is too large.
  bool ExceedsActivityLimits() {
    if (oversized_) return true;
    if (StreamPosition() - activity_start_ <= kMaxActivityBytes &&
        tree_bytes_ <= kMaxActivityTreeBytes) {
      return false;
    }
    oversized_ = true;
    // Keep the identifier for the summary when it was read already (it comes first).
    const XmlElement* identifier = activity_->Child("iati-identifier");
    oversized_external_id_ = identifier ? CollapseWhitespace(identifier->text) : "";
    activity_->children.clear();
    open_.clear();
    skip_depth_ = 0;
    return true;
  }

  void EndActivity() {
    // Skipped subtrees are never measured while parsing; the end tag settles the size.
    ExceedsActivityLimits();
    ImportRecord record;
    if (oversized_) {
      record.index = records_;
      record.external_id = oversized_external_id_;
      record.rejection =
          absl::StrCat("iati-activity is larger than ", kMaxActivityBytes >> 20,
                       " MiB; split it or leave out bulky elements (locations, documents)");
    } else {
      record = mapper_.Map(*activity_, records_);
    }
    activity_.reset();
    open_.clear();
    oversized_ = false;
    skip_depth_ = 0;
    tree_bytes_ = 0;
    ++records_;
    if (sink_) sink_(std::move(record));
  }

  IatiActivityMapper mapper_;
  RecordSink sink_;
  xmlParserCtxtPtr context_ = nullptr;
  absl::Status error_;
  std::string first_fatal_;    // where and what the first fatal libxml2 error was
  std::string generic_error_;  // what libxml2 said outside the parser (encodings, I/O)
  bool finished_ = false;
  bool root_seen_ = false;
  int records_ = 0;

  int depth_ = 0;                         // of the element being parsed; the root is 1
  std::unique_ptr<XmlElement> activity_;  // the activity being read, if any
  std::vector<XmlElement*> open_;         // its open elements, outermost first
  int activity_depth_ = 0;
  int skip_depth_ = 0;  // > 0: inside a skipped subtree rooted at this depth
  int64_t activity_start_ = 0;
  int64_t tree_bytes_ = 0;
  bool oversized_ = false;
  std::string oversized_external_id_;
};

IatiParser::IatiParser(const SectorAvenueTable& table, RecordSink sink)
    : impl_(std::make_unique<Impl>(table, std::move(sink))) {}
IatiParser::~IatiParser() = default;
absl::Status IatiParser::Feed(absl::string_view chunk) { return impl_->Feed(chunk); }
absl::Status IatiParser::Finish() { return impl_->Finish(); }
int IatiParser::records() const { return impl_->records(); }

}  // namespace stp::ingestion
