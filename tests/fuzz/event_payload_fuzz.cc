// libFuzzer target: event stream payloads. Any bytes, read as a payload, give a header or none
// and a full event or none, never a crash (a damaged packed score event is unreadable). Bytes
// that parse as an Event with a current score are packed as scoring packs them, and must read
// back as the same event, with the same header read without unpacking; written plain, they
// must parse as the same event too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/common/event_header.h"
#include "libs/common/phrase_codec.h"
#include "stp/events/v1/events.pb.h"
#include "tests/fuzz/fuzz_checks.h"

using stp::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stp::fuzz::QuietProtobuf();
  const std::string input(reinterpret_cast<const char*>(data), size);

  // As a stream payload.
  (void)stp::common::ReadEventHeader(input);
  std::string scratch;
  if (const std::string* payload = stp::common::EventPayload(&input, &scratch)) {
    stp::events::v1::Event e;
    (void)e.ParseFromString(*payload);
  }

  // As an event scoring writes.
  stp::events::v1::Event whole;
  if (!whole.ParseFromString(input) || !whole.score_change().has_current()) return 0;
  stp::events::v1::Event rest = whole;
  const std::string score = rest.mutable_score_change()->current().SerializeAsString();
  rest.mutable_score_change()->clear_current();
  const std::string rest_bytes = rest.SerializeAsString();
  // A total or weight may be any double, NaN included: the same NaN read back is the same event.
  google::protobuf::util::DefaultFieldComparator nan_equal;
  nan_equal.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differ;
  differ.set_field_comparator(&nan_equal);
  const auto same = [&](const std::string& bytes) {
    stp::events::v1::Event read;
    return read.ParseFromString(bytes) && differ.Compare(read, whole);
  };
  Check(same(stp::common::PlainScoreEvent(rest_bytes, score)));
  if (score.empty()) return 0;  // an empty score is never packed: it names its project
  const std::string packed =
      stp::common::PackScoreEvent(rest_bytes, stp::common::PackPhrases(score));
  Check(stp::common::IsPackedEvent(packed));
  const std::string* full = stp::common::EventPayload(&packed, &scratch);
  Check(full != nullptr && same(*full));
  auto packed_header = stp::common::ReadEventHeader(packed);
  auto plain_header = stp::common::ReadEventHeader(rest_bytes);
  Check(packed_header.has_value() == plain_header.has_value());
  if (packed_header.has_value()) {
    Check(packed_header->resource == plain_header->resource);
    Check(packed_header->type == plain_header->type);
    Check(packed_header->revision == plain_header->revision);
    Check(packed_header->snapshot_field == stp::events::v1::Event::kScoreChangeFieldNumber);
  }
  return 0;
}
