// Credentials and their checks, for every service of every process:
// - API keys: "stp_<id>_<secret>", sent as "authorization: Bearer <key>". Only a SHA-256 of the
//   secret is stored; the id is public and names the key. Keys belong to an organisation and a
//   role, may expire, and can be revoked.
// - mTLS client certificates mapped to the same principals by SAN (URI or DNS) or common name.
// - Per-credential rate limits: a token bucket in Redis per credential, its rate by role.
//
//   stp:{g}:apikey:<id>   HASH hash, org, role, name, created, expires, revoked
//   stp:{g}:apikeys       ZSET key ids (creation order)
//   stp:{g}:rl:<id>       HASH tokens, ts (token bucket; expires when idle)
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/flags.h"
#include "libs/common/metrics.h"
#include "libs/common/server.h"
#include "libs/redis/keyspace.h"
#include "libs/redis/redis.h"

namespace stp {

struct ApiKeyRecord {
  std::string id;
  std::string hash;          // hex SHA-256 of the secret part
  std::string organization;  // "organizations/{id}" or empty
  AccessRole role = AccessRole::kNone;
  std::string display_name;
  absl::Time create_time = absl::InfinitePast();
  absl::Time expire_time = absl::InfiniteFuture();
  absl::Time revoke_time = absl::InfiniteFuture();
};

class ApiKeyStore {
 public:
  ApiKeyStore(redis::RedisClient* redis, redis::Keyspace keyspace);

  // Issues a key; the returned secret is the whole "stp_<id>_<secret>" token, shown once.
  absl::StatusOr<std::pair<ApiKeyRecord, std::string>> Create(const std::string& organization,
                                                              AccessRole role,
                                                              const std::string& display_name,
                                                              absl::Duration ttl, absl::Time now);
  absl::StatusOr<std::optional<ApiKeyRecord>> Get(const std::string& id,
                                                  absl::Time deadline = absl::InfiniteFuture());
  absl::StatusOr<std::vector<ApiKeyRecord>> List();
  absl::StatusOr<ApiKeyRecord> Revoke(const std::string& id, absl::Time now);
  // True when at least one unrevoked OPERATOR key exists.
  absl::StatusOr<bool> HasOperatorKey(absl::Time now);

  // Splits "stp_<id>_<secret>"; false when the token does not have that shape.
  static bool ParseToken(absl::string_view token, std::string* id, std::string* secret);
  static std::string HashSecret(absl::string_view secret);

 private:
  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
};

// Requests per second and burst of each role.
struct RateLimits {
  double reader_per_second = 100;
  double partner_per_second = 200;
  double operator_per_second = 2000;
  double burst_seconds = 2;  // the bucket holds this many seconds of the rate
  bool enabled = true;

  void RegisterFlags(FlagSet* flags);
};

// Client certificate identities (SAN URI or DNS, or common name) and the principal each maps to.
struct CertificatePrincipals {
  struct Entry {
    std::string organization;
    AccessRole role = AccessRole::kNone;
  };
  std::map<std::string, Entry> by_identity;
  // Lines "<identity> <organization or -> <READER|PARTNER|OPERATOR>"; '#' comments.
  static absl::StatusOr<CertificatePrincipals> Parse(absl::string_view text);
};

class RedisAuthenticator : public Authenticator {
 public:
  // `process_token` is a random credential of this process for its own in-process calls (never
  // stored anywhere); `cache_ttl` bounds how long a revoked key may still be accepted.
  RedisAuthenticator(ApiKeyStore* keys, redis::RedisClient* redis, redis::Keyspace keyspace,
                     RateLimits limits, CertificatePrincipals certificates,
                     std::string process_token, std::string process_name,
                     absl::Duration cache_ttl = absl::Seconds(5));

  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& ctx) override;

 private:
  absl::StatusOr<Principal> FromApiKey(absl::string_view token);
  absl::StatusOr<Principal> FromCertificate(const grpc::ServerContextBase& ctx, bool* found);
  absl::Status Admit(const Principal& principal);

  ApiKeyStore* keys_;
  redis::RedisClient* redis_;
  redis::Keyspace keyspace_;
  RateLimits limits_;
  CertificatePrincipals certificates_;
  std::string process_token_;
  std::string process_name_;
  absl::Duration cache_ttl_;
  absl::Mutex mu_;
  struct Cached {
    ApiKeyRecord record;
    absl::Time until;
  };
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
  // Tokens this replica took from a principal's shared bucket and has not used yet.
  static constexpr absl::Duration kLease = absl::Milliseconds(250);
  struct Lease {
    double tokens = 0;
    absl::Time until;
  };
  absl::Mutex lease_mu_;
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(lease_mu_);
};

}  // namespace stp
