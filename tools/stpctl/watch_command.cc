// stpctl watch: follows events with a filter, one line per event (JSON lines with --json),
// reconnecting and resuming by itself; prints the cursor to resume from when it stops.
#include <csignal>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/event_filter_flags.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace ev1 = stp::events::v1;

volatile std::sig_atomic_t interrupted = 0;
void OnInterrupt(int) { interrupted = 1; }

std::string Summary(const ev1::Event& e) {
  switch (e.snapshot_case()) {
    case ev1::Event::kProject:
      return e.project().title();
    case ev1::Event::kOrganization:
      return e.organization().display_name();
    case ev1::Event::kPark:
      return e.park().display_name();
    case ev1::Event::kCountry:
      return e.country().display_name();
    case ev1::Event::kScoreChange: {
      const auto& change = e.score_change();
      std::string text = absl::StrFormat("score %.1f", change.current().total());
      if (change.has_previous())
        absl::StrAppendFormat(&text, " (was %.1f)", change.previous().total());
      return absl::StrCat(text, " ", change.current().title());
    }
    default:
      return "";
  }
}

std::string EventLine(const ev1::Event& e) {
  std::string type = ev1::EventType_Name(e.type());
  if (absl::StartsWith(type, "EVENT_TYPE_")) type = type.substr(11);
  std::string line = absl::StrCat(FormatTime(e.occur_time()), "  ", type, "  ", e.resource());
  if (e.revision() > 0) absl::StrAppend(&line, "  rev ", e.revision());
  if (!e.actor().empty()) absl::StrAppend(&line, "  by ", e.actor());
  if (e.changed_fields_size() > 0) {
    absl::StrAppend(&line, "  [", absl::StrJoin(e.changed_fields(), ","), "]");
  }
  std::string summary = Summary(e);
  if (!summary.empty()) absl::StrAppend(&line, "  ", summary);
  return line;
}

}  // namespace

int RunWatch(Invocation& inv) {
  EventFilterFlags filter_flags;
  std::string cursor;
  int64_t count = 0;
  int heartbeat = 0;
  FlagSet flags = inv.NewFlags(
      "Follows every event that matches the filter, one line each (a JSON line with --json, "
      "cursor included). Reconnects by itself after a disconnect or a server restart, "
      "resuming from the last cursor with no gap and no repeat. On exit (--count reached, "
      "Ctrl-C) it prints the cursor to resume from on stderr; pass it to --cursor next time.");
  filter_flags.Register(&flags);
  flags.String("cursor", &cursor, "resume after this cursor (default: from now on)");
  flags.Int("count", &count, "stop after this many events (0: never)");
  flags.Int("heartbeat", &heartbeat, "seconds between server heartbeats when idle (0: 15)");
  if (auto done = inv.Parse(&flags)) return *done;
  client::SubscribeOptions options;
  if (absl::Status s = filter_flags.Apply(&options.filter); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  options.cursor = cursor;
  options.max_events = count;
  options.heartbeat_seconds = heartbeat;
  options.on_live = [] {
    std::fprintf(stderr, "stpctl watch: live, following events\n");
    std::fflush(stderr);
  };
  options.on_reconnect = [](const absl::Status& why, absl::Duration wait) {
    std::fprintf(stderr, "stpctl watch: stream ended (%s%s%s); reconnecting in %s\n",
                 absl::StatusCodeToString(why.code()).c_str(), why.message().empty() ? "" : ": ",
                 std::string(why.message()).c_str(),
                 absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(10))).c_str());
  };
  auto connection = inv.Connect(Api::kNotification);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  bool json = inv.json();
  auto subscription = client::NotificationClient(*connection)
                          .Subscribe(options, [&inv, json](const ev1::Event& event,
                                                           const std::string& event_cursor) {
                            if (json) {
                              stp::notification::v1::SubscribeResponse message;
                              message.set_cursor(event_cursor);
                              *message.mutable_event() = event;
                              inv.PrintJson(message, /*one_line=*/true);
                            } else {
                              std::printf("%s\n", EventLine(event).c_str());
                              std::fflush(stdout);
                            }
                          });
  while (!subscription->WaitFor(absl::Milliseconds(100))) {
    if (interrupted) subscription->Cancel();
  }
  absl::Status ended = subscription->Wait();
  std::fprintf(stderr, "cursor: %s\n", subscription->cursor().c_str());
  if (!ended.ok()) return inv.Fail(ended);
  return kExitOk;
}

}  // namespace stp::stpctl
