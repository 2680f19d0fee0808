# ctest library-consumer-find-package: installs the build tree into a scratch prefix, then configures,
# builds and runs tests/consumer (find_package(longvid), longvid::longvid, <longvid/longvid.h>) with
# the same compiler, generator and build type. The consumer's build directory is kept between runs
# (only what changed recompiles); the prefix is made afresh every run.
# Inputs: BUILD_DIR, SOURCE_DIR (tests/consumer), WORK_DIR, GENERATOR, MAKE_PROGRAM, CXX_COMPILER,
# LAUNCHER (may be empty), LIBDIR and INCLUDEDIR (GNUInstallDirs; default lib, include).
foreach(_v BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${_v} OR "${${_v}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: ${_v} is not set")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

if(NOT LIBDIR)
  set(LIBDIR lib)
endif()
if(NOT INCLUDEDIR)
  set(INCLUDEDIR include)
endif()
set(prefix "${WORK_DIR}/prefix")
set(cbuild "${WORK_DIR}/build")
file(REMOVE_RECURSE "${prefix}")
run_step("install into ${prefix}" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(_f ${INCLUDEDIR}/longvid/longvid.h ${INCLUDEDIR}/longvid/api/generate.h ${INCLUDEDIR}/longvid/core/video_io.h
           ${LIBDIR}/cmake/longvid/longvidConfig.cmake ${LIBDIR}/cmake/longvid/longvidConfigVersion.cmake
           ${LIBDIR}/cmake/longvid/LongvidTorch.cmake)
  if(NOT EXISTS "${prefix}/${_f}")
    message(FATAL_ERROR "consumer test: the install lacks ${_f}")
  endif()
endforeach()

set(cfg -S "${SOURCE_DIR}" -B "${cbuild}" -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release
        "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}")
if(MAKE_PROGRAM)
  list(APPEND cfg "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(LAUNCHER)
  list(APPEND cfg "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
run_step("configuring the consumer" "${CMAKE_COMMAND}" ${cfg})
run_step("building the consumer" "${CMAKE_COMMAND}" --build "${cbuild}")
run_step("running the consumer" "${cbuild}/app")
message(STATUS "consumer output: ${step_output}")
if(NOT step_output MATCHES "frames: 8 ")
  message(FATAL_ERROR "consumer test: expected 8 frames, got: ${step_output}")
endif()
