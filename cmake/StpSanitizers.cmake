# -DSTP_SANITIZE=address,undefined builds everything with those sanitizers (make test-asan).
set(STP_SANITIZE "" CACHE STRING "Comma-separated sanitizers to build with (address,undefined)")
if(STP_SANITIZE)
  add_compile_options(-fsanitize=${STP_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${STP_SANITIZE})
endif()
