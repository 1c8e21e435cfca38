# End-to-end suites: partner clients (Python stubs, Node.js) against a private stack started by
# tests/e2e/run_with_stack.sh, and the buf API checks. Label `e2e`; run with `ctest -L e2e`.
# They need redis-server, /usr/bin/python3 with python3-grpcio, node and npm (make deps-test);
# npm packages are installed from the lockfiles (npm ci) the first time.
set(STP_E2E_DIR ${PROJECT_SOURCE_DIR}/tests/e2e)

add_test(NAME python_quickstart_e2e_test
  COMMAND ${STP_E2E_DIR}/python_quickstart_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
add_test(NAME node_client_e2e_test
  COMMAND ${STP_E2E_DIR}/node_client_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
add_test(NAME proto_lint_test
  COMMAND ${PROJECT_SOURCE_DIR}/tools/buf/check.sh)

set_tests_properties(python_quickstart_e2e_test node_client_e2e_test proto_lint_test
  PROPERTIES LABELS e2e TIMEOUT 120)
# The clients run as partners do: against a stack with authentication on, with an API key.
set_tests_properties(python_quickstart_e2e_test node_client_e2e_test PROPERTIES ENVIRONMENT "STP_E2E_AUTH=1")
