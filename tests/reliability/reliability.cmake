# Reliability suites (ctest label `reliability`): fault injection and hostile requests against
# the real stack, checked Jepsen-style from a history of every operation. `make test` runs the
# quick form; `make reliability` sets STP_RELIABILITY_LONG=1 for more operations and faults.
add_library(stp_reliability_support STATIC
  ${CMAKE_CURRENT_LIST_DIR}/child_process.cc
  ${CMAKE_CURRENT_LIST_DIR}/follower.cc
  ${CMAKE_CURRENT_LIST_DIR}/history.cc
  ${CMAKE_CURRENT_LIST_DIR}/netns_redis.cc
  ${CMAKE_CURRENT_LIST_DIR}/scripted_receiver.cc
  ${CMAKE_CURRENT_LIST_DIR}/workload.cc)
target_link_libraries(stp_reliability_support PUBLIC stp_testing stp_redis stp_common stp_protos)
stp_warnings(stp_reliability_support)

# Timeouts leave room for the long form (`make reliability`); every wait inside the tests has its
# own deadline, and the quick form takes about a minute.
stp_test(reliability_fault_test LABEL reliability TIMEOUT 1800
  SOURCES reliability/fault_test.cc
  LIBS stp_reliability_support stp_ingestion stp_notification stp_scoring stp_matching)
# The scoring and notification replicas these tests SIGKILL are the real binaries.
add_dependencies(reliability_fault_test stp-scoring stp-notification)
set_property(TEST reliability_fault_test APPEND PROPERTY ENVIRONMENT
  "STP_SCORING_BINARY=$<TARGET_FILE:stp-scoring>"
  "STP_NOTIFICATION_BINARY=$<TARGET_FILE:stp-notification>")

stp_test(reliability_hostile_test LABEL reliability TIMEOUT 900
  SOURCES reliability/hostile_test.cc
  LIBS stp_reliability_support stp_ingestion stp_notification stp_matching)
# `make test` runs suites two at a time; these kill processes, cut networks and time recoveries,
# so they run alone.
set_tests_properties(reliability_fault_test reliability_hostile_test PROPERTIES RUN_SERIAL ON)
