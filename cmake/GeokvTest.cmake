# geokv_add_test(NAME name SOURCES ... LIBS ... TAGS unit property ... [COST seconds])
#
# Builds one Catch2 executable and registers one CTest test per Catch2 tag, so
# that a tag such as [property] maps to the CTest label "property"
# (`ctest -L property`). Each test case must carry exactly one of the tags.
# COST (roughly the seconds the slowest tag takes) makes CTest start a long
# test early: on a fresh machine there is no timing history, and a long test
# started last would hold `ctest -j2` up alone.
function(geokv_add_test)
  cmake_parse_arguments(T "" "NAME;COST" "SOURCES;LIBS;TAGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  # Test files reuse names in their anonymous namespaces (fixtures, node ids):
  # compiled one by one even where a build merges sources (CMAKE_UNITY_BUILD).
  set_target_properties(${T_NAME} PROPERTIES UNITY_BUILD OFF)
  # Line tables only (backtraces and breakpoints by line) for test code: full
  # debug info costs a third more compile time per test file, and the code
  # under test, in the libraries, keeps it.
  target_compile_options(${T_NAME} PRIVATE $<$<CONFIG:RelWithDebInfo,Debug>:-g1>)
  target_link_libraries(${T_NAME} PRIVATE geokv_test_main ${T_LIBS} geokv_warnings)
  if("hostile" IN_LIST T_TAGS)
    add_dependencies(hostile_tests ${T_NAME})
  endif()
  foreach(tag ${T_TAGS})
    add_test(NAME ${T_NAME}.${tag} COMMAND ${T_NAME} "[${tag}]" --order rand --warn NoAssertions)
    set_tests_properties(${T_NAME}.${tag} PROPERTIES LABELS ${tag} TIMEOUT 600)
    if(T_COST)
      set_tests_properties(${T_NAME}.${tag} PROPERTIES COST ${T_COST})
    endif()
  endforeach()
endfunction()
