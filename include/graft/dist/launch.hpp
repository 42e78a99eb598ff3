// The communicator a program gets from the launcher that started it: under mpirun (or any
// launcher that sets the PMI variables) and a build with MPI, MPI's world; otherwise this
// process alone, as before. A program started by a launcher with several ranks in a build
// without MPI is refused (each rank would train alone and write the same files).
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "graft/dist/communicator.hpp"
#if defined(GRAFT_WITH_MPI)
#include "graft/dist/mpi.hpp"
#endif

namespace graft {
namespace dist {

namespace detail {
inline int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  return s && *s ? std::atoi(s) : fallback;
}
}  // namespace detail

// The number of ranks the launcher started (1: none).
inline int launcher_ranks() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE"}) {
    const int n = detail::env_int(v, 0);
    if (n > 0) return n;
  }
  return 1;
}
// This rank's place among the ranks on its machine, for choosing its GPU.
inline int local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                        "LOCAL_RANK"}) {
    const int r = detail::env_int(v, -1);
    if (r >= 0) return r;
  }
  return 0;
}
inline bool built_with_mpi() {
#if defined(GRAFT_WITH_MPI)
  return true;
#else
  return false;
#endif
}

inline std::unique_ptr<Communicator> from_environment() {
  const int n = launcher_ranks();
#if defined(GRAFT_WITH_MPI)
  if (n > 1 || std::getenv("OMPI_COMM_WORLD_SIZE")) return std::make_unique<MpiCommunicator>();
#else
  GRAFT_CHECK(n <= 1, "dist: started as one of ", n,
              " ranks, but this build of graft has no MPI (install libopenmpi-dev and configure again)");
#endif
  return std::make_unique<SingleProcess>();
}

}  // namespace dist
}  // namespace graft
