// Deterministic synthetic data of any size: countries, organisations, parks and projects that
// look like the real registry (BRI countries across income groups, Chinese technology partners,
// multilaterals, DFIs, host ministries), the same for the same seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "stp/ingestion/v1/resources.pb.h"

namespace stp::bench {

class DataGenerator {
 public:
  explicit DataGenerator(uint64_t seed) : rng_(seed) {}

  // About 60 countries with income groups, regions, BRI membership and indicators.
  std::vector<stp::ingestion::v1::Country> Countries();
  // `n` organisations across the countries and the five avenues; names unique per index.
  stp::ingestion::v1::Organization Organization(int index);
  // A project of about `bytes` serialized bytes, hosted in a low- or middle-income country,
  // with participants drawn from `organizations` (resource names) and an external id "bench:<i>".
  stp::ingestion::v1::Project Project(int index, const std::vector<std::string>& organizations,
                                      int bytes = 1024);
  const std::vector<std::string>& country_codes() const { return codes_; }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::mt19937_64 rng_;
  std::vector<std::string> codes_;
  std::vector<std::string> host_codes_;
};

}  // namespace stp::bench
