#include "tools/stpctl/resource_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/common/status.h"
#include "libs/common/vocabulary.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {

bool Given(const std::vector<std::string>& args, absl::string_view flag) {
  for (const auto& arg : args) {
    if (arg == "--") break;
    for (absl::string_view dashes : {"--", "-"}) {
      std::string plain = absl::StrCat(dashes, flag);
      if (arg == plain || absl::StartsWith(arg, plain + "=") ||
          arg == absl::StrCat(dashes, "no-", flag)) {
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<std::vector<int>> ParseIntList(absl::string_view text) {
  std::vector<int> out;
  for (const auto& item : SplitList(text)) {
    int value;
    if (!absl::SimpleAtoi(item, &value)) {
      return absl::InvalidArgumentError(absl::StrCat("'", item, "' is not a number"));
    }
    out.push_back(value);
  }
  return out;
}

absl::StatusOr<std::vector<stp::common::v1::ExternalId>> ParseExternalIds(absl::string_view text) {
  std::vector<stp::common::v1::ExternalId> out;
  for (const auto& item : SplitList(text)) {
    auto colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", item, "' is not source:value, for example partner:SCZONE-GG-7"));
    }
    stp::common::v1::ExternalId id;
    id.set_source(item.substr(0, colon));
    id.set_value(item.substr(colon + 1));
    out.push_back(std::move(id));
  }
  return out;
}

absl::StatusOr<std::vector<stp::ingestion::v1::Participant>> ParseParticipants(
    absl::string_view text) {
  std::vector<stp::ingestion::v1::Participant> out;
  for (const auto& item : SplitList(text)) {
    std::vector<std::string> parts = absl::StrSplit(item, ':');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() ||
        (parts.size() == 3 && parts[2] != "lead")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", item, "' is not org:role[:lead], for example abc:technology-partner:lead"));
    }
    stp::ingestion::v1::Participant p;
    p.set_organization(ResourceName("organizations", parts[0]));
    STP_ASSIGN_OR_RETURN(int role, ParseEnum(stp::common::v1::PartnerRole_descriptor(), parts[1]));
    p.set_role(static_cast<stp::common::v1::PartnerRole>(role));
    p.set_lead(parts.size() == 3);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> SetFields(const google::protobuf::Message& message,
                                   const std::set<std::string>& output_only) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  std::vector<std::string> out;
  for (const auto* f : fields) {
    if (!output_only.count(f->name())) out.push_back(f->name());
  }
  return out;
}

std::string AvenueList(const google::protobuf::RepeatedField<int>& avenues) {
  std::vector<std::string> words;
  for (int a : avenues) words.push_back(AvenueLabel(static_cast<stp::common::v1::Avenue>(a)));
  return absl::StrJoin(words, ", ");
}

std::string RoleList(const google::protobuf::RepeatedField<int>& roles) {
  std::vector<std::string> words;
  for (int r : roles) words.push_back(RoleLabel(static_cast<stp::common::v1::PartnerRole>(r)));
  return absl::StrJoin(words, ", ");
}

}  // namespace stp::stpctl
