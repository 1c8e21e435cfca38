#include "libs/common/event_header.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "stp/events/v1/events.pb.h"

namespace stp::common {
namespace {

bool IsSnapshot(int field) {
  static const auto* snapshot = stp::events::v1::Event::descriptor()->FindOneofByName("snapshot");
  const auto* f = stp::events::v1::Event::descriptor()->FindFieldByNumber(field);
  return f != nullptr && f->containing_oneof() == snapshot;
}

}  // namespace

std::optional<EventHeader> ReadEventHeader(absl::string_view event) {
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

}  // namespace stp::common
