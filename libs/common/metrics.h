// Prometheus metrics of a process, exposed over HTTP. One Metrics object per process, shared
// by every service it hosts; metric families are labelled by service.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace stp {

// Values computed when scraped (queue depths, consumer lag, subscriber counts).
class GaugeCallbacks : public prometheus::Collectable {
 public:
  using Labels = std::map<std::string, std::string>;
  void Add(const std::string& name, const std::string& help, Labels labels,
           std::function<double()> value);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Entry {
    Labels labels;
    std::function<double()> value;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, std::pair<std::string, std::vector<Entry>>> families_ ABSL_GUARDED_BY(mu_);
};

class Metrics {
 public:
  Metrics();
  ~Metrics();

  // Serves /metrics on `address` ("0.0.0.0:9090"; port 0 picks a free one).
  absl::Status Serve(const std::string& address);
  int port() const { return port_; }
  // Stops serving /metrics (waiting for a scrape under way): gauge callbacks read objects that
  // shutdown is about to destroy.
  void StopServing();

  prometheus::Registry& registry() { return *registry_; }
  GaugeCallbacks& callbacks() { return *callbacks_; }
  // The exposition text, as a scrape would see it (for tests).
  std::string Render() const;

  // RPC metrics, recorded by the call handler.
  void RecordCall(const std::string& service, const std::string& method, int code, double seconds);
  prometheus::Gauge& InFlight(const std::string& service);
  // Counts authentication failures per service and reason.
  void RecordAuthFailure(const std::string& service, const std::string& reason);
  // Redis command latency and errors, recorded by the Redis layer.
  void RecordRedis(const std::string& kind, double seconds, bool error);

  // Generic helpers for service-specific counters.
  prometheus::Counter& Counter(const std::string& name, const std::string& help,
                               const std::map<std::string, std::string>& labels);
  prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                   const std::map<std::string, std::string>& labels);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<GaugeCallbacks> callbacks_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Counter>* auth_failures_;
  prometheus::Family<prometheus::Histogram>* redis_latency_;
  prometheus::Family<prometheus::Counter>* redis_errors_;

  absl::Mutex mu_;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Family<prometheus::Histogram>*> histograms_
      ABSL_GUARDED_BY(mu_);
  // Cached children: Family::Add hashes labels under a lock on every call.
  std::map<std::string, prometheus::Counter*> request_children_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Histogram*> latency_children_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Histogram*> redis_children_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets in seconds, 0.25 ms to 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

}  // namespace stp
