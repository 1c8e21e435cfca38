# Fuzz targets of the import parsers and of every request validator. With STP_FUZZ=ON
# (clang++-14) they are libFuzzer binaries:
#   build-fuzz/tests/fuzz/iati_parser_fuzz <new-corpus-dir> <seed dirs...> -max_total_time=30
# (`make fuzz-quick` and `make reliability` run them all; see tests/fuzz/run_fuzz.sh).
# Otherwise the same sources are linked with a replay main and ctest runs them over their seed
# corpus: the real data files, read in place from ../shared/data (never copied), the seeds
# written for them under seeds/, and the crashes once found, kept under regressions/.
set(STP_FUZZ_SEED_DATA ${PROJECT_SOURCE_DIR}/../shared/data)
# Every fuzz target, for `cmake --build <dir> --target fuzz_targets`.
add_custom_target(fuzz_targets)

# Text-format seeds, seeds/<target>/<name>.<message type>.textproto, are encoded to the wire
# form at build time into ${CMAKE_CURRENT_BINARY_DIR}/seeds/<target>/.
set(STP_FUZZ_SEED_PROTOS
  stp/ingestion/v1/ingestion_service.proto
  stp/notification/v1/notification_service.proto
  stp/matching/v1/matching_service.proto
  stp/events/v1/events.proto)
function(stp_fuzz_proto_seeds target out_var)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/seeds/${target})
  file(MAKE_DIRECTORY ${out_dir})
  file(GLOB texts ${CMAKE_CURRENT_SOURCE_DIR}/seeds/${target}/*.textproto)
  string(JOIN "|" roots ${PROJECT_SOURCE_DIR}/protos ${GOOGLEAPIS_DIR} ${GRPC_PROTO_DIR}
         /usr/include)
  string(JOIN "|" protos ${STP_FUZZ_SEED_PROTOS})
  set(outputs)
  foreach(text ${texts})
    get_filename_component(file ${text} NAME)
    string(REGEX REPLACE "^[^.]+\\.(.+)\\.textproto$" "\\1" type ${file})
    string(REGEX REPLACE "\\.textproto$" ".bin" bin ${file})
    add_custom_command(
      OUTPUT ${out_dir}/${bin}
      COMMAND ${CMAKE_COMMAND} -DPROTOC=${Protobuf_PROTOC_EXECUTABLE} -DROOTS=${roots}
              -DPROTOS=${protos} -DTYPE=${type} -DINPUT=${text} -DOUTPUT=${out_dir}/${bin}
              -P ${CMAKE_CURRENT_SOURCE_DIR}/encode_seed.cmake
      DEPENDS ${text} ${CMAKE_CURRENT_SOURCE_DIR}/encode_seed.cmake
      COMMENT "fuzz seed ${target}/${bin}"
      VERBATIM)
    list(APPEND outputs ${out_dir}/${bin})
  endforeach()
  set(${out_var} ${outputs} PARENT_SCOPE)
endfunction()

# stp_fuzz_target(<name> SOURCE <file> LIBS <libs>... SEEDS <files or directories>...
#                 [UNDER_TEST <sources>... FUZZ_LIBS <libs>...])
# UNDER_TEST: in fuzz builds the sources under test are compiled into the target itself, so that
# libFuzzer sees their coverage and the sanitizers check them (their libraries are built
# without either), linked with FUZZ_LIBS instead of LIBS. Seeds under seeds/<name>/ and
# regressions under regressions/<name>/ are always added.
function(stp_fuzz_target name)
  cmake_parse_arguments(ARG "" "SOURCE" "LIBS;SEEDS;UNDER_TEST;FUZZ_LIBS" ${ARGN})
  stp_fuzz_proto_seeds(${name} seed_files)
  add_custom_target(${name}_seeds DEPENDS ${seed_files})
  set(seeds ${ARG_SEEDS} ${CMAKE_CURRENT_BINARY_DIR}/seeds/${name}
      ${CMAKE_CURRENT_SOURCE_DIR}/regressions/${name})
  if(STP_FUZZ)
    add_executable(${name} ${ARG_SOURCE} ${ARG_UNDER_TEST})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    if(ARG_UNDER_TEST)
      target_link_libraries(${name} PRIVATE ${ARG_FUZZ_LIBS})
    else()
      target_link_libraries(${name} PRIVATE ${ARG_LIBS})
    endif()
  else()
    add_executable(${name} ${ARG_SOURCE} ${CMAKE_CURRENT_SOURCE_DIR}/standalone_replay_fuzz.cc)
    target_link_libraries(${name} PRIVATE ${ARG_LIBS})
    add_test(NAME ${name}_replay COMMAND ${name} ${seeds})
    set_tests_properties(${name}_replay PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
  endif()
  add_dependencies(${name} ${name}_seeds)
  add_dependencies(fuzz_targets ${name})
  # What run_fuzz.sh reads: one line per target, its seed directories and files.
  string(JOIN " " seed_line ${seeds})
  set_property(GLOBAL APPEND_STRING PROPERTY STP_FUZZ_TARGET_LIST "${name} ${seed_line}\n")
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

# Request validators: each target parses its input as the request (or resource) proto.
stp_fuzz_target(ingestion_project_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/ingestion_project_fuzz.cc
  LIBS stp_ingestion_validation
  UNDER_TEST ${PROJECT_SOURCE_DIR}/services/ingestion/validation.cc
  FUZZ_LIBS stp_common stp_protos)
stp_fuzz_target(ingestion_resources_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/ingestion_resources_fuzz.cc
  LIBS stp_ingestion_validation
  UNDER_TEST ${PROJECT_SOURCE_DIR}/services/ingestion/validation.cc
  FUZZ_LIBS stp_common stp_protos)
stp_fuzz_target(notification_request_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/notification_request_fuzz.cc
  LIBS stp_notification
  UNDER_TEST ${PROJECT_SOURCE_DIR}/services/notification/event_filter.cc
             ${PROJECT_SOURCE_DIR}/services/notification/cursor.cc
  FUZZ_LIBS stp_common stp_protos)
stp_fuzz_target(matching_need_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/matching_need_fuzz.cc
  LIBS stp_matching_core
  UNDER_TEST ${PROJECT_SOURCE_DIR}/services/matching/core/need.cc
             ${PROJECT_SOURCE_DIR}/services/matching/core/organization_index.cc
  FUZZ_LIBS stp_common stp_protos absl::flat_hash_map absl::flat_hash_set absl::inlined_vector)
# The country CSV reader: the project's own table and the three official files.
stp_fuzz_target(country_table_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/country_table_fuzz.cc
  LIBS stp_reference_data
  SEEDS ${PROJECT_SOURCE_DIR}/deploy/demo ${STP_FUZZ_SEED_DATA}/countries
        ${STP_FUZZ_SEED_DATA}/bri
  UNDER_TEST ${PROJECT_SOURCE_DIR}/services/ingestion/reference_data.cc
  FUZZ_LIBS stp_common stp_protos)

# Event stream payloads: score events packed and plain, and whatever bytes a stream could hold.
stp_fuzz_target(event_payload_fuzz
  SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/event_payload_fuzz.cc
  LIBS stp_common
  UNDER_TEST ${PROJECT_SOURCE_DIR}/libs/common/event_header.cc
             ${PROJECT_SOURCE_DIR}/libs/common/phrase_codec.cc
  FUZZ_LIBS stp_common stp_protos PkgConfig::ZSTD)

# Every target above, for run_fuzz.sh.
get_property(stp_fuzz_target_list GLOBAL PROPERTY STP_FUZZ_TARGET_LIST)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/fuzz_targets.txt "${stp_fuzz_target_list}")
