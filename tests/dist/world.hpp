// The [dist] tests' communicator: MPI's world, made once by main() and shared by the tests.
#pragma once

#include <memory>

#include "graft/dist/mpi.hpp"

namespace graft {
namespace test {

class World {
 public:
  World() : comm_(std::make_unique<dist::MpiCommunicator>(60.0)) { instance() = this; }
  ~World() { instance() = nullptr; }
  dist::MpiCommunicator& get() { return *comm_; }
  static World*& instance() {
    static World* w = nullptr;
    return w;
  }

 private:
  std::unique_ptr<dist::MpiCommunicator> comm_;
};

inline dist::MpiCommunicator& world() { return World::instance()->get(); }

}  // namespace test
}  // namespace graft
