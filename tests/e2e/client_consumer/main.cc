// A partner program built against the installed client library: upserts a country, reads it
// back, and shows a NOT_FOUND with its reason. Reads STP_ADDRESS and STP_API_KEY; plaintext.
#include <cstdio>
#include <cstdlib>

#include "libs/client/stp_client.h"

int main() {
  stp::client::ClientOptions options;
  const char* address = std::getenv("STP_ADDRESS");
  const char* key = std::getenv("STP_API_KEY");
  options.address = address != nullptr ? address : "127.0.0.1:50051";
  options.api_key = key != nullptr ? key : "";
  options.plaintext = true;  // the test stack is local
  auto connection = stp::client::Connection::Create(options);
  if (!connection.ok()) {
    std::fprintf(stderr, "connect: %s\n", connection.status().ToString().c_str());
    return 1;
  }
  stp::client::IngestionClient registry(*connection);
  stp::ingestion::v1::UpsertCountryRequest upsert;
  upsert.mutable_country()->set_alpha2("EG");
  upsert.mutable_country()->set_display_name("Egypt");
  auto stored = registry.UpsertCountry(upsert);
  if (!stored.ok()) {
    std::fprintf(stderr, "upsert: %s\n", stored.status().ToString().c_str());
    return 1;
  }
  stp::ingestion::v1::GetCountryRequest get;
  get.set_name("countries/EG");
  auto egypt = registry.GetCountry(get);
  get.set_name("countries/ZZ");
  auto missing = registry.GetCountry(get);
  if (!egypt.ok() || egypt->display_name() != "Egypt" || !absl::IsNotFound(missing.status()) ||
      stp::GetErrorReason(missing.status()).empty()) {
    std::fprintf(stderr, "unexpected answers: %s / %s\n", egypt.status().ToString().c_str(),
                 missing.status().ToString().c_str());
    return 1;
  }
  std::printf("%s is %s; countries/ZZ: %s (%s)\n", egypt->name().c_str(),
              egypt->display_name().c_str(),
              absl::StatusCodeToString(missing.status().code()).c_str(),
              stp::GetErrorReason(missing.status()).c_str());
  return 0;
}
