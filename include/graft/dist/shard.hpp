// Shard: which samples of a dataset one rank of a data-parallel run owns.
//
// Rank r of n owns the samples whose dataset index i has i % n == r. Ownership follows the
// sample, not its place in an epoch: every rank walks the same global batches in the same
// order (a function of the seed and the epoch alone, whatever n is) and takes from each
// batch the samples it owns. So a rank meets the same samples every epoch, which is what
// lets it keep a feature cache of only its own samples (rows i / n), and lets a loader decode
// only its own images. The shares of one batch differ by a few samples when the order is
// shuffled; gradients are weighted by each share's size, so the step is still the one of
// the whole batch (train/trainer.hpp).
#pragma once

#include <cstdint>

#include "graft/core/error.hpp"

namespace graft {
namespace dist {

struct Shard {
  int rank = 0;
  int ranks = 1;

  Shard() = default;
  Shard(int r, int n) : rank(r), ranks(n) {
    GRAFT_CHECK(n >= 1 && r >= 0 && r < n, "shard: rank ", r, " of ", n, " ranks");
  }
  bool whole() const { return ranks == 1; }
  bool owns(int64_t index) const { return ranks == 1 || index % ranks == rank; }
  // The owned sample's row among this rank's samples.
  int64_t local(int64_t index) const { return index / ranks; }
  // How many of the samples 0 .. samples - 1 this rank owns.
  int64_t count(int64_t samples) const {
    return samples <= rank ? 0 : (samples - rank + ranks - 1) / ranks;
  }
  bool operator==(const Shard& o) const { return rank == o.rank && ranks == o.ranks; }
  bool operator!=(const Shard& o) const { return !(*this == o); }
};

}  // namespace dist
}  // namespace graft
