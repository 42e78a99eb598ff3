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
//
// In the context's bf16 mode (Context<CUDA>::set_precision, float layers, cuDNN only) each pass
// rounds its operands to bf16 into the context's bf16_scratch() (x: slot 0, the weights: slot 1,
// dy: slot 2), runs cuDNN with bf16 tensors and float32 compute (cuDNN's pseudo-bf16
// configuration: tensor cores, float accumulation), and widens the bf16 result into the float
// output (forward: with the bias added in the same pass, kernels/convert.cuh). Its algorithms
// are searched and cached separately (the cache key's data type is bf16).
#pragma once

#include <cudnn.h>

#include <string>
#include <vector>

#include "graft/backend/cuda/context.hpp"
#include "graft/backend/geometry.hpp"
#include "kernels/bias.cuh"
#include "kernels/conv.cuh"
#include "kernels/convert.cuh"
#include "kernels/layout.cuh"
#include "kernels/relu.cuh"

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
  // ReLU in the forward's epilogue (Conv2d::fuse_relu_epilogue): with the bias in one pass
  // (bias_relu, bias_relu_rows, the bf16 widening), else one in-place pass after graft's kernel
  // or a bias-less convolution. y = max(conv + b, 0), the same float operations as unfused.
  void set_relu(bool on) { relu_ = on; }
  bool relu() const { return relu_; }
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
  // The algorithms cuDNN chose for g (after a call with g), for the context's precision.
  const ConvAlgos& cudnn_algos(const ConvGeometry& g) { return ctx().conv_algos(g, data_type()); }

  void forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    if (use_graft(g, 0)) {
      graft_forward(g, x, w, b, y);
      if (relu_) in_scope(scope_, [&] { kernels::relu_inplace<T>(g.n * g.o * g.out_plane(), y, ctx().stream()); });
      return;
    }
    describe(g);
    Context<CUDA>& c = ctx();
    if (nhwc_) w = krsc(g, w);
    if (bf16_) {
      bf16_forward(g, x, w, b, y);
      return;
    }
    AlgoChoice& a = c.conv_algos(g, CudnnType<T>::value).forward;
    if (a.algo < 0) find_forward(a, x, w, y);
    set_math(a.math);
    const T one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionForward(c.cudnn(), &one, xd_.d, x, wd_.d, w, cd_.d,
                                                        cudnnConvolutionFwdAlgo_t(a.algo), c.workspace(a.workspace),
                                                        a.workspace, &zero, yd_.d, y));
    in_scope(scope_, [&] {
      if (b && nhwc_ && relu_)
        kernels::bias_relu_rows<T>(g.n * g.out_plane(), g.o, y, b, c.stream());
      else if (b && nhwc_)
        kernels::bias_add_rows<T>(g.n * g.out_plane(), g.o, y, b, c.stream());
      else if (b && relu_)
        kernels::bias_relu<T>(g.n, g.o, g.out_plane(), y, b, c.stream());
      else if (b)
        kernels::bias_add<T>(g.n, g.o, g.out_plane(), y, b, c.stream());
      else if (relu_)
        kernels::relu_inplace<T>(g.n * g.o * g.out_plane(), y, c.stream());
    });
  }

  void backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    if (use_graft(g, 1)) {
      graft_backward_data(g, w, dy, dx);
      return;
    }
    describe(g);
    Context<CUDA>& c = ctx();
    if (nhwc_) w = krsc(g, w);
    if (bf16_) {
      bf16_backward_data(g, w, dy, dx);
      return;
    }
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
    if (bf16_) {
      bf16_backward_filter(g, x, dy, out);
      if (nhwc_)
        in_scope(scope_, [&] {
          kernels::transpose<T>(g.o, int64_t(g.win.kh) * g.win.kw, g.c, dw_krsc, dw, c.stream());
        });
      return;
    }
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
    GRAFT_CHECK(!ctx().bf16(), scope_, ": graft's convolution kernel is float32/TF32 only, and the context is in "
                "bf16 mode; use ConvImpl::Cudnn for this layer or set_precision(Precision::FP32)");
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

  // bf16 mode applies to float layers; a double layer in a bf16 context is refused.
  bool want_bf16() {
    if (!ctx().bf16()) return false;
    GRAFT_CHECK((std::is_same<T, float>::value), scope_, ": bf16 precision needs float layers (this one is double)");
    return true;
  }
  cudnnDataType_t data_type() { return want_bf16() ? CUDNN_DATA_BFLOAT16 : CudnnType<T>::value; }

  void describe(const ConvGeometry& g) {
    const bool nhwc = ctx().channels_last(), bf16 = want_bf16();
    if (described_ && g == last_ && nhwc == nhwc_ && bf16 == bf16_) return;
    const cudnnDataType_t dt = bf16 ? CUDNN_DATA_BFLOAT16 : CudnnType<T>::value;
    const cudnnDataType_t compute = bf16 ? CUDNN_DATA_FLOAT : dt;  // bf16: float32 accumulation
    // Dimensions are given as (n, c, h, w) in every format; the format says how they are stored.
    const cudnnTensorFormat_t f = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetTensor4dDescriptor(xd_.d, f, dt, int(g.n), int(g.c), int(g.h), int(g.w)));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetTensor4dDescriptor(yd_.d, f, dt, int(g.n), int(g.o), int(g.oh), int(g.ow)));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetFilter4dDescriptor(wd_.d, dt, f, int(g.o), int(g.c), g.win.kh, g.win.kw));
    GRAFT_CUDA_CHECK_IN(scope_, cudnnSetConvolution2dDescriptor(cd_.d, g.win.ph, g.win.pw, g.win.sh, g.win.sw, 1, 1,
                                                                CUDNN_CROSS_CORRELATION, compute));
    last_ = g;
    nhwc_ = nhwc;
    bf16_ = bf16;
    described_ = true;
  }
  // Tensor cores (TF32 for float) only when the context allows them.
  // (bf16 operands always run on them.)
  cudnnMathType_t search_math() const {
    if (bf16_) return CUDNN_TENSOR_OP_MATH;
    return (std::is_same<T, float>::value && ctx_->tf32()) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  }
  void set_math(cudnnMathType_t m) { GRAFT_CUDA_CHECK_IN(scope_, cudnnSetConvolutionMathType(cd_.d, m)); }

  // ---- bf16 mode (float layers; w already in cuDNN's order) ----
  // x (or dy) rounded to bf16 into a slot of the context's bf16 scratch.
  bf16* rounded(int slot, int64_t n, const T* src) {
    Context<CUDA>& c = ctx();
    bf16* dst = c.bf16_scratch(slot, static_cast<size_t>(n));
    in_scope(scope_, [&] { kernels::to_bf16(n, f(src), dst, c.stream()); });
    return dst;
  }
  int64_t x_count(const ConvGeometry& g) const { return g.n * g.c * g.h * g.w; }
  int64_t y_count(const ConvGeometry& g) const { return g.n * g.o * g.out_plane(); }
  int64_t w_count(const ConvGeometry& g) const { return g.o * g.kernel_volume(); }

  void bf16_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
    Context<CUDA>& c = ctx();
    const bf16* xb = rounded(0, x_count(g), x);
    const bf16* wb = rounded(1, w_count(g), w);
    bf16* yb = c.bf16_scratch(2, static_cast<size_t>(y_count(g)));
    AlgoChoice& a = c.conv_algos(g, CUDNN_DATA_BFLOAT16).forward;
    if (a.algo < 0) find_forward(a, xb, wb, yb);
    set_math(a.math);
    const float one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionForward(c.cudnn(), &one, xd_.d, xb, wd_.d, wb, cd_.d,
                                                        cudnnConvolutionFwdAlgo_t(a.algo), c.workspace(a.workspace),
                                                        a.workspace, &zero, yd_.d, yb));
    in_scope(scope_, [&] {
      if (!b)
        kernels::from_bf16(y_count(g), yb, f(y), c.stream(), relu_);
      else if (nhwc_)
        kernels::from_bf16_bias_rows(g.n * g.out_plane(), g.o, yb, f(b), f(y), c.stream(), relu_);
      else
        kernels::from_bf16_bias(g.n, g.o, g.out_plane(), yb, f(b), f(y), c.stream(), relu_);
    });
  }
  void bf16_backward_data(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
    Context<CUDA>& c = ctx();
    const bf16* wb = rounded(1, w_count(g), w);
    const bf16* dyb = rounded(2, y_count(g), dy);
    bf16* dxb = c.bf16_scratch(0, static_cast<size_t>(x_count(g)));
    AlgoChoice& a = c.conv_algos(g, CUDNN_DATA_BFLOAT16).backward_data;
    if (a.algo < 0) find_backward_data(a, wb, dyb, dxb);
    set_math(a.math);
    const float one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionBackwardData(c.cudnn(), &one, wd_.d, wb, yd_.d, dyb, cd_.d,
                                                             cudnnConvolutionBwdDataAlgo_t(a.algo),
                                                             c.workspace(a.workspace), a.workspace, &zero, xd_.d, dxb));
    in_scope(scope_, [&] { kernels::from_bf16(x_count(g), dxb, f(dx), c.stream()); });
  }
  // dw (float, cuDNN's filter order) = the bf16 gradient cuDNN writes, widened.
  void bf16_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
    Context<CUDA>& c = ctx();
    const bf16* xb = rounded(0, x_count(g), x);
    const bf16* dyb = rounded(2, y_count(g), dy);
    bf16* dwb = c.bf16_scratch(1, static_cast<size_t>(w_count(g)));
    AlgoChoice& a = c.conv_algos(g, CUDNN_DATA_BFLOAT16).backward_filter;
    if (a.algo < 0) find_backward_filter(a, xb, dyb, dwb);
    set_math(a.math);
    const float one = 1, zero = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnConvolutionBackwardFilter(c.cudnn(), &one, xd_.d, xb, yd_.d, dyb, cd_.d,
                                                               cudnnConvolutionBwdFilterAlgo_t(a.algo),
                                                               c.workspace(a.workspace), a.workspace, &zero, wd_.d,
                                                               dwb));
    in_scope(scope_, [&] { kernels::from_bf16(w_count(g), dwb, f(dw), c.stream()); });
  }

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
  void find_forward(AlgoChoice& a, const void* x, const void* w, void* y) {
    set_math(search_math());
    Tensor<unsigned char, CUDA> ws(Shape{static_cast<int64_t>(search_bytes())});
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnFindConvolutionForwardAlgorithmEx(
                                    ctx_->cudnn(), xd_.d, x, wd_.d, w, cd_.d, yd_.d, y,
                                    CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf, ws.data(), ws.bytes()));
    pick(a, perf, count, "forward");
  }
  void find_backward_data(AlgoChoice& a, const void* w, const void* dy, void* dx) {
    set_math(search_math());
    Tensor<unsigned char, CUDA> ws(Shape{static_cast<int64_t>(search_bytes())});
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    GRAFT_CUDA_CHECK_IN(scope_, cudnnFindConvolutionBackwardDataAlgorithmEx(
                                    ctx_->cudnn(), wd_.d, w, yd_.d, dy, cd_.d, xd_.d, dx,
                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf, ws.data(), ws.bytes()));
    pick(a, perf, count, "backward-data");
  }
  void find_backward_filter(AlgoChoice& a, const void* x, const void* dy, void* dw) {
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
  bool relu_ = false;      // ReLU fused into the forward's epilogue
  TensorDesc xd_, yd_;
  FilterDesc wd_;
  ConvDesc cd_;
  ConvGeometry last_;
  bool described_ = false;
  bool nhwc_ = false;      // the layout the descriptors were made for (the context's, at describe())
  bool bf16_ = false;      // the precision they were made for (bf16 tensors, float compute)
  Tensor<T, CUDA> wt_;     // channels-last mode: the weights in KRSC order
};

}  // namespace cuda
}  // namespace graft
