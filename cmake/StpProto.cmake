# stp_proto_library(<target> ROOTS <dir>... PROTOS <root-relative .proto>... [GRPC <proto>...])
#
# Generates C++ message code for every PROTOS file, and gRPC service code plus gMock stubs for
# the GRPC subset, into the build tree (never the source tree), and builds one static library.
# ROOTS are the import paths; each proto is looked up under the first root that holds it.
function(stp_proto_library target)
  cmake_parse_arguments(ARG "" "" "ROOTS;PROTOS;GRPC" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out_dir})
  set(include_flags)
  foreach(root ${ARG_ROOTS})
    list(APPEND include_flags -I${root})
  endforeach()
  set(srcs)
  set(hdrs)
  foreach(proto ${ARG_PROTOS})
    set(abs "")
    foreach(root ${ARG_ROOTS})
      if(NOT abs AND EXISTS ${root}/${proto})
        set(abs ${root}/${proto})
      endif()
    endforeach()
    if(NOT abs)
      message(FATAL_ERROR "proto ${proto} not found under ${ARG_ROOTS}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(outputs ${out_dir}/${stem}.pb.cc ${out_dir}/${stem}.pb.h)
    set(grpc_flags)
    list(FIND ARG_GRPC ${proto} is_grpc)
    if(NOT is_grpc EQUAL -1)
      list(APPEND outputs ${out_dir}/${stem}.grpc.pb.cc ${out_dir}/${stem}.grpc.pb.h
           ${out_dir}/${stem}_mock.grpc.pb.h)
      set(grpc_flags --grpc_out=generate_mock_code=true:${out_dir}
          --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${Protobuf_PROTOC_EXECUTABLE} ${include_flags} --cpp_out=${out_dir} ${grpc_flags} ${abs}
      DEPENDS ${abs} ${Protobuf_PROTOC_EXECUTABLE}
      COMMENT "protoc ${proto}"
      VERBATIM)
    foreach(o ${outputs})
      if(o MATCHES "\\.cc$")
        list(APPEND srcs ${o})
      else()
        list(APPEND hdrs ${o})
      endif()
    endforeach()
  endforeach()
  add_library(${target} STATIC ${srcs} ${hdrs})
  target_include_directories(${target} SYSTEM PUBLIC ${out_dir})
  set_target_properties(${target} PROPERTIES STP_GENERATED ON)
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
