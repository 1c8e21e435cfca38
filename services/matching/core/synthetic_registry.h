// Seeded synthetic registries for the matching tests and benchmark: real-looking countries
// (income groups, regions, languages), organisations with avenues, sectors, roles and
// capacities, and projects with participants, stages and scores. The same seed always gives
// the same registry, on any platform (no std:: distributions, whose output is unspecified).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "services/matching/core/need.h"
#include "services/matching/core/organization_index.h"
#include "stp/ingestion/v1/resources.pb.h"

namespace stp::matching {

// SplitMix64: small, fast, and fully specified.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [0, 1).
  double Fraction() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Fraction() < p; }

 private:
  uint64_t state_;
};

struct SyntheticRegistryOptions {
  uint64_t seed = 1;
  int organizations = 3000;
  // Projects per organisation on average (each has 2 to 5 participants).
  double projects_per_organization = 1.0;
  double scored_share = 0.8;
  double hidden_share = 0.05;
};

struct SyntheticRegistry {
  std::vector<stp::ingestion::v1::Country> countries;
  std::vector<stp::ingestion::v1::Organization> organizations;
  std::vector<stp::ingestion::v1::Project> projects;
  std::vector<std::pair<std::string, double>> scores;  // project name, total
};

SyntheticRegistry GenerateRegistry(const SyntheticRegistryOptions& options);

// Upserts everything, in the order an event stream would deliver it.
void LoadRegistry(const SyntheticRegistry& registry, OrganizationIndex& index);

// A plausible need: a low- or middle-income host, one or two avenues, a few of their sectors,
// `roles` distinct wanted roles (technology partner, triangular partner and financier first),
// a budget and the host's languages.
Need GenerateNeed(SeededRandom& random, int roles);

// The DAC sectors of an avenue (SPEC §5.1's default table).
const std::vector<int>& AvenueSectors(stp::common::v1::Avenue avenue);

}  // namespace stp::matching
