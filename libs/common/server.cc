#include "libs/common/server.h"

#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/server_interceptor.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"

namespace stp {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// ---------------------------------------------------------------- trace context

namespace {

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string MetadataValue(const grpc::ServerContextBase& ctx, absl::string_view key) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

void FillTraceContext(absl::string_view incoming, RequestContext* rc) {
  std::vector<absl::string_view> parts = absl::StrSplit(incoming, '-');
  bool valid = parts.size() == 4 && parts[0].size() == 2 && parts[0] != "ff" &&
               parts[1].size() == 32 && parts[2].size() == 16 && parts[3].size() == 2 &&
               IsLowerHex(parts[0]) && IsLowerHex(parts[1]) && IsLowerHex(parts[2]) &&
               IsLowerHex(parts[3]) && parts[1] != std::string(32, '0') &&
               parts[2] != std::string(16, '0');
  std::string flags = "01";
  if (valid) {
    rc->trace_id = std::string(parts[1]);
    flags = std::string(parts[3]);
  } else {
    rc->trace_id = RandomHex(16);
  }
  rc->traceparent = absl::StrCat("00-", rc->trace_id, "-", RandomHex(8), "-", flags);
}

// ---------------------------------------------------------------- health

class HealthService::Watcher : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* owner, std::string service)
      : owner_(owner), service_(std::move(service)) {}

  void Start() { owner_->Register(this); }

  void Notify(const std::string& service, ServingStatus status) {
    if (service != service_) return;
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    pending_ = status;
    MaybeWriteLocked();
  }

  void End() {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::OK);
  }

  const std::string& service() const { return service_; }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    MaybeWriteLocked();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    owner_->Unregister(this);
    delete this;
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || !pending_.has_value()) return;
    if (last_.has_value() && *last_ == *pending_) {
      pending_.reset();
      return;
    }
    response_.set_status(*pending_);
    last_ = pending_;
    pending_.reset();
    writing_ = true;
    StartWrite(&response_);
  }
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  HealthService* owner_;
  const std::string service_;
  absl::Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);
  std::optional<ServingStatus> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<ServingStatus> last_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::HealthService() {
  absl::MutexLock lock(&mu_);
  statuses_[""] = HealthCheckResponse::NOT_SERVING;
}

HealthService::~HealthService() = default;

void HealthService::SetServing(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  auto status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  auto it = statuses_.find(service);
  if (it != statuses_.end() && it->second == status) return;
  statuses_[service] = status;
  NotifyLocked(service);
}

void HealthService::SetAll(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  auto status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  for (auto& [name, s] : statuses_) {
    if (s == status) continue;
    s = status;
    NotifyLocked(name);
  }
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, s] : statuses_) {
    s = HealthCheckResponse::NOT_SERVING;
    NotifyLocked(name);
  }
  shut_down_ = true;
  for (Watcher* w : watchers_) w->End();
}

void HealthService::NotifyLocked(const std::string& service) {
  auto status = statuses_[service];
  for (Watcher* w : watchers_) w->Notify(service, status);
}

std::optional<HealthService::ServingStatus> HealthService::Get(const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = statuses_.find(service);
  if (it == statuses_.end()) return std::nullopt;
  return it->second;
}

void HealthService::Register(Watcher* w) {
  absl::MutexLock lock(&mu_);
  watchers_.insert(w);
  if (shut_down_) {
    w->Notify(w->service(), HealthCheckResponse::NOT_SERVING);
    w->End();
    return;
  }
  auto it = statuses_.find(w->service());
  w->Notify(w->service(),
            it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second);
}

void HealthService::Unregister(Watcher* w) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(w);
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* ctx,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto status = Get(request->service());
  if (!status.has_value()) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service name: " + request->service()));
  } else {
    response->set_status(*status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* ctx, const HealthCheckRequest* request) {
  auto* watcher = new Watcher(this, request->service());
  watcher->Start();
  return watcher;
}

namespace {

// Counts a call from its arrival to its end: gRPC makes one interceptor per call and destroys
// it with the call, after the answer has gone out.
class CallCounter final : public grpc::experimental::Interceptor {
 public:
  explicit CallCounter(std::atomic<int>* calls) : calls_(calls) {
    calls_->fetch_add(1, std::memory_order_relaxed);
  }
  ~CallCounter() override { calls_->fetch_sub(1, std::memory_order_relaxed); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  std::atomic<int>* calls_;
};

class CallCounterFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallCounterFactory(std::atomic<int>* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new CallCounter(calls_);
  }

 private:
  std::atomic<int>* calls_;
};

// grpc.health.v1 Check on a second, plaintext port, answering from the main health service:
// kubelet gRPC probes cannot speak TLS. It serves nothing else.
class HealthMirror final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthMirror(HealthService* source) : source_(source) {}
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) override {
    return source_->Check(ctx, request, response);
  }

 private:
  HealthService* source_;
};

}  // namespace

// ---------------------------------------------------------------- call handler

CallHandler::CallHandler(std::string service, WorkerPool* pool, Metrics* metrics,
                         Authenticator* auth, int max_in_flight)
    : service_(std::move(service)),
      pool_(pool),
      metrics_(metrics),
      auth_(auth),
      max_in_flight_(max_in_flight) {
  if (metrics_ != nullptr) in_flight_ = &metrics_->InFlight(service_);
}

absl::StatusOr<RequestContext> CallHandler::Begin(const grpc::ServerContextBase& ctx,
                                                  const char* method, AccessRole min_role) {
  RequestContext rc;
  rc.method = method;
  rc.request_id = MetadataValue(ctx, "x-request-id");
  if (rc.request_id.empty() || rc.request_id.size() > 128) rc.request_id = RandomHex(8);
  FillTraceContext(MetadataValue(ctx, "traceparent"), &rc);
  auto deadline = ctx.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    rc.deadline = absl::FromChrono(deadline);
  }
  if (auth_ == nullptr) {
    rc.principal = Principal::Service("local");  // authentication switched off (local runs)
  } else {
    absl::StatusOr<Principal> principal = auth_->Authenticate(ctx);
    if (!principal.ok() && principal.status().code() != absl::StatusCode::kUnauthenticated) {
      return principal.status();  // rate limited, or the credential store unavailable
    }
    if (!principal.ok()) {
      if (metrics_ != nullptr) {
        std::string reason = GetErrorReason(principal.status());
        metrics_->RecordAuthFailure(service_, reason.empty() ? "UNAUTHENTICATED" : reason);
      }
      ScopedLogContext log_ctx({rc.request_id, rc.trace_id, "", method});
      LogWarning("authentication failed",
                 {{"reason", std::string(principal.status().message())}, {"peer", ctx.peer()}});
      return principal.status();
    }
    rc.principal = *std::move(principal);
  }
  absl::Status role = RequireRole(rc.principal, min_role);
  if (!role.ok()) return role;
  return rc;
}

void CallHandler::Record(const char* method, const absl::Status& status, absl::Time start) {
  if (metrics_ != nullptr) {
    metrics_->RecordCall(service_, method, static_cast<int>(status.code()),
                         absl::ToDoubleSeconds(absl::Now() - start));
  }
}

grpc::ServerUnaryReactor* CallHandler::Unary(grpc::CallbackServerContext* ctx, const char* method,
                                             AccessRole min_role, Body body) {
  return UnaryAsync(
      ctx, method, min_role,
      [body = std::move(body)](const RequestContext& rc, Done done) { done(body(rc)); });
}

grpc::ServerUnaryReactor* CallHandler::UnaryAsync(grpc::CallbackServerContext* ctx,
                                                  const char* method, AccessRole min_role,
                                                  AsyncBody body) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time start = absl::Now();
  if (in_flight_ != nullptr) in_flight_->Increment();
  const bool over = max_in_flight_ > 0 &&
                    calls_in_flight_.fetch_add(1, std::memory_order_relaxed) >= max_in_flight_;
  auto finish = [this, reactor, ctx, method, start](const absl::Status& status,
                                                    const std::string& request_id) {
    if (!request_id.empty()) ctx->AddInitialMetadata("x-request-id", request_id);
    Record(method, status, start);
    if (in_flight_ != nullptr) in_flight_->Decrement();
    if (max_in_flight_ > 0) calls_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    reactor->Finish(ToGrpcStatus(status));
  };
  auto overloaded = [] {
    return WithRetryInfo(
        WithErrorInfo(
            absl::ResourceExhaustedError("the server is at capacity; retry after the delay given"),
            "SERVER_OVERLOADED"),
        absl::Milliseconds(200));
  };
  if (over) {
    finish(overloaded(), "");
    return reactor;
  }
  bool queued = pool_->TrySubmit([this, ctx, method, min_role, body = std::move(body), finish] {
    absl::StatusOr<RequestContext> rc = Begin(*ctx, method, min_role);
    if (!rc.ok()) {
      finish(rc.status(), "");
      return;
    }
    LogContext log{rc->request_id, rc->trace_id, rc->principal.id, method};
    ScopedLogContext log_ctx(log);
    // Runs where the body answers: this thread, or the one its reply arrived on.
    Done done = [finish, log = std::move(log)](const absl::Status& status) {
      ScopedLogContext log_ctx(log);
      if (status.code() == absl::StatusCode::kInternal ||
          status.code() == absl::StatusCode::kUnknown) {
        LogError("call failed", {{"code", absl::StatusCodeToString(status.code())},
                                 {"error", std::string(status.message())}});
      } else if (LogEnabled(LogLevel::kDebug)) {
        LogDebug("call", {{"code", absl::StatusCodeToString(status.code())}});
      }
      finish(status, log.request_id);
    };
    if (absl::Now() >= rc->deadline) {
      done(absl::DeadlineExceededError("the call's deadline passed while it waited in the queue"));
      return;
    }
    body(*rc, std::move(done));
  });
  if (!queued) finish(overloaded(), "");
  return reactor;
}

// ---------------------------------------------------------------- options

void ServerOptions::RegisterFlags(FlagSet* flags) {
  flags->String("listen", &listen_address, "gRPC listen address, host:port (port 0 picks one)");
  flags->String("metrics-listen", &metrics_address,
                "Prometheus /metrics address, host:port; empty switches metrics off");
  flags->String(
      "health-listen", &health_address,
      "an extra plaintext address serving only grpc.health.v1, for probes that cannot speak TLS");
  flags->Bool("plaintext", &plaintext,
              "serve without TLS; only for local runs on loopback, never in production");
  flags->String("tls-cert", &tls_cert_file,
                "PEM server certificate chain (reloaded when it changes)");
  flags->String("tls-key", &tls_key_file, "PEM private key of the server certificate");
  flags->String("tls-client-ca", &tls_client_ca_file,
                "PEM CA bundle to verify client certificates (mTLS) against");
  flags->Bool("tls-require-client-cert", &require_client_cert,
              "refuse connections without a client certificate signed by --tls-client-ca");
  flags->Int("tls-reload-seconds", &tls_reload_seconds, "how often certificate files are re-read");
  flags->Int("max-message-bytes", &max_message_bytes, "largest request or response message");
  flags->Int("worker-threads", &worker_threads,
             "threads for blocking work (Redis, downstream calls)");
  flags->Int("worker-queue", &worker_queue,
             "queued calls beyond which new calls get RESOURCE_EXHAUSTED");
  flags->Int("max-in-flight", &max_in_flight,
             "unary calls in progress (queued, running or waiting for Redis) beyond which new "
             "calls get RESOURCE_EXHAUSTED; 0: no limit");
  flags->Duration("keepalive-time", &keepalive_time, "interval of server keepalive pings");
  flags->Duration("keepalive-timeout", &keepalive_timeout, "how long to wait for a ping answer");
  flags->Duration("drain-grace", &drain_grace,
                  "time between reporting NOT_SERVING and refusing new calls on shutdown");
  flags->Duration("shutdown-timeout", &shutdown_timeout,
                  "how long in-flight calls may run after shutdown starts");
  flags->Duration("readiness-interval", &readiness_interval, "how often dependencies are checked");
}

absl::Status ServerOptions::Validate() const {
  FieldViolations v;
  bool has_cert = !tls_cert_file.empty() || !tls_key_file.empty();
  if (!plaintext && !has_cert) {
    v.Add(
        "tls-cert",
        "no certificate configured: give --tls-cert and --tls-key, or --plaintext for a local run");
  }
  if (has_cert && (tls_cert_file.empty() || tls_key_file.empty())) {
    v.Add("tls-key", "--tls-cert and --tls-key go together");
  }
  if (require_client_cert && tls_client_ca_file.empty()) {
    v.Add("tls-client-ca", "--tls-require-client-cert needs --tls-client-ca");
  }
  if (plaintext && has_cert) v.Add("plaintext", "--plaintext and --tls-cert exclude each other");
  if (worker_threads < 1 || worker_threads > 1024) v.Add("worker-threads", "must be 1 to 1024");
  if (worker_queue < 1) v.Add("worker-queue", "must be at least 1");
  if (max_in_flight < 0) v.Add("max-in-flight", "must be 0 (no limit) or more");
  if (max_message_bytes < 1024) v.Add("max-message-bytes", "must be at least 1024");
  return v.ToStatus("invalid server configuration");
}

// ---------------------------------------------------------------- runner

ServerRunner::ServerRunner(ServerOptions options) : options_(std::move(options)) {}

ServerRunner::~ServerRunner() {
  Shutdown();
  if (readiness_thread_.joinable()) readiness_thread_.join();
}

void ServerRunner::AddService(grpc::Service* service, const std::string& health_name) {
  services_.emplace_back(service, health_name);
  health_.SetServing(health_name, false);
}

void ServerRunner::AddReadinessCheck(std::function<bool()> check, const std::string& only_service) {
  readiness_checks_.emplace_back(std::move(check), only_service);
}

void ServerRunner::AddShutdownHook(std::function<void()> hook) {
  shutdown_hooks_.push_back(std::move(hook));
}

absl::Status ServerRunner::Start() {
  STP_RETURN_IF_ERROR(options_.Validate());
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (options_.plaintext) {
    creds = grpc::InsecureServerCredentials();
  } else {
    for (const std::string& f :
         {options_.tls_cert_file, options_.tls_key_file, options_.tls_client_ca_file}) {
      if (!f.empty() && !std::ifstream(f).good()) {
        return absl::FailedPreconditionError("cannot read TLS file " + f);
      }
    }
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options_.tls_key_file, options_.tls_cert_file, options_.tls_client_ca_file,
        static_cast<unsigned int>(options_.tls_reload_seconds));
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (!options_.tls_client_ca_file.empty()) {
      tls.watch_root_certs();
      tls.set_cert_request_type(options_.require_client_cert
                                    ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    creds = grpc::experimental::TlsServerCredentials(tls);
  }
  builder.AddListeningPort(options_.listen_address, creds, &port_);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive_time)));
  builder.AddChannelArgument(
      GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive_timeout)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(&health_);
  for (auto& [service, name] : services_) builder.RegisterService(service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counters;
  counters.push_back(std::make_unique<CallCounterFactory>(&calls_in_progress_));
  builder.experimental().SetInterceptorCreators(std::move(counters));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError("cannot listen on " + options_.listen_address);
  }
  if (!options_.health_address.empty()) {
    health_mirror_ = std::make_unique<HealthMirror>(&health_);
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(options_.health_address, grpc::InsecureServerCredentials(),
                                    &health_port_);
    health_builder.RegisterService(health_mirror_.get());
    health_server_ = health_builder.BuildAndStart();
    if (health_server_ == nullptr || health_port_ == 0) {
      return absl::UnavailableError("cannot listen on --health-listen " + options_.health_address);
    }
  }
  started_.store(true);
  UpdateReadiness();
  readiness_thread_ = std::thread([this] { ReadinessLoop(); });
  LogInfo("serving",
          {{"address", options_.listen_address}, {"port", port_}, {"tls", !options_.plaintext}});
  return absl::OkStatus();
}

void ServerRunner::UpdateReadiness() {
  absl::MutexLock lock(&readiness_mu_);
  if (stopping_.load()) return;
  bool shared_ready = true;
  std::map<std::string, bool> service_ready;
  for (auto& [check, only] : readiness_checks_) {
    bool ok = check();
    if (only.empty()) {
      shared_ready = shared_ready && ok;
    } else {
      auto [it, inserted] = service_ready.emplace(only, ok);
      if (!inserted) it->second = it->second && ok;
    }
  }
  bool all = shared_ready;
  for (auto& [service, name] : services_) {
    auto it = service_ready.find(name);
    bool ready = shared_ready && (it == service_ready.end() || it->second);
    health_.SetServing(name, ready);
    all = all && ready;
  }
  health_.SetServing("", all);
}

void ServerRunner::ReadinessLoop() {
  while (!stop_readiness_.WaitForNotificationWithTimeout(options_.readiness_interval)) {
    UpdateReadiness();
  }
}

void ServerRunner::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  stopping_.store(true);
  if (!stop_readiness_.HasBeenNotified()) stop_readiness_.Notify();
  if (server_ == nullptr) {
    // It never served (a start that failed): what the hooks stop may have begun all the same.
    for (auto& hook : shutdown_hooks_) hook();
    return;
  }
  LogInfo("shutting down", {{"drain_grace_ms", absl::ToInt64Milliseconds(options_.drain_grace)}});
  health_.SetAll(false);
  if (options_.drain_grace > absl::ZeroDuration()) absl::SleepFor(options_.drain_grace);
  for (auto& hook : shutdown_hooks_) hook();
  health_.Shutdown();
  StopServing();
  if (health_server_ != nullptr) health_server_->Shutdown(std::chrono::system_clock::now());
  LogInfo("stopped");
}

void ServerRunner::StopServing() {
  // gRPC's Shutdown stops accepting calls, sends GOAWAY, and then waits, up to its deadline,
  // both for the calls in progress and for every client to close its connection. A client
  // between calls may take seconds to notice the GOAWAY (a synchronous client polls an idle
  // channel every 5 s, later on a loaded machine), and would hold the stop that long. So the
  // calls get up to the shutdown timeout, and once none has been left for a moment (a call is
  // counted from its arrival until its answer has gone out) the connections are closed.
  const absl::Time deadline = absl::Now() + options_.shutdown_timeout;
  absl::Notification stopped;
  std::thread stopper([&] {
    server_->Shutdown(absl::ToChronoTime(deadline));
    stopped.Notify();
  });
  constexpr absl::Duration kSettle = absl::Milliseconds(100);
  absl::Time idle_since = absl::InfiniteFuture();
  while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
    const absl::Time now = absl::Now();
    if (calls_in_progress() > 0) {
      idle_since = absl::InfiniteFuture();
    } else if (idle_since == absl::InfiniteFuture()) {
      idle_since = now;
    } else if (now - idle_since >= kSettle) {
      // Ends the server's connections. Repeated until Shutdown returns: the first may run
      // before Shutdown has stopped accepting.
      grpc_server_cancel_all_calls(server_->c_server());
      idle_since = now;
    }
  }
  stopper.join();
}

void ServerRunner::Wait() {
  if (server_ != nullptr) server_->Wait();
}

void ServerRunner::BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void ServerRunner::PrepareServingProcess() {
  BlockTerminationSignals();
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

int ServerRunner::WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace stp
