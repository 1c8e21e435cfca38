// Reading command-line values (enum words, resource names, dates, money, lists, JSON files)
// and writing them back for people.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/type/date.pb.h"
#include "google/type/money.pb.h"

namespace stp::stpctl {

// An enum value from any natural spelling: "green-growth", "green_growth", "GREEN_GROWTH",
// "AVENUE_GREEN_GROWTH", "greengrowth". The *_UNSPECIFIED value is never accepted.
absl::StatusOr<int> ParseEnum(const google::protobuf::EnumDescriptor* type, absl::string_view text);
// Comma-separated values of ParseEnum.
absl::StatusOr<std::vector<int>> ParseEnumList(const google::protobuf::EnumDescriptor* type,
                                               absl::string_view text);
// AVENUE_GREEN_GROWTH -> "green-growth"; "-" for the unspecified value.
std::string EnumWord(const google::protobuf::EnumDescriptor* type, int value);
// Every accepted word, for help texts: "e-commerce, e-manufacturing, ...".
std::string EnumWords(const google::protobuf::EnumDescriptor* type);

// Comma-separated items, trimmed, empty ones dropped.
std::vector<std::string> SplitList(absl::string_view text);
// "abc" or "projects/abc" -> "projects/abc".
std::string ResourceName(absl::string_view collection, absl::string_view text);
// "eg", "EG" or "countries/EG" -> "countries/EG".
std::string CountryName(absl::string_view text);
// The id part of a resource name.
std::string IdOf(absl::string_view name);

// "2026-01-31" (or "2026", the first of January).
absl::StatusOr<google::type::Date> ParseDate(absl::string_view text);
std::string FormatDate(const google::type::Date& date);
std::string FormatTime(const google::protobuf::Timestamp& time);
// "12000000", "12000000.50" or "EUR 5000000" (USD when no currency is given).
absl::StatusOr<google::type::Money> ParseMoney(absl::string_view text);
std::string FormatMoney(const google::type::Money& money);

absl::StatusOr<std::string> ReadFile(const std::string& path);
// A message from a protobuf JSON file (camelCase or original field names).
absl::Status ReadJsonFile(const std::string& path, google::protobuf::Message* message);

}  // namespace stp::stpctl
