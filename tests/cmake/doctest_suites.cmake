# Registers a doctest binary's test cases with ctest, named by their suite:
# "<suite>/<test case>", labelled "<suite>", each run as
# `binary --test-suite=<suite> --test-case=<test case>`. Every test file names
# one suite after its path under tests/ (tests/unit/server/query/responder_test.cc:
# "unit/server/query/responder"), so `ctest -R unit/server/query` or
# `ctest -L query` selects a folder's tests. A test case outside that suite
# fails the build, naming the file and the suite it should have.
#
# Run by CMake in script mode after each link (see rotor_add_doctest_suites in
# tests/CMakeLists.txt) with TEST_EXECUTABLE, TEST_SOURCE_ROOT (tests/),
# TEST_PROPERTIES (ctest properties for every test) and CTEST_FILE.

execute_process(
  COMMAND "${TEST_EXECUTABLE}" --list-test-cases --reporters=xml
  OUTPUT_VARIABLE listing
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --list-test-cases failed (${result}):\n${listing}")
endif()

function(xml_unescape text out)
  string(REPLACE "&quot;" "\"" text "${text}")
  string(REPLACE "&apos;" "'" text "${text}")
  string(REPLACE "&lt;" "<" text "${text}")
  string(REPLACE "&gt;" ">" text "${text}")
  string(REPLACE "&amp;" "&" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# tests/unit/server/query/responder_test.cc -> unit/server/query/responder
# (__FILE__ may be relative to the build directory, where the compiler ran.)
function(expected_suite file out)
  get_filename_component(file "${file}" ABSOLUTE BASE_DIR "${TEST_BUILD_ROOT}")
  file(RELATIVE_PATH relative "${TEST_SOURCE_ROOT}" "${file}")
  string(REGEX REPLACE "(_test)?\\.cc$" "" relative "${relative}")
  set(${out} "${relative}" PARENT_SCOPE)
endfunction()

set(script "")
set(errors "")
set(count 0)
string(REGEX MATCHALL "<TestCase name=\"[^\"]*\" testsuite=\"[^\"]*\" filename=\"[^\"]*\""
       cases "${listing}")
foreach(case IN LISTS cases)
  string(REGEX MATCH "<TestCase name=\"([^\"]*)\" testsuite=\"([^\"]*)\" filename=\"([^\"]*)\""
         ignored "${case}")
  xml_unescape("${CMAKE_MATCH_1}" name)
  xml_unescape("${CMAKE_MATCH_2}" suite)
  xml_unescape("${CMAKE_MATCH_3}" file)
  expected_suite("${file}" wanted)
  if(NOT suite STREQUAL wanted)
    string(APPEND errors "  ${file}: \"${name}\" is in suite \"${suite}\"; "
                         "the file's tests belong in TEST_SUITE(\"${wanted}\")\n")
    continue()
  endif()
  set(test "${suite}/${name}")
  string(APPEND script
    "add_test([==[${test}]==] [==[${TEST_EXECUTABLE}]==] [==[--test-suite=${suite}]==] "
    "[==[--test-case=${name}]==])\n"
    "set_tests_properties([==[${test}]==] PROPERTIES LABELS [==[${suite}]==]")
  foreach(property IN LISTS TEST_PROPERTIES)
    string(APPEND script " [==[${property}]==]")
  endforeach()
  string(APPEND script ")\n")
  math(EXPR count "${count} + 1")
endforeach()

if(errors)
  message(FATAL_ERROR "test cases outside their file's suite:\n${errors}")
endif()
if(count EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} lists no test cases:\n${listing}")
endif()
file(WRITE "${CTEST_FILE}" "${script}")
