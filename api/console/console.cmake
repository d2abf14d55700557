# The web console (api/console/): its npm packages installed from the
# lockfile into the build tree (npm ci, so several build trees never share a
# node_modules), bundled by the lockfile's esbuild, and embedded in
# rotor_control by embed.cmake as api/console_assets.h's definitions.
# Included by the top CMakeLists.txt (a generated source must come from a
# custom command in the consuming target's directory). ROTOR_CONSOLE=OFF
# embeds a page saying the console was not built, and needs no Node.

set(ROTOR_CONSOLE_DIR ${PROJECT_SOURCE_DIR}/api/console)
set(ROTOR_CONSOLE_BUILD ${CMAKE_BINARY_DIR}/console)
set(ROTOR_CONSOLE_EMBEDDED ${ROTOR_CONSOLE_BUILD}/console_assets.cc)

if(NOT ROTOR_CONSOLE)
  if(ROTOR_BUILD_TESTS)
    # The tests check the real console (unit/api/api_console, browser/console).
    message(FATAL_ERROR "ROTOR_CONSOLE=OFF needs ROTOR_BUILD_TESTS=OFF: the tests check the console")
  endif()
  file(MAKE_DIRECTORY ${ROTOR_CONSOLE_BUILD}/dist)
  file(WRITE ${ROTOR_CONSOLE_BUILD}/dist/index.html
    "<!doctype html><title>rotor</title><p>This rotor was built without its console (ROTOR_CONSOLE=OFF).</p>\n")
  add_custom_command(OUTPUT ${ROTOR_CONSOLE_EMBEDDED}
    COMMAND ${CMAKE_COMMAND} -DDIST=${ROTOR_CONSOLE_BUILD}/dist -DOUTPUT=${ROTOR_CONSOLE_EMBEDDED}
            -P ${ROTOR_CONSOLE_DIR}/embed.cmake
    DEPENDS ${ROTOR_CONSOLE_DIR}/embed.cmake VERBATIM)
  target_sources(rotor_control PRIVATE ${ROTOR_CONSOLE_EMBEDDED})
  return()
endif()

find_program(ROTOR_NPM npm)
find_program(ROTOR_NODE node)
if(NOT ROTOR_NPM OR NOT ROTOR_NODE)
  message(FATAL_ERROR "The web console needs Node.js and npm: run tests/deps.sh "
                      "(or apt-get install nodejs npm), or configure with -DROTOR_CONSOLE=OFF")
endif()

# npm ci into the build tree: package.json and the lockfile copied beside it.
set(ROTOR_CONSOLE_MODULES ${ROTOR_CONSOLE_BUILD}/node_modules)
add_custom_command(OUTPUT ${ROTOR_CONSOLE_BUILD}/npm-ci.stamp
  COMMAND ${CMAKE_COMMAND} -E copy ${ROTOR_CONSOLE_DIR}/package.json
          ${ROTOR_CONSOLE_DIR}/package-lock.json ${ROTOR_CONSOLE_BUILD}/
  COMMAND ${ROTOR_NPM} ci --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${ROTOR_CONSOLE_BUILD}/npm-ci.stamp
  DEPENDS ${ROTOR_CONSOLE_DIR}/package.json ${ROTOR_CONSOLE_DIR}/package-lock.json
  WORKING_DIRECTORY ${ROTOR_CONSOLE_BUILD}
  COMMENT "console: npm ci (preact, uplot, esbuild, playwright-core from the lockfile)"
  VERBATIM)

# The bundle (.bin/esbuild is the native binary, or a Node shim finding it
# when npm skipped install scripts): esbuild resolves the sources' imports in the build tree's
# node_modules through NODE_PATH; console.css holds uPlot's CSS and ours.
file(GLOB_RECURSE ROTOR_CONSOLE_SOURCES CONFIGURE_DEPENDS ${ROTOR_CONSOLE_DIR}/src/*)
add_custom_command(
  OUTPUT ${ROTOR_CONSOLE_BUILD}/dist/console.js ${ROTOR_CONSOLE_BUILD}/dist/console.css
         ${ROTOR_CONSOLE_BUILD}/dist/index.html
  COMMAND ${CMAKE_COMMAND} -E env NODE_PATH=${ROTOR_CONSOLE_MODULES}
          ${ROTOR_CONSOLE_MODULES}/.bin/esbuild
          ${ROTOR_CONSOLE_DIR}/src/main.jsx --bundle --minify --format=esm --target=es2020
          --jsx=automatic --jsx-import-source=preact --log-level=warning
          --outfile=${ROTOR_CONSOLE_BUILD}/dist/console.js
  COMMAND ${CMAKE_COMMAND} -E copy ${ROTOR_CONSOLE_DIR}/src/index.html ${ROTOR_CONSOLE_BUILD}/dist/
  DEPENDS ${ROTOR_CONSOLE_BUILD}/npm-ci.stamp ${ROTOR_CONSOLE_SOURCES}
  COMMENT "console: esbuild bundle"
  VERBATIM)

add_custom_command(OUTPUT ${ROTOR_CONSOLE_EMBEDDED}
  COMMAND ${CMAKE_COMMAND} -DDIST=${ROTOR_CONSOLE_BUILD}/dist -DOUTPUT=${ROTOR_CONSOLE_EMBEDDED}
          -P ${ROTOR_CONSOLE_DIR}/embed.cmake
  DEPENDS ${ROTOR_CONSOLE_DIR}/embed.cmake ${ROTOR_CONSOLE_BUILD}/dist/console.js
          ${ROTOR_CONSOLE_BUILD}/dist/console.css ${ROTOR_CONSOLE_BUILD}/dist/index.html
  COMMENT "console: embedding the bundle"
  VERBATIM)
target_sources(rotor_control PRIVATE ${ROTOR_CONSOLE_EMBEDDED})
