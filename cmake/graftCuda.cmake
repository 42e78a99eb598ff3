# Finds what graft::cuda needs: a CUDA compiler, cuBLAS (CUDAToolkit) and cuDNN 9.
# Sets GRAFT_HAVE_CUDA. With GRAFT_CUDA=AUTO a missing piece only turns the backend off.
set(GRAFT_HAVE_CUDA OFF)
if(NOT DEFINED GRAFT_CUDA)
  set(GRAFT_CUDA AUTO)
endif()
if(NOT GRAFT_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(GRAFT_CUDNN_INCLUDE_DIR cudnn.h
            HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_ROOT PATH_SUFFIXES include)
  # (pip's nvidia-cudnn wheels ship only libcudnn.so.9: set CUDNN_ROOT to their folder)
  find_library(GRAFT_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
               HINTS ${CUDAToolkit_LIBRARY_DIR} "${CUDAToolkit_LIBRARY_ROOT}/lib" ENV CUDNN_ROOT
               PATH_SUFFIXES lib lib64)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublas
     AND GRAFT_CUDNN_INCLUDE_DIR AND GRAFT_CUDNN_LIBRARY)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)   # Hopper (H100/H200); override on the command line
    endif()
    if(GRAFT_ENABLE_CUDA_LANGUAGE)   # graft's own build compiles .cu files
      enable_language(CUDA)
    endif()
    set(GRAFT_HAVE_CUDA ON)
    if(NOT TARGET graft::cudnn)
      add_library(graft::cudnn UNKNOWN IMPORTED)
      set_target_properties(graft::cudnn PROPERTIES
        IMPORTED_LOCATION "${GRAFT_CUDNN_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${GRAFT_CUDNN_INCLUDE_DIR}")
    endif()
    message(STATUS "graft: CUDA backend on (cuDNN ${GRAFT_CUDNN_LIBRARY}, archs ${CMAKE_CUDA_ARCHITECTURES})")
  elseif(GRAFT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "graft: GRAFT_CUDA=ON but nvcc, cuBLAS or cuDNN is missing")
  else()
    message(STATUS "graft: CUDA backend off (no nvcc, cuBLAS or cuDNN found)")
  endif()
endif()
