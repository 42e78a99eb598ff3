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
endif()
