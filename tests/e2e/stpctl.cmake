# stpctl and the C++ client library end to end, each against a private stack started by
# tests/e2e/run_with_stack.sh with authentication on. Label `e2e`; STP_E2E_DIR comes from
# e2e.cmake, included first.
# - stpctl_e2e_test: the command line as people type it (imports the shared IATI data when
#   present, and says so when it skips that step);
# - html_report_test: the portfolio report rendered in headless Chromium (/usr/bin/chromium,
#   Debian package `chromium`; playwright-core from tests/e2e/report/package-lock.json);
# - client_install_test: the installed library (cmake --install --component stp_client) used
#   from a separate CMake project through find_package(stp-client).
set(STP_STPCTL_E2E_TESTS stpctl_e2e_test html_report_test client_install_test)
add_test(NAME stpctl_e2e_test
  COMMAND ${STP_E2E_DIR}/stpctl_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
add_test(NAME html_report_test
  COMMAND ${STP_E2E_DIR}/html_report_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
add_test(NAME client_install_test
  COMMAND ${STP_E2E_DIR}/client_install_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(${STP_STPCTL_E2E_TESTS} PROPERTIES LABELS e2e TIMEOUT 120
  ENVIRONMENT "STP_SHARED_DATA=${PROJECT_SOURCE_DIR}/../shared/data")
