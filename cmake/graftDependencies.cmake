# Host dependencies of graft::graft, from Debian packages: libeigen3-dev, libstb-dev,
# zlib1g-dev (.npz in graft/io), the compiler's OpenMP and the system's threads (the data
# loader's workers). Used both by the build and by the installed graftConfig.cmake.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.3 NO_MODULE)
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
