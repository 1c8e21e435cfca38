// The runtime every service binary shares: a gRPC server on the callback API with health,
// reflection, message-size limits, keepalive and TLS; a bounded worker pool for blocking work;
// a call handler that authenticates, logs, measures and maps errors for each call; and a
// shutdown sequence (NOT_SERVING -> drain -> stop) driven by SIGTERM.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/call_context.h"
#include "libs/common/flags.h"
#include "libs/common/metrics.h"
#include "libs/common/principal.h"
#include "libs/common/worker_pool.h"

namespace stp {

// Establishes who is calling. Runs on a worker thread, so it may block (a Redis lookup).
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& ctx) = 0;
};

// Parses a W3C traceparent header; an invalid or absent header starts a new trace. The
// result's span id is new: it identifies this service's part of the trace.
void FillTraceContext(absl::string_view incoming_traceparent, RequestContext* rc);

// grpc.health.v1.Health, on the callback API (the built-in one needs a sync service).
class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  HealthService();
  ~HealthService() override;

  // Declares a service name ("" is the whole server) and its status.
  void SetServing(const std::string& service, bool serving);
  // Sets every known name at once.
  void SetAll(bool serving);
  // Everything NOT_SERVING for good; open Watch streams end.
  void Shutdown();
  std::optional<ServingStatus> Get(const std::string& service) const;

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* ctx,
      const grpc::health::v1::HealthCheckRequest* request) override;

  class Watcher;

 private:
  void Register(Watcher* w);
  void Unregister(Watcher* w);
  void NotifyLocked(const std::string& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// Runs each call: authentication, role check, log context, metrics, worker-pool dispatch and
// the absl -> grpc status mapping. Service adapters call Unary() from every unary method.
class CallHandler {
 public:
  // `max_in_flight`: unary calls in progress beyond which a new call is answered
  // RESOURCE_EXHAUSTED (SERVER_OVERLOADED); 0: no limit.
  CallHandler(std::string service, WorkerPool* pool, Metrics* metrics, Authenticator* auth,
              int max_in_flight = 0);

  using Body = std::function<absl::Status(const RequestContext&)>;

  // Queues `body` on the worker pool and finishes the call with its status. A full queue
  // answers RESOURCE_EXHAUSTED with RetryInfo; an expired deadline answers DEADLINE_EXCEEDED
  // without running the body.
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* method,
                                  AccessRole min_role, Body body);

  // A body that answers later, from any thread, by calling `done` exactly once: a call that
  // only waits for Redis then does not hold a worker thread asleep (a sleep and a wake per
  // call, which on a busy two-core machine cost more than the read). The RequestContext lives
  // until the body returns; copy what `done`'s path needs.
  using Done = std::function<void(const absl::Status&)>;
  using AsyncBody = std::function<void(const RequestContext&, Done)>;
  grpc::ServerUnaryReactor* UnaryAsync(grpc::CallbackServerContext* ctx, const char* method,
                                       AccessRole min_role, AsyncBody body);

  // For streaming methods: authenticates and builds the context synchronously (call it from a
  // worker thread). Records nothing; pair it with Record().
  absl::StatusOr<RequestContext> Begin(const grpc::ServerContextBase& ctx, const char* method,
                                       AccessRole min_role);
  void Record(const char* method, const absl::Status& status, absl::Time start);

  WorkerPool* pool() const { return pool_; }
  Metrics* metrics() const { return metrics_; }
  const std::string& service() const { return service_; }

 private:
  std::string service_;
  WorkerPool* pool_;
  Metrics* metrics_;
  Authenticator* auth_;
  prometheus::Gauge* in_flight_ = nullptr;
  const int max_in_flight_;
  std::atomic<int> calls_in_flight_{0};
};

// Serves a unary method whose core call returns absl::StatusOr<Response>: runs `fn` on the
// worker pool through the handler and copies a successful result into the response.
template <typename Response, typename Fn>
grpc::ServerUnaryReactor* ServeUnary(CallHandler* handler, grpc::CallbackServerContext* ctx,
                                     const char* method, AccessRole min_role, Response* response,
                                     Fn fn) {
  return handler->Unary(ctx, method, min_role,
                        [response, fn = std::move(fn)](const RequestContext& rc) -> absl::Status {
                          auto result = fn(rc);
                          if (!result.ok()) return result.status();
                          *response = *std::move(result);
                          return absl::OkStatus();
                        });
}

// ServeUnary for a core call that answers later: `fn(rc, reply)` calls
// `reply(absl::StatusOr<Response>)` once, from any thread.
template <typename Response, typename Fn>
grpc::ServerUnaryReactor* ServeUnaryAsync(CallHandler* handler, grpc::CallbackServerContext* ctx,
                                          const char* method, AccessRole min_role,
                                          Response* response, Fn fn) {
  return handler->UnaryAsync(
      ctx, method, min_role,
      [response, fn = std::move(fn)](const RequestContext& rc, CallHandler::Done done) {
        fn(rc, [response, done = std::move(done)](absl::StatusOr<Response> result) {
          if (!result.ok()) {
            done(result.status());
            return;
          }
          *response = *std::move(result);
          done(absl::OkStatus());
        });
      });
}

// ServeUnaryAsync for a method registered raw (WithRawCallbackMethod_<Method>) whose answer
// is a stored message: the request is parsed as `Request`, and `fn(rc, request, reply)` calls
// `reply(absl::StatusOr<std::string>)` once with the serialized response, which is sent as
// it is, without a parse and a re-serialization on the way.
template <typename Request, typename Fn>
grpc::ServerUnaryReactor* ServeSerializedUnaryAsync(CallHandler* handler,
                                                    grpc::CallbackServerContext* ctx,
                                                    const char* method, AccessRole min_role,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* response, Fn fn) {
  return handler->UnaryAsync(
      ctx, method, min_role,
      [request, response, fn = std::move(fn)](const RequestContext& rc, CallHandler::Done done) {
        grpc::ByteBuffer bytes(*request);  // shares the slices; Deserialize consumes them
        Request parsed;
        if (!grpc::SerializationTraits<Request>::Deserialize(&bytes, &parsed).ok()) {
          return done(absl::InvalidArgumentError(
              absl::StrCat("the request is not a ", Request::descriptor()->full_name())));
        }
        fn(rc, parsed, [response, done = std::move(done)](absl::StatusOr<std::string> answer) {
          if (!answer.ok()) return done(answer.status());
          grpc::Slice slice(*answer);
          *response = grpc::ByteBuffer(&slice, 1);
          done(absl::OkStatus());
        });
      });
}

// Transport and lifecycle settings, shared by every binary (and so by its flags).
struct ServerOptions {
  std::string listen_address = "0.0.0.0:50051";
  std::string metrics_address = "0.0.0.0:9090";  // empty: no metrics endpoint
  std::string health_address;  // a plaintext port serving only grpc.health.v1 (kubelet probes)
  bool plaintext = false;      // explicit opt-in for local runs
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;  // set: verify client certificates against it
  bool require_client_cert = false;
  int tls_reload_seconds = 60;
  int max_message_bytes = 8 << 20;
  int worker_threads = 8;
  int worker_queue = 1024;
  // Unary calls in progress (queued, running, or waiting for Redis without a worker) beyond
  // which a new call is refused; 0: no limit. Calls answered asynchronously hold no worker,
  // so the worker queue alone does not bound them.
  int max_in_flight = 4096;
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  absl::Duration drain_grace = absl::ZeroDuration();  // NOT_SERVING before refusing new calls
  absl::Duration shutdown_timeout = absl::Seconds(20);
  absl::Duration readiness_interval = absl::Seconds(1);

  void RegisterFlags(FlagSet* flags);
  absl::Status Validate() const;
};

class ServerRunner {
 public:
  explicit ServerRunner(ServerOptions options);
  ~ServerRunner();

  // Registers a service (not owned) and its health name ("stp.ingestion.v1.IngestionService").
  void AddService(grpc::Service* service, const std::string& health_name);
  // Readiness: every check must pass for the services to be SERVING. Polled on an interval.
  // A check given a service's health name gates only that service (and the server as a whole).
  void AddReadinessCheck(std::function<bool()> check, const std::string& only_service = "");
  // Runs the checks now rather than at the next interval (a dependency just became ready).
  // Before Start it does nothing (services and checks may still be registering; Start checks).
  void RefreshReadiness() {
    if (started_.load()) UpdateReadiness();
  }
  // Run at shutdown after NOT_SERVING and before the server stops (end streams, stop workers);
  // run too when the server never started.
  void AddShutdownHook(std::function<void()> hook);

  absl::Status Start();
  int port() const { return port_; }
  // Calls on the main port that have arrived and not ended (their answer sent), streams too.
  int calls_in_progress() const { return calls_in_progress_.load(std::memory_order_relaxed); }
  int health_port() const { return health_port_; }
  HealthService& health() { return health_; }
  // A channel into this server that skips the network (the all-in-one process uses it).
  std::shared_ptr<grpc::Channel> InProcessChannel(const grpc::ChannelArguments& args) {
    return server_->InProcessChannel(args);
  }
  // NOT_SERVING -> drain grace -> hooks -> stop accepting and wait for in-flight calls up to
  // the shutdown timeout, then cancel the rest. Idempotent.
  void Shutdown();
  void Wait();

  // Blocks SIGTERM and SIGINT in the calling thread (call first in main, so every thread
  // inherits the mask), and waits for one of them.
  static void BlockTerminationSignals();
  // What a serving process sets first in main: BlockTerminationSignals, and absl::Mutex's
  // lock-order (deadlock) checking off. Debian builds Abseil without NDEBUG, which leaves
  // that check on: every lock of every absl::Mutex, ours and gRPC's, then updates a
  // process-wide lock graph under one global spin lock, about four times the cost of the
  // lock itself. Unit and integration tests, which run the services in their own process, keep
  // the check.
  static void PrepareServingProcess();
  static int WaitForTerminationSignal();

 private:
  void ReadinessLoop();
  // Serialised, so that an earlier check's answer is never set after a later one's.
  void UpdateReadiness() ABSL_LOCKS_EXCLUDED(readiness_mu_);
  void StopServing();
  absl::Mutex readiness_mu_;
  std::atomic<bool> started_{false};  // set once registration is over, in Start

  ServerOptions options_;
  HealthService health_;
  std::vector<std::pair<grpc::Service*, std::string>> services_;
  std::vector<std::pair<std::function<bool()>, std::string>> readiness_checks_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::atomic<int> calls_in_progress_{0};  // on the main port, from arrival to end
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Service> health_mirror_;
  std::unique_ptr<grpc::Server> health_server_;
  int port_ = 0;
  int health_port_ = 0;
  std::atomic<bool> stopping_{false};
  absl::Notification stop_readiness_;
  std::thread readiness_thread_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace stp
