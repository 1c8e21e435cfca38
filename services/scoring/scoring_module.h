// The scoring service as a module a process can host.
#pragma once

#include <memory>

#include "libs/runtime/process.h"

namespace stp::scoring {

std::unique_ptr<Module> NewScoringModule();

}  // namespace stp::scoring
