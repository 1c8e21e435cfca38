// stpctl import FILE: streams an IATI activity XML or AidData CSV file to ImportProjects, with
// a progress bar on a terminal, then the summary and every rejected record.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace iv1 = stp::ingestion::v1;

// "[#########...........]  42%  2.0 of 4.6 MiB" on one terminal line, redrawn in place.
void DrawProgress(int64_t sent, int64_t total) {
  constexpr int kWidth = 30;
  double share = total > 0 ? static_cast<double>(sent) / static_cast<double>(total) : 1.0;
  int filled = static_cast<int>(share * kWidth);
  std::fprintf(stderr, "\r[%s%s] %3d%%  %.1f of %.1f MiB", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), static_cast<int>(share * 100),
               static_cast<double>(sent) / (1 << 20), static_cast<double>(total) / (1 << 20));
  std::fflush(stderr);
}

}  // namespace

int RunImport(Invocation& inv) {
  std::string format = "auto", request_id, source;
  bool dry_run = false, progress = true;
  FlagSet flags = inv.NewFlags(
      "Imports the projects of an IATI activity file (v2.0x XML) or an AidData Chinese "
      "official finance CSV file, in chunks of 1 MiB. Records are matched to existing projects "
      "by external id, so importing a file again changes nothing; a bad record is rejected "
      "with its reason and never stops the rest. Prints the summary and the rejections.");
  flags.String("format", &format, "iati, aiddata or auto (from the file's name or content)");
  flags.String("request-id", &request_id,
               "base idempotency key (default: a new one); resending the file with the same key "
               "writes nothing twice");
  flags.String("source", &source, "source name recorded on each project (default: file name)");
  flags.Bool("dry-run", &dry_run, "parse and validate only; write nothing");
  flags.Bool("progress", &progress, "show a progress bar when stderr is a terminal");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "FILE")) return *done;
  client::ImportOptions options;
  if (format == "iati" || format == "xml") {
    options.format = iv1::IMPORT_FORMAT_IATI_XML;
  } else if (format == "aiddata" || format == "csv") {
    options.format = iv1::IMPORT_FORMAT_AIDDATA_CSV;
  } else if (format == "auto") {
    auto detected = client::DetectImportFormat(words[0]);
    if (!detected.ok()) return inv.Usage(std::string(detected.status().message()));
    options.format = *detected;
  } else {
    return inv.Usage("--format: iati, aiddata or auto");
  }
  options.request_id = request_id;
  options.source_reference = source;
  options.dry_run = dry_run;
  bool draw = progress && isatty(STDERR_FILENO);
  if (draw) options.on_progress = DrawProgress;
  // An import runs as long as the file needs; --timeout bounds it when given.
  auto connection = inv.Connect(Api::kIngestion, absl::Minutes(10));
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  absl::Time start = absl::Now();
  auto summary = client::IngestionClient(*connection).ImportFile(words[0], options);
  if (draw) std::fprintf(stderr, "\n");
  if (!summary.ok()) {
    if (absl::IsNotFound(summary.status()) && summary.status().message().find("cannot read") == 0) {
      return inv.Usage(std::string(summary.status().message()));
    }
    return inv.Fail(summary.status());
  }
  if (inv.json()) {
    inv.PrintJson(*summary);
    return kExitOk;
  }
  const iv1::ImportSummary& s = *summary;
  std::printf("%s%s: %d records in %.1fs\n", words[0].c_str(), s.dry_run() ? " (dry run)" : "",
              s.received(), absl::ToDoubleSeconds(absl::Now() - start));
  Table counts({{"CREATED", Table::Align::kRight},
                {"UPDATED", Table::Align::kRight},
                {"UNCHANGED", Table::Align::kRight},
                {"REJECTED", Table::Align::kRight},
                {"WARNINGS", Table::Align::kRight},
                {"NEW ORGANISATIONS", Table::Align::kRight}});
  counts.AddRow({absl::StrCat(s.created()), absl::StrCat(s.updated()), absl::StrCat(s.unchanged()),
                 absl::StrCat(s.rejected()), absl::StrCat(s.warnings_size()),
                 absl::StrCat(s.organizations_created())});
  counts.Print();
  if (s.rejections_size() > 0) {
    std::printf("\nRejected records:\n");
    Table rejections({{"INDEX", Table::Align::kRight},
                      {"EXTERNAL ID", Table::Align::kLeft, 40},
                      {"REASON", Table::Align::kLeft, 100},
                      {"FIELDS"}});
    for (const auto& r : s.rejections()) {
      rejections.AddRow(
          {absl::StrCat(r.index()), r.external_id(), r.reason(), absl::StrJoin(r.fields(), ",")});
    }
    rejections.Print();
    if (s.rejected() > s.rejections_size()) {
      std::printf("... and %d more\n", s.rejected() - s.rejections_size());
    }
  }
  return kExitOk;
}

}  // namespace stp::stpctl
