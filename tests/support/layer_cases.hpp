// The layer cases: one description per case of a layer (constructor, input shapes, options),
// from which every layer check runs.
//
//   tests/test_layer_cases.cpp           [gradcheck]  double, central finite differences of
//                                                     every input and trainable parameter
//                                        [torch]      float, forward and every gradient against
//                                                     the case's PyTorch expression
//   tests/test_layer_cases_emu.cpp       [emu]        graft's CUDA kernels that the layer runs,
//                                                     under the host emulator, on the case's
//                                                     shapes, against the CPU layer
//   tests/cuda/test_cuda_layer_cases.cu  [cuda]       the CUDA layer against the CPU layer
//                                                     (NCHW and channels-last, FP32 and TF32,
//                                                     each implementation of the layer)
// Each case is its own Catch2 test case ("gradcheck: conv3x3_pad1", ...), so ctest names it.
//
// Adding a layer type (its header in include/graft/layers/, its CPU and CUDA code):
//   1. include its header from graft/layers/layers.hpp (both graft/cpu.hpp and graft/cuda.hpp
//      bring it in), and add one entry (or a few, for windows/options) to layer_cases() below:
//      the factory, the input shapes (one per input for a multi-input layer), training mode,
//      and the PyTorch expression of the forward (inputs x0, x1, ...; parameters p['name'] by
//      graft name; F = torch.nn.functional). Parameters are filled with random normal values
//      (param_scale), never zeros; a buffer (BatchNorm's running statistics) is filled too, with
//      buffer_fill, and appears in the expression as b['name'].
//   2. If the layer runs kernels of graft's own (kernels/*.cuh), add a runner for its type() in
//      tests/test_layer_cases_emu.cpp; "[emu] every layer type..." fails until the type has one
//      or is listed there as running library code only (cuBLAS, cuDNN).
// Nothing else: the four programs pick the entry up. The table below has examples of each kind:
// several inputs (Add; skip_dx: an input whose gradient is not requested), parameters by name
// (Conv2d, Linear, Affine), buffers (BatchNorm2d), training mode with a replayed random stream
// (Dropout), options set in the factory (BatchNorm2d's use_global_stats).
// A layer whose CUDA code uses cuDNN and cuBLAS only needs its type() added to kLibraryOnly in
// test_layer_cases_emu.cpp; one with several implementations (set_impl) gets them listed in
// variants() in tests/cuda/test_cuda_layer_cases.cu.
//
// The header is included by nvcc-compiled .cu files, so it uses the layer headers alone (no
// Eigen): layer_cases<float, CUDA>() and layer_cases<double, CPU>() are the same table.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "graft/layers/layers.hpp"

namespace graft {
namespace test {

// How a case's inputs are drawn (always seeded random, never all zeros).
enum class InputFill {
  normal,    // N(0, 1)
  distinct,  // distinct values away from 0 (fill_distinct): no max-pool ties, no ReLU kinks
};

// Which checks a case takes part in.
enum Check : unsigned {
  kGradcheck = 1u << 0,
  kTorch = 1u << 1,
  kEmu = 1u << 2,
  kCuda = 1u << 3,
  kAllChecks = kGradcheck | kTorch | kEmu | kCuda,
};

// Every tolerance is on max|got - want| / max|want| per compared tensor.
struct CaseTolerance {
  double gradcheck = 1e-6;    // double, finite differences of step 1e-6
  double torch = 1e-4;        // float32 against torch's float32
  double cuda_fp32 = 1e-4;    // CUDA float against the CPU layer in double (FP32 math)
  double cuda_tf32 = 3e-3;    // ... with TF32 (2^-11 relative per operand)
};

template <class T, class D>
struct LayerCase {
  std::string name;  // unique, a test name: letters, digits, '_'
  std::function<std::unique_ptr<Layer<T, D>>()> make;
  std::vector<Shape> inputs;  // one per input, batch first
  bool training = false;
  // Bit i set: input i's gradient is not requested (backward gets a null dx there), and the
  // poisoned dx must come back untouched.
  unsigned skip_dx = 0;
  // Runs before every forward (Dropout replays one mask by resetting its step).
  std::function<void(Layer<T, D>&)> before_forward;
  InputFill fill = InputFill::normal;
  double param_scale = 0.5;   // parameters ~ N(0, param_scale^2)
  double buffer_fill = 0.5;   // buffers ~ U(buffer_fill, 2 buffer_fill) (positive: variances)
  // PyTorch expression of the forward; empty when torch cannot compute it (torch_note says why).
  std::string torch;
  std::string torch_note;
  unsigned checks = kAllChecks;
  // The CUDA layer equals the CPU layer in float bit for bit (elementwise, pooling, layout):
  // the reference is the CPU layer in float and the tolerance 0 (cuDNN variants excepted).
  bool exact = false;
  // The CUDA result depends on TF32 (matrix products): run with TF32 on and off.
  bool tf32 = false;
  // Small enough for compute-sanitizer: tagged [sanitize] (bench/gpu-check).
  bool sanitize = false;
  CaseTolerance tol;
};

template <class T, class D>
std::vector<LayerCase<T, D>> layer_cases() {
  using Case = LayerCase<T, D>;
  using Ptr = std::unique_ptr<Layer<T, D>>;
  std::vector<Case> cs;
  auto add = [&](Case c) { cs.push_back(std::move(c)); };

  // ---- Conv2d: OIHW weights, bias optional ----
  auto conv = [&](const char* name, Shape x, int64_t o, Window2d win, bool bias, unsigned checks,
                  bool sanitize) {
    Case c;
    c.name = name;
    const int64_t ci = x[1];
    c.make = [=] { return Ptr(new Conv2d<T, D>(name, ci, o, win, bias)); };
    c.inputs = {x};
    c.torch = std::string("F.conv2d(x0, p['weights'], ") + (bias ? "p['biases']" : "None") +
              ", stride=(" + std::to_string(win.sh) + "," + std::to_string(win.sw) + "), padding=(" +
              std::to_string(win.ph) + "," + std::to_string(win.pw) + "))";
    c.checks = checks;
    c.tf32 = true;
    c.sanitize = sanitize;
    c.param_scale = std::min(0.5, std::sqrt(1.0 / double(ci * win.kh * win.kw)));  // outputs of order 1
    add(std::move(c));
  };
  conv("conv3x3_pad1", {2, 3, 7, 6}, 4, {3, 3, 1, 1, 1, 1, false}, true, kAllChecks, true);  // VGG's 3x3
  conv("conv3x2_uneven", {2, 2, 9, 8}, 3, {3, 2, 2, 1, 0, 1, false}, true, kAllChecks, true);  // uneven kernel, stride, pad
  conv("conv1x1", {1, 4, 5, 5}, 2, {1, 1, 1, 1, 0, 0, false}, true, kAllChecks, false);  // no im2col
  conv("conv5x5_stride3", {2, 3, 6, 6}, 2, {5, 5, 3, 3, 2, 2, false}, true, kAllChecks, false);
  conv("conv3x3_nobias", {1, 3, 5, 4}, 2, {3, 3, 1, 1, 1, 1, false}, false, kAllChecks, true);
  conv("conv3x3_to_1x1", {2, 4, 3, 3}, 5, {3, 3, 1, 1, 0, 0, false}, true, kAllChecks, true);  // 1x1 output plane
  conv("conv3x3_stride2_nopad", {1, 8, 9, 11}, 16, {3, 3, 2, 2, 0, 0, false}, false, kAllChecks, false);
  // larger, VGG-like shapes: too many elements for finite differences
  conv("conv3x3_vgg_c64", {2, 64, 28, 28}, 128, {3, 3, 1, 1, 1, 1, false}, true, kTorch | kCuda, false);
  conv("conv3x3_vgg_c3", {2, 3, 32, 32}, 64, {3, 3, 1, 1, 1, 1, false}, true, kTorch | kEmu | kCuda, false);
  conv("conv5x5_odd_stride2", {3, 16, 15, 17}, 8, {5, 5, 2, 2, 2, 2, false}, true, kTorch | kCuda, false);

  // ---- Linear: (out, in) weights; a 4-D input is read in C,H,W order ----
  auto linear = [&](const char* name, Shape x, int64_t o, bool bias, unsigned checks, bool sanitize) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new Linear<T, D>(name, 0, o, bias)); };
    c.inputs = {x};
    c.torch = std::string("F.linear(x0.flatten(1), p['weights'], ") + (bias ? "p['biases']" : "None") + ")";
    c.checks = checks;
    c.tf32 = true;
    c.sanitize = sanitize;
    const double fan_in = double(x.numel() / x[0]);
    c.param_scale = std::min(0.5, std::sqrt(1.0 / fan_in));
    add(std::move(c));
  };
  linear("linear_spatial", {3, 2, 2, 3}, 5, true, kAllChecks, true);  // flattened C,H,W (fc6 after pool5)
  linear("linear_2d", {4, 7}, 3, true, kAllChecks, true);
  linear("linear_nobias", {2, 3, 2, 2}, 4, false, kAllChecks, true);
  linear("linear_fc6_like", {4, 64, 7, 7}, 256, true, kTorch | kCuda, false);
  linear("linear_fc7_like", {8, 4096}, 1024, true, kTorch | kCuda, false);
  linear("linear_head", {5, 4096}, 3, true, kTorch | kCuda, false);
  linear("linear_odd", {3, 37}, 13, true, kTorch | kCuda, false);
  linear("linear_fc8_vgg_face", {5, 4096}, 2622, true, kTorch | kCuda, false);

  // ---- MaxPool2d: windows, padding, ceil mode ----
  auto pool = [&](const char* name, Shape x, Window2d win, unsigned checks, bool sanitize) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new MaxPool2d<T, D>(name, win)); };
    c.inputs = {x};
    c.fill = InputFill::distinct;
    c.torch = "F.max_pool2d(x0, (" + std::to_string(win.kh) + "," + std::to_string(win.kw) + "), stride=(" +
              std::to_string(win.sh) + "," + std::to_string(win.sw) + "), padding=(" + std::to_string(win.ph) +
              "," + std::to_string(win.pw) + "), ceil_mode=" + (win.ceil_mode ? "True" : "False") + ")";
    c.checks = checks;
    c.exact = true;
    c.sanitize = sanitize;
    add(std::move(c));
  };
  pool("maxpool2x2", {2, 3, 7, 6}, {2, 2, 2, 2, 0, 0, false}, kAllChecks, true);  // VGG's pool, odd h
  pool("maxpool3x3_pad1", {2, 3, 7, 6}, {3, 3, 2, 2, 1, 1, false}, kAllChecks, true);  // overlapping, padded
  pool("maxpool3x3_ceil", {2, 3, 7, 6}, {3, 3, 2, 2, 0, 0, true}, kAllChecks, true);  // Caffe's ceil mode
  pool("maxpool2x2_pairs", {2, 4, 8, 12}, {2, 2, 2, 2, 0, 0, false}, kAllChecks, false);  // the 2x2 pairs kernel
  pool("maxpool3x3_stride3", {1, 2, 10, 11}, {3, 3, 3, 3, 0, 0, false}, kAllChecks, false);
  pool("maxpool3x2_mixed", {1, 2, 6, 6}, {3, 2, 1, 2, 1, 0, false}, kAllChecks, false);
  pool("maxpool2x2_odd", {3, 5, 13, 11}, {2, 2, 2, 2, 0, 0, false}, kAllChecks, false);  // last row and column in no window
  pool("maxpool2x2_vgg_224", {2, 64, 224, 224}, {2, 2, 2, 2, 0, 0, false}, kCuda, false);  // pool1: a large grid
  pool("maxpool2x2_vgg_c64", {2, 64, 56, 56}, {2, 2, 2, 2, 0, 0, false}, kTorch | kCuda, false);
  pool("maxpool2x2_vgg_c512", {2, 512, 14, 14}, {2, 2, 2, 2, 0, 0, false}, kTorch | kCuda, false);

  // ---- ReLU ----
  auto relu = [&](const char* name, Shape x, bool sanitize, unsigned checks = kAllChecks) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new ReLU<T, D>(name)); };
    c.inputs = {x};
    c.fill = InputFill::distinct;
    c.torch = "F.relu(x0)";
    c.checks = checks;
    c.exact = true;
    c.sanitize = sanitize;
    add(std::move(c));
  };
  relu("relu_4d", {2, 3, 4, 5}, true);
  relu("relu_odd_length", {3, 7, 11, 13}, true);  // 3003 elements: vector tails
  relu("relu_2d", {5, 203}, true);
  relu("relu_vgg", {2, 64, 56, 56}, false, kTorch | kCuda);

  // ---- Dropout (training: a fixed mask replayed by resetting the step; evaluation: identity) ----
  auto dropout = [&](const char* name, Shape x, float p, bool training) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new Dropout<T, D>(name, p, 1234)); };
    c.inputs = {x};
    c.training = training;
    c.before_forward = [](Layer<T, D>& l) { static_cast<Dropout<T, D>&>(l).set_step(3); };
    if (training)
      c.torch_note = "the mask is graft's own counter-based stream (the CUDA check compares CPU and GPU bit for bit)";
    else
      c.torch = "F.dropout(x0, p=" + std::to_string(p) + ", training=False)";
    c.exact = true;
    c.sanitize = true;
    add(std::move(c));
  };
  dropout("dropout_train_p05", {4, 50}, 0.5f, true);
  dropout("dropout_train_p01", {4, 4097}, 0.1f, true);  // odd length
  dropout("dropout_eval", {4, 50}, 0.5f, false);

  // ---- Flatten ----
  auto flatten = [&](const char* name, Shape x) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new Flatten<T, D>(name)); };
    c.inputs = {x};
    c.torch = "x0.flatten(1)";
    c.exact = true;
    c.sanitize = true;
    add(std::move(c));
  };
  flatten("flatten_4d", {2, 3, 4, 5});
  flatten("flatten_odd", {3, 6, 5, 7});

  // ---- Affine: per-channel x * scale + offset ("scale", "offset") ----
  auto affine = [&](const char* name, Shape x, bool offset) {
    Case c;
    c.name = name;
    const int64_t ch = x[1];
    c.make = [=] { return Ptr(new Affine<T, D>(name, ch, offset)); };
    c.inputs = {x};
    const std::string view = x.rank() == 4 ? ".view(1, -1, 1, 1)" : ".view(1, -1)";
    c.torch = "x0 * p['scale']" + view + (offset ? " + p['offset']" + view : std::string());
    c.sanitize = true;
    c.tol.cuda_fp32 = 1e-5;  // one multiply-add per element; channel sums in dscale
    add(std::move(c));
  };
  affine("affine_4d", {2, 5, 4, 3}, true);
  affine("affine_4d_no_offset", {2, 4, 3, 5}, false);
  affine("affine_4d_c8", {2, 8, 4, 4}, true);  // float4 paths in both layouts, with an offset
  affine("affine_2d", {6, 7}, true);

  // ---- BatchNorm2d: parameters "scale", "offset"; buffers "mean", "variance" ----
  // Training moves the running statistics (torch updates b in place; both are compared after
  // the forward). global_stats: Caffe's use_global_stats, the running statistics while training.
  auto batch_norm = [&](const char* name, Shape x, bool training, bool global_stats, double eps, double momentum,
                        unsigned checks) {
    Case c;
    c.name = name;
    const int64_t ch = x[1];
    c.make = [=] {
      auto* l = new BatchNorm2d<T, D>(name, ch, eps, momentum);
      l->set_use_global_stats(global_stats);
      return Ptr(l);
    };
    c.inputs = {x};
    c.training = training;
    std::ostringstream expr;
    expr << "F.batch_norm(x0, b['mean'], b['variance'], p['scale'], p['offset'], training="
         << (training && !global_stats ? "True" : "False") << ", momentum=" << momentum << ", eps=" << eps << ")";
    c.torch = expr.str();
    c.checks = checks;
    c.sanitize = x.numel() < 1000;
    add(std::move(c));
  };
  batch_norm("batchnorm_train_4d", {3, 4, 5, 3}, true, false, 1e-5, 0.1, kAllChecks);
  batch_norm("batchnorm_train_1x1", {5, 3, 1, 1}, true, false, 1e-5, 0.1, kAllChecks);
  batch_norm("batchnorm_train_eps_momentum", {3, 7, 5, 9}, true, false, 1e-3, 0.3, kAllChecks);
  batch_norm("batchnorm_eval_4d", {2, 3, 4, 5}, false, false, 1e-5, 0.1, kAllChecks);
  batch_norm("batchnorm_global_stats", {2, 3, 4, 3}, true, true, 1e-5, 0.1, kAllChecks);
  batch_norm("batchnorm_train_2d", {8, 6}, true, false, 1e-5, 0.1, kAllChecks);  // BatchNorm1d's case
  batch_norm("batchnorm_eval_2d", {5, 6}, false, false, 1e-5, 0.1, kAllChecks);
  batch_norm("batchnorm_train_vgg", {4, 64, 28, 28}, true, false, 1e-5, 0.1, kTorch | kCuda);
  batch_norm("batchnorm_eval_vgg", {2, 32, 14, 14}, false, false, 1e-5, 0.1, kTorch | kCuda);

  // ---- Add: two or more inputs; zero_pad: smaller inputs count as zero beyond their sizes ----
  // The PyTorch expression pads each smaller input at the end of every axis (F.pad lists the
  // last axis first).
  auto add_case = [&](const char* name, std::vector<Shape> xs, bool zero_pad, unsigned checks = kAllChecks,
                      unsigned skip_dx = 0) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new Add<T, D>(name, zero_pad)); };
    std::vector<int64_t> out(size_t(xs[0].rank()), 0);
    for (const Shape& x : xs)
      for (int k = 0; k < x.rank(); ++k) out[size_t(k)] = std::max(out[size_t(k)], x[k]);
    std::string expr;
    for (size_t i = 0; i < xs.size(); ++i) {
      std::string term = "x" + std::to_string(i), widths;
      bool padded = false;
      for (int k = xs[i].rank() - 1; k >= 0; --k) {
        const int64_t after = out[size_t(k)] - xs[i][k];
        padded = padded || after > 0;
        widths += std::string(widths.empty() ? "" : ", ") + "0, " + std::to_string(after);
      }
      if (padded) term = "F.pad(" + term + ", (" + widths + "))";
      expr += (i ? " + " : "") + term;
    }
    c.inputs = std::move(xs);
    c.torch = expr;
    c.checks = checks;
    c.skip_dx = skip_dx;
    c.exact = true;  // the sum runs in input order on every device
    c.sanitize = (checks & kGradcheck) != 0;
    add(std::move(c));
  };
  add_case("add_two_4d", {{2, 3, 4, 5}, {2, 3, 4, 5}}, false);
  add_case("add_two_2d", {{5, 11}, {5, 11}}, false);
  add_case("add_three_2d", {{4, 7}, {4, 7}, {4, 7}}, false);
  add_case("add_three_4d_last_no_dx", {{2, 6, 7, 5}, {2, 6, 7, 5}, {2, 6, 7, 5}}, false, kAllChecks, 1u << 2);
  add_case("add_two_vgg", {{2, 64, 28, 28}, {2, 64, 28, 28}}, false, kTorch | kCuda);
  add_case("add_zero_pad", {{2, 4, 5, 6}, {2, 2, 3, 6}}, true);                 // channels and height
  add_case("add_zero_pad_channels", {{2, 8, 3, 3}, {2, 4, 3, 3}}, true);        // a shortcut with fewer channels
  add_case("add_zero_pad_small_first", {{2, 2, 3, 3}, {2, 4, 3, 3}}, true);     // ... given first
  add_case("add_zero_pad_each_larger", {{1, 3, 5, 4}, {1, 3, 3, 6}}, true);     // neither is the output's shape
  add_case("add_zero_pad_three_last_no_dx", {{2, 2, 4, 4}, {2, 3, 2, 4}, {2, 1, 4, 5}}, true, kAllChecks,
           1u << 2);                                                              // every axis but the batch
  add_case("add_zero_pad_2d", {{3, 5}, {3, 2}}, true);                           // rank 2
  add_case("add_zero_pad_2d_small_first", {{4, 3}, {4, 9}}, true);
  add_case("add_zero_pad_shortcut", {{2, 64, 14, 14}, {2, 32, 14, 14}}, true, kTorch | kEmu | kCuda);  // ResNet's

  // ---- AvgPool2d (count_pad: padding counts in the divisor) and GlobalAvgPool2d ----
  auto avg_pool = [&](const char* name, Shape x, Window2d win, bool count_pad, unsigned checks = kAllChecks) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new AvgPool2d<T, D>(name, win, count_pad)); };
    c.inputs = {x};
    c.torch = "F.avg_pool2d(x0, (" + std::to_string(win.kh) + "," + std::to_string(win.kw) + "), stride=(" +
              std::to_string(win.sh) + "," + std::to_string(win.sw) + "), padding=(" + std::to_string(win.ph) +
              "," + std::to_string(win.pw) + "), ceil_mode=" + (win.ceil_mode ? "True" : "False") +
              ", count_include_pad=" + (count_pad ? "True" : "False") + ")";
    c.checks = checks;
    c.tol.cuda_fp32 = 1e-6;  // graft's kernels divide as the CPU does; cuDNN may sum in another order
    c.sanitize = (checks & kGradcheck) != 0;
    add(std::move(c));
  };
  avg_pool("avgpool2x2", {2, 3, 7, 6}, {2, 2, 2, 2, 0, 0, false}, true);  // disjoint
  avg_pool("avgpool3x3_pad1_count_pad", {2, 3, 7, 6}, {3, 3, 2, 2, 1, 1, false}, true);  // overlapping, padded
  avg_pool("avgpool3x3_pad1_no_count_pad", {2, 3, 7, 6}, {3, 3, 2, 2, 1, 1, false}, false);
  avg_pool("avgpool3x3_ceil", {2, 3, 8, 8}, {3, 3, 2, 2, 0, 0, true}, true);  // the last window cut by the edge
  avg_pool("avgpool3x3_pad1_ceil_count_pad", {2, 3, 7, 6}, {3, 3, 2, 2, 1, 1, true}, true);  // past the padded input
  avg_pool("avgpool3x3_pad1_ceil_no_count_pad", {2, 3, 7, 6}, {3, 3, 2, 2, 1, 1, true}, false);
  avg_pool("avgpool3x2_mixed_no_count_pad", {2, 3, 7, 6}, {3, 2, 1, 2, 1, 1, false}, false);  // rectangular
  avg_pool("avgpool3x2_mixed_count_pad", {3, 5, 13, 11}, {3, 2, 1, 2, 1, 1, false}, true);
  avg_pool("avgpool5x5_stride3_ceil", {1, 4, 9, 10}, {5, 5, 3, 3, 2, 2, true}, true);  // C % 4 == 0
  avg_pool("avgpool7x7_whole_plane", {2, 5, 7, 7}, {7, 7, 1, 1, 0, 0, false}, false);  // a global average
  avg_pool("avgpool2x2_vgg_c64", {2, 64, 56, 56}, {2, 2, 2, 2, 0, 0, false}, true, kTorch | kCuda);
  auto global_avg_pool = [&](const char* name, Shape x, unsigned checks) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new GlobalAvgPool2d<T, D>(name)); };
    c.inputs = {x};
    c.torch = "F.adaptive_avg_pool2d(x0, 1)";
    c.checks = checks;
    c.tol.cuda_fp32 = 1e-6;
    c.sanitize = (checks & kGradcheck) != 0;
    add(std::move(c));
  };
  global_avg_pool("global_avgpool", {2, 5, 7, 6}, kAllChecks);
  global_avg_pool("global_avgpool_wide", {3, 5, 4, 9}, kAllChecks);
  global_avg_pool("global_avgpool_resnet_head", {2, 512, 7, 7}, kTorch | kEmu | kCuda);

  // ---- LeakyRelu, PRelu (parameter "slope": per channel or one shared), Softmax (axis 1) ----
  auto leaky = [&](const char* name, Shape x, double alpha) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new LeakyRelu<T, D>(name, alpha)); };
    c.inputs = {x};
    c.fill = InputFill::distinct;  // away from the kink
    c.torch = "F.leaky_relu(x0, " + std::to_string(alpha) + ")";
    c.exact = true;
    c.sanitize = true;
    add(std::move(c));
  };
  leaky("leaky_relu_4d", {2, 3, 4, 5}, 0.1);
  leaky("leaky_relu_2d", {5, 203}, 0.01);
  auto prelu = [&](const char* name, Shape x, int64_t slopes) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new PRelu<T, D>(name, slopes)); };
    c.inputs = {x};
    c.fill = InputFill::distinct;
    const std::string view = slopes == 1 ? "" : x.rank() == 4 ? ".view(1, -1, 1, 1)" : ".view(1, -1)";
    c.torch = "torch.where(x0 > 0, x0, p['slope']" + view + " * x0)";  // F.prelu, for either slope shape
    c.sanitize = true;
    c.tol.cuda_fp32 = 1e-5;  // the slope's gradient is a sum
    add(std::move(c));
  };
  prelu("prelu_channels_4d", {2, 5, 4, 3}, 0);
  prelu("prelu_channels_c8", {2, 8, 4, 4}, 8);
  prelu("prelu_shared_4d", {3, 4, 3, 5}, 1);
  prelu("prelu_channels_2d", {6, 7}, 0);
  auto softmax = [&](const char* name, Shape x) {
    Case c;
    c.name = name;
    c.make = [=] { return Ptr(new Softmax<T, D>(name)); };
    c.inputs = {x};
    c.torch = "F.softmax(x0, dim=1)";
    c.sanitize = true;
    c.tol.cuda_fp32 = 1e-5;
    add(std::move(c));
  };
  softmax("softmax_channels_4d", {2, 5, 4, 3});
  softmax("softmax_2d", {4, 11});
  softmax("softmax_one_channel", {2, 1, 3, 3});

  return cs;
}

}  // namespace test
}  // namespace graft
