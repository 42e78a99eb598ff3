# Host dependencies of graft::graft, from Debian packages: libeigen3-dev, libstb-dev,
# zlib1g-dev (.npz in graft/io), the compiler's OpenMP and the system's threads (the data
# loader's workers). Used both by the build and by the installed graftConfig.cmake.
#
# On a machine without those packages (the GPU machines the benchmarks run on), point
# GRAFT_DEPS_DIR at a folder holding copies of them: include/eigen3, include/stb,
# include/catch2, lib/libstb.a (bench/make-gpu-bundle makes one, .deps/). It is searched first.
include(CMakeFindDependencyMacro)
set(GRAFT_DEPS_DIR "" CACHE PATH "A folder with copies of the host dependencies (include/, lib/), searched first")
if(GRAFT_DEPS_DIR)
  list(PREPEND CMAKE_PREFIX_PATH "${GRAFT_DEPS_DIR}")
endif()

find_package(Eigen3 3.3 QUIET NO_MODULE)
if(NOT TARGET Eigen3::Eigen)
  # No CMake package (a copied tree): the headers alone are Eigen.
  find_path(GRAFT_EIGEN_INCLUDE_DIR Eigen/Core PATH_SUFFIXES eigen3
            DOC "folder holding Eigen/Core (Debian: libeigen3-dev)")
  if(NOT GRAFT_EIGEN_INCLUDE_DIR)
    message(FATAL_ERROR "graft needs Eigen 3 (Eigen/Core): apt-get install libeigen3-dev")
  endif()
  add_library(Eigen3::Eigen INTERFACE IMPORTED)
  set_target_properties(Eigen3::Eigen PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${GRAFT_EIGEN_INCLUDE_DIR}")
endif()
find_dependency(OpenMP COMPONENTS CXX)
find_dependency(Threads)
find_dependency(ZLIB)

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
