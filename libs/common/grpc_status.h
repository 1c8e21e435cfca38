// The one mapping between absl::Status and grpc::Status, used at every service edge and by
// clients: google.rpc.Status with its details travels in the binary error details.
#pragma once

#include <grpcpp/support/status.h>

#include "libs/common/status.h"

namespace stp {

// absl::Status -> grpc::Status carrying a serialized google.rpc.Status in the binary details:
// every payload becomes an Any detail, and an ErrorInfo is added when there is none.
grpc::Status ToGrpcStatus(const absl::Status& status);
// grpc::Status -> absl::Status, keeping the google.rpc details as payloads.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace stp
