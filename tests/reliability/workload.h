// Clients that write projects the way the API guide tells partners to: one request id per
// logical write, reused on every retry of UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED,
// until a definite answer. Each logical write becomes one Operation in the History.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"
#include "tests/reliability/history.h"

namespace stp::reliability {

// The long form (`make reliability`, STP_RELIABILITY_LONG=1) runs more operations and more
// fault cycles; the quick form is what `make test` runs.
bool LongForm();
// `quick` normally, `long_form` when LongForm().
int Scaled(int quick, int long_form);

struct RetryPolicy {
  absl::Duration attempt_deadline = absl::Seconds(5);
  absl::Duration give_up_after = absl::Seconds(90);
};

bool Retryable(grpc::StatusCode code);

// Runs `attempt(ctx)` until it returns OK or a code that is not retryable, or the policy gives
// up. Fills attempts, latency, last code and outcome (OK -> kOk; not retryable -> kRejected;
// gave up -> kUnknown) of `op`.
void CallWithRetry(const RetryPolicy& policy, Operation* op,
                   const std::function<grpc::Status(grpc::ClientContext*)>& attempt);

// A project that passes validation, with `org` as technology partner.
stp::ingestion::v1::Project NewProject(const std::string& title, const std::string& org,
                                       const std::string& host = "countries/EG");

class ProjectWorkload {
 public:
  ProjectWorkload(std::shared_ptr<grpc::Channel> channel, History* history, std::string org,
                  std::string prefix, RetryPolicy policy = RetryPolicy());

  // Mixed writes until `keep_going` turns false and at least `min_ops` were made: creates,
  // updates without and with an etag, deletes, and creates that validation must refuse.
  void Run(int thread, int min_ops, const std::function<bool()>& keep_going,
           absl::Duration pause = absl::Milliseconds(5));

  Operation Create(const std::string& request_id, const std::string& title);
  Operation Update(const std::string& request_id, const std::string& name, bool with_etag);
  Operation Delete(const std::string& request_id, const std::string& name);
  Operation Invalid(const std::string& request_id);

  // Every page of ListProjects (for the checker).
  absl::StatusOr<std::vector<std::string>> ListAll();
  int operations() const { return operations_.load(); }

 private:
  std::string PickProject(std::mt19937* rng);

  std::unique_ptr<stp::ingestion::v1::IngestionService::Stub> stub_;
  History* history_;
  std::string org_, prefix_;
  RetryPolicy policy_;
  absl::Mutex mu_;
  std::vector<std::string> known_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> operations_{0};
};

}  // namespace stp::reliability
