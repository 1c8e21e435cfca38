# cmake -DPROTOC=<protoc> -DROOTS=<dir|dir|...> -DPROTOS=<file|file|...> -DTYPE=<message>
#       -DINPUT=<seed.textproto> -DOUTPUT=<seed.bin> -P encode_seed.cmake
# Encodes one text-format seed to the wire form a fuzz target reads.
string(REPLACE "|" ";" roots "${ROOTS}")
string(REPLACE "|" ";" protos "${PROTOS}")
set(flags)
foreach(root ${roots})
  list(APPEND flags -I${root})
endforeach()
execute_process(
  COMMAND ${PROTOC} ${flags} --encode=${TYPE} ${protos}
  INPUT_FILE ${INPUT}
  OUTPUT_FILE ${OUTPUT}
  ERROR_VARIABLE error
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(REMOVE ${OUTPUT})
  message(FATAL_ERROR "cannot encode ${INPUT} as ${TYPE}: ${error}")
endif()
