#include "services/matching/matching_module.h"

#include <fstream>
#include <sstream>

#include "libs/common/status.h"
#include "services/matching/core/matcher.h"
#include "services/matching/core/matching_config.h"
#include "services/matching/core/organization_index.h"
#include "services/matching/index_feed.h"
#include "services/matching/matching_service.h"

namespace stp::matching {
namespace {

class MatchingModule : public Module {
 public:
  std::string name() const override { return "matching"; }

  void RegisterFlags(FlagSet* flags) override {
    flags->String("matching-config-file", &config_file_,
                  "matching weights (JSON); empty uses the shipped default");
    flags->Int("matching-workers", &workers_, "worker threads of the matching service");
    flags->String("matching-ingestion-address", &ingestion_address_,
                  "ingestion service address, for loading the index and resolving parks and "
                  "projects (not needed "
                  "when hosted in the same process)");
    flags->Bool("matching-ingestion-plaintext", &ingestion_plaintext_,
                "call the ingestion service without TLS");
    flags->String("matching-scoring-address", &scoring_address_,
                  "scoring service address, for the scores behind track records at start");
    flags->Bool("matching-scoring-plaintext", &scoring_plaintext_,
                "call the scoring service without TLS");
    flags->String("matching-snapshot-file", &feed_.snapshot_file,
                  "where the index snapshot is kept so that a restart catches up from its cursor; "
                  "empty: reload");
    flags->Duration("matching-snapshot-every", &feed_.snapshot_every,
                    "how often the snapshot is written");
  }

  absl::Status Init(Process& process) override {
    MatchingConfig config = MatchingConfig::Default();
    if (!config_file_.empty()) {
      std::ifstream in(config_file_);
      if (!in) return absl::NotFoundError("cannot read --matching-config-file " + config_file_);
      std::stringstream text;
      text << in.rdbuf();
      STP_ASSIGN_OR_RETURN(config, MatchingConfig::FromJson(text.str()));
    }
    index_ = std::make_unique<OrganizationIndex>();
    matcher_ = std::make_unique<Matcher>(index_.get(), config);
    feed_impl_ =
        std::make_unique<IndexFeed>(index_.get(), &process.redis(), process.keyspace(), feed_);
    if (!ingestion_address_.empty())
      process.SetRemoteAddress("ingestion", ingestion_address_, ingestion_plaintext_);
    if (!scoring_address_.empty())
      process.SetRemoteAddress("scoring", scoring_address_, scoring_plaintext_);
    std::string key = process.outgoing_credential();
    decorate_ = [key](grpc::ClientContext* ctx) {
      if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
    };
    CallHandler* handler = process.NewCallHandler("matching", workers_, workers_ * 64);
    service_ = std::make_unique<MatchingServiceImpl>(handler, matcher_.get(), index_.get(),
                                                     feed_impl_.get(), &process.redis(),
                                                     process.keyspace(), nullptr, decorate_);
    process.runner().AddService(service_.get(), "stp.matching.v1.MatchingService");
    IndexFeed* feed = feed_impl_.get();
    process.runner().AddReadinessCheck([feed] { return feed->loaded(); },
                                       "stp.matching.v1.MatchingService");
    OrganizationIndex* index = index_.get();
    process.metrics().callbacks().Add("stp_matching_organizations",
                                      "Organisations in the partner index", {},
                                      [index] { return double(index->organization_count()); });
    process.metrics().callbacks().Add("stp_matching_events_applied",
                                      "Events applied to the partner index", {},
                                      [feed] { return double(feed->events_applied()); });
    return absl::OkStatus();
  }

  absl::Status Start(Process& process) override {
    std::shared_ptr<stp::ingestion::v1::IngestionService::StubInterface> ingestion;
    std::shared_ptr<stp::scoring::v1::ScoringService::StubInterface> scoring;
    if (process.Hosts("ingestion") || !ingestion_address_.empty()) {
      ingestion = stp::ingestion::v1::IngestionService::NewStub(process.ChannelTo("ingestion"));
    }
    if (process.Hosts("scoring") || !scoring_address_.empty()) {
      scoring = stp::scoring::v1::ScoringService::NewStub(process.ChannelTo("scoring"));
    }
    if (ingestion == nullptr) {
      return absl::FailedPreconditionError(
          "matching needs --matching-ingestion-address to load its index");
    }
    service_->set_ingestion(ingestion);
    feed_impl_->Start(ingestion, scoring, decorate_);
    return absl::OkStatus();
  }

  void Stop() override {
    if (feed_impl_) feed_impl_->Stop();
  }

 private:
  std::string config_file_;
  int workers_ = 4;
  std::string ingestion_address_;
  bool ingestion_plaintext_ = false;
  std::string scoring_address_;
  bool scoring_plaintext_ = false;
  FeedOptions feed_;
  IndexFeed::Decorate decorate_;
  std::unique_ptr<OrganizationIndex> index_;
  std::unique_ptr<Matcher> matcher_;
  std::unique_ptr<IndexFeed> feed_impl_;
  std::unique_ptr<MatchingServiceImpl> service_;
};

}  // namespace

std::unique_ptr<Module> NewMatchingModule() { return std::make_unique<MatchingModule>(); }

}  // namespace stp::matching
