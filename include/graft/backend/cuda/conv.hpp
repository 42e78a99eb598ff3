// cuda::ConvPlan<T>: a convolution layer's state on the GPU.
//
// Two implementations, chosen per layer with set_impl():
//   ConvImpl::Cudnn  cuDNN's forward, backward-data and backward-filter, each with the
//                    algorithm chosen by measurement (cudnnFind...Ex) the first time a shape is
//                    seen and cached in the context; the workspace is the context's, reused.
//   ConvImpl::Graft  graft's implicit-GEMM kernel (kernels/conv.cuh): float, 3x3 kernels. Its
//                    backward data needs stride 1; other strides fall back to cuDNN for that
//                    one pass (impl_used() tells).
// The bias is added by kernels/bias.cuh after cuDNN (fused into graft's kernel's epilogue),
// and its gradient is a deterministic two-pass reduction.
//
// In the context's channels-last mode (cuDNN only: graft's kernel refuses it) x, y and their
// gradients are NHWC, and cuDNN gets its NHWC filter order KRSC, as PyTorch's channels_last
// does: the layer's weights stay KCRS (the parameter everyone else sees) and are transposed
// into a KRSC copy owned by the plan before forward and backward data (all of VGG16's conv
// weights: 59 MB, microseconds); backward filter writes KRSC into the context's scratch and
// transposes it into dw. The bias kernels take the channels-last variants (channel = index % o).
#pragma once

#include <cudnn.h>

#include <string>
#include <vector>

#include "graft/backend/cuda/context.hpp"
#include "graft/backend/geometry.hpp"
#include "kernels/bias.cuh"
#include "kernels/conv.cuh"
#include "kernels/layout.cuh"

namespace graft {

enum class ConvImpl { Cudnn, Graft };
inline const char* to_string(ConvImpl i) { return i == ConvImpl::Cudnn ? "cudnn" : "graft"; }

namespace cuda {

template <class T>
struct CudnnType;
template <>
struct CudnnType<float> {
  static constexpr cudnnDataType_t value = CUDNN_DATA_FLOAT;
};
template <>
struct CudnnType<double> {
  static constexpr cudnnDataType_t value = CUDNN_DATA_DOUBLE;
};

// RAII owners of cuDNN descriptors.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc() { GRAFT_CUDA_CHECK(cudnnCreateTensorDescriptor(&d)); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};
struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc() { GRAFT_CUDA_CHECK(cudnnCreateFilterDescriptor(&d)); }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};
struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc() { GRAFT_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&d)); }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

inline kernels::conv::Shape3x3 shape3x3(const ConvGeometry& g) {
  kernels::conv::Shape3x3 s;
  s.n = int(g.n); s.c = int(g.c); s.h = int(g.h); s.w = int(g.w);
  s.o = int(g.o); s.oh = int(g.oh); s.ow = int(g.ow);
  s.sh = g.win.sh; s.sw = g.win.sw; s.ph = g.win.ph; s.pw = g.win.pw;
  return s;
}

template <class T>
class ConvPlan {
 public:
  void setup(Context<CUDA>& ctx, const ConvGeometry& g) {
    ctx_ = &ctx;
    scope_ = ctx.scope();
    describe(g);
  }

  void set_impl(ConvImpl impl) { impl_ = impl; }
  ConvImpl impl() const { return impl_; }
  // By name, for benchmarks and tests ("auto" is cuDNN).
  std::vector<std::string> implementations(const ConvGeometry& g) const {
    if (graft_supports(g)) return {"cudnn", "graft"};
    return {"cudnn"};
  }
  void use_implementation(const std::string& name, const ConvGeometry& g, const std::string& where) {
    GRAFT_CHECK(name == "auto" || name == "cudnn" || (name == "graft" && graft_supports(g)), where,
                ": convolution implementation '", name, "' does not apply to a ", g.win.str(),
                " window (known: auto, cudnn, graft for float 3x3)");
    impl_ = name == "graft" ? ConvImpl::Graft : ConvImpl::Cudnn;
  }
  // Whether graft's kernel can run this geometry (float, 3x3): otherwise set_impl(Graft) fails
  // at the first call.
  static bool graft_supports(const ConvGeometry& g) {
    return std::is_same<T, float>::value && g.win.kh == 3 && g.win.kw == 3;
  }
  // The implementation that runs each pass for geometry g (backward data of a strided layer
  // falls back to cuDNN under ConvImpl::Graft).
  ConvImpl impl_used(const ConvGeometry& g, int pass /*0 fwd, 1 bwd data, 2 bwd filter*/) const {
    if (impl_ == ConvImpl::Graft && pass == 1 && !kernels::conv::backward_data_supported(shape3x3(g)))
      return ConvImpl::Cudnn;
    return impl_;
  }
  // The algorithms cuDNN chose for g (after a call with g).
  const ConvAlgos& cudnn_algos(const ConvGeometry& g) { return ctx().conv_algos(g, CudnnType<T>::value); }

  void forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    if (use_graft(g, 0)) {
      graft_forward(g, x, w, b, y);
      return;
    }
    describe(g);
    Context<CUDA>& c = ctx();
    if (nhwc_) w = krsc(g, w);
    AlgoChoice& a = c.conv_algos(g, CudnnType<T>::value).forward;
    if (a.algo < 0) find_forward(a, x, w, y);
    set_math(a.math);
    const T one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionForward(c.cudnn(), &one, xd_.d, x, wd_.d, w, cd_.d,
                                                        cudnnConvolutionFwdAlgo_t(a.algo), c.workspace(a.workspace),
                                                        a.workspace, &zero, yd_.d, y));
    if (b && nhwc_)
      in_scope(scope_, [&] { kernels::bias_add_rows<T>(g.n * g.out_plane(), g.o, y, b, c.stream()); });
    else if (b)
      in_scope(scope_, [&] { kernels::bias_add<T>(g.n, g.o, g.out_plane(), y, b, c.stream()); });
  }

  void backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    if (use_graft(g, 1)) {
      graft_backward_data(g, w, dy, dx);
      return;
    }
    describe(g);
    Context<CUDA>& c = ctx();
    if (nhwc_) w = krsc(g, w);
    AlgoChoice& a = c.conv_algos(g, CudnnType<T>::value).backward_data;
    if (a.algo < 0) find_backward_data(a, w, dy, dx);
    set_math(a.math);
    const T one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionBackwardData(c.cudnn(), &one, wd_.d, w, yd_.d, dy, cd_.d,
                                                             cudnnConvolutionBwdDataAlgo_t(a.algo),
                                                             c.workspace(a.workspace), a.workspace, &zero, xd_.d, dx));
  }

  void backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    if (use_graft(g, 2)) {
      graft_backward_filter(g, x, dy, dw);
      return;
    }
    describe(g);
    Context<CUDA>& c = ctx();
    T* dw_krsc = nhwc_ ? c.scratch<T>(static_cast<size_t>(g.o * g.kernel_volume())) : nullptr;
    T* out = nhwc_ ? dw_krsc : dw;
    AlgoChoice& a = c.conv_algos(g, CudnnType<T>::value).backward_filter;
    if (a.algo < 0) find_backward_filter(a, x, dy, out);
    set_math(a.math);
    const T one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionBackwardFilter(c.cudnn(), &one, xd_.d, x, yd_.d, dy, cd_.d,
                                                               cudnnConvolutionBwdFilterAlgo_t(a.algo),
                                                               c.workspace(a.workspace), a.workspace, &zero, wd_.d,
                                                               out));
    if (nhwc_)  // KRSC -> KCRS: k matrices of (r*s, c)
      in_scope(scope_, [&] {
        kernels::transpose<T>(g.o, int64_t(g.win.kh) * g.win.kw, g.c, dw_krsc, dw, c.stream());
      });
  }

  void backward_bias(const ConvGeometry& g, const T* dy, T* db) {
    Context<CUDA>& c = ctx();
    if (c.channels_last()) {
      const int64_t rows = g.n * g.out_plane();
      T* partial = c.scratch<T>(static_cast<size_t>(kernels::bias_grad_rows_scratch(rows, g.o)));
      in_scope(scope_, [&] { kernels::bias_grad_rows<T>(rows, g.o, dy, db, partial, c.stream()); });
      return;
    }
    T* partial = c.scratch<T>(static_cast<size_t>(g.n * g.o));
    in_scope(scope_, [&] { kernels::bias_grad<T>(g.n, g.o, g.out_plane(), dy, db, partial, c.stream()); });
  }

 private:
  Context<CUDA>& ctx() {
    GRAFT_CHECK(ctx_, "ConvPlan used before setup()");
    return *ctx_;
  }

  bool use_graft(const ConvGeometry& g, int pass) {
    if (impl_ != ConvImpl::Graft) return false;
    GRAFT_CHECK(!ctx().channels_last(), scope_, ": graft's convolution kernel needs NCHW activations, and the "
                "context is in channels-last mode; use ConvImpl::Cudnn for this layer or set_channels_last(false)");
    GRAFT_CHECK(graft_supports(g), scope_, ": graft's convolution kernel handles float 3x3 kernels only (this layer: ",
                g.win.str(), sizeof(T) == 8 ? ", double" : "", "); use ConvImpl::Cudnn");
    return impl_used(g, pass) == ConvImpl::Graft;
  }

  // ---- graft's kernel (float only; the casts are never reached for double) ----
  void graft_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    Context<CUDA>& c = ctx();
    in_scope(scope_, [&] { kernels::conv::forward(shape3x3(g), f(x), f(w), f(b), f(y), !c.tf32(), c.stream()); });
  }
  void graft_backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    Context<CUDA>& c = ctx();
    const auto s = shape3x3(g);
    float* wt = c.scratch<float>(static_cast<size_t>(kernels::conv::backward_data_scratch(s)));
    in_scope(scope_, [&] { kernels::conv::backward_data(s, f(w), f(dy), f(dx), wt, !c.tf32(), c.stream()); });
  }
  void graft_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    Context<CUDA>& c = ctx();
    const auto s = shape3x3(g);
    const int sms = c.multiprocessors();
    const int64_t need = kernels::conv::backward_filter_scratch(s, sms);
    float* partial = need > 0 ? c.scratch<float>(static_cast<size_t>(need)) : nullptr;
    in_scope(scope_, [&] {
      kernels::conv::backward_filter(s, f(x), f(dy), f(dw), partial, sms, !c.tf32(), c.stream());
    });
  }
  static const float* f(const T* p) { return reinterpret_cast<const float*>(p); }
  static float* f(T* p) { return reinterpret_cast<float*>(p); }

  // ---- cuDNN ----
  // The weights w (KCRS) as KRSC in wt_: k matrices of (c, r*s) transposed.
  const T* krsc(const ConvGeometry& g, const T* w) {
    Context<CUDA>& c = ctx();
    wt_.resize(Shape{g.o, g.win.kh, g.win.kw, g.c});
    in_scope(scope_, [&] {
      kernels::transpose<T>(g.o, g.c, int64_t(g.win.kh) * g.win.kw, w, wt_.data(), c.stream());
    });
    return wt_.data();
  }

  void describe(const ConvGeometry& g) {
    const bool nhwc = ctx().channels_last();
    if (described_ && g == last_ && nhwc == nhwc_) return;
    const cudnnDataType_t dt = CudnnType<T>::value;
    // Dimensions are given as (n, c, h, w) in every format; the format says how they are stored.
    const cudnnTensorFormat_t f = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetTensor4dDescriptor(xd_.d, f, dt, int(g.n), int(g.c), int(g.h), int(g.w)));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetTensor4dDescriptor(yd_.d, f, dt, int(g.n), int(g.o), int(g.oh), int(g.ow)));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetFilter4dDescriptor(wd_.d, dt, f, int(g.o), int(g.c), g.win.kh, g.win.kw));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetConvolution2dDescriptor(cd_.d, g.win.ph, g.win.pw, g.win.sh, g.win.sw, 1, 1,
                                                                CUDNN_CROSS_CORRELATION, dt));
    last_ = g;
    nhwc_ = nhwc;
    described_ = true;
  }
  // Tensor cores (TF32 for float) only when the context allows them.
  cudnnMathType_t search_math() const {
    return (std::is_same<T, float>::value && ctx_->tf32()) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  }
  void set_math(cudnnMathType_t m) { GRAFT_CUDA_CHECK_IN(scope_, cudnnSetConvolutionMathType(cd_.d, m)); }

  // Workspace for the search: the limit, or half the free memory if that is less. A separate
  // allocation, freed afterwards, so that the context keeps only what the chosen algorithms need.
  size_t search_bytes() const {
    size_t free_b = 0, total_b = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudaMemGetInfo(&free_b, &total_b));
    return std::min(ctx_->workspace_limit(), free_b / 2);
  }
  template <class Perf>
  void pick(AlgoChoice& a, const Perf* perf, int count, const char* pass) {
    for (int i = 0; i < count; ++i)  // sorted fastest first
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= ctx_->workspace_limit()) {
        a.algo = int(perf[i].algo);
        a.workspace = perf[i].memory;
        a.math = perf[i].mathType;
        a.ms = perf[i].time;
        return;
      }
    GRAFT_FAIL(scope_, ": cuDNN found no working ", pass, " algorithm for this convolution");
  }
  void find_forward(AlgoChoice& a, const T* x, const T* w, T* y) {
    set_math(search_math());
    Tensor<unsigned char, CUDA> ws(Shape{static_cast<int64_t>(search_bytes())});
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnFindConvolutionForwardAlgorithmEx(
                                    ctx_->cudnn(), xd_.d, x, wd_.d, w, cd_.d, yd_.d, y,
                                    CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf, ws.data(), ws.bytes()));
    pick(a, perf, count, "forward");
  }
  void find_backward_data(AlgoChoice& a, const T* w, const T* dy, T* dx) {
    set_math(search_math());
    Tensor<unsigned char, CUDA> ws(Shape{static_cast<int64_t>(search_bytes())});
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnFindConvolutionBackwardDataAlgorithmEx(
                                    ctx_->cudnn(), wd_.d, w, yd_.d, dy, cd_.d, xd_.d, dx,
                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf, ws.data(), ws.bytes()));
    pick(a, perf, count, "backward-data");
  }
  void find_backward_filter(AlgoChoice& a, const T* x, const T* dy, T* dw) {
    set_math(search_math());
    Tensor<unsigned char, CUDA> ws(Shape{static_cast<int64_t>(search_bytes())});
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnFindConvolutionBackwardFilterAlgorithmEx(
                                    ctx_->cudnn(), xd_.d, x, yd_.d, dy, cd_.d, wd_.d, dw,
                                    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf, ws.data(), ws.bytes()));
    pick(a, perf, count, "backward-filter");
  }

  Context<CUDA>* ctx_ = nullptr;
  std::string scope_;
  ConvImpl impl_ = ConvImpl::Cudnn;
  TensorDesc xd_, yd_;
  FilterDesc wd_;
  ConvDesc cd_;
  ConvGeometry last_;
  bool described_ = false;
  bool nhwc_ = false;      // the layout the descriptors were made for (the context's, at describe())
  Tensor<T, CUDA> wt_;     // channels-last mode: the weights in KRSC order
};

}  // namespace cuda
}  // namespace graft
