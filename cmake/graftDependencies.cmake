# Host dependencies of graft::graft, from Debian packages: libeigen3-dev, libstb-dev and
# the compiler's OpenMP. Used both by the build and by the installed graftConfig.cmake.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(OpenMP COMPONENTS CXX)

if(NOT TARGET graft::stb)
  find_path(GRAFT_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb
            DOC "folder holding stb_image.h (Debian: libstb-dev)")
  find_library(GRAFT_STB_LIBRARY stb DOC "libstb, the compiled stb functions (Debian: libstb-dev)")
  if(NOT GRAFT_STB_INCLUDE_DIR OR NOT GRAFT_STB_LIBRARY)
    message(FATAL_ERROR "graft needs stb (stb_image.h and libstb): apt-get install libstb-dev")
  endif()
  add_library(graft::stb UNKNOWN IMPORTED)
  set_target_properties(graft::stb PROPERTIES
    IMPORTED_LOCATION "${GRAFT_STB_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${GRAFT_STB_INCLUDE_DIR}")
endif()

# graft::openblas: the host GEMM. With OpenBLAS found (Debian: libopenblas-dev), graft's
# cpu::gemm() calls cblas_sgemm/dgemm (GRAFT_WITH_OPENBLAS); otherwise Eigen's product.
# GRAFT_BLAS: AUTO (OpenBLAS when found), OpenBLAS (required) or Eigen.
if(NOT TARGET graft::openblas)
  if(NOT DEFINED GRAFT_BLAS)
    set(GRAFT_BLAS AUTO)
  endif()
  set(GRAFT_HAVE_OPENBLAS OFF)
  if(NOT GRAFT_BLAS STREQUAL "Eigen")
    find_path(GRAFT_OPENBLAS_INCLUDE_DIR cblas.h openblas_config.h
              PATH_SUFFIXES openblas-pthread openblas openblas-openmp
              DOC "folder holding OpenBLAS's cblas.h (Debian: libopenblas-dev)")
    find_library(GRAFT_OPENBLAS_LIBRARY openblas DOC "libopenblas (Debian: libopenblas-dev)")
    if(GRAFT_OPENBLAS_INCLUDE_DIR AND GRAFT_OPENBLAS_LIBRARY)
      set(GRAFT_HAVE_OPENBLAS ON)
    elseif(GRAFT_BLAS STREQUAL "OpenBLAS")
      message(FATAL_ERROR "GRAFT_BLAS=OpenBLAS but OpenBLAS was not found: apt-get install libopenblas-dev")
    endif()
  endif()
  add_library(graft::openblas INTERFACE IMPORTED)
  if(GRAFT_HAVE_OPENBLAS)
    set_target_properties(graft::openblas PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${GRAFT_OPENBLAS_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${GRAFT_OPENBLAS_LIBRARY}"
      INTERFACE_COMPILE_DEFINITIONS GRAFT_WITH_OPENBLAS=1)
  endif()
endif()
