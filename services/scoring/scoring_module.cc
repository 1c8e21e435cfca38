#include "services/scoring/scoring_module.h"

#include "stp/scoring/v1/scoring_service.grpc.pb.h"

namespace stp::scoring {
namespace {

// Until the service lands, every method answers UNIMPLEMENTED (the generated defaults).
class ScoringModule : public Module {
 public:
  std::string name() const override { return "scoring"; }
  absl::Status Init(Process& process) override {
    process.runner().AddService(&service_, "stp.scoring.v1.ScoringService");
    return absl::OkStatus();
  }

 private:
  stp::scoring::v1::ScoringService::CallbackService service_;
};

}  // namespace

std::unique_ptr<Module> NewScoringModule() { return std::make_unique<ScoringModule>(); }

}  // namespace stp::scoring
