// The project's own demo data set for `make run`: a few hundred organisations across the five
// avenues (Chinese technology partners, Northern and multilateral partners, development finance
// institutions, host ministries, park operators, universities, local firms), a few dozen parks
// (Egyptian and South African ones among them) and a few hundred projects across stages. Made
// deterministically from a seed; written for this project, not taken from any source.
#pragma once

#include <string>
#include <vector>

#include "stp/ingestion/v1/resources.pb.h"

namespace stp::demo {

struct DemoOrganization {
  std::string key;  // stable key, also its external id "demo:<key>"
  stp::ingestion::v1::Organization organization;
};

struct DemoPark {
  std::string key;
  std::string operator_key;  // DemoOrganization key, or empty
  stp::ingestion::v1::Park park;
};

struct DemoProject {
  std::string key;
  std::string park_key;  // DemoPark key, or empty
  // Participants name organisations by key in `organization`; financial flows too.
  stp::ingestion::v1::Project project;
};

struct DemoData {
  std::vector<DemoOrganization> organizations;
  std::vector<DemoPark> parks;
  std::vector<DemoProject> projects;
};

DemoData MakeDemoData(unsigned seed = 2026);

}  // namespace stp::demo
