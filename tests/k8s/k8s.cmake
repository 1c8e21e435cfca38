# Deployment checks (label k8s): no cluster and no Docker needed, only kubectl (its built-in
# kustomize), yamllint, node/npm (tools/k8s-check installs its pinned packages itself) and, for
# the image check, apt-cache/dpkg. See tools/k8s-check/check.mjs and deploy/check-image.sh.

# Every overlay renders, passes yamllint, the Kubernetes schemas and the deployment policy.
add_test(NAME k8s_manifests_test
  COMMAND ${PROJECT_SOURCE_DIR}/tools/k8s-check/run.sh manifests)
# The same checks reject each broken fixture, for the reasons its expected-errors.txt lists.
add_test(NAME k8s_policy_rejects_broken_test
  COMMAND ${PROJECT_SOURCE_DIR}/tools/k8s-check/run.sh expect-reject
          ${PROJECT_SOURCE_DIR}/tests/k8s/broken)
# The runtime image's package list covers every shared library the built binaries load.
add_test(NAME image_check_test
  COMMAND ${PROJECT_SOURCE_DIR}/deploy/check-image.sh ${PROJECT_BINARY_DIR})

set_tests_properties(k8s_manifests_test k8s_policy_rejects_broken_test image_check_test
  PROPERTIES LABELS k8s TIMEOUT 120)
# The two node tests may both run `npm ci` on a fresh clone; run.sh serialises that too.
set_tests_properties(k8s_manifests_test k8s_policy_rejects_broken_test
  PROPERTIES RESOURCE_LOCK stp_k8s_check_node_modules)
