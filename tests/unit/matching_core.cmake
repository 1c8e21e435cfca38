# The matching core: configuration, request validation, the organisation index, partner
# ranking and consortium search. Fast and hermetic (no Redis, no network).
stp_test(matching_core_unit_test LABEL unit
  SOURCES
    unit/matching_config_test.cc
    unit/matching_validation_test.cc
    unit/matching_index_test.cc
    unit/matching_ranking_test.cc
    unit/matching_consortia_test.cc
  LIBS stp_matching_synthetic stp_matching_core)
