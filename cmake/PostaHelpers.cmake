# Warnings for posta's own targets; -Werror when POSTA_WERROR is on (CI).
function(posta_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
    -Wno-missing-field-initializers)
  if(POSTA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# posta_add_test(NAME name SOURCES a.cc b.cc LIBS lib... [LABELS l...])
# Builds one GoogleTest binary and registers each of its tests with ctest.
function(posta_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} posta_test_support
    GTest::gtest_main GTest::gmock)
  posta_warnings(${T_NAME})
  # A list would be split into separate property arguments: escape it.
  string(REPLACE ";" "\\;" labels "${T_LABELS}")
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${labels}")
endfunction()
