// Communicator: the ranks of a data-parallel run and the collectives they take part in,
// over host memory. Engines: SingleProcess (one rank; every collective is the identity: a
// program built without MPI, or started without a launcher, runs as before) and MPI
// (graft/dist/mpi.hpp). CUDA tensors go through NCCL, which this communicator starts up
// (graft/dist/nccl.hpp).
//
// Every rank must start the same collectives in the same order (MPI's rule); graft's
// trainer does, since every rank walks the same global batches through the same network.
// `what` names a collective in the error of one that fails or does not complete in time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/core/error.hpp"

namespace graft {
namespace dist {

// A collective that failed or did not complete in time; training cannot go on on any rank.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* engine() const = 0;

  // data[i] = the sum of every rank's data[i], on every rank; blocks.
  virtual void allreduce_sum(double* data, int64_t n, const char* what) = 0;
  // Starts the same sum over floats, in place; the data must stay put until wait(request).
  virtual int64_t start_allreduce_sum(float* data, int64_t n, const char* what) = 0;
  virtual void wait(int64_t request) = 0;
  // Lets started collectives advance (MPI progresses only inside its calls).
  virtual void progress() {}
  virtual void broadcast(void* data, int64_t bytes, int root, const char* what) = 0;
  // Every rank's bytes, in rank order; counts gets each rank's byte count.
  virtual std::vector<char> allgatherv(const void* data, int64_t bytes, std::vector<int64_t>& counts,
                                       const char* what) = 0;
  virtual void barrier(const char* what) = 0;
  // Stops every rank of the run after an error on this one (MPI_Abort); one rank: nothing.
  virtual void abort(int /*code*/) {}
  // The longest a collective may wait for the other ranks before failing (0: forever).
  virtual double timeout_seconds() const { return 0; }

  bool single() const { return size() == 1; }
};

class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* engine() const override { return "single process"; }
  void allreduce_sum(double*, int64_t, const char*) override {}
  int64_t start_allreduce_sum(float*, int64_t, const char*) override { return 0; }
  void wait(int64_t) override {}
  void broadcast(void*, int64_t, int, const char*) override {}
  std::vector<char> allgatherv(const void* data, int64_t bytes, std::vector<int64_t>& counts,
                               const char*) override {
    counts.assign(1, bytes);
    const char* p = static_cast<const char*>(data);
    return std::vector<char>(p, p + bytes);
  }
  void barrier(const char*) override {}
};

// Every rank's value of a trivially copyable v, in rank order.
template <class T>
std::vector<T> allgather_value(Communicator& c, const T& v, const char* what) {
  static_assert(std::is_trivially_copyable<T>::value, "allgather_value: a plain value");
  std::vector<int64_t> counts;
  const std::vector<char> all = c.allgatherv(&v, int64_t(sizeof(T)), counts, what);
  std::vector<T> out(size_t(c.size()));
  GRAFT_CHECK(all.size() == out.size() * sizeof(T), "dist: ", what, ": gathered ", all.size(), " bytes for ",
              c.size(), " ranks of ", sizeof(T));
  std::memcpy(out.data(), all.data(), all.size());
  return out;
}

}  // namespace dist
}  // namespace graft
