// A redis-server in its own network namespace, reached over a veth pair, whose packets can be
// dropped silently in both directions: a network blackhole, unlike a killed or paused Redis
// (where the kernel still answers SYNs and resets). Made with `ip` alone, because this machine
// has no iptables or nft and no netem/prio qdiscs: Blackhole() pins each side's neighbour entry
// for the other to a MAC address nobody has, so every frame is discarded by the receiving veth
// as addressed to another host. Nothing errors, nothing answers; TCP just retransmits.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace stp::reliability {

class NetnsRedis {
 public:
  // FAILED_PRECONDITION (with the reason) when namespaces or veth pairs cannot be made here,
  // typically without root or CAP_NET_ADMIN; the caller skips.
  static absl::StatusOr<std::unique_ptr<NetnsRedis>> Start();
  ~NetnsRedis();

  std::string address() const;  // "10.x.y.2:6379"
  absl::Status Blackhole();     // drop every packet both ways
  absl::Status Heal();          // let them through again
  // Runs redis-cli in the namespace (for assertions).
  std::string Cli(const std::string& args) const;

 private:
  NetnsRedis() = default;
  std::string ns_, host_if_, ns_if_, host_ip_, ns_ip_, dir_;
  pid_t pid_ = -1;
  bool created_ns_ = false, created_link_ = false;
};

}  // namespace stp::reliability
