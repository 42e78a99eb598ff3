// Context<CUDA>: the execution state one network shares on a GPU.
//
// One stream (all of the network's kernels, cuDNN and cuBLAS calls run on it, in order), one
// cuDNN and one cuBLAS handle bound to that stream, a workspace for cuDNN that grows to the
// largest request and is then reused, scratch space for graft's own kernels, a small pinned
// host buffer for read-backs (the loss), and the cache of convolution algorithms chosen by
// measurement (keyed by shape, data type and math mode, so layers of equal shape share one
// search). TF32 tensor-core math is on by default for float32; set_tf32(false) turns it off
// for cuBLAS, cuDNN and graft's convolution (which then uses 3xTF32, FP32-accurate).
//
// Channels-last mode (set_channels_last(true); off by default): every 4-D activation of the
// layers run with this context is stored NHWC in device memory while its graft::Shape stays
// the logical (N, C, H, W). cuDNN's TF32 tensor-core convolutions are native NHWC, so this is
// the faster layout on recent GPUs (PyTorch's channels_last). Parameters keep their layout
// (convolution weights KCRS: loading, saving, optimizers and the CPU are unchanged); the
// convolution plans transpose them for cuDNN. nn::Network converts its input and whatever it
// hands back (output(), activation()) between the logical NCHW and the stored layout; layers
// used directly take and give stored-layout tensors. Dropout on a 4-D tensor then masks other
// logical elements than the CPU does (VGG drops only 2-D fc outputs). Set it before the first
// forward: changing it leaves earlier activations in the old layout (Network::backward refuses).
//
// bf16 mixed precision (set_precision(Precision::BF16); FP32 by default), for float layers:
// convolutions (cuDNN, bf16 x/w/y with float32 compute) and fully connected layers (cuBLAS
// GemmEx, bf16 operands, float32 accumulation and output) round their operands to bf16 at the
// call, in bf16_scratch() buffers, and widen the result back to float32 (a convolution's y,
// dx and dw are bf16 as cuDNN writes them, as under torch.autocast; a product from cuBLAS is
// float32 directly). Activations between layers, master weights, gradients, optimizer state,
// the loss and every reduction stay float32, and checkpoints are unchanged. So far this buys
// the tensor cores' bf16 rate, not the halved memory traffic of bf16 activations, which need
// the layers' buffers in bf16 (the kernels' bf16 forms exist: tests/test_bf16_emu.cpp).
// graft's own convolution kernel is float/TF32 only and refuses bf16 mode.
//
// Errors name the layer being run: Layer::ctx() calls enter() with the layer's name.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/memory.hpp"
#include "graft/backend/geometry.hpp"
#include "graft/core/bf16.hpp"
#include "graft/core/device.hpp"
#include "graft/core/precision.hpp"
#include "graft/core/tensor.hpp"

namespace graft {
namespace cuda {

// One pass's choice: the algorithm, its workspace and the math type it was measured with.
struct AlgoChoice {
  int algo = -1;          // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t; -1: not chosen yet
  size_t workspace = 0;   // bytes
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  float ms = 0;           // the time cudnnFind measured
};
struct ConvAlgos {
  AlgoChoice forward, backward_data, backward_filter;
};

// Which softmax the loss uses: graft's fused kernel, or cuDNN's softmax plus a loss kernel.
enum class SoftmaxImpl { Graft, Cudnn };

}  // namespace cuda

template <>
class Context<CUDA> {
 public:
  // Binds to `device` (or to the current device when -1). Throws graft::Error when there is
  // no usable device.
  explicit Context(int device = -1) {
    if (device < 0) GRAFT_CUDA_CHECK(cudaGetDevice(&device));
    GRAFT_CUDA_CHECK(cudaSetDevice(device));
    device_ = device;
    GRAFT_CUDA_CHECK(cudaGetDeviceProperties(&props_, device));
    GRAFT_CUDA_CHECK(cudaStreamCreate(&stream_));  // blocking: ordered with the legacy stream
    try {
      GRAFT_CUDA_CHECK(cudnnCreate(&cudnn_));
      GRAFT_CUDA_CHECK(cudnnSetStream(cudnn_, stream_));
      GRAFT_CUDA_CHECK(cublasCreate(&cublas_));
      GRAFT_CUDA_CHECK(cublasSetStream(cublas_, stream_));
      set_tf32(true);
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~Context() { destroy(); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  cudaStream_t stream() const { return stream_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  cublasHandle_t cublas() const { return cublas_; }
  int device() const { return device_; }
  const cudaDeviceProp& properties() const { return props_; }
  int multiprocessors() const { return props_.multiProcessorCount; }

  // TF32 tensor-core math for float32 (cuBLAS, cuDNN, graft's convolution). On by default.
  bool tf32() const { return tf32_; }
  void set_tf32(bool on) {
    GRAFT_CUDA_CHECK(cublasSetMathMode(cublas_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    tf32_ = on;
  }

  // Channels-last (NHWC) storage of 4-D activations (see the top of this file). Off by default.
  bool channels_last() const { return channels_last_; }
  void set_channels_last(bool on) { channels_last_ = on; }

  // bf16 mixed precision for float layers (see the top of this file). FP32 by default.
  Precision precision() const { return precision_; }
  void set_precision(Precision p) { precision_ = p; }
  bool bf16() const { return precision_ == Precision::BF16; }

  // Which softmax the loss uses (graft's fused kernel by default).
  cuda::SoftmaxImpl softmax_impl() const { return softmax_impl_; }
  void set_softmax_impl(cuda::SoftmaxImpl impl) { softmax_impl_ = impl; }

  // cuDNN workspace of at least `bytes`, reused from call to call (it only grows; growing
  // frees the old one, which waits for the device, so no queued kernel still uses it).
  void* workspace(size_t bytes) { return grow(workspace_, bytes); }
  size_t workspace_bytes() const { return static_cast<size_t>(workspace_.size()); }
  // The most workspace an algorithm may use (default 2 GiB, and at most half the free memory
  // when the search runs).
  size_t workspace_limit() const { return workspace_limit_; }
  void set_workspace_limit(size_t bytes) { workspace_limit_ = bytes; }

  // Scratch for graft's kernels (partial sums, flipped weights): separate from the cuDNN
  // workspace, same growth rule. Valid until the next scratch() call.
  template <class T>
  T* scratch(size_t count) {
    return static_cast<T*>(grow(scratch_, count * sizeof(T)));
  }
  // A second scratch buffer for the loss's per-row values (used while scratch() may be held).
  template <class T>
  T* loss_scratch(size_t count) {
    return static_cast<T*>(grow(loss_scratch_, count * sizeof(T)));
  }

  // bf16 copies of a product's operands and result (bf16 mode): three slots (0: x or dx,
  // 1: weights or their gradient, 2: y or dy), same growth rule; valid until the next call
  // for the same slot.
  ::graft::bf16* bf16_scratch(int slot, size_t count) {
    GRAFT_CHECK(slot >= 0 && slot < 3, "Context<CUDA>::bf16_scratch: slot ", slot, " (0, 1 or 2)");
    return static_cast<::graft::bf16*>(grow(bf16_[slot], count * sizeof(::graft::bf16)));
  }

  // Pinned host memory for small read-backs (at least `bytes`); valid until the next call.
  void* host_staging(size_t bytes) {
    if (bytes > staging_bytes_) {
      if (staging_) cudaFreeHost(staging_);
      staging_ = nullptr;
      staging_bytes_ = 0;
      GRAFT_CUDA_CHECK_IN(scope(), cudaMallocHost(&staging_, bytes));
      staging_bytes_ = bytes;
    }
    return staging_;
  }

  // Waits until all queued work of this context has finished (reports asynchronous faults).
  void synchronize() { GRAFT_CUDA_CHECK_IN(scope(), cudaStreamSynchronize(stream_)); }

  // ---- cuDNN algorithm cache ----
  struct ConvKey {
    ConvGeometry g;
    int dtype;
    bool tf32;
    bool nhwc;  // the layout of x and y (cuDNN's choice differs per layout)
    bool operator<(const ConvKey& o) const {
      auto t = [](const ConvKey& k) {
        return std::make_tuple(k.g.n, k.g.c, k.g.h, k.g.w, k.g.o, k.g.oh, k.g.ow, k.g.win.kh, k.g.win.kw, k.g.win.sh,
                               k.g.win.sw, k.g.win.ph, k.g.win.pw, k.dtype, k.tf32, k.nhwc);
      };
      return t(*this) < t(o);
    }
  };
  cuda::ConvAlgos& conv_algos(const ConvGeometry& g, int dtype) {
    return algos_[ConvKey{g, dtype, tf32_, channels_last_}];
  }
  size_t conv_algos_cached() const { return algos_.size(); }

  // ---- error scope: the layer being run ----
  void enter(const std::string& name, const char* type) {
    scope_.assign(name);
    scope_ += " (";
    scope_ += type;
    scope_ += ")";
  }
  const std::string& scope() const { return scope_; }

 private:
  void* grow(Tensor<unsigned char, CUDA>& buf, size_t bytes) {
    if (static_cast<size_t>(buf.size()) < bytes) {
      buf = Tensor<unsigned char, CUDA>();  // free first: the old and new need not fit together
      buf.resize(Shape{static_cast<int64_t>(bytes)});
    }
    return buf.data();
  }
  void destroy() noexcept {
    if (cublas_) cublasDestroy(cublas_);
    if (cudnn_) cudnnDestroy(cudnn_);
    if (stream_) cudaStreamDestroy(stream_);
    if (staging_) cudaFreeHost(staging_);
    cublas_ = nullptr;
    cudnn_ = nullptr;
    stream_ = nullptr;
    staging_ = nullptr;
  }

  int device_ = 0;
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  bool tf32_ = true;
  bool channels_last_ = false;
  Precision precision_ = Precision::FP32;
  cuda::SoftmaxImpl softmax_impl_ = cuda::SoftmaxImpl::Graft;
  Tensor<unsigned char, CUDA> workspace_, scratch_, loss_scratch_, bf16_[3];
  size_t workspace_limit_ = size_t(2) << 30;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
  std::map<ConvKey, cuda::ConvAlgos> algos_;
  std::string scope_;
};

}  // namespace graft
