// The partitioned, cluster-ready keyspace (SPEC §4). Every key of one resource and the event
// stream partition it writes to share a Redis Cluster hash tag, "{p<N>}", so a Lua script that
// writes a resource and its event touches a single slot:
//
//   stp:{p3}:project:<id>            the resource
//   stp:{p3}:events                  the partition's event stream
//   stp:{p3}:idx:org:country:EG      a secondary index inside the partition
//
// A resource's partition is a stable hash of its id modulo the partition count. The count is
// configuration (default 1); consumers read every partition.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/common/ids.h"

namespace stp::redis {

class Keyspace {
 public:
  explicit Keyspace(std::string prefix = "stp", int partitions = 1)
      : prefix_(std::move(prefix)), partitions_(partitions < 1 ? 1 : partitions) {}

  int partitions() const { return partitions_; }
  const std::string& prefix() const { return prefix_; }

  int PartitionOf(absl::string_view id) const {
    return static_cast<int>(StableHash(id) % static_cast<uint64_t>(partitions_));
  }

  // "stp:{p3}:" followed by the parts joined with ':'.
  template <typename... Parts>
  std::string Key(int partition, const Parts&... parts) const {
    std::string key = absl::StrCat(prefix_, ":{p", partition, "}");
    (absl::StrAppend(&key, ":", parts), ...);
    return key;
  }

  // Small process-wide keys that belong to no partition (credentials, rate limits, consumer
  // cursors): "stp:{g}:...". They are never written together with partitioned keys.
  template <typename... Parts>
  std::string Global(const Parts&... parts) const {
    std::string key = absl::StrCat(prefix_, ":{g}");
    (absl::StrAppend(&key, ":", parts), ...);
    return key;
  }

  std::string Events(int partition) const { return Key(partition, "events"); }
  std::vector<std::string> AllEventStreams() const {
    std::vector<std::string> out;
    for (int p = 0; p < partitions_; ++p) out.push_back(Events(p));
    return out;
  }

 private:
  std::string prefix_;
  int partitions_;
};

}  // namespace stp::redis
