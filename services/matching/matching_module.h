// The matching service as a module a process can host.
#pragma once

#include <memory>

#include "libs/runtime/process.h"

namespace stp::matching {

std::unique_ptr<Module> NewMatchingModule();

}  // namespace stp::matching
