// Conv2d on the GPU (cuDNN and graft's kernel, TF32 on and off) against the CPU layer in
// double, on every VGG16 convolution shape and on shapes that stress tiling and fallbacks.
#include <cmath>

#include "cuda/reference.hpp"
#include "cuda/support.hpp"

using namespace graft;
using namespace graft::test;

namespace {

struct ConvCase {
  const char* name;
  int64_t n, c, h, w, o;
  Window2d win;
};

constexpr Window2d k3{3, 3, 1, 1, 1, 1, false};

// Every distinct VGG16 convolution (conv3_3 = conv3_2, and so on), batch 2.
const ConvCase kVgg[] = {
    {"conv1_1", 2, 3, 224, 224, 64, k3},    {"conv1_2", 2, 64, 224, 224, 64, k3},
    {"conv2_1", 2, 64, 112, 112, 128, k3},  {"conv2_2", 2, 128, 112, 112, 128, k3},
    {"conv3_1", 2, 128, 56, 56, 256, k3},   {"conv3_2", 2, 256, 56, 56, 256, k3},
    {"conv4_1", 2, 256, 28, 28, 512, k3},   {"conv4_2", 2, 512, 28, 28, 512, k3},
    {"conv5_1", 2, 512, 14, 14, 512, k3},
};

// Runs the layer on the GPU with each implementation and math mode and compares with ref.
// channels_last: the context stores activations NHWC (cuDNN only); x and dy go in as NHWC, y
// and dx come back NHWC and are compared after the host transposes them back.
void check_conv(const ConvCase& cs, const std::vector<ConvImpl>& impls, int64_t run_batch = 0,
                bool channels_last = false) {
  const int64_t n = run_batch ? run_batch : cs.n;
  const Shape xs{n, cs.c, cs.h, cs.w};
  Context<CUDA> ctx;
  ctx.set_channels_last(channels_last);
  Conv2d<float, CUDA> conv(cs.name, cs.c, cs.o, cs.win);
  conv.setup(Shape{cs.n, cs.c, cs.h, cs.w}, ctx);
  const Shape ys = conv.output_shape(xs);
  const double fan_in = double(cs.c * cs.win.kh * cs.win.kw);
  Tensor<float> x = random_host(xs), w = random_host(conv.weights.value.shape(), std::sqrt(2.0 / fan_in)),
                b = random_host({cs.o}, 0.5), dy = random_host(ys);
  copy_from_host(w, conv.weights.value);
  copy_from_host(b, conv.biases.value);
  const ref::Conv r = ref::conv2d(cs.win, x, w, b, dy);
  auto stored = [&](const Tensor<float>& t) { return channels_last ? to_nhwc(t) : clone(t); };
  auto logical = [&](const Tensor<float>& t) { return channels_last ? to_nchw(t) : clone(t); };
  Tensor<float, CUDA> xd = to_device(stored(x)), dyd = to_device(stored(dy)), y, dx;
  for (ConvImpl impl : impls)
    for (bool tf32 : {true, false}) {
      INFO(cs.name << " " << xs.str() << " " << cs.win.str() << " impl " << to_string(impl) << (tf32 ? " TF32" : " FP32")
                   << (channels_last ? " channels-last" : ""));
      ctx.set_tf32(tf32);
      conv.plan().set_impl(impl);
      poison(y, ys);
      conv.forward(xd, y);
      poison(dx, xs);
      poison(conv.weights.grad, w.shape());
      poison(conv.biases.grad, b.shape());
      conv.backward(xd, y, dyd, &dx);
      const double tol = tolerance(tf32);
      CHECK(max_rel_error(logical(to_host(y)), r.y) < tol);
      CHECK(max_rel_error(logical(to_host(dx)), r.dx) < tol);
      CHECK(max_rel_error(to_host(conv.weights.grad), r.dw) < tol);
      CHECK(max_rel_error(to_host(conv.biases.grad), r.db) < kTolFloat32);  // no TF32 in the bias sum
    }
}

const std::vector<ConvImpl> kBoth = {ConvImpl::Cudnn, ConvImpl::Graft};

}  // namespace

TEST_CASE("cuda Conv2d: VGG16 block 1 shapes, cuDNN and graft, TF32 and FP32", "[cuda]") {
  require_device();
  check_conv(kVgg[0], kBoth);
  check_conv(kVgg[1], kBoth);
}

TEST_CASE("cuda Conv2d: VGG16 block 2 shapes", "[cuda]") {
  require_device();
  check_conv(kVgg[2], kBoth);
  check_conv(kVgg[3], kBoth);
}

TEST_CASE("cuda Conv2d: VGG16 block 3 shapes", "[cuda]") {
  require_device();
  check_conv(kVgg[4], kBoth);
  check_conv(kVgg[5], kBoth);
}

TEST_CASE("cuda Conv2d: VGG16 blocks 4 and 5 shapes", "[cuda]") {
  require_device();
  check_conv(kVgg[6], kBoth);
  check_conv(kVgg[7], kBoth);
  check_conv(kVgg[8], kBoth);
}

TEST_CASE("cuda Conv2d: partial tiles, stride, padding, other kernels, another batch size", "[cuda]") {
  require_device();
  check_conv({"odd_stride2", 3, 5, 13, 11, 7, {3, 3, 2, 2, 1, 1, false}}, kBoth);  // graft: bwd data via cuDNN
  check_conv({"odd_pad0", 3, 16, 9, 9, 130, {3, 3, 1, 1, 0, 0, false}}, kBoth);
  check_conv({"odd_rect", 1, 3, 8, 10, 4, {3, 3, 2, 1, 1, 0, false}}, kBoth);
  check_conv({"odd_pad2", 2, 24, 7, 7, 40, {3, 3, 1, 1, 2, 2, false}}, kBoth);
  check_conv({"k5", 2, 4, 12, 12, 8, {5, 5, 1, 1, 2, 2, false}}, {ConvImpl::Cudnn});
  check_conv({"k1", 2, 32, 7, 7, 16, {1, 1, 1, 1, 0, 0, false}}, {ConvImpl::Cudnn});
  check_conv({"batch_change", 4, 64, 14, 14, 96, k3}, kBoth, 3);  // set up for 4, run with 3
}

TEST_CASE("cuda Conv2d: channels-last (NHWC activations, KRSC weights for cuDNN), TF32 and FP32", "[cuda]") {
  require_device();
  const std::vector<ConvImpl> cudnn = {ConvImpl::Cudnn};
  check_conv(kVgg[0], cudnn, 0, true);  // c = 3
  check_conv(kVgg[2], cudnn, 0, true);
  check_conv(kVgg[8], cudnn, 0, true);
  check_conv({"odd_stride2", 3, 5, 13, 11, 7, {3, 3, 2, 2, 1, 1, false}}, cudnn, 0, true);
  check_conv({"odd_rect", 1, 3, 8, 10, 4, {3, 3, 2, 1, 1, 0, false}}, cudnn, 0, true);
  check_conv({"k1", 2, 32, 7, 7, 16, {1, 1, 1, 1, 0, 0, false}}, cudnn, 0, true);
  check_conv({"batch_change", 4, 64, 14, 14, 96, k3}, cudnn, 3, true);
}

TEST_CASE("cuda Conv2d: channels-last on small shapes for the sanitizers", "[cuda][sanitize]") {
  require_device();
  check_conv({"san_nhwc", 2, 8, 9, 7, 24, k3}, {ConvImpl::Cudnn}, 0, true);
  // graft's kernel refuses NHWC, naming the layer
  Context<CUDA> ctx;
  ctx.set_channels_last(true);
  Conv2d<float, CUDA> conv("conv_nhwc", 4, 8, 3, 1, 1);
  conv.setup(Shape{1, 4, 8, 8}, ctx);
  conv.plan().set_impl(ConvImpl::Graft);
  Tensor<float, CUDA> x(Shape{1, 4, 8, 8}), y;
  x.zero();
  CHECK_THROWS_WITH(conv.forward(x, y), Catch::Contains("conv_nhwc (Conv2d)") && Catch::Contains("channels-last"));
}

// A short run for compute-sanitizer (bench/gpu-check): graft's kernels on small shapes, every
// pass, both precisions, partial tiles, and the cuDNN fallback of strided backward data.
TEST_CASE("cuda Conv2d: small shapes for the sanitizers", "[cuda][sanitize]") {
  require_device();
  check_conv({"san_pad1", 2, 8, 9, 7, 24, k3}, kBoth);
  check_conv({"san_stride2", 2, 5, 11, 9, 130, {3, 3, 2, 2, 1, 1, false}}, {ConvImpl::Graft});
  check_conv({"san_c3", 1, 3, 12, 12, 64, k3}, {ConvImpl::Graft});
}

TEST_CASE("cuda Conv2d: graft's kernel refuses what it cannot run, naming the layer", "[cuda]") {
  require_device();
  Context<CUDA> ctx;
  Conv2d<float, CUDA> conv("conv_k5", 4, 8, 5, 1, 2);
  conv.setup(Shape{1, 4, 8, 8}, ctx);
  conv.plan().set_impl(ConvImpl::Graft);
  Tensor<float, CUDA> x(Shape{1, 4, 8, 8}), y;
  x.zero();
  CHECK_THROWS_WITH(conv.forward(x, y), Catch::Contains("conv_k5 (Conv2d)") && Catch::Contains("3x3"));
  // strided backward data runs on cuDNN under ConvImpl::Graft, and says so
  Conv2d<float, CUDA> s2("conv_s2", 4, 8, 3, 2, 1);
  s2.setup(Shape{1, 4, 8, 8}, ctx);
  s2.plan().set_impl(ConvImpl::Graft);
  ConvGeometry g;
  g.n = 1; g.c = 4; g.h = 8; g.w = 8; g.o = 8; g.oh = 4; g.ow = 4; g.win = s2.window();
  CHECK(s2.plan().impl_used(g, 0) == ConvImpl::Graft);
  CHECK(s2.plan().impl_used(g, 1) == ConvImpl::Cudnn);
  CHECK(s2.plan().impl_used(g, 2) == ConvImpl::Graft);
}

TEST_CASE("cuda Context: a bad device and algorithm caching", "[cuda]") {
  require_device();
  CHECK_THROWS_WITH(Context<CUDA>(100000), Catch::Contains("cudaSetDevice"));
  Context<CUDA> ctx;
  CHECK(ctx.tf32());
  CHECK(ctx.multiprocessors() > 0);
  Conv2d<float, CUDA> a("conv_a", 16, 16, 3, 1, 1), b("conv_b", 16, 16, 3, 1, 1);
  a.setup(Shape{2, 16, 10, 10}, ctx);
  b.setup(Shape{2, 16, 10, 10}, ctx);
  Tensor<float, CUDA> x(Shape{2, 16, 10, 10}), y, z;
  x.zero();
  a.forward(x, y);
  b.forward(y, z);  // same shape: one cached search serves both layers
  CHECK(ctx.conv_algos_cached() == 1);
  ctx.synchronize();
}
