#include "libs/runtime/credentials.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libs/common/ids.h"
#include "libs/common/status.h"

namespace stp {
namespace {

using redis::At;
using redis::Size;
using redis::Str;
using redis::StrCopy;

absl::Status Unauthenticated(const std::string& message, const std::string& reason) {
  return WithErrorInfo(absl::UnauthenticatedError(message), reason);
}

int64_t Millis(absl::Time t) {
  if (t == absl::InfiniteFuture()) return 0;
  return absl::ToUnixMillis(t);
}

// A time as a record keeps it (whole milliseconds), so that the answer that wrote it and
// later reads give the same time.
absl::Time AsStored(absl::Time t) { return absl::FromUnixMillis(absl::ToUnixMillis(t)); }

absl::Time FromMillis(long long ms, absl::Time none) {
  return ms == 0 ? none : absl::FromUnixMillis(ms);
}

bool RoleFromText(absl::string_view text, AccessRole* role) {
  if (text == "READER")
    *role = AccessRole::kReader;
  else if (text == "PARTNER")
    *role = AccessRole::kPartner;
  else if (text == "OPERATOR")
    *role = AccessRole::kOperator;
  else
    return false;
  return true;
}

// A token bucket per credential, shared by every replica and refilled from Redis's clock so
// that they agree. KEYS: 1 bucket. ARGV: 1 rate per second, 2 capacity, 3 tokens wanted.
// Returns {granted, wait ms}: up to the wanted tokens, or none and the time until one is there.
const redis::Script& BucketScript() {
  static const auto* s = new redis::Script(R"lua(
local rate, capacity, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {granted, wait}
)lua");
  return *s;
}

}  // namespace

// ------------------------------------------------------------------ keys

ApiKeyStore::ApiKeyStore(redis::RedisClient* redis, redis::Keyspace keyspace)
    : redis_(redis), keyspace_(std::move(keyspace)) {}

std::string ApiKeyStore::HashSecret(absl::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool ApiKeyStore::ParseToken(absl::string_view token, std::string* id, std::string* secret) {
  if (!absl::ConsumePrefix(&token, "stp_")) return false;
  auto sep = token.find('_');
  if (sep == absl::string_view::npos) return false;
  absl::string_view i = token.substr(0, sep), s = token.substr(sep + 1);
  if (!IsResourceId(i) || s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  *id = std::string(i);
  *secret = std::string(s);
  return true;
}

absl::StatusOr<std::pair<ApiKeyRecord, std::string>> ApiKeyStore::Create(
    const std::string& organization, AccessRole role, const std::string& display_name,
    absl::Duration ttl, absl::Time now) {
  FieldViolations v;
  if (role == AccessRole::kNone) v.Add("api_key.role", "READER, PARTNER or OPERATOR is required");
  if (role != AccessRole::kOperator && (!absl::StartsWith(organization, "organizations/") ||
                                        !IsResourceId(organization.substr(14)))) {
    v.Add("api_key.organization",
          "READER and PARTNER keys act for an organisation: \"organizations/{id}\"");
  }
  if (display_name.size() > 200) v.Add("api_key.display_name", "at most 200 bytes");
  if (ttl < absl::ZeroDuration()) v.Add("ttl_seconds", "must not be negative");
  STP_RETURN_IF_ERROR(v.ToStatus());
  ApiKeyRecord r;
  r.id = NewResourceId(now);
  std::string secret = HexEncode(SecureRandomBytes(32));
  r.hash = HashSecret(secret);
  r.organization = organization;
  r.role = role;
  r.display_name = display_name;
  r.create_time = AsStored(now);
  if (ttl > absl::ZeroDuration()) r.expire_time = AsStored(now + ttl);
  STP_ASSIGN_OR_RETURN(
      auto replies,
      redis_->Pipeline({{"HSET", keyspace_.Global("apikey", r.id), "hash", r.hash, "org",
                         r.organization, "role", absl::StrCat(static_cast<int>(r.role)), "name",
                         r.display_name, "created", absl::StrCat(Millis(r.create_time)), "expires",
                         absl::StrCat(Millis(r.expire_time)), "revoked", "0"},
                        {"ZADD", keyspace_.Global("apikeys"), "0", r.id}}));
  for (const auto& reply : replies) {
    if (redis::IsErrorReply(reply.get())) return redis::ErrorReplyStatus(Str(reply.get()));
  }
  return std::make_pair(r, absl::StrCat("stp_", r.id, "_", secret));
}

absl::StatusOr<std::optional<ApiKeyRecord>> ApiKeyStore::Get(const std::string& id,
                                                             absl::Time deadline) {
  STP_ASSIGN_OR_RETURN(
      auto reply, redis_->Command({"HMGET", keyspace_.Global("apikey", id), "hash", "org", "role",
                                   "name", "created", "expires", "revoked"},
                                  deadline));
  if (redis::IsNil(At(reply.get(), 0))) return std::nullopt;
  ApiKeyRecord r;
  r.id = id;
  r.hash = StrCopy(At(reply.get(), 0));
  r.organization = StrCopy(At(reply.get(), 1));
  r.role = static_cast<AccessRole>(redis::Int(At(reply.get(), 2)));
  r.display_name = StrCopy(At(reply.get(), 3));
  r.create_time = FromMillis(redis::Int(At(reply.get(), 4)), absl::InfinitePast());
  r.expire_time = FromMillis(redis::Int(At(reply.get(), 5)), absl::InfiniteFuture());
  r.revoke_time = FromMillis(redis::Int(At(reply.get(), 6)), absl::InfiniteFuture());
  return r;
}

absl::StatusOr<std::vector<ApiKeyRecord>> ApiKeyStore::List() {
  STP_ASSIGN_OR_RETURN(auto ids,
                       redis_->Command({"ZRANGE", keyspace_.Global("apikeys"), "0", "-1"}));
  std::vector<ApiKeyRecord> out;
  for (size_t i = 0; i < Size(ids.get()); ++i) {
    STP_ASSIGN_OR_RETURN(auto r, Get(StrCopy(At(ids.get(), i))));
    if (r.has_value()) out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<ApiKeyRecord> ApiKeyStore::Revoke(const std::string& id, absl::Time now) {
  STP_ASSIGN_OR_RETURN(auto r, Get(id));
  if (!r.has_value()) {
    return WithErrorInfo(absl::NotFoundError("apiKeys/" + id + " does not exist"), "NOT_FOUND");
  }
  if (r->revoke_time == absl::InfiniteFuture()) {
    r->revoke_time = AsStored(now);
    STP_RETURN_IF_ERROR(redis_
                            ->Command({"HSET", keyspace_.Global("apikey", id), "revoked",
                                       absl::StrCat(Millis(now))})
                            .status());
  }
  return *r;
}

absl::StatusOr<bool> ApiKeyStore::HasOperatorKey(absl::Time now) {
  STP_ASSIGN_OR_RETURN(auto keys, List());
  for (const auto& k : keys) {
    if (k.role == AccessRole::kOperator && k.revoke_time > now && k.expire_time > now) return true;
  }
  return false;
}

// ------------------------------------------------------------------ limits and certificates

void RateLimits::RegisterFlags(FlagSet* flags) {
  flags->Double("rate-limit-reader", &reader_per_second,
                "requests per second allowed to each READER credential");
  flags->Double("rate-limit-partner", &partner_per_second,
                "requests per second allowed to each PARTNER credential");
  flags->Double("rate-limit-operator", &operator_per_second,
                "requests per second allowed to each OPERATOR credential");
  flags->Double("rate-limit-burst-seconds", &burst_seconds,
                "a credential may burst this many seconds of its rate");
  flags->Bool("rate-limits", &enabled, "enforce the per-credential rate limits");
}

absl::StatusOr<CertificatePrincipals> CertificatePrincipals::Parse(absl::string_view text) {
  CertificatePrincipals out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Entry e;
    if (parts.size() != 3 || !RoleFromText(parts[2], &e.role)) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate principals line ", line_no,
                       ": want \"<identity> <organization or -> <ROLE>\""));
    }
    e.organization = parts[1] == "-" ? "" : parts[1];
    out.by_identity[parts[0]] = e;
  }
  return out;
}

// ------------------------------------------------------------------ authenticator

RedisAuthenticator::RedisAuthenticator(ApiKeyStore* keys, redis::RedisClient* redis,
                                       redis::Keyspace keyspace, RateLimits limits,
                                       CertificatePrincipals certificates,
                                       std::string process_token, std::string process_name,
                                       absl::Duration cache_ttl)
    : keys_(keys),
      redis_(redis),
      keyspace_(std::move(keyspace)),
      limits_(limits),
      certificates_(std::move(certificates)),
      process_token_(std::move(process_token)),
      process_name_(std::move(process_name)),
      cache_ttl_(cache_ttl) {}

absl::StatusOr<Principal> RedisAuthenticator::Authenticate(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
      return Unauthenticated("the authorization header must be \"Bearer <api key>\"",
                             "MALFORMED_CREDENTIALS");
    }
    absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
    if (!process_token_.empty() && token.size() == process_token_.size() &&
        CRYPTO_memcmp(token.data(), process_token_.data(), token.size()) == 0) {
      return Principal::Service(process_name_);
    }
    STP_ASSIGN_OR_RETURN(Principal p, FromApiKey(token));
    STP_RETURN_IF_ERROR(Admit(p));
    return p;
  }
  bool found = false;
  STP_ASSIGN_OR_RETURN(Principal p, FromCertificate(ctx, &found));
  if (!found) {
    return Unauthenticated(
        "no credentials: send \"authorization: Bearer <api key>\" or a client certificate",
        "MISSING_CREDENTIALS");
  }
  STP_RETURN_IF_ERROR(Admit(p));
  return p;
}

absl::StatusOr<Principal> RedisAuthenticator::FromApiKey(absl::string_view token) {
  std::string id, secret;
  if (!ApiKeyStore::ParseToken(token, &id, &secret)) {
    return Unauthenticated("the API key is malformed; keys look like stp_<id>_<64 hex digits>",
                           "MALFORMED_CREDENTIALS");
  }
  absl::Time now = absl::Now();
  std::optional<ApiKeyRecord> record;
  {
    absl::MutexLock lock(&mu_);
    auto c = cache_.find(id);
    if (c != cache_.end() && c->second.until > now) record = c->second.record;
  }
  if (!record.has_value()) {
    STP_ASSIGN_OR_RETURN(record, keys_->Get(id, now + absl::Seconds(2)));
    if (!record.has_value()) return Unauthenticated("unknown API key", "UNKNOWN_CREDENTIALS");
    absl::MutexLock lock(&mu_);
    if (cache_.size() > 100000) cache_.clear();
    cache_[id] = {*record, now + cache_ttl_};
  }
  // Constant-time comparison of the hashes: no timing tells how much of a guess was right.
  std::string hash = ApiKeyStore::HashSecret(secret);
  if (hash.size() != record->hash.size() ||
      CRYPTO_memcmp(hash.data(), record->hash.data(), hash.size()) != 0) {
    return Unauthenticated("unknown API key", "UNKNOWN_CREDENTIALS");
  }
  if (record->revoke_time <= now)
    return Unauthenticated("the API key was revoked", "REVOKED_CREDENTIALS");
  if (record->expire_time <= now)
    return Unauthenticated("the API key has expired", "EXPIRED_CREDENTIALS");
  Principal p;
  p.id = "apiKeys/" + record->id;
  p.organization = record->organization;
  p.role = record->role;
  return p;
}

absl::StatusOr<Principal> RedisAuthenticator::FromCertificate(const grpc::ServerContextBase& ctx,
                                                              bool* found) {
  *found = false;
  auto auth = ctx.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return Principal();
  std::vector<std::string> identities;
  for (const char* property : {"x509_subject_alternative_name", "x509_common_name"}) {
    for (const auto& v : auth->FindPropertyValues(property))
      identities.emplace_back(v.data(), v.size());
  }
  for (const auto& identity : identities) {
    auto it = certificates_.by_identity.find(identity);
    if (it == certificates_.by_identity.end()) continue;
    *found = true;
    Principal p;
    p.id = "cert:" + identity;
    p.organization = it->second.organization;
    p.role = it->second.role;
    return p;
  }
  return Unauthenticated("the client certificate is valid but not mapped to a principal",
                         "UNMAPPED_CERTIFICATE");
}

absl::Status RedisAuthenticator::Admit(const Principal& p) {
  if (!limits_.enabled) return absl::OkStatus();
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&lease_mu_);
    auto it = leases_.find(p.id);
    if (it != leases_.end() && it->second.tokens >= 1 && now < it->second.until) {
      it->second.tokens -= 1;
      return absl::OkStatus();
    }
  }
  double rate = p.role == AccessRole::kOperator  ? limits_.operator_per_second
                : p.role == AccessRole::kPartner ? limits_.partner_per_second
                                                 : limits_.reader_per_second;
  double capacity = std::max(1.0, rate * limits_.burst_seconds);
  // A busy principal takes its tokens from the shared bucket a few at a time (what it may use
  // in the lease time, at most an eighth of the bucket), so that not every call waits on Redis.
  // No replica can admit more than the bucket gives; tokens a replica holds when its lease
  // ends are lost, which limits the principal a little early, never late.
  const int64_t want = std::clamp<int64_t>(static_cast<int64_t>(rate * ToDoubleSeconds(kLease)), 1,
                                           std::max<int64_t>(1, capacity / 8));
  auto reply = redis_->Eval(BucketScript(), {keyspace_.Global("rl", p.id)},
                            {absl::StrCat(rate), absl::StrCat(capacity), absl::StrCat(want)},
                            now + absl::Seconds(2));
  if (!reply.ok()) return reply.status();
  const int64_t granted = redis::Int(At(reply->get(), 0));
  if (granted >= 1) {
    if (granted > 1) {
      absl::MutexLock lock(&lease_mu_);
      if (leases_.size() > 100000) leases_.clear();
      Lease& lease = leases_[p.id];
      if (lease.until <= now) lease.tokens = 0;
      lease.tokens += static_cast<double>(granted - 1);
      lease.until = now + kLease;
    }
    return absl::OkStatus();
  }
  absl::Duration wait = absl::Milliseconds(std::max<long long>(1, redis::Int(At(reply->get(), 1))));
  return WithRetryInfo(
      WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat(
                        "rate limit of ", rate, " requests per second exceeded for ", p.id)),
                    "RATE_LIMITED"),
      wait);
}

}  // namespace stp
