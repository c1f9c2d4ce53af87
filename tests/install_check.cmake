# Installs into PREFIX and checks the tree interface.md promises.
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(f sbin/shicksd bin/shicksctl bin/shicks-top
          share/man/man8/shicksd.8 share/man/man8/shicksctl.8 share/man/man1/shicks-top.1
          share/man/man5/shicks.toml.5 share/shicks/sql/0001_init.sql share/doc/shicks/shicks.toml
          share/shicks/spam-keywords.txt)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "missing after install: ${f}")
  endif()
endforeach()
foreach(exe sbin/shicksd bin/shicksctl bin/shicks-top)
  execute_process(COMMAND "${PREFIX}/${exe}" --version RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${exe} --version failed after install")
  endif()
endforeach()
message(STATUS "install tree complete")
