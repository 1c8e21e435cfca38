# stp_embed_json(<target> JSON <file> HEADER <include path> NAMESPACE <ns> CONSTANT <name>)
# Embeds a JSON file into <target> at build time as a constexpr string in a generated header
# (build tree only), included as "<include path>".
function(stp_embed_json target)
  cmake_parse_arguments(ARG "" "JSON;HEADER;NAMESPACE;CONSTANT" "" ${ARGN})
  set(gen_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  add_custom_command(
    OUTPUT ${gen_dir}/${ARG_HEADER}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${ARG_JSON} -DOUTPUT=${gen_dir}/${ARG_HEADER}
            -DNAMESPACE=${ARG_NAMESPACE} -DCONSTANT=${ARG_CONSTANT}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_json.cmake
    DEPENDS ${ARG_JSON} ${PROJECT_SOURCE_DIR}/cmake/embed_json.cmake
    COMMENT "embedding ${ARG_JSON}"
    VERBATIM)
  target_sources(${target} PRIVATE ${gen_dir}/${ARG_HEADER})
  target_include_directories(${target} PRIVATE ${gen_dir})
endfunction()
