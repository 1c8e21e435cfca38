// libFuzzer target: a SubscribeRequest as it arrives, through ValidateFilter and DecodeCursor
// (for one to four partitions), and the raw input as a cursor token. Checks refusals are
// well-formed (fuzz_checks.h), a decoded cursor has one stream id per partition and survives
// EncodeCursor/DecodeCursor, and an accepted filter can be matched against events.
#include <cstddef>
#include <cstdint>
#include <string>

#include "services/notification/cursor.h"
#include "services/notification/event_filter.h"
#include "tests/fuzz/fuzz_checks.h"

using stp::fuzz::Check;

namespace {

void CheckCursor(const std::string& token) {
  for (int partitions = 1; partitions <= 4; ++partitions) {
    auto positions = stp::notification::DecodeCursor(token, partitions);
    if (!positions.ok()) {
      stp::fuzz::CheckRefusal(positions.status(), {"cursor"});
      continue;
    }
    Check(static_cast<int>(positions->size()) == partitions);
    auto again =
        stp::notification::DecodeCursor(stp::notification::EncodeCursor(*positions), partitions);
    Check(again.ok() && *again == *positions);
  }
}

// Events of each kind, to match an accepted filter against.
const std::vector<stp::notification::EventFacts>& SampleFacts() {
  static const auto* facts = [] {
    auto* out = new std::vector<stp::notification::EventFacts>();
    stp::events::v1::Event e;
    e.set_type(stp::events::v1::EVENT_TYPE_PROJECT_CREATED);
    e.set_resource("projects/p1");
    auto* p = e.mutable_project();
    p->set_name("projects/p1");
    p->set_host_country("countries/EG");
    p->add_avenues(stp::common::v1::AVENUE_GREEN_GROWTH);
    p->add_participants()->set_organization("organizations/o1");
    out->push_back(stp::notification::FactsOf(e));
    p->set_visibility(stp::ingestion::v1::VISIBILITY_PARTICIPANTS);
    out->push_back(stp::notification::FactsOf(e));
    stp::events::v1::Event s;
    s.set_type(stp::events::v1::EVENT_TYPE_SCORE_CHANGED);
    s.mutable_score_change()->mutable_previous()->set_total(30);
    s.mutable_score_change()->mutable_current()->set_total(60);
    s.mutable_score_change()->mutable_current()->set_project("projects/p1");
    out->push_back(stp::notification::FactsOf(s));
    return out;
  }();
  return *facts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stp::fuzz::QuietProtobuf();
  CheckCursor(std::string(reinterpret_cast<const char*>(data), size));
  stp::notification::v1::SubscribeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  CheckCursor(request.cursor());
  absl::Status valid = stp::notification::ValidateFilter(request.filter(), "filter");
  stp::fuzz::CheckRefusal(valid, {"filter"});
  if (valid.ok()) {
    stp::Principal reader;
    reader.role = stp::AccessRole::kReader;
    stp::Principal operator_principal;
    operator_principal.role = stp::AccessRole::kOperator;
    for (const auto& facts : SampleFacts()) {
      bool for_operator = stp::notification::Matches(request.filter(), facts, operator_principal);
      bool for_reader = stp::notification::Matches(request.filter(), facts, reader);
      Check(!for_reader || for_operator);  // a reader never sees more than an operator
      if (facts.restricted) Check(!for_reader);
    }
  }
  return 0;
}
