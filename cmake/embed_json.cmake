# cmake -DINPUT=<file.json> -DOUTPUT=<header.h> -DNAMESPACE=<ns> -DCONSTANT=<name> -P embed_json.cmake
# Writes a header holding the JSON file as one raw string literal, so that the JSON file stays
# the single source of a shipped default configuration.
file(READ ${INPUT} content)
set(delimiter "stp_json")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delimiter}\"")
endif()
get_filename_component(source_name ${INPUT} NAME)
set(header "// Generated from ${source_name} by embed_json.cmake. Do not edit.\n")
string(APPEND header "#pragma once\n\nnamespace ${NAMESPACE} {\n\n")
string(APPEND header "inline constexpr char ${CONSTANT}[] = R\"${delimiter}(${content})${delimiter}\";\n\n")
string(APPEND header "}  // namespace ${NAMESPACE}\n")
# Only touch the file when it changes, so that dependants are not rebuilt needlessly.
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} previous)
  if(previous STREQUAL header)
    return()
  endif()
endif()
file(WRITE ${OUTPUT} "${header}")
