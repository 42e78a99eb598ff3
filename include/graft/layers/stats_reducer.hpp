// StatsReducer: how a layer sums statistics over the ranks of a data-parallel run without
// knowing who the ranks are (layers know nothing of graft/dist; graft/dist/batchnorm_sync.hpp
// adapts a Communicator). Synchronised BatchNorm2d hands it per-channel counts and sums.
//
// sum() replaces data[0..n) by the sum of every rank's data[0..n), on every rank, on the
// host. It is a collective: every rank calls it with the same n, in the same order, or the
// run fails (the communicator's timeout names the rank that did not arrive). So a rank whose
// share of a batch is empty still calls it, with zeros (Layer::forward_without_samples).
#pragma once

#include <cstdint>

namespace graft {

struct StatsReducer {
  virtual ~StatsReducer() = default;
  // `what` names the sum in the error of one that fails ("bn1 (BatchNorm2d): batch mean").
  virtual void sum(double* data, int64_t n, const char* what) = 0;
};

}  // namespace graft
