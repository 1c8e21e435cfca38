#include "services/ingestion/ingestion_module.h"

#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "services/ingestion/import/sector_avenues.h"
#include "services/ingestion/ingestion_service.h"
#include "services/ingestion/redis_registry_store.h"
#include "services/ingestion/registry.h"

namespace stp::ingestion {
namespace {

class IngestionModule : public Module {
 public:
  std::string name() const override { return "ingestion"; }

  void RegisterFlags(FlagSet* flags) override {
    flags->String("ingestion-sector-table", &sector_table_file_,
                  "file mapping DAC sectors to avenues (one line per avenue: \"green_growth: 23210 "
                  "...\"); empty uses the built-in table");
    flags->Int("ingestion-max-imports", &max_imports_, "ImportProjects streams served at once");
    flags->Int("ingestion-workers", &workers_, "worker threads of the ingestion service");
  }

  absl::Status Init(Process& process) override {
    if (sector_table_file_.empty()) {
      sectors_ = SectorAvenueTable::Default();
    } else {
      std::ifstream in(sector_table_file_);
      if (!in)
        return absl::NotFoundError("cannot read --ingestion-sector-table " + sector_table_file_);
      std::stringstream text;
      text << in.rdbuf();
      STP_ASSIGN_OR_RETURN(sectors_, SectorAvenueTable::FromText(text.str()));
    }
    ProjectIndexFeed::Options feed_options;
    feed_options.on_loaded = [runner = &process.runner()] { runner->RefreshReadiness(); };
    store_ = std::make_unique<RedisRegistryStore>(
        &process.redis(), process.keyspace(), process.config().stream_retention,
        RedisRegistryStore::kRequestTtl, std::move(feed_options));
    registry_ = std::make_unique<Registry>(store_.get(), [] { return absl::Now(); });
    CallHandler* handler = process.NewCallHandler("ingestion", workers_, workers_ * 64);
    service_ =
        std::make_unique<IngestionServiceImpl>(handler, registry_.get(), &sectors_, max_imports_);
    process.runner().AddService(service_.get(), "stp.ingestion.v1.IngestionService");
    // Listings by filter and duplicate flags need the project index: not ready before it loads.
    const ProjectIndexFeed* feed = &store_->project_feed();
    process.runner().AddReadinessCheck([feed] { return feed->loaded(); },
                                       "stp.ingestion.v1.IngestionService");
    const ProjectIndex* index = &store_->project_index();
    process.metrics().callbacks().Add("stp_ingestion_indexed_projects",
                                      "Projects in this replica's in-memory project index", {},
                                      [index] { return double(index->size()); });
    process.metrics().callbacks().Add(
        "stp_ingestion_project_index_tombstones",
        "Deleted projects this replica's index still remembers (dropped once it has read on)", {},
        [index] { return double(index->tombstones()); });
    process.metrics().callbacks().Add(
        "stp_ingestion_project_index_loads",
        "Loads of the project index from Redis (1 at start; more: events were missed)", {},
        [feed] { return double(feed->loads()); });
    return absl::OkStatus();
  }

  // The project index follows the event streams on a thread of its own, through the process's
  // Redis client: it stops here, before the process lets the client go.
  void Stop() override { store_->StopProjectIndex(); }

 private:
  std::string sector_table_file_;
  int max_imports_ = 4;
  int workers_ = 8;
  SectorAvenueTable sectors_ = SectorAvenueTable::Default();
  std::unique_ptr<RedisRegistryStore> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<IngestionServiceImpl> service_;
};

}  // namespace

std::unique_ptr<Module> NewIngestionModule() { return std::make_unique<IngestionModule>(); }

}  // namespace stp::ingestion
