#include "libs/runtime/process.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/status.h"
#include "libs/runtime/allocator.h"

namespace stp {

void ProcessConfig::RegisterFlags(FlagSet* flags) {
  server.RegisterFlags(flags);
  redis.RegisterFlags(flags);
  flags->Int("partitions", &partitions,
             "keyspace partitions (Redis Cluster hash tags); every service must agree");
  flags->String("key-prefix", &key_prefix, "prefix of every Redis key");
  flags->Int("stream-retention", &stream_retention,
             "events kept per partition stream (approximate); older cursors get OUT_OF_RANGE");
  flags->String("log-level", &log_level, "debug, info, warning or error");
  flags->Bool("auth-disabled", &auth_disabled,
              "accept calls without credentials (every caller is an operator); local runs only");
  flags->String("service-api-key", &service_api_key,
                "OPERATOR API key this process presents when it calls services in other processes");
  flags->String(
      "client-cert-principals", &client_cert_principals_file,
      "file mapping client-certificate identities (SAN or CN) to \"<organization or -> <ROLE>\"");
  flags->Duration(
      "auth-cache-ttl", &auth_cache_ttl,
      "how long a looked-up API key is trusted before it is read again (a revocation takes "
      "effect within this time)");
  rate_limits.RegisterFlags(flags);
}

Process::Process(std::string program, ProcessConfig config)
    : program_(std::move(program)),
      config_(std::move(config)),
      keyspace_(config_.key_prefix, config_.partitions) {
  redis_ = std::make_unique<redis::RedisClient>(config_.redis, &metrics_);
  runner_ = std::make_unique<ServerRunner>(config_.server);
  api_keys_ = std::make_unique<ApiKeyStore>(redis_.get(), keyspace_);
  outgoing_credential_ = config_.service_api_key;
  metrics_.callbacks().Add(
      "stp_redis_idle_buffer_bytes",
      absl::StrCat("Bytes idle Redis connections keep of their pipeline buffers (given back "
                   "after ",
                   absl::FormatDuration(redis_->options().trim_buffers_after),
                   " without a pipeline)"),
      {}, [redis = redis_.get()] { return static_cast<double>(redis->IdleBufferBytes()); });
  if (ReadAllocatorStats().has_value()) {
    metrics_.callbacks().Add(
        "stp_allocator_allocated_bytes",
        "Bytes the process has allocated and not freed, by its allocator's count", {}, [] {
          return static_cast<double>(ReadAllocatorStats().value_or(AllocatorStats{}).allocated);
        });
    metrics_.callbacks().Add(
        "stp_allocator_resident_bytes",
        "Physical memory the allocator maps: allocated bytes, its metadata, and freed pages not "
        "yet returned to the system",
        {}, [] {
          return static_cast<double>(ReadAllocatorStats().value_or(AllocatorStats{}).resident);
        });
  }
}

Process::~Process() {
  Shutdown();
  // Services outlive the server that calls them; the modules go before what they use.
  runner_.reset();
  modules_.clear();
  handlers_.clear();
  pools_.clear();
}

CallHandler* Process::NewCallHandler(const std::string& service, int threads, int queue) {
  pools_.push_back(std::make_unique<WorkerPool>(service, threads, queue));
  WorkerPool* pool = pools_.back().get();
  metrics_.callbacks().Add("stp_worker_queue_depth", "Calls waiting for a worker thread",
                           {{"pool", service}},
                           [pool] { return static_cast<double>(pool->queue_depth()); });
  metrics_.callbacks().Add("stp_worker_busy", "Worker threads running a call", {{"pool", service}},
                           [pool] { return static_cast<double>(pool->busy()); });
  handlers_.push_back(std::make_unique<CallHandler>(service, pool, &metrics_, authenticator_.get(),
                                                    config_.server.max_in_flight));
  return handlers_.back().get();
}

bool Process::Hosts(const std::string& service) const {
  for (const auto& m : modules_) {
    if (m->name() == service) return true;
  }
  return false;
}

void Process::SetRemoteAddress(const std::string& service, const std::string& address,
                               bool plaintext) {
  remotes_[service] = {address, plaintext};
}

std::shared_ptr<grpc::Channel> Process::ChannelTo(const std::string& service) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(config_.server.max_message_bytes);
  if (Hosts(service)) return runner_->InProcessChannel(args);
  auto it = remotes_.find(service);
  std::string address = it == remotes_.end() ? "" : it->second.first;
  bool plaintext = it == remotes_.end() ? true : it->second.second;
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!plaintext) {
    // Other services may require client certificates: present this server's own certificate.
    // Roots come from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH when the cluster has its own CA.
    grpc::SslCredentialsOptions ssl;
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      return text.str();
    };
    if (!config_.server.tls_cert_file.empty() && !config_.server.tls_key_file.empty()) {
      ssl.pem_cert_chain = read(config_.server.tls_cert_file);
      ssl.pem_private_key = read(config_.server.tls_key_file);
    }
    creds = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(address, creds, args);
}

absl::Status Process::Start(std::vector<std::unique_ptr<Module>> modules) {
  modules_ = std::move(modules);
  if (!config_.auth_disabled) {
    CertificatePrincipals certificates;
    if (!config_.client_cert_principals_file.empty()) {
      std::ifstream in(config_.client_cert_principals_file);
      if (!in) return absl::NotFoundError("cannot read " + config_.client_cert_principals_file);
      std::stringstream text;
      text << in.rdbuf();
      STP_ASSIGN_OR_RETURN(certificates, CertificatePrincipals::Parse(text.str()));
    }
    // Calls between services hosted here carry a random token that exists only in memory.
    std::string process_token = HexEncode(SecureRandomBytes(32));
    if (outgoing_credential_.empty()) outgoing_credential_ = process_token;
    authenticator_ = std::make_unique<RedisAuthenticator>(
        api_keys_.get(), redis_.get(), keyspace_, config_.rate_limits, std::move(certificates),
        process_token, program_, config_.auth_cache_ttl);
  }
  redis::RedisClient* redis = redis_.get();
  runner_->AddReadinessCheck(
      [redis] { return redis->Ping(absl::Now() + absl::Milliseconds(500)).ok(); });
  // Registered first: a start that fails part way stops the modules that began their
  // background work in Init.
  runner_->AddShutdownHook([this] {
    for (size_t i = 0; i < initialized_; ++i) modules_[i]->Stop();
  });
  for (auto& m : modules_) {
    STP_RETURN_IF_ERROR(m->Init(*this));
    ++initialized_;
  }
  STP_RETURN_IF_ERROR(runner_->Start());
  for (auto& m : modules_) STP_RETURN_IF_ERROR(m->Start(*this));
  return absl::OkStatus();
}

void Process::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  runner_->Shutdown();
  // Scrapes read the worker pools' gauges (and modules' own), which go next.
  metrics_.StopServing();
  for (auto& pool : pools_) pool->Shutdown();
}

namespace {

// Issues an OPERATOR key straight into Redis: the way in on a fresh install, before any key
// exists to call the admin API with.
int CreateOperatorKey(Process& process, const std::string& label, const std::string& file) {
  absl::Time now = absl::Now();
  if (!file.empty()) {
    auto exists = process.api_keys().HasOperatorKey(now);
    if (!exists.ok()) {
      std::fprintf(stderr, "cannot reach Redis: %s\n",
                   std::string(exists.status().message()).c_str());
      return 1;
    }
    if (*exists) {
      std::fprintf(stderr, "an operator key exists already; %s left as it is\n", file.c_str());
      return 0;
    }
  }
  auto created = process.api_keys().Create(
      "", AccessRole::kOperator, label.empty() ? "bootstrap" : label, absl::ZeroDuration(), now);
  if (!created.ok()) {
    std::fprintf(stderr, "cannot create the key: %s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  if (file.empty()) {
    std::printf("%s\n", created->second.c_str());
    std::fprintf(stderr, "apiKeys/%s issued (OPERATOR); the key is shown only now\n",
                 created->first.id.c_str());
    return 0;
  }
  std::ofstream out(file, std::ios::trunc);
  out << created->second << "\n";
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", file.c_str());
    return 1;
  }
  std::fprintf(stderr, "apiKeys/%s issued (OPERATOR) and written to %s\n",
               created->first.id.c_str(), file.c_str());
  return 0;
}

}  // namespace

int RunModules(int argc, char** argv, const std::string& program, const std::string& summary,
               std::vector<std::unique_ptr<Module>> modules) {
  ServerRunner::PrepareServingProcess();
  ProcessConfig config;
  FlagSet flags(program, summary);
  config.RegisterFlags(&flags);
  std::string create_operator_key, bootstrap_key_file;
  flags.String(
      "create-operator-key", &create_operator_key,
      "issue an OPERATOR API key with this label, print it once, and exit (fresh installs)");
  flags.String("bootstrap-key-file", &bootstrap_key_file,
               "when no OPERATOR key exists yet, issue one and write it to this file, then exit");
  for (auto& m : modules) m->RegisterFlags(&flags);
  absl::Status parsed = flags.Parse(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), std::string(parsed.message()).c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  LogLevel level;
  if (!ParseLogLevel(config.log_level, &level)) {
    std::fprintf(stderr, "%s: --log-level must be debug, info, warning or error\n",
                 program.c_str());
    return 2;
  }
  SetLogLevel(level);
  SetLogService(program);
  RouteLibraryLogs();

  Process process(program, config);
  if (!create_operator_key.empty() || !bootstrap_key_file.empty()) {
    return CreateOperatorKey(process, create_operator_key, bootstrap_key_file);
  }
  if (!config.server.metrics_address.empty()) {
    absl::Status metrics = process.metrics().Serve(config.server.metrics_address);
    if (!metrics.ok()) {
      LogError("cannot start", {{"error", std::string(metrics.message())}});
      return 1;
    }
  }
  absl::Status started = process.Start(std::move(modules));
  if (!started.ok()) {
    LogError("cannot start", {{"error", std::string(started.message())}});
    return 1;
  }
  LogInfo("started", {{"port", process.port()},
                      {"metrics_port", process.metrics().port()},
                      {"allocator", AllocatorName()}});
  int sig = ServerRunner::WaitForTerminationSignal();
  LogInfo("signal received", {{"signal", sig}});
  process.Shutdown();
  return 0;
}

}  // namespace stp
