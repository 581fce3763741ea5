# mailforum_test(NAME SOURCES src... LIBS lib... [INTEGRATION])
#
# Unit tests are hermetic. Integration tests (*_itest.cc) talk to the real
# servers that scripts/test starts; they get the label `integration` and read
# the servers' addresses from MAILFORUM_TEST_* environment variables.
function(mailforum_test name)
  if(NOT MAILFORUM_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "INTEGRATION" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} mf_test_support GTest::gtest GTest::gtest_main mailforum_warnings)
  if(T_INTEGRATION)
    set(labels integration)
  else()
    set(labels unit)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${labels}"
    TIMEOUT 600 ENVIRONMENT "MAILFORUM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
