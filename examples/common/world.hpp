// The ranks of a program: `mpirun -np N graft-finetune ...` runs N processes that train one
// model data parallel (graft/dist); started alone, a program is a single rank, as before.
// Rank 0 alone prints and writes files; the others' stdout and progress bars are silenced,
// their errors still reach stderr, naming the rank.
#pragma once

#include <cstdio>
#include <memory>

#include "common/progress.hpp"
#include "graft/dist/launch.hpp"
#include "graft/dist/shard.hpp"

namespace graft {
namespace app {

inline std::unique_ptr<dist::Communicator>& world_slot() {
  static std::unique_ptr<dist::Communicator> w;
  return w;
}
// This program's ranks (one, until start_world()).
inline dist::Communicator& world() {
  auto& w = world_slot();
  if (!w) w = std::make_unique<dist::SingleProcess>();
  return *w;
}
inline bool writer() { return world().rank() == 0; }
// The samples this rank loads.
inline dist::Shard my_shard() { return dist::Shard(world().rank(), world().size()); }

// Joins the launcher's ranks (MPI under mpirun; alone otherwise).
inline void start_world() {
  world_slot() = dist::from_environment();
  if (!writer()) {
    quiet_progress() = true;
    if (!std::freopen("/dev/null", "w", stdout)) std::fclose(stdout);
  } else if (world().size() > 1) {
    std::printf("data parallel: %d ranks over %s\n", world().size(), world().engine());
  }
}
// Leaves MPI (every rank, at the end of a program that succeeded).
inline void end_world() {
  std::fflush(stdout);
  world_slot().reset();
}

}  // namespace app
}  // namespace graft
