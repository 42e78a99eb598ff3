// main() of the [dist] tests: MPI for the whole run (started by mpirun with 2 ranks in CI),
// then Catch2 on every rank. Each rank reports its own results; mpirun fails when one does.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "dist/world.hpp"

int main(int argc, char** argv) {
  int rc;
  {
    graft::test::World world;  // MPI_Init ... MPI_Finalize
    rc = Catch::Session().run(argc, argv);
    world.get().barrier("the end of the tests");
  }
  return rc;
}
