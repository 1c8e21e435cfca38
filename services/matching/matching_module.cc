#include "services/matching/matching_module.h"

#include "stp/matching/v1/matching_service.grpc.pb.h"

namespace stp::matching {
namespace {

// Until the service lands, every method answers UNIMPLEMENTED (the generated defaults).
class MatchingModule : public Module {
 public:
  std::string name() const override { return "matching"; }
  absl::Status Init(Process& process) override {
    process.runner().AddService(&service_, "stp.matching.v1.MatchingService");
    return absl::OkStatus();
  }

 private:
  stp::matching::v1::MatchingService::CallbackService service_;
};

}  // namespace

std::unique_ptr<Module> NewMatchingModule() { return std::make_unique<MatchingModule>(); }

}  // namespace stp::matching
