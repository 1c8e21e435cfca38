// stpctl admin keys create|list|revoke: API keys, for operators.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tools/stpctl/commands.h"
#include "tools/stpctl/table.h"
#include "tools/stpctl/values.h"

namespace stp::stpctl {
namespace {

namespace av1 = stp::admin::v1;

std::string KeyState(const av1::ApiKey& key) {
  if (key.has_revoke_time()) return "revoked " + FormatTime(key.revoke_time());
  if (key.has_expire_time()) return "expires " + FormatTime(key.expire_time());
  return "active";
}

int CreateKey(Invocation& inv) {
  std::string role, org, name;
  absl::Duration ttl = absl::ZeroDuration();
  FlagSet flags = inv.NewFlags(
      "Issues an API key. Its secret is printed once and never again: keep it in a secret "
      "store. Not retried: if the answer is lost, list the keys and revoke the stray one.");
  flags.String("role", &role, "reader, partner or operator (required)");
  flags.String("org", &org, "the organisation the key acts for (required for reader and partner)");
  flags.String("name", &name, "a label for people, for example egypt-mocit-ci");
  flags.Duration("ttl", &ttl, "lifetime, for example 720h (default: no expiry)");
  if (auto done = inv.Parse(&flags)) return *done;
  auto role_value = ParseEnum(av1::AccessRole_descriptor(), role);
  if (!role_value.ok()) return inv.Usage("--role: " + std::string(role_value.status().message()));
  av1::CreateApiKeyRequest request;
  request.mutable_api_key()->set_role(static_cast<av1::AccessRole>(*role_value));
  request.mutable_api_key()->set_organization(ResourceName("organizations", org));
  request.mutable_api_key()->set_display_name(name);
  request.set_ttl_seconds(absl::ToInt64Seconds(ttl));
  auto connection = inv.Connect(Api::kAdmin);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  auto created = client::AdminClient(*connection).CreateApiKey(request);
  if (!created.ok()) return inv.Fail(created.status());
  return inv.Print(*created, [&] {
    std::fprintf(stderr, "%s issued (%s); the secret is shown only now:\n",
                 created->api_key().name().c_str(), KeyState(created->api_key()).c_str());
    std::printf("%s\n", created->secret().c_str());
  });
}

int ListKeys(Invocation& inv) {
  std::string org;
  int limit = 0;
  FlagSet flags = inv.NewFlags("Lists API keys, without their secrets.");
  flags.String("org", &org, "only keys of this organisation");
  flags.Int("limit", &limit, "at most this many (0: all)");
  if (auto done = inv.Parse(&flags)) return *done;
  auto connection = inv.Connect(Api::kAdmin);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  client::AdminClient admin(*connection);
  av1::ListApiKeysRequest request;
  request.set_organization(ResourceName("organizations", org));
  av1::ListApiKeysResponse all;
  absl::Status listed = FetchPages(
      limit,
      [&](const std::string& token, int page_size) -> absl::StatusOr<std::string> {
        request.set_page_token(token);
        request.set_page_size(page_size);
        STP_ASSIGN_OR_RETURN(auto page, admin.ListApiKeys(request));
        for (auto& k : *page.mutable_api_keys()) *all.add_api_keys() = std::move(k);
        return page.next_page_token();
      },
      [&] { return all.api_keys_size(); });
  if (!listed.ok()) return inv.Fail(listed);
  if (inv.json()) {
    inv.PrintJson(all);
    return kExitOk;
  }
  Table table({{"KEY"}, {"ROLE"}, {"ORGANIZATION"}, {"NAME"}, {"CREATED"}, {"STATE"}});
  for (const auto& k : all.api_keys()) {
    table.AddRow({k.name(), EnumWord(av1::AccessRole_descriptor(), k.role()), k.organization(),
                  k.display_name(), FormatTime(k.create_time()), KeyState(k)});
  }
  table.Print();
  return kExitOk;
}

int RevokeKey(Invocation& inv) {
  FlagSet flags = inv.NewFlags("Revokes an API key; calls with it fail from then on.");
  std::vector<std::string> words;
  if (auto done = inv.Parse(&flags, &words, 1, 1, "KEY")) return *done;
  auto connection = inv.Connect(Api::kAdmin);
  if (!connection.ok()) return inv.Usage(std::string(connection.status().message()));
  av1::RevokeApiKeyRequest request;
  request.set_name(ResourceName("apiKeys", words[0]));
  auto revoked = client::AdminClient(*connection).RevokeApiKey(request);
  if (!revoked.ok()) return inv.Fail(revoked.status());
  return inv.Print(*revoked, [&] { std::printf("%s revoked\n", revoked->name().c_str()); });
}

int Keys(Invocation& inv) {
  return inv.Dispatch("API keys.", {{"create", "issue an API key", CreateKey},
                                    {"list", "list API keys", ListKeys},
                                    {"revoke", "revoke an API key", RevokeKey}});
}

}  // namespace

int RunAdmin(Invocation& inv) {
  return inv.Dispatch("Administration, for operators.", {{"keys", "API keys", Keys}});
}

}  // namespace stp::stpctl
