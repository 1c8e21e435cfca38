# The scoring model's unit tests: hand-made projects, config errors, and property tests over
# generated projects. Fast and hermetic (no Redis, no network): a few seconds, but close to a
# minute under AddressSanitizer, whence the timeout.
stp_test(scoring_core_unit_test LABEL unit TIMEOUT 180
  SOURCES unit/scoring_model_test.cc unit/scoring_config_test.cc unit/scoring_property_test.cc
  LIBS stp_scoring_core)
