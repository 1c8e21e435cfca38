// The admin service (credentials), hosted by the ingestion binary and the all-in-one process.
#pragma once

#include <memory>

#include "libs/runtime/process.h"

namespace stp::admin {

std::unique_ptr<Module> NewAdminModule();

}  // namespace stp::admin
