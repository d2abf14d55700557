# Unity builds by folder: the sources of a target are compiled in groups, one
# translation unit per folder and range of file-name initials (a-c, d-f, g-l,
# m-p, q-s, t-z), so that the headers they share (doctest, JSON,
# httplib, the registry) are parsed and their templates instantiated once per
# group instead of once per file. On four API test files this took compile
# CPU from 64 s to 24 s; CI builds every test three times (release, ASan,
# TSan), which is where most of its time went.
#
# The price: the files of a group share one translation unit, so file-local
# names (anonymous namespaces, statics) must differ between files of the same
# folder, and a file must include what it uses. The build says so at once
# when they do not. ROTOR_UNITY=OFF compiles file by file (faster edit
# loops on one test file).
option(ROTOR_UNITY "Compile the libraries and tests in unity groups by folder" ON)

function(rotor_unity_by_folder target)
  if(NOT ROTOR_UNITY)
    return()
  endif()
  get_target_property(sources ${target} SOURCES)
  foreach(source IN LISTS sources)
    # The file that defines doctest's implementation (DOCTEST_CONFIG_IMPLEMENT)
    # must include doctest.h first, so it stays a unit of its own.
    get_filename_component(name ${source} NAME)
    if(name STREQUAL "main.cc")
      set_source_files_properties(${source} TARGET_DIRECTORY ${target}
        PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
      continue()
    endif()
    # A file's group is its folder and the range its name starts in, so a new
    # file joins one group and never moves the others' files around.
    get_filename_component(folder ${source} DIRECTORY)
    string(SUBSTRING ${name} 0 1 initial)
    string(TOLOWER ${initial} initial)
    set(range z)
    foreach(bound IN ITEMS c f l p s)
      if(NOT initial STRGREATER bound)
        set(range ${bound})
        break()
      endif()
    endforeach()
    file(RELATIVE_PATH relative ${PROJECT_SOURCE_DIR} ${folder})
    string(MAKE_C_IDENTIFIER "${relative}_to_${range}" group)
    set_source_files_properties(${source} TARGET_DIRECTORY ${target}
      PROPERTIES UNITY_GROUP ${group})
  endforeach()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  # A class of a .cc file (a pimpl's Impl) may hold a file-local type; GCC
  # warns about that in headers (-Wsubobject-linkage), and in a unity source
  # every .cc is an included file. Each is still included exactly once.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
endfunction()
