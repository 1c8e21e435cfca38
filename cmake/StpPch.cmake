# Precompiled headers. Nearly every file of the project includes gRPC, the generated messages
# and stubs, and Abseil, and parsing them takes most of a file's compile time (8.9 of 10.8 s
# for an stpctl command). They are compiled once, into stp_pch, and every target of the
# project's own code reuses that header (the generated protobuf code does not: it includes
# only its own headers). -DSTP_PCH=OFF builds without, and so checks that every file includes
# what it uses; the fuzz build (STP_FUZZ) never uses it.
option(STP_PCH "Precompile the gRPC, protobuf and Abseil headers" ON)
if(NOT STP_PCH)
  return()
endif()

add_library(stp_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch.cc)
# hiredis's pkg-config flags define _FILE_OFFSET_BITS=64 (a no-op on 64-bit targets), and a
# precompiled header is used only where the macros it saw are the same: every target that
# reuses it gets the definition too.
target_compile_definitions(stp_pch PRIVATE _FILE_OFFSET_BITS=64)
target_link_libraries(stp_pch PRIVATE stp_protos gRPC::grpc++ absl::strings absl::status
                      absl::statusor absl::time absl::synchronization absl::str_format)
stp_warnings(stp_pch)
target_precompile_headers(stp_pch PRIVATE
  <algorithm> <atomic> <chrono> <functional> <map> <memory> <mutex> <optional> <set> <string>
  <thread> <utility> <vector>
  <grpcpp/grpcpp.h>
  <google/protobuf/util/time_util.h>
  <absl/status/status.h> <absl/status/statusor.h> <absl/strings/ascii.h>
  <absl/strings/match.h> <absl/strings/numbers.h> <absl/strings/str_cat.h>
  <absl/strings/str_format.h> <absl/strings/str_join.h> <absl/strings/str_split.h>
  <absl/strings/string_view.h> <absl/synchronization/mutex.h> <absl/time/clock.h>
  <absl/time/time.h>
  <stp/common/v1/common.pb.h> <stp/events/v1/events.pb.h> <stp/ingestion/v1/resources.pb.h>
  <stp/ingestion/v1/ingestion_service.grpc.pb.h> <stp/scoring/v1/score.pb.h>
  <stp/scoring/v1/scoring_service.grpc.pb.h> <stp/matching/v1/matching_service.grpc.pb.h>
  <stp/notification/v1/notification_service.grpc.pb.h>
  <stp/admin/v1/admin_service.grpc.pb.h>)

# stp_use_pch(<directory>): every C++ target defined under the directory reuses stp_pch,
# except the generated protobuf libraries and targets with the STP_NO_PCH property (which
# include none of those headers and link none of their libraries).
function(stp_use_pch dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    get_target_property(generated ${t} STP_GENERATED)
    get_target_property(no_pch ${t} STP_NO_PCH)
    if(t STREQUAL "stp_pch" OR generated OR no_pch OR
       NOT type MATCHES "^(STATIC_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    target_precompile_headers(${t} REUSE_FROM stp_pch)
    target_compile_definitions(${t} PRIVATE _FILE_OFFSET_BITS=64)
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    stp_use_pch(${sub})
  endforeach()
endfunction()

stp_use_pch(${CMAKE_SOURCE_DIR})
