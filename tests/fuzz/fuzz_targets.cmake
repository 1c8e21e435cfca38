# Fuzz targets of the import parsers. With STP_FUZZ=ON (clang++-14) they are libFuzzer binaries:
#   build-fuzz/tests/fuzz/iati_parser_fuzz <new-corpus-dir> <seed dirs...> -max_total_time=30
# Otherwise the same sources are linked with a replay main and ctest runs them over the real
# data files as seed corpus (read in place from ../shared/data, never copied).
set(STP_FUZZ_SEED_DATA ${PROJECT_SOURCE_DIR}/../shared/data)

# stp_fuzz_target(<name> SOURCE <file> LIBS <libs>... SEEDS <files or directories>...)
function(stp_fuzz_target name)
  cmake_parse_arguments(ARG "" "SOURCE" "LIBS;SEEDS" ${ARGN})
  if(STP_FUZZ)
    add_executable(${name} ${ARG_SOURCE})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  else()
    add_executable(${name} ${ARG_SOURCE} ${CMAKE_CURRENT_SOURCE_DIR}/standalone_replay_fuzz.cc)
    add_test(NAME ${name}_replay COMMAND ${name} ${ARG_SEEDS})
    set_tests_properties(${name}_replay PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  stp_warnings(${name})
endfunction()

stp_fuzz_target(iati_parser_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/iati_parser_fuzz.cc
  LIBS stp_ingestion_import
  SEEDS ${STP_FUZZ_SEED_DATA}/iati/examples ${STP_FUZZ_SEED_DATA}/iati/real
        ${STP_FUZZ_SEED_DATA}/iati/derived ${STP_FUZZ_SEED_DATA}/codelists/embedded-2.03)
stp_fuzz_target(aiddata_parser_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/aiddata_parser_fuzz.cc
  LIBS stp_ingestion_import
  SEEDS ${STP_FUZZ_SEED_DATA}/chinese-finance ${STP_FUZZ_SEED_DATA}/bri
        ${STP_FUZZ_SEED_DATA}/countries)
