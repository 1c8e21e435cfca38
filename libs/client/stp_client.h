// The C++ client library of the STP Cooperation Tracker API, in one include.
//
//   stp::client::ClientOptions options;
//   options.address = "stp.example.org:443";
//   options.api_key = std::getenv("STP_API_KEY");
//   auto connection = stp::client::Connection::Create(options);  // check .ok()
//   stp::client::IngestionClient registry(*connection);
//   auto project = registry.GetProject(request);  // absl::StatusOr<Project>
//   if (!project.ok()) {
//     for (const auto& v : stp::GetFieldViolations(project.status())) ...
//   }
//
// Every call has a deadline (ClientOptions::default_deadline unless CallOptions says
// otherwise). Reads, and mutations (which get a request_id when they have none), are retried on
// UNAVAILABLE and on RESOURCE_EXHAUSTED after the server's RetryInfo delay; nothing else is.
#pragma once

#include "libs/client/admin_client.h"         // IWYU pragma: export
#include "libs/client/client_options.h"       // IWYU pragma: export
#include "libs/client/connection.h"           // IWYU pragma: export
#include "libs/client/ingestion_client.h"     // IWYU pragma: export
#include "libs/client/matching_client.h"      // IWYU pragma: export
#include "libs/client/notification_client.h"  // IWYU pragma: export
#include "libs/client/scoring_client.h"       // IWYU pragma: export
#include "libs/common/status.h"               // IWYU pragma: export
