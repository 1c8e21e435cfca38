// libFuzzer target: a Project as it arrives in CreateProject/UpdateProject, through
// ValidateProject. The input is the wire form; libFuzzer mutates it, protobuf parses it.
// Checks: the validator is deterministic, every refusal is well-formed (fuzz_checks.h), and
// what it accepts keeps the documented limits.
#include <cstddef>
#include <cstdint>

#include "services/ingestion/validation.h"
#include "tests/fuzz/fuzz_checks.h"

using stp::fuzz::Check;

namespace {

void CheckAccepted(const stp::ingestion::v1::Project& p) {
  Check(!p.title().empty() && p.title().size() <= stp::ingestion::kMaxTitle);
  Check(stp::fuzz::Utf8(p.title()) && stp::fuzz::Utf8(p.description()));
  Check(p.avenues_size() > 0 && p.participants_size() <= 200);
  Check(stp::ingestion::IsCountryName(p.host_country()));
  Check(p.financing().budget().units() >= 0 && p.financing().budget().nanos() >= 0);
  for (const auto& f : p.financing().commitments()) Check(f.amount().units() >= 0);
  if (p.has_planned_start() && p.has_planned_end()) {
    Check(stp::ingestion::DateToDays(p.planned_start()) <=
          stp::ingestion::DateToDays(p.planned_end()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stp::fuzz::QuietProtobuf();
  stp::ingestion::v1::Project project;
  if (!project.ParseFromArray(data, static_cast<int>(size))) return 0;
  stp::FieldViolations first, second;
  stp::ingestion::ValidateProject(project, "project", &first);
  stp::ingestion::ValidateProject(project, "project", &second);
  Check(first.size() == second.size());
  for (size_t i = 0; i < first.size(); ++i) {
    Check(first.violations()[i].field == second.violations()[i].field);
  }
  if (first.empty()) CheckAccepted(project);
  stp::fuzz::CheckRefusal(first.ToStatus(), {"project"});
  return 0;
}
