#include "libs/common/event_header.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "libs/common/phrase_codec.h"
#include "stp/events/v1/events.pb.h"

namespace stp::common {
namespace {

bool IsSnapshot(int field) {
  static const auto* snapshot = stp::events::v1::Event::descriptor()->FindOneofByName("snapshot");
  const auto* f = stp::events::v1::Event::descriptor()->FindFieldByNumber(field);
  return f != nullptr && f->containing_oneof() == snapshot;
}

constexpr char kPackedScoreEvent = '\x02';

void AppendVarint(uint64_t v, std::string* out) {
  uint8_t bytes[10];  // the longest varint
  const uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, bytes);
  out->append(reinterpret_cast<const char*>(bytes), end - bytes);
}

// A packed score event's parts (IsPackedEvent(payload)): the event without its current
// score, and the packed score.
bool SplitPackedScoreEvent(absl::string_view payload, absl::string_view* rest,
                           absl::string_view* packed_score) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(payload.data() + 1),
                                            static_cast<int>(payload.size() - 1));
  uint64_t size = 0;
  if (!in.ReadVarint64(&size)) return false;
  const size_t start = 1 + static_cast<size_t>(in.CurrentPosition());
  if (size > payload.size() - start) return false;
  *rest = payload.substr(start, size);
  *packed_score = payload.substr(start + size);
  return true;
}

// Reads the header of a plain serialized Event.
std::optional<EventHeader> ReadPlainEventHeader(absl::string_view event) {
  using google::protobuf::internal::WireFormatLite;
  using stp::events::v1::Event;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(event.data()),
                                            static_cast<int>(event.size()));
  EventHeader header;
  // Every other field, the snapshot included, is skipped unread (a skip only moves past it).
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire = WireFormatLite::GetTagWireType(tag);
    if (field == Event::kTypeFieldNumber && wire == WireFormatLite::WIRETYPE_VARINT) {
      uint32_t type = 0;
      if (!in.ReadVarint32(&type)) return std::nullopt;
      header.type = static_cast<int>(type);
    } else if (field == Event::kResourceFieldNumber &&
               wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::ReadString(&in, &header.resource)) return std::nullopt;
    } else if (field == Event::kRevisionFieldNumber && wire == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t revision = 0;
      if (!in.ReadVarint64(&revision)) return std::nullopt;
      header.revision = static_cast<int64_t>(revision);
    } else {
      if (wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED && IsSnapshot(field)) {
        header.snapshot_field = field;
      }
      if (!WireFormatLite::SkipField(&in, tag)) return std::nullopt;
    }
  }
  // ReadTag answers 0 both at the end and on a malformed tag.
  if (!in.ConsumedEntireMessage()) return std::nullopt;
  return header;
}

}  // namespace

std::optional<EventHeader> ReadEventHeader(absl::string_view event) {
  if (!IsPackedEvent(event)) return ReadPlainEventHeader(event);
  absl::string_view rest, packed_score;
  if (!SplitPackedScoreEvent(event, &rest, &packed_score)) return std::nullopt;
  auto header = ReadPlainEventHeader(rest);
  if (header.has_value()) header->snapshot_field = stp::events::v1::Event::kScoreChangeFieldNumber;
  return header;
}

std::string PlainScoreEvent(absl::string_view rest, absl::string_view serialized_score) {
  using google::protobuf::internal::WireFormatLite;
  std::string current;  // ScoreChange { current = 2: the score }
  AppendVarint(WireFormatLite::MakeTag(stp::scoring::v1::ScoreChange::kCurrentFieldNumber,
                                       WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
               &current);
  AppendVarint(serialized_score.size(), &current);
  std::string out(rest);
  out.reserve(rest.size() + current.size() + serialized_score.size() + 8);
  AppendVarint(WireFormatLite::MakeTag(stp::events::v1::Event::kScoreChangeFieldNumber,
                                       WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
               &out);
  AppendVarint(current.size() + serialized_score.size(), &out);
  out.append(current);
  out.append(serialized_score.data(), serialized_score.size());
  return out;
}

std::string PackScoreEvent(absl::string_view rest, absl::string_view packed_score) {
  std::string out(1, kPackedScoreEvent);
  out.reserve(1 + 10 + rest.size() + packed_score.size());
  AppendVarint(rest.size(), &out);
  out.append(rest.data(), rest.size());
  out.append(packed_score.data(), packed_score.size());
  return out;
}

bool IsPackedEvent(absl::string_view payload) {
  return !payload.empty() && payload[0] == kPackedScoreEvent;
}

absl::StatusOr<std::string> UnpackEvent(absl::string_view payload) {
  absl::string_view rest, packed_score;
  if (!IsPackedEvent(payload)) return std::string(payload);
  if (!SplitPackedScoreEvent(payload, &rest, &packed_score) || packed_score.empty()) {
    return absl::DataLossError("a packed score event is cut short");
  }
  auto score = UnpackPhrases(packed_score);
  if (!score.ok()) return score.status();
  return PlainScoreEvent(rest, *score);
}

std::optional<absl::string_view> EventBytes(absl::string_view payload, std::string* scratch) {
  if (!IsPackedEvent(payload)) return payload;
  auto unpacked = UnpackEvent(payload);
  if (!unpacked.ok()) return std::nullopt;
  *scratch = *std::move(unpacked);
  return absl::string_view(*scratch);
}

const std::string* EventPayload(const std::string* field, std::string* scratch) {
  if (field == nullptr) return nullptr;
  auto bytes = EventBytes(*field, scratch);
  if (!bytes.has_value()) return nullptr;
  return bytes->data() == field->data() ? field : scratch;
}

}  // namespace stp::common
