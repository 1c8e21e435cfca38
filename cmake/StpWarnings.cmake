# Warnings for the project's own code. Generated protobuf code is compiled without them.
function(stp_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
endfunction()
