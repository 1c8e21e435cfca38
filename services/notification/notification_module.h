// The notification service as a module a process can host.
#pragma once

#include <memory>

#include "libs/runtime/process.h"

namespace stp::notification {

std::unique_ptr<Module> NewNotificationModule();

}  // namespace stp::notification
