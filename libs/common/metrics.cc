#include "libs/common/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"

namespace stp {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

void GaugeCallbacks::Add(const std::string& name, const std::string& help, Labels labels,
                         std::function<double()> value) {
  absl::MutexLock lock(&mu_);
  auto& family = families_[name];
  family.first = help;
  family.second.push_back({std::move(labels), std::move(value)});
}

std::vector<prometheus::MetricFamily> GaugeCallbacks::Collect() const {
  absl::MutexLock lock(&mu_);
  std::vector<prometheus::MetricFamily> out;
  for (const auto& [name, family] : families_) {
    prometheus::MetricFamily mf;
    mf.name = name;
    mf.help = family.first;
    mf.type = prometheus::MetricType::Gauge;
    for (const auto& entry : family.second) {
      prometheus::ClientMetric metric;
      for (const auto& [k, v] : entry.labels) metric.label.push_back({k, v});
      metric.gauge.value = entry.value();
      mf.metric.push_back(std::move(metric));
    }
    out.push_back(std::move(mf));
  }
  return out;
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      callbacks_(std::make_shared<GaugeCallbacks>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("stp_rpc_requests_total")
                   .Help("RPCs completed, by service, method and gRPC status code")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("stp_rpc_latency_seconds")
                  .Help("RPC latency from arrival to answer, by service and method")
                  .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("stp_rpc_in_flight")
                    .Help("RPCs being served, by service")
                    .Register(*registry_);
  auth_failures_ = &prometheus::BuildCounter()
                        .Name("stp_auth_failures_total")
                        .Help("Calls refused for missing or bad credentials, by service and reason")
                        .Register(*registry_);
  redis_latency_ = &prometheus::BuildHistogram()
                        .Name("stp_redis_command_seconds")
                        .Help("Redis round-trip latency, by kind (command, pipeline, script)")
                        .Register(*registry_);
  redis_errors_ =
      &prometheus::BuildCounter()
           .Name("stp_redis_errors_total")
           .Help("Redis commands that failed (connection, timeout or error reply), by kind")
           .Register(*registry_);
}

Metrics::~Metrics() = default;

absl::Status Metrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(callbacks_);
  auto ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return absl::OkStatus();
}

void Metrics::StopServing() { exposer_.reset(); }

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (auto& f : callbacks_->Collect()) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

void Metrics::RecordCall(const std::string& service, const std::string& method, int code,
                         double seconds) {
  static const char* kCodes[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const char* code_name = (code >= 0 && code <= 16) ? kCodes[code] : "UNKNOWN";
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    std::string key = absl::StrCat(service, "/", method);
    std::string ckey = absl::StrCat(key, "/", code_name);
    auto cit = request_children_.find(ckey);
    if (cit == request_children_.end()) {
      cit = request_children_
                .emplace(ckey, &requests_->Add(
                                   {{"service", service}, {"method", method}, {"code", code_name}}))
                .first;
    }
    counter = cit->second;
    auto hit = latency_children_.find(key);
    if (hit == latency_children_.end()) {
      hit = latency_children_
                .emplace(key, &latency_->Add({{"service", service}, {"method", method}},
                                             LatencyBuckets()))
                .first;
    }
    histogram = hit->second;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

prometheus::Gauge& Metrics::InFlight(const std::string& service) {
  return in_flight_->Add({{"service", service}});
}

void Metrics::RecordAuthFailure(const std::string& service, const std::string& reason) {
  auth_failures_->Add({{"service", service}, {"reason", reason}}).Increment();
}

void Metrics::RecordRedis(const std::string& kind, double seconds, bool error) {
  prometheus::Histogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    auto it = redis_children_.find(kind);
    if (it == redis_children_.end()) {
      it = redis_children_.emplace(kind, &redis_latency_->Add({{"kind", kind}}, LatencyBuckets()))
               .first;
    }
    histogram = it->second;
  }
  histogram->Observe(seconds);
  if (error) redis_errors_->Add({{"kind", kind}}).Increment();
}

prometheus::Counter& Metrics::Counter(const std::string& name, const std::string& help,
                                      const std::map<std::string, std::string>& labels) {
  absl::MutexLock lock(&mu_);
  auto it = counters_.find(name);
  if (it == counters_.end()) {
    it = counters_
             .emplace(name, &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_))
             .first;
  }
  return it->second->Add(labels);
}

prometheus::Histogram& Metrics::Histogram(const std::string& name, const std::string& help,
                                          const std::map<std::string, std::string>& labels) {
  absl::MutexLock lock(&mu_);
  auto it = histograms_.find(name);
  if (it == histograms_.end()) {
    it =
        histograms_
            .emplace(name, &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_))
            .first;
  }
  return it->second->Add(labels, LatencyBuckets());
}

}  // namespace stp
