// The ingestion service as a module a process can host.
#pragma once

#include <memory>

#include "libs/runtime/process.h"

namespace stp::ingestion {

std::unique_ptr<Module> NewIngestionModule();

}  // namespace stp::ingestion
