// Process wiring shared by every binary: flags, logging, metrics, the Redis client, the server
// runner, and the modules (services) the process hosts. A service binary hosts one module; the
// all-in-one binary hosts all four in one process and one port.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/common/flags.h"
#include "libs/common/metrics.h"
#include "libs/common/server.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"
#include "libs/runtime/credentials.h"

namespace stp {

// Settings every process has.
struct ProcessConfig {
  ServerOptions server;
  redis::RedisOptions redis;
  int partitions = 1;
  std::string key_prefix = "stp";
  int64_t stream_retention = 1000000;  // events kept per partition (approximate MAXLEN)
  std::string log_level = "info";
  bool auth_disabled = false;
  std::string service_api_key;  // credential this process presents to other services
  std::string client_cert_principals_file;
  absl::Duration auth_cache_ttl = absl::Seconds(5);  // a revoked key may work this long
  RateLimits rate_limits;

  void RegisterFlags(FlagSet* flags);
};

class Process;

// A service hosted by a process.
class Module {
 public:
  virtual ~Module() = default;
  // Short name: "ingestion", "scoring", "matching", "notification".
  virtual std::string name() const = 0;
  // Flags of this module (prefixed with its name so modules can share a process).
  virtual void RegisterFlags(FlagSet* flags) {}
  // Builds the service and registers it with the runner; the server is not started yet.
  virtual absl::Status Init(Process& process) = 0;
  // Called once the server serves: start background work (consumers, index loading).
  virtual absl::Status Start(Process& process) { return absl::OkStatus(); }
  // Called at shutdown after NOT_SERVING: stop background work, end streams.
  virtual void Stop() {}
};

class Process {
 public:
  Process(std::string program, ProcessConfig config);
  ~Process();

  // Builds everything, starts the server and the modules. The process owns the modules: it
  // destroys them after its server (services outlive the server that calls them) and before its
  // Redis client, metrics and worker pools (which the modules use until they are gone).
  absl::Status Start(std::vector<std::unique_ptr<Module>> modules);
  // NOT_SERVING, stop modules, drain, stop.
  void Shutdown();

  const ProcessConfig& config() const { return config_; }
  Metrics& metrics() { return metrics_; }
  redis::RedisClient& redis() { return *redis_; }
  const redis::Keyspace& keyspace() const { return keyspace_; }
  ServerRunner& runner() { return *runner_; }
  int port() const { return runner_->port(); }
  // The authenticator every call goes through (nullptr when authentication is disabled).
  Authenticator* authenticator() { return authenticator_.get(); }
  ApiKeyStore& api_keys() { return *api_keys_; }
  // The credential to present on calls to other services: the configured service key, or this
  // process's own in-memory token (valid only for services it hosts).
  const std::string& outgoing_credential() const { return outgoing_credential_; }

  // A channel to another service: in-process when this process hosts it, otherwise the
  // address of the --<service>-address flag (for example --ingestion-address).
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& service);
  void SetRemoteAddress(const std::string& service, const std::string& address, bool plaintext);
  bool Hosts(const std::string& service) const;

  // A worker pool and call handler for one hosted service, owned by the process.
  CallHandler* NewCallHandler(const std::string& service, int threads, int queue);

 private:
  std::string program_;
  ProcessConfig config_;
  Metrics metrics_;
  std::unique_ptr<redis::RedisClient> redis_;
  redis::Keyspace keyspace_;
  std::unique_ptr<ApiKeyStore> api_keys_;
  std::unique_ptr<Authenticator> authenticator_;
  std::string outgoing_credential_;
  std::unique_ptr<ServerRunner> runner_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<std::unique_ptr<WorkerPool>> pools_;
  std::vector<std::unique_ptr<CallHandler>> handlers_;
  std::map<std::string, std::pair<std::string, bool>> remotes_;
  size_t initialized_ = 0;  // modules whose Init succeeded
  bool shut_down_ = false;
};

// main() of every service binary: parses flags (and the environment), sets up logging and
// metrics, runs the modules until SIGTERM or SIGINT, shuts down cleanly. Returns the exit code.
int RunModules(int argc, char** argv, const std::string& program, const std::string& summary,
               std::vector<std::unique_ptr<Module>> modules);

}  // namespace stp
