# Warnings for posta's own targets; -Werror when POSTA_WERROR is on (CI).
function(posta_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
    -Wno-missing-field-initializers)
  # GCC 12 at -O3 warns -Wrestrict inside libstdc++'s std::string
  # operator+ (a known GCC 12 false positive, gone in 13) that filled
  # the Release build of command 1 with pages of noise.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND
     CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
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
  # gtest_discover_tests flattens a list-valued property, so the first
  # label goes on each test and the others on the test's directory.
  set(labels ${T_LABELS})
  list(POP_FRONT labels first_label)
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${first_label}")
  if(labels)
    set_property(DIRECTORY APPEND PROPERTY LABELS ${labels})
  endif()
endfunction()
