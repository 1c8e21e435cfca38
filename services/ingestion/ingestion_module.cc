#include "services/ingestion/ingestion_module.h"

#include "stp/ingestion/v1/ingestion_service.grpc.pb.h"

namespace stp::ingestion {
namespace {

// Until the service lands, every method answers UNIMPLEMENTED (the generated defaults).
class IngestionModule : public Module {
 public:
  std::string name() const override { return "ingestion"; }
  absl::Status Init(Process& process) override {
    process.runner().AddService(&service_, "stp.ingestion.v1.IngestionService");
    return absl::OkStatus();
  }

 private:
  stp::ingestion::v1::IngestionService::CallbackService service_;
};

}  // namespace

std::unique_ptr<Module> NewIngestionModule() { return std::make_unique<IngestionModule>(); }

}  // namespace stp::ingestion
