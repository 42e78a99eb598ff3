# graft-bench: networks and layers on the CPU (and on CUDA when the CUDA backend is built),
# and compare_torch.py, the same configurations in PyTorch with a driver running both.

add_executable(graft-bench ${CMAKE_CURRENT_LIST_DIR}/graft_bench.cpp)
target_link_libraries(graft-bench PRIVATE graft::graft)
target_compile_options(graft-bench PRIVATE -Wall -Wextra)
graft_native(graft-bench)

# The CUDA part is compiled only where the CUDA backend exists (graft::cuda and its headers).
if(TARGET graft::cuda AND EXISTS "${PROJECT_SOURCE_DIR}/include/graft/cuda.hpp"
   AND EXISTS "${CMAKE_CURRENT_LIST_DIR}/graft_bench_cuda.cu")
  target_sources(graft-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/graft_bench_cuda.cu)
  target_link_libraries(graft-bench PRIVATE graft::cuda)
  target_compile_definitions(graft-bench PRIVATE GRAFT_BENCH_CUDA=1)
endif()

install(TARGETS graft-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS ${CMAKE_CURRENT_LIST_DIR}/compare_torch.py DESTINATION ${CMAKE_INSTALL_BINDIR}
        RENAME graft-compare-torch)

if(GRAFT_BUILD_TESTS)
  add_test(NAME bench_graft_quick COMMAND graft-bench --quick)
  set_tests_properties(bench_graft_quick PROPERTIES LABELS "bench" TIMEOUT 600)
  add_test(NAME bench_graft_quick_dlib_face COMMAND graft-bench --quick --net dlib-face)
  set_tests_properties(bench_graft_quick_dlib_face PROPERTIES LABELS "bench" TIMEOUT 600)
  if(GRAFT_TEST_PYTHON)
    # compare_torch.py's dlib-face is graft's network: graft's weights, input and output
    # (random weights, seed 1) against the PyTorch module's output
    add_test(NAME bench_dlib_face_torch_check
             COMMAND ${GRAFT_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/compare_torch.py check --net dlib-face
                     --graft $<TARGET_FILE:graft-bench> --batch 2 --dlib-weights random)
    set_tests_properties(bench_dlib_face_torch_check PROPERTIES LABELS "bench" TIMEOUT 600)
  endif()
endif()

# graft-bench-dlib: dlib's own forward of its face ResNet, the peer of graft-bench --net
# dlib-face; built where pkg-config finds Debian's libdlib-dev (dlib-1), as the [dlib] tests'
# oracle is, with the same network type (tests/dlib/dlib_net_type.hpp).
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(GRAFT_BENCH_DLIB QUIET IMPORTED_TARGET dlib-1)
endif()
if(GRAFT_BENCH_DLIB_FOUND)
  message(STATUS "graft bench: dlib ${GRAFT_BENCH_DLIB_VERSION} for graft-bench-dlib")
  add_executable(graft-bench-dlib ${CMAKE_CURRENT_LIST_DIR}/dlib_bench.cpp)
  target_link_libraries(graft-bench-dlib PRIVATE PkgConfig::GRAFT_BENCH_DLIB ${CMAKE_DL_LIBS})
  target_include_directories(graft-bench-dlib PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/tests/dlib)
  target_compile_features(graft-bench-dlib PRIVATE cxx_std_17)
  if(GRAFT_BUILD_TESTS)
    # proves it runs (dlib's default initialisation: the model file may not be there)
    add_test(NAME bench_dlib_quick COMMAND graft-bench-dlib --random --batch 1 --warmup 0 --reps 1)
    set_tests_properties(bench_dlib_quick PROPERTIES LABELS "bench" TIMEOUT 600)
  endif()
else()
  message(STATUS "graft bench: no libdlib-dev (pkg-config dlib-1): no graft-bench-dlib")
endif()
