# The scoring model's unit tests: hand-made projects, config errors, and property tests over
# generated projects. Fast and hermetic (no Redis, no network).
stp_test(scoring_core_unit_test LABEL unit TIMEOUT 60
  SOURCES unit/scoring_model_test.cc unit/scoring_config_test.cc unit/scoring_property_test.cc
  LIBS stp_scoring_core)
