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
          share/shicks/spam-keywords.txt
          lib/systemd/system/shicksd.service lib/sysusers.d/shicks.conf)
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
# The unit starts the installed daemon with the hardening it promises.
file(READ "${PREFIX}/lib/systemd/system/shicksd.service" unit)
foreach(line "ExecStart=/.*/shicksd -c /.*/shicks.toml" "User=shicks" "AmbientCapabilities=CAP_NET_BIND_SERVICE"
             "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes"
             "NoNewPrivileges=yes" "StateDirectory=shicks" "RuntimeDirectory=shicks" "Restart=on-failure")
  if(NOT unit MATCHES "\n${line}\n")
    message(FATAL_ERROR "shicksd.service lacks ${line}")
  endif()
endforeach()
find_program(SYSTEMD_ANALYZE systemd-analyze)
if(SYSTEMD_ANALYZE)
  # Checked against the installed daemon (the unit names the configured prefix).
  foreach(key ExecStartPre ExecStart)
    string(REGEX REPLACE "\n${key}=[^ ]*/shicksd" "\n${key}=${PREFIX}/sbin/shicksd" unit "${unit}")
  endforeach()
  string(REGEX REPLACE "\nDocumentation=[^\n]*" "" unit "${unit}")
  file(WRITE "${PREFIX}/verify/shicksd.service" "${unit}")
  execute_process(COMMAND ${SYSTEMD_ANALYZE} verify "${PREFIX}/verify/shicksd.service"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0 OR out MATCHES "shicksd.service")
    message(FATAL_ERROR "systemd-analyze verify shicksd.service: ${out}")
  endif()
endif()
message(STATUS "install tree complete")
