# Locate LibTorch inside a torch wheel (a venv's site-packages, or any torch install) and define
# the imported target longvid::torch. We do not use TorchConfig.cmake for the CPU build: the PyPI
# wheel is the CUDA build and its config insists on a CUDA toolkit; the CPU library only needs
# libtorch_cpu + libc10.
#
# Inputs: LONGVID_TORCH_ROOT (a venv, a torch package dir, or empty = ask python3), LONGVID_CUDA.
# Outputs: longvid::torch, LONGVID_TORCH_DIR, LONGVID_HAVE_CUDA.

function(_longvid_torch_from_venv venv out)
  file(GLOB _cands "${venv}/lib/python3*/site-packages/torch")
  if(_cands)
    list(GET _cands 0 _t)
    set(${out} "${_t}" PARENT_SCOPE)
  endif()
endfunction()

set(LONGVID_TORCH_DIR "")
if(LONGVID_TORCH_ROOT)
  if(EXISTS "${LONGVID_TORCH_ROOT}/include/torch" AND EXISTS "${LONGVID_TORCH_ROOT}/lib")
    set(LONGVID_TORCH_DIR "${LONGVID_TORCH_ROOT}")
  else()
    _longvid_torch_from_venv("${LONGVID_TORCH_ROOT}" LONGVID_TORCH_DIR)
  endif()
endif()
if(NOT LONGVID_TORCH_DIR AND DEFINED ENV{TORCH_CMAKE_PREFIX})
  get_filename_component(LONGVID_TORCH_DIR "$ENV{TORCH_CMAKE_PREFIX}/../.." ABSOLUTE)
endif()
if(NOT LONGVID_TORCH_DIR)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_FOUND)
    execute_process(COMMAND ${Python3_EXECUTABLE} -c
      "import importlib.util,os;s=importlib.util.find_spec('torch');print(os.path.dirname(s.origin) if s else '')"
      OUTPUT_VARIABLE LONGVID_TORCH_DIR OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
endif()
if(NOT LONGVID_TORCH_DIR OR NOT EXISTS "${LONGVID_TORCH_DIR}/lib/libtorch_cpu.so")
  message(FATAL_ERROR "longvid: LibTorch not found (looked in '${LONGVID_TORCH_ROOT}'). "
                      "Run scripts/setup, or pass -DLONGVID_TORCH_ROOT=<venv or torch dir>.")
endif()
message(STATUS "longvid: LibTorch at ${LONGVID_TORCH_DIR}")

# Include directory farm: everything in torch/include except its bundled fmt, so that the
# system fmt (which Debian's spdlog is built against) is the only one the compiler can see.
set(_farm "${CMAKE_BINARY_DIR}/torch-include")
file(MAKE_DIRECTORY "${_farm}")
file(GLOB _entries RELATIVE "${LONGVID_TORCH_DIR}/include" "${LONGVID_TORCH_DIR}/include/*")
foreach(_e IN LISTS _entries)
  if(NOT _e STREQUAL "fmt" AND NOT EXISTS "${_farm}/${_e}")
    file(CREATE_LINK "${LONGVID_TORCH_DIR}/include/${_e}" "${_farm}/${_e}" SYMBOLIC)
  endif()
endforeach()

# The C++ ABI flag the wheel was built with.
set(_abi 1)
if(EXISTS "${LONGVID_TORCH_DIR}/share/cmake/Caffe2/Caffe2Targets.cmake")
  file(STRINGS "${LONGVID_TORCH_DIR}/share/cmake/Caffe2/Caffe2Targets.cmake" _abiline REGEX "_GLIBCXX_USE_CXX11_ABI=[01]")
  if(_abiline MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
    set(_abi ${CMAKE_MATCH_1})
  endif()
endif()

add_library(longvid_torch INTERFACE)
add_library(longvid::torch ALIAS longvid_torch)
target_include_directories(longvid_torch SYSTEM INTERFACE "${_farm}" "${_farm}/torch/csrc/api/include")
target_compile_definitions(longvid_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${_abi})
target_link_libraries(longvid_torch INTERFACE
  "${LONGVID_TORCH_DIR}/lib/libtorch_cpu.so" "${LONGVID_TORCH_DIR}/lib/libc10.so")
target_link_options(longvid_torch INTERFACE "LINKER:-rpath,${LONGVID_TORCH_DIR}/lib")

set(LONGVID_HAVE_CUDA OFF)
set(_want_cuda "${LONGVID_CUDA}")
if(_want_cuda STREQUAL "AUTO")
  include(CheckLanguage)
  check_language(CUDA)
  if(EXISTS "${LONGVID_TORCH_DIR}/lib/libtorch_cuda.so" AND CMAKE_CUDA_COMPILER)
    set(_want_cuda ON)
  else()
    set(_want_cuda OFF)
  endif()
endif()
if(_want_cuda)
  if(NOT EXISTS "${LONGVID_TORCH_DIR}/lib/libtorch_cuda.so")
    message(FATAL_ERROR "longvid: LONGVID_CUDA=ON but ${LONGVID_TORCH_DIR} is a CPU-only LibTorch")
  endif()
  # --no-as-needed: the CUDA backend registers itself from static initialisers in torch_cuda.
  target_link_libraries(longvid_torch INTERFACE
    "-Wl,--no-as-needed" "${LONGVID_TORCH_DIR}/lib/libtorch_cuda.so"
    "${LONGVID_TORCH_DIR}/lib/libc10_cuda.so" "-Wl,--as-needed")
  # core/device.cpp asks the CUDA runtime for the device's properties: its header and libcudart,
  # preferably those of the wheel (the runtime LibTorch itself loads), else the toolkit's.
  set(_cuda_hints "${LONGVID_TORCH_DIR}/../nvidia/cu13" "${LONGVID_TORCH_DIR}/../nvidia/cuda_runtime"
                  "$ENV{CUDA_HOME}" /usr/local/cuda)
  find_path(LONGVID_CUDART_INCLUDE cuda_runtime_api.h HINTS ${_cuda_hints} PATH_SUFFIXES include)
  find_library(LONGVID_CUDART NAMES cudart libcudart.so.13 libcudart.so.12 NAMES_PER_DIR HINTS ${_cuda_hints}
               PATH_SUFFIXES lib lib64)
  if(NOT LONGVID_CUDART_INCLUDE OR NOT LONGVID_CUDART)
    message(FATAL_ERROR "longvid: LONGVID_CUDA=ON but the CUDA runtime (cuda_runtime_api.h, libcudart) was not found "
                        "next to LibTorch (nvidia/cu13) nor in CUDA_HOME or /usr/local/cuda")
  endif()
  get_filename_component(_cudart_dir "${LONGVID_CUDART}" DIRECTORY)
  target_include_directories(longvid_torch SYSTEM INTERFACE "${LONGVID_CUDART_INCLUDE}")
  target_link_libraries(longvid_torch INTERFACE "${LONGVID_CUDART}")
  target_link_options(longvid_torch INTERFACE "LINKER:-rpath,${_cudart_dir}")
  message(STATUS "longvid: CUDA runtime ${LONGVID_CUDART}")
  target_compile_definitions(longvid_torch INTERFACE LONGVID_WITH_CUDA=1)
  set(LONGVID_HAVE_CUDA ON)
endif()
message(STATUS "longvid: CUDA variant ${LONGVID_HAVE_CUDA}")
