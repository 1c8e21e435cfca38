// What one call carries through the layers below the gRPC adapter (no gRPC types here, so core
// libraries can take it).
#pragma once

#include <string>

#include "absl/time/time.h"
#include "libs/common/principal.h"

namespace stp {

struct RequestContext {
  Principal principal;
  std::string method;
  std::string request_id;   // the caller's x-request-id, or one made up for the logs
  std::string trace_id;     // W3C trace id, 32 hex digits
  std::string traceparent;  // the traceparent to send on outgoing calls and events
  absl::Time deadline = absl::InfiniteFuture();
};

}  // namespace stp
