# Writes a C++ source defining `std::string_view NAMESPACE::FUNCTION() noexcept`
# that returns the text of INPUT, so a file (api/openapi.json) is served from
# the binary rather than read at run time. Run by CMakeLists.txt at build time:
#   cmake -DINPUT=... -DOUTPUT=... -DHEADER=api/openapi_document.h
#         -DNAMESPACE=rotor::api -DFUNCTION=openapi_document -P embed_text.cmake
# The text becomes one raw string literal (GCC and Clang take literals far
# longer than any document here). Never expanded unquoted: CMake would split
# it at its semicolons.
foreach(variable INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "embed_text.cmake: ${variable} is not set")
  endif()
endforeach()

set(delimiter "rotor_embed")
file(READ "${INPUT}" text)
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} holds \")${delimiter}\"\", which would end the raw string early")
endif()

set(source "// Generated from ${INPUT} by cmake/embed_text.cmake; do not edit.\n")
string(APPEND source "#include \"${HEADER}\"\n\nnamespace ${NAMESPACE} {\n\n")
string(APPEND source "std::string_view ${FUNCTION}() noexcept {\n")
string(APPEND source "  static constexpr char kText[] = R\"${delimiter}(${text})${delimiter}\";\n")
string(APPEND source "  return {kText, sizeof kText - 1};\n}\n\n}  // namespace ${NAMESPACE}\n")
# Rewritten only when it changes, so an unchanged document compiles nothing.
file(WRITE "${OUTPUT}.tmp" "${source}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
