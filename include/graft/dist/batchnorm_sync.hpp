// BatchNormSync: the StatsReducer (graft/layers/stats_reducer.hpp) of a data-parallel run,
// a blocking all-reduce over the run's Communicator. nn::Network::set_batchnorm_sync hands it
// to every BatchNorm2d; the trainer does so for Trainer::Options::sync_batchnorm (--sync-bn).
//
// Its sums are collectives of the communicator, started in the same order on every rank
// because every rank runs the same nodes in the same order (a rank with an empty share runs
// Network::forward_without_samples / backward_without_samples instead). During backward they
// interleave with the gradient sync's buckets, in the same order on every rank; on CUDA the
// buckets go over NCCL and these over MPI, two engines that do not wait for each other.
#pragma once

#include <cstdint>

#include "graft/dist/communicator.hpp"
#include "graft/layers/stats_reducer.hpp"

namespace graft {
namespace dist {

class BatchNormSync : public StatsReducer {
 public:
  explicit BatchNormSync(Communicator& c) : c_(c) {}
  void sum(double* data, int64_t n, const char* what) override {
    c_.allreduce_sum(data, n, what);
    ++calls_;
  }
  int64_t calls() const { return calls_; }  // sums made so far (tests)

 private:
  Communicator& c_;
  int64_t calls_ = 0;
};

}  // namespace dist
}  // namespace graft
