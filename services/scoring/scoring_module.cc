#include "services/scoring/scoring_module.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
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
    flags->Bool("scoring-pack-events", &pack_events_,
                "write SCORE_CHANGED events packed (less than half their size); turn off while "
                "notification, matching or ingestion replicas of a build before packed events "
                "still run");
    flags->Int("scoring-consumers", &consumers_,
               "consumers in this process (each is one more member of the group, named "
               "<consumer>-<i> after the first), so that one computes while another waits "
               "for Redis");
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
    store_->set_pack_events(pack_events_);
    if (consumers_ < 1 || consumers_ > 16) {
      return absl::InvalidArgumentError("--scoring-consumers must be between 1 and 16");
    }
    for (int i = 0; i < consumers_; ++i) {
      EngineOptions options = engine_;
      if (i > 0) {
        if (options.consumer.empty()) options.consumer = ScoringEngine::DefaultConsumer();
        options.consumer = absl::StrCat(options.consumer, "-", i);
      }
      engines_.push_back(std::make_unique<ScoringEngine>(
          store_.get(), model_.get(), &process.redis(), options, [] { return absl::Now(); }));
    }
    // A stored score a caller's read finds unreadable is computed again by the first consumer.
    ScoringEngine* repairer = engines_.front().get();
    store_->set_on_unreadable([repairer](const std::string& id) { repairer->RequestRescore(id); });
    CallHandler* handler = process.NewCallHandler("scoring", workers_, workers_ * 64);
    service_ =
        std::make_unique<ScoringServiceImpl>(handler, store_.get(), model_.get(), snapshot_age_);
    process.runner().AddService(service_.get(), "stp.scoring.v1.ScoringService");
    if (!ingestion_address_.empty())
      process.SetRemoteAddress("ingestion", ingestion_address_, ingestion_plaintext_);
    // The group's lag is the same for every consumer; the first one's reading is reported.
    const ScoringEngine* first = engines_.front().get();
    process.metrics().callbacks().Add(
        "stp_stream_consumer_lag", "Events not yet delivered to a consumer group",
        {{"group", engine_.group}}, [first] { return double(first->lag()); });
    process.metrics().callbacks().Add("stp_scoring_events_handled",
                                      "Events the scoring consumers have handled", {}, [this] {
                                        double handled = 0;
                                        for (const auto& e : engines_) handled += e->handled();
                                        return handled;
                                      });
    return absl::OkStatus();
  }

  absl::Status Start(Process& process) override {
    std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion;
    if (process.Hosts("ingestion") || !ingestion_address_.empty()) {
      ingestion = stp::ingestion::v1::IngestionService::NewStub(process.ChannelTo("ingestion"));
    }
    std::string key = process.outgoing_credential();
    // Only the first consumer builds the read model on a fresh deployment; the others consume
    // meanwhile, as another replica's would.
    for (size_t i = 0; i < engines_.size(); ++i) {
      engines_[i]->Start(i == 0 ? ingestion : nullptr, [key](grpc::ClientContext* ctx) {
        if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
      });
    }
    return absl::OkStatus();
  }

  void Stop() override {
    for (const auto& engine : engines_) engine->Stop();
  }

  ~ScoringModule() override {
    // The store outlives the consumers (members go in reverse order), and a Redis round trip
    // still under way may report an unreadable score: not to a consumer that is gone.
    if (store_ != nullptr) store_->set_on_unreadable(nullptr);
  }

 private:
  std::string model_file_;
  int workers_ = 8;
  EngineOptions engine_;
  absl::Duration snapshot_age_ = absl::Milliseconds(500);
  std::string ingestion_address_;
  bool ingestion_plaintext_ = false;
  bool pack_events_ = true;
  std::unique_ptr<ScoringModel> model_;
  std::unique_ptr<ScoreStore> store_;
  int consumers_ = 2;
  std::vector<std::unique_ptr<ScoringEngine>> engines_;
  std::unique_ptr<ScoringServiceImpl> service_;
};

}  // namespace

std::unique_ptr<Module> NewScoringModule() { return std::make_unique<ScoringModule>(); }

}  // namespace stp::scoring
