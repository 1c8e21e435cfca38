#include "services/scoring/scoring_module.h"

#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "libs/common/status.h"
#include "services/scoring/scoring_engine.h"
#include "services/scoring/scoring_service.h"

namespace stp::scoring {
namespace {

class ScoringModule : public Module {
 public:
  std::string name() const override { return "scoring"; }

  void RegisterFlags(FlagSet* flags) override {
    flags->String("scoring-model-file", &model_file_,
                  "scoring model config (JSON); empty uses the shipped default model");
    flags->Int("scoring-workers", &workers_, "worker threads of the scoring service");
    flags->String("scoring-consumer", &engine_.consumer,
                  "consumer name in the group (default host-pid)");
    flags->Duration(
        "scoring-reclaim-idle", &engine_.reclaim_idle,
        "how long an event may sit unacknowledged with a consumer before another takes it over");
    flags->Int("scoring-batch", &engine_.batch, "events read per batch");
    flags->Duration("scoring-snapshot-age", &snapshot_age_,
                    "how stale the score snapshot behind rankings and portfolios may be");
    flags->String("scoring-ingestion-address", &ingestion_address_,
                  "ingestion service address, for building the read model on a fresh deployment "
                  "(not needed when hosted in the same process)");
    flags->Bool("scoring-ingestion-plaintext", &ingestion_plaintext_,
                "call the ingestion service without TLS");
  }

  absl::Status Init(Process& process) override {
    if (model_file_.empty()) {
      model_ = std::make_unique<ScoringModel>(ScoringModel::Default());
    } else {
      std::ifstream in(model_file_);
      if (!in) return absl::NotFoundError("cannot read --scoring-model-file " + model_file_);
      std::stringstream text;
      text << in.rdbuf();
      STP_ASSIGN_OR_RETURN(ScoringModel model, ScoringModel::FromJson(text.str()));
      model_ = std::make_unique<ScoringModel>(std::move(model));
    }
    store_ = std::make_unique<ScoreStore>(&process.redis(), process.keyspace(),
                                          process.config().stream_retention);
    engine_impl_ = std::make_unique<ScoringEngine>(store_.get(), model_.get(), &process.redis(),
                                                   engine_, [] { return absl::Now(); });
    CallHandler* handler = process.NewCallHandler("scoring", workers_, workers_ * 64);
    service_ =
        std::make_unique<ScoringServiceImpl>(handler, store_.get(), model_.get(), snapshot_age_);
    process.runner().AddService(service_.get(), "stp.scoring.v1.ScoringService");
    if (!ingestion_address_.empty())
      process.SetRemoteAddress("ingestion", ingestion_address_, ingestion_plaintext_);
    ScoringEngine* engine = engine_impl_.get();
    process.metrics().callbacks().Add(
        "stp_stream_consumer_lag", "Events not yet delivered to a consumer group",
        {{"group", engine_.group}}, [engine] { return double(engine->lag()); });
    process.metrics().callbacks().Add("stp_scoring_events_handled",
                                      "Events the scoring consumer has handled", {},
                                      [engine] { return double(engine->handled()); });
    return absl::OkStatus();
  }

  absl::Status Start(Process& process) override {
    std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion;
    if (process.Hosts("ingestion") || !ingestion_address_.empty()) {
      ingestion = stp::ingestion::v1::IngestionService::NewStub(process.ChannelTo("ingestion"));
    }
    std::string key = process.outgoing_credential();
    engine_impl_->Start(ingestion, [key](grpc::ClientContext* ctx) {
      if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
    });
    return absl::OkStatus();
  }

  void Stop() override {
    if (engine_impl_) engine_impl_->Stop();
  }

 private:
  std::string model_file_;
  int workers_ = 8;
  EngineOptions engine_;
  absl::Duration snapshot_age_ = absl::Milliseconds(500);
  std::string ingestion_address_;
  bool ingestion_plaintext_ = false;
  std::unique_ptr<ScoringModel> model_;
  std::unique_ptr<ScoreStore> store_;
  std::unique_ptr<ScoringEngine> engine_impl_;
  std::unique_ptr<ScoringServiceImpl> service_;
};

}  // namespace

std::unique_ptr<Module> NewScoringModule() { return std::make_unique<ScoringModule>(); }

}  // namespace stp::scoring
