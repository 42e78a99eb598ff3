// One parameter tensor's share of an optimizer step, for the backends' multi-tensor updates
// (Backend<D>::adam_update_multi / sgd_update_multi): the pointers, the element count and the
// per-tensor rate, decay and (Adam) step count. Plain data, no device: the CPU backend loops
// over the items; the CUDA backend updates up to kernels::kMultiTensors of them per launch.
#pragma once

#include <cstdint>

namespace graft {

template <class T>
struct AdamItem {
  T* w = nullptr;
  const T* g = nullptr;
  T* m = nullptr;
  T* v = nullptr;
  int64_t n = 0;
  float lr = 0, weight_decay = 0;  // including the parameter's multipliers and the schedule
  int64_t step = 0;                // from 1: the bias corrections
};

template <class T>
struct SgdItem {
  T* w = nullptr;
  const T* g = nullptr;
  T* buf = nullptr;  // null when momentum is 0
  int64_t n = 0;
  float lr = 0, weight_decay = 0;
};

}  // namespace graft
