// stpctl webhooks create|list|delete|deliveries.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/event_filter_flags.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace nv1 = stp::notification::v1;

int Create(Invocation& inv) {
  EventFilterFlags filter_flags;
  std::string url, secret, name, request_id;
  FlagSet flags = inv.NewFlags(
      "Registers a webhook: matching events are POSTed to URL as protobuf JSON, signed with "
      "HMAC-SHA256 of the secret (header X-STP-Signature).");
  flags.String("url", &url, "where to POST, an absolute http(s) URL (required)");
  flags.String("secret", &secret, "shared secret for the signature, 16 to 256 bytes (required)");
  flags.String("name", &name, "a label for people");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  filter_flags.Register(&flags);
  if (auto done = inv.Parse(&flags)) return *done;
  if (url.empty() || secret.empty()) return inv.Usage("--url and --secret are required");
  nv1::CreateWebhookRequest request;
  request.mutable_webhook()->set_url(url);
  request.mutable_webhook()->set_secret(secret);
  request.mutable_webhook()->set_display_name(name);
  if (absl::Status s = filter_flags.Apply(request.mutable_webhook()->mutable_filter()); !s.ok()) {
    return inv.Usage(std::string(s.message()));
  }
  request.set_request_id(request_id);
  auto connection = inv.Connect(Api::kNotification);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto hook = client::NotificationClient(*connection).CreateWebhook(request);
  if (!hook.ok()) return inv.Fail(hook.status());
  return inv.Print(*hook, [&] {
    std::printf("%s created for %s (owner %s)\n", hook->name().c_str(), hook->url().c_str(),
                hook->owner().empty() ? "-" : hook->owner().c_str());
  });
}

int List(Invocation& inv) {
  int limit = 0;
  FlagSet flags = inv.NewFlags("Lists your webhooks (every webhook for operators).");
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  auto connection = inv.Connect(Api::kNotification);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::NotificationClient notifier(*connection);
  nv1::ListWebhooksRequest request;
  nv1::ListWebhooksResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, notifier.ListWebhooks(request));
        for (auto& w : *page.mutable_webhooks()) *all.add_webhooks() = std::move(w);
        return page.next_page_token();
      },
      [&] { return all.webhooks_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"WEBHOOK"}, {"URL", Table::Align::kLeft, 60}, {"NAME"}, {"OWNER"}, {"CREATED"}});
  for (const auto& w : all.webhooks()) {
    table.AddRow({w.name(), w.url(), w.display_name(), w.owner(), FormatTime(w.create_time())});
  }
  table.Print();
  return kExitOk;
}

int Delete(Invocation& inv) {
  std::string request_id;
  FlagSet flags = inv.NewFlags("Deletes a webhook; deliveries still pending are dropped.");
  flags.String("request-id", &request_id, "idempotency key (default: a new one)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "WEBHOOK")) return *done;
  auto connection = inv.Connect(Api::kNotification);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  nv1::DeleteWebhookRequest request;
  request.set_name(ResourceName("webhooks", words[0]));
  request.set_request_id(request_id);
  auto deleted = client::NotificationClient(*connection).DeleteWebhook(request);
  if (!deleted.ok()) return inv.Fail(deleted.status());
  return inv.Print(*deleted, [&] { std::printf("%s deleted\n", deleted->name().c_str()); });
}

int Deliveries(Invocation& inv) {
  std::string state;
  int limit = 50;
  FlagSet flags =
      inv.NewFlags("Lists a webhook's deliveries, newest first, dead letters included.");
  flags.String("state", &state,
               "only deliveries in this state: " + EnumWords(nv1::DeliveryState_descriptor()));
  flags.Int("limit", &limit, "at most this many (0: all)");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "WEBHOOK")) return *done;
  nv1::ListDeliveriesRequest request;
  request.set_parent(ResourceName("webhooks", words[0]));
  if (!state.empty()) {
    auto v = ParseEnum(nv1::DeliveryState_descriptor(), state);
    if (!v.ok()) return inv.Usage("--state: " + std::string(v.status().message()));
    request.set_state(static_cast<nv1::DeliveryState>(*v));
  }
  auto connection = inv.Connect(Api::kNotification);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::NotificationClient notifier(*connection);
  nv1::ListDeliveriesResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, notifier.ListDeliveries(request));
        for (auto& d : *page.mutable_deliveries()) *all.add_deliveries() = std::move(d);
        return page.next_page_token();
      },
      [&] { return all.deliveries_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"DELIVERY"},
               {"EVENT"},
               {"TYPE"},
               {"STATE"},
               {"ATTEMPTS", Table::Align::kRight},
               {"HTTP", Table::Align::kRight},
               {"LAST ERROR", Table::Align::kLeft, 50},
               {"UPDATED"}});
  for (const auto& d : all.deliveries()) {
    table.AddRow({IdOf(d.name()), d.event_id(),
                  EnumWord(stp::events::v1::EventType_descriptor(), d.event_type()),
                  EnumWord(nv1::DeliveryState_descriptor(), d.state()), absl::StrCat(d.attempts()),
                  d.last_http_status() ? absl::StrCat(d.last_http_status()) : "", d.last_error(),
                  FormatTime(d.update_time())});
  }
  table.Print();
  return kExitOk;
}

}  // namespace

int RunWebhooks(Invocation& inv) {
  return inv.Dispatch("Webhooks: signed HTTP POSTs of matching events.",
                      {{"create", "register a webhook", Create},
                       {"list", "list webhooks", List},
                       {"delete", "delete a webhook", Delete},
                       {"deliveries", "a webhook's deliveries", Deliveries}});
}

}  // namespace stp::stpctl
