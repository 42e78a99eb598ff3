// cuda::PoolPlan<T>: max or average pooling on the GPU (set_mode, before use; max by default),
// graft's kernels (default) or cuDNN's.
//
// graft's kernels (kernels/pool.cuh) follow the CPU backend exactly (first maximum wins, NaN
// wins, ceil mode; averages summed in the CPU's order, PyTorch's divisors). cuDNN's pooling
// (CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE/EXCLUDE_PADDING) is
// selectable with set_impl(PoolImpl::Cudnn) so that the benchmark can compare the two; cuDNN
// has no ceil mode, so a geometry whose output size cuDNN computes differently keeps graft's
// kernels (impl_used() tells). In the context's
// channels-last mode both run on NHWC data (graft's *_nhwc kernels; cuDNN's NHWC descriptors).
#pragma once

#include <cudnn.h>

#include <string>

#include "graft/backend/cuda/context.hpp"
#include "graft/backend/cuda/conv.hpp"  // TensorDesc, CudnnType
#include "graft/backend/geometry.hpp"
#include "kernels/pool.cuh"

namespace graft {

enum class PoolImpl { Graft, Cudnn };
inline const char* to_string(PoolImpl i) { return i == PoolImpl::Cudnn ? "cudnn" : "graft"; }

namespace cuda {

struct PoolingDesc {
  cudnnPoolingDescriptor_t d = nullptr;
  PoolingDesc() { GRAFT_CUDA_CHECK(cudnnCreatePoolingDescriptor(&d)); }
  ~PoolingDesc() { cudnnDestroyPoolingDescriptor(d); }
  PoolingDesc(const PoolingDesc&) = delete;
  PoolingDesc& operator=(const PoolingDesc&) = delete;
};

template <class T>
class PoolPlan {
 public:
  void setup(Context<CUDA>& ctx, const ConvGeometry&) {
    ctx_ = &ctx;
    scope_ = ctx.scope();
  }
  void set_mode(PoolMode m) {
    mode_ = m;
    described_ = false;
  }
  PoolMode mode() const { return mode_; }
  void set_impl(PoolImpl impl) { impl_ = impl; }
  PoolImpl impl() const { return impl_; }
  // By name, for benchmarks and tests ("auto" is graft's kernels; cuDNN where it fits).
  std::vector<std::string> implementations(const ConvGeometry&) const { return {"graft", "cudnn"}; }
  void use_implementation(const std::string& name, const ConvGeometry&, const std::string& where) {
    GRAFT_CHECK(name == "auto" || name == "graft" || name == "cudnn", where, ": unknown pooling implementation '",
                name, "' (known: auto, graft, cudnn)");
    impl_ = name == "cudnn" ? PoolImpl::Cudnn : PoolImpl::Graft;
  }
  PoolImpl impl_used(const ConvGeometry& g) {
    if (impl_ == PoolImpl::Graft) return PoolImpl::Graft;
    describe(g);
    return cudnn_fits_ ? PoolImpl::Cudnn : PoolImpl::Graft;
  }

  void forward(const ConvGeometry& g, const T* x, T* y) {
    Context<CUDA>& c = ctx();
    if (impl_used(g) == PoolImpl::Graft) {
      in_scope(scope_, [&] {
        const kernels::PoolShape s = shape(g, c.channels_last());
        if (mode_ == PoolMode::Max)
          kernels::maxpool_forward<T>(s, x, y, c.stream());
        else
          kernels::avgpool_forward<T>(s, x, y, c.stream());
      });
      return;
    }
    const T one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnPoolingForward(c.cudnn(), pd_.d, &one, xd_.d, x, &zero, yd_.d, y));
  }

  void backward(const ConvGeometry& g, const T* x, const T* y, const T* dy, T* dx) {
    Context<CUDA>& c = ctx();
    if (impl_used(g) == PoolImpl::Graft) {
      in_scope(scope_, [&] {
        const kernels::PoolShape s = shape(g, c.channels_last());
        if (mode_ == PoolMode::Max)
          kernels::maxpool_backward<T>(s, x, dy, dx, c.stream());
        else
          kernels::avgpool_backward<T>(s, x, dy, dx, c.stream());
      });
      return;
    }
    const T one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnPoolingBackward(c.cudnn(), pd_.d, &one, yd_.d, y, yd_.d, dy, xd_.d, x, &zero,
                                                     xd_.d, dx));
  }

 private:
  Context<CUDA>& ctx() {
    GRAFT_CHECK(ctx_, "PoolPlan used before setup()");
    return *ctx_;
  }
  kernels::PoolShape shape(const ConvGeometry& g, bool channels_last) const {
    kernels::PoolShape s;
    s.count_pad = mode_ != PoolMode::AvgNoPad;
    s.c = int(g.c);
    s.channels_last = channels_last;
    s.planes = g.n * g.c;
    s.h = int(g.h); s.w = int(g.w); s.oh = int(g.oh); s.ow = int(g.ow);
    s.kh = g.win.kh; s.kw = g.win.kw; s.sh = g.win.sh; s.sw = g.win.sw; s.ph = g.win.ph; s.pw = g.win.pw;
    return s;
  }
  void describe(const ConvGeometry& g) {
    const bool nhwc = ctx().channels_last();
    if (described_ && g == last_ && nhwc == nhwc_) return;
    const cudnnTensorFormat_t f = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    const cudnnDataType_t dt = CudnnType<T>::value;
    const cudnnPoolingMode_t mode = mode_ == PoolMode::Max           ? CUDNN_POOLING_MAX_DETERMINISTIC
                                    : mode_ == PoolMode::AvgCountPad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                                     : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetPooling2dDescriptor(pd_.d, mode,
                                                            CUDNN_PROPAGATE_NAN, g.win.kh, g.win.kw, g.win.ph,
                                                            g.win.pw, g.win.sh, g.win.sw));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetTensor4dDescriptor(xd_.d, f, dt, int(g.n), int(g.c), int(g.h), int(g.w)));
    int n = 0, c = 0, h = 0, w = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnGetPooling2dForwardOutputDim(pd_.d, xd_.d, &n, &c, &h, &w));
    cudnn_fits_ = h == g.oh && w == g.ow;
    if (cudnn_fits_)
      GRAFT_CUDA_CHECK_IN(scope_, cudnnSetTensor4dDescriptor(yd_.d, f, dt, int(g.n), int(g.c), int(g.oh), int(g.ow)));
    last_ = g;
    nhwc_ = nhwc;
    described_ = true;
  }

  Context<CUDA>* ctx_ = nullptr;
  std::string scope_;
  PoolImpl impl_ = PoolImpl::Graft;
  PoolMode mode_ = PoolMode::Max;
  TensorDesc xd_, yd_;
  PoolingDesc pd_;
  ConvGeometry last_;
  bool described_ = false, cudnn_fits_ = false, nhwc_ = false;
};

}  // namespace cuda
}  // namespace graft
