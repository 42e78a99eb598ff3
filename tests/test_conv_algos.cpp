// [conv]: every host convolution algorithm against the im2col reference, on random inputs,
// forward, backward-data and backward-filter, with outputs poisoned (NaN) before each call.
//
// Error = max |algo - im2col| / max |im2col| per output. Tolerances: 5e-6 in float32
// (Winograd F(2x2, 3x3) measured here at up to 7e-7 for y and dx and 1.05e-6 for dw, which
// sums over the batch too: within a few float roundings of the summation itself, since the
// transforms only add and halve), 1e-12 in double (measured below 1e-15).
#include <catch2/catch.hpp>

#include <string>

#include "graft/cpu.hpp"
#include "support/gradcheck.hpp"
#include "support/random_fill.hpp"

using namespace graft;
using test::fill_normal;
using test::max_rel_error;

namespace {

template <class T>
struct Outputs {
  Tensor<T> y, dx, dw, db;
};

// Runs forward and both backward passes of `conv` with algorithm `a`.
template <class T>
Outputs<T> run(Conv2d<T>& conv, cpu::ConvAlgo a, const Tensor<T>& x, const Tensor<T>& dy) {
  conv.plan().set_algorithm(a);
  Outputs<T> out;
  out.y.resize(dy.shape());
  poison(out.y);
  conv.forward(x, out.y);
  out.dx.resize(x.shape());
  poison(out.dx);
  conv.weights.grad.resize(conv.weights.value.shape());
  poison(conv.weights.grad);
  conv.backward(x, out.y, dy, &out.dx);
  out.dw = clone(conv.weights.grad);
  return out;
}

struct Case {
  int64_t n, c, h, w, o;
  Window2d win;
};

template <class T>
void compare(const Case& k, double tol, uint64_t seed, cpu::ConvAlgo algo = cpu::ConvAlgo::winograd) {
  Context<CPU> ctx;
  Conv2d<T> conv("conv", k.c, k.o, k.win);
  const Shape ys = conv.setup(Shape{k.n, k.c, k.h, k.w}, ctx);
  fill_normal(conv.weights.value, seed, 0.1);
  fill_normal(conv.biases.value, seed + 1, 0.5);
  Tensor<T> x(Shape{k.n, k.c, k.h, k.w}), dy(ys);
  fill_normal(x, seed + 2);
  fill_normal(dy, seed + 3);
  const Outputs<T> ref = run(conv, cpu::ConvAlgo::im2col, x, dy);
  const Outputs<T> wg = run(conv, algo, x, dy);
  const double ey = max_rel_error(wg.y, ref.y), edx = max_rel_error(wg.dx, ref.dx),
               edw = max_rel_error(wg.dw, ref.dw);
  INFO(cpu::conv_algo_name(algo) << ": input (" << k.n << ", " << k.c << ", " << k.h << ", " << k.w << ") -> " << k.o << ", window "
                 << k.win.str() << ": errors y " << ey << ", dx " << edx << ", dw " << edw);
  CHECK(ey < tol);
  CHECK(edx < tol);
  CHECK(edw < tol);
}

}  // namespace

TEST_CASE("Winograd F(2x2,3x3) equals im2col on VGG16's conv shapes (float)", "[conv]") {
  // Every distinct (in, out) channel pair of VGG16, at sizes reduced to keep the test short;
  // batch and spatial size drawn at random (odd sizes included).
  const int64_t pairs[][2] = {{3, 64}, {64, 64}, {64, 128}, {128, 128}, {128, 256},
                              {256, 256}, {256, 512}, {512, 512}};
  Rng rng(2024);
  for (const auto& p : pairs) {
    const int64_t n = 1 + int64_t(rng.below(3)), h = 4 + int64_t(rng.below(21)),
                  w = 4 + int64_t(rng.below(21));
    compare<float>({n, p[0], h, w, p[1], {3, 3, 1, 1, 1, 1, false}}, 5e-6, 100 + uint64_t(p[1]));
  }
}

TEST_CASE("Winograd equals im2col at full VGG16 sizes (float)", "[conv]") {
  compare<float>({2, 64, 56, 56, 128, {3, 3, 1, 1, 1, 1, false}}, 5e-6, 7);   // conv3_1-like
  compare<float>({8, 512, 14, 14, 512, {3, 3, 1, 1, 1, 1, false}}, 5e-6, 8);  // conv5_x, batch 8
  // im2col in many bands of rows (4 MiB of columns each): whole images per thread (n = 2)
  // and one image with every thread on each product (n = 1)
  compare<float>({2, 64, 150, 150, 8, {3, 3, 1, 1, 1, 1, false}}, 5e-6, 9);
  compare<float>({1, 64, 150, 151, 8, {3, 3, 1, 1, 1, 1, false}}, 5e-6, 10);
}

TEST_CASE("Winograd equals im2col for odd sizes and every padding (double)", "[conv]") {
  const Case cases[] = {
      {2, 3, 7, 6, 4, {3, 3, 1, 1, 1, 1, false}},  // odd output height
      {3, 5, 9, 11, 6, {3, 3, 1, 1, 0, 0, false}}, // no padding (output 7 x 9)
      {1, 4, 5, 8, 3, {3, 3, 1, 1, 2, 2, false}},  // padding 2 (output larger than input)
      {2, 6, 8, 9, 7, {3, 3, 1, 1, 1, 0, false}},  // different padding per axis
      {1, 2, 3, 3, 2, {3, 3, 1, 1, 0, 0, false}},  // one output pixel
      {2, 17, 2, 13, 9, {3, 3, 1, 1, 1, 2, false}},
  };
  uint64_t seed = 40;
  for (const auto& k : cases) compare<double>(k, 1e-12, seed += 10);
  for (const auto& k : cases) compare<double>(k, 1e-12, seed += 10, cpu::ConvAlgo::winograd4);
}

// F(4x4, 3x3): its constants (up to 8 in A, 5 in B, 1/24 in G) cost a few bits more than
// F(2x2, 3x3)'s in float32: measured here up to 1.3e-5 for y and dx at 128-512 channels
// (F(2x2, 3x3): 7e-7), 2.7e-6 at 3; dw is F(2x2)'s.
TEST_CASE("Winograd F(4x4,3x3) equals im2col (float): VGG16's and dlib's face ResNet's shapes", "[conv]") {
  const int64_t pairs[][2] = {{3, 64}, {64, 64}, {64, 128}, {128, 256}, {256, 512}, {512, 512}};
  Rng rng(2025);
  for (const auto& p : pairs) {
    const int64_t n = 1 + int64_t(rng.below(3)), h = 4 + int64_t(rng.below(21)),
                  w = 4 + int64_t(rng.below(21));
    compare<float>({n, p[0], h, w, p[1], {3, 3, 1, 1, 1, 1, false}}, 3e-5, 200 + uint64_t(p[1]),
                   cpu::ConvAlgo::winograd4);
  }
  const Case dlib[] = {{4, 32, 35, 35, 32, {3, 3, 1, 1, 1, 1, false}},
                       {4, 64, 17, 17, 64, {3, 3, 1, 1, 1, 1, false}},
                       {4, 128, 8, 8, 128, {3, 3, 1, 1, 1, 1, false}},
                       {4, 256, 4, 4, 256, {3, 3, 1, 1, 1, 1, false}},
                       {2, 64, 56, 57, 64, {3, 3, 1, 1, 1, 1, false}}};
  uint64_t seed = 300;
  for (const auto& k : dlib) compare<float>(k, 3e-5, seed += 10, cpu::ConvAlgo::winograd4);
}

TEST_CASE("Conv2d gradcheck through each algorithm (double)", "[conv][gradcheck]") {
  for (cpu::ConvAlgo a : {cpu::ConvAlgo::im2col, cpu::ConvAlgo::winograd, cpu::ConvAlgo::winograd4}) {
    for (const Window2d win : {Window2d{3, 3, 1, 1, 1, 1, false}, Window2d{3, 3, 1, 1, 0, 2, false}}) {
      Context<CPU> ctx;
      Conv2d<double> conv("conv_algo", 3, 4, win);
      conv.setup(Shape{2, 3, 7, 6}, ctx);
      conv.plan().set_algorithm(a);
      int s = 1;
      for (auto* p : conv.params()) fill_normal(p->value, uint64_t(s++), 0.5);
      Tensor<double> x(Shape{2, 3, 7, 6});
      fill_normal(x, 3);
      const test::GradReport r = test::gradcheck(conv, x, 7);
      INFO(cpu::conv_algo_name(a) << " window " << win.str() << ": worst gradient error " << r.worst());
      CHECK(r.param.size() == 2);
      CHECK(r.worst() < 1e-6);
    }
  }
}

TEST_CASE("Winograd keeps its transformed kernel only while the weights are the same", "[conv]") {
  Context<CPU> ctx;
  Conv2d<float> conv("conv", 32, 32, 3, 1, 1);
  const Shape xs{2, 32, 9, 7};
  const Shape ys = conv.setup(xs, ctx);
  fill_normal(conv.weights.value, 5, 0.1);
  fill_normal(conv.biases.value, 6, 0.5);
  Tensor<float> x(xs), dy(ys);
  fill_normal(x, 7);
  fill_normal(dy, 8);
  auto forward = [&](cpu::ConvAlgo a) {
    conv.plan().set_algorithm(a);
    Tensor<float> y(ys);
    poison(y);
    conv.forward(x, y);
    return y;
  };
  const Tensor<float> y1 = forward(cpu::ConvAlgo::winograd);
  CHECK(max_rel_error(forward(cpu::ConvAlgo::winograd), y1) == 0);  // the kept kernel
  // A weight changed in place (as an optimizer step does): the next forward sees it.
  const float w123 = conv.weights.value[123];
  conv.weights.value[123] += 0.5f;
  const Tensor<float> ref2 = forward(cpu::ConvAlgo::im2col);
  const Tensor<float> y2 = forward(cpu::ConvAlgo::winograd);
  CHECK(max_rel_error(y2, ref2) < 5e-6);
  CHECK(max_rel_error(y2, y1) > 1e-3);
  // backward_data uses the buffer for the flipped kernel: forward after it is still right.
  conv.weights.grad.resize(conv.weights.value.shape());
  Tensor<float> dx(xs);
  conv.backward(x, y2, dy, &dx);
  CHECK(max_rel_error(forward(cpu::ConvAlgo::winograd), ref2) < 5e-6);
  conv.weights.value[123] = w123;  // back to the first weights
  CHECK(max_rel_error(forward(cpu::ConvAlgo::winograd), y1) == 0);
}

TEST_CASE("Convolution algorithms: selection and refusal", "[conv]") {
  Context<CPU> ctx;
  Conv2d<float> strided("strided", 4, 4, 3, 2, 1);
  strided.setup(Shape{1, 4, 8, 8}, ctx);
  strided.plan().set_algorithm(cpu::ConvAlgo::winograd);
  Tensor<float> x(Shape{1, 4, 8, 8}, 1.0f), y;
  CHECK_THROWS_WITH(strided.forward(x, y), Catch::Contains("winograd") && Catch::Contains("does not apply"));
  CHECK(cpu::parse_conv_algo("im2col") == cpu::ConvAlgo::im2col);
  CHECK_THROWS_WITH(cpu::parse_conv_algo("fft"), Catch::Contains("unknown convolution algorithm"));
  ConvGeometry g;
  g.n = 1; g.c = 256; g.h = 8; g.w = 8; g.o = 256; g.oh = 8; g.ow = 8;
  g.win = Window2d{3, 3, 1, 1, 1, 1, false};
  cpu::ConvPlan<float> plan;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::winograd4);  // 8x8: F(4x4) tiles it exactly
  g.c = g.o = 32;
  g.h = g.w = g.oh = g.ow = 35;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::winograd4);  // dlib's face ResNet's level 1
  g.h = g.w = g.oh = g.ow = 17;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::winograd);   // its level 2: F(4x4)'s 5x5 tiles waste too much
  g.h = g.w = g.oh = g.ow = 4;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::winograd);   // too small a plane for F(4x4)
  g.h = g.w = g.oh = g.ow = 8;
  g.c = 3;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::im2col);    // too few channels to gain
  g.c = 16;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::im2col);
  g.c = g.o = 256;
  g.win.sh = 2;
  CHECK(plan.chosen(g) == cpu::ConvAlgo::im2col);    // strided: Winograd does not apply
}

// The centre (graft-bench, bench/gpu) asks a layer what it can run and picks by name; the
// layer answers for its own geometry and refuses, naming itself, what does not apply.
TEST_CASE("Layers list their implementations and run the one picked by name", "[conv]") {
  Context<CPU> ctx;
  Conv2d<float> same("same", 4, 4, 3, 1, 1), strided("strided", 4, 4, 3, 2, 1);
  same.setup(Shape{2, 4, 8, 8}, ctx);
  strided.setup(Shape{2, 4, 8, 8}, ctx);
  CHECK(same.implementation_kind() == "convolution");
  CHECK(same.implementations() == std::vector<std::string>{"im2col", "winograd", "winograd4"});
  CHECK(strided.implementations() == std::vector<std::string>{"im2col"});
  CHECK_THROWS_WITH(strided.use_implementation("winograd"),
                    Catch::Contains("strided (Conv2d)") && Catch::Contains("does not apply"));
  CHECK_THROWS_WITH(same.use_implementation("fft"), Catch::Contains("unknown convolution algorithm"));

  // Picking by name runs that algorithm: forcing Winograd on a layer whose automatic choice
  // is im2col (4 channels) gives im2col's output within float rounding, and a different
  // rounding than im2col's own (so the pick took effect).
  fill_normal(same.weights.value, 5, 0.3);
  Tensor<float> x(Shape{2, 4, 8, 8}), y_auto, y_im2col, y_wino;
  fill_normal(x, 6);
  same.forward(x, y_auto);
  same.use_implementation("im2col");
  same.forward(x, y_im2col);
  same.use_implementation("winograd");
  CHECK(same.plan().algorithm() == cpu::ConvAlgo::winograd);
  same.forward(x, y_wino);
  same.use_implementation("auto");
  CHECK(same.plan().algorithm() == cpu::ConvAlgo::automatic);
  CHECK(max_rel_error(y_auto, y_im2col) == 0.0);
  CHECK(max_rel_error(y_wino, y_im2col) < 5e-6);
  CHECK(max_rel_error(y_wino, y_im2col) > 0.0);

  MaxPool2d<float> pool("pool", 2, 2);
  pool.setup(Shape{2, 4, 8, 8}, ctx);
  CHECK(pool.implementation_kind() == "pooling");
  CHECK_NOTHROW(pool.use_implementation("graft"));
  CHECK_THROWS_WITH(pool.use_implementation("cudnn"), Catch::Contains("pool (MaxPool2d)"));
  ReLU<float> relu("relu");
  CHECK(relu.implementation_kind().empty());
  CHECK(relu.implementations().empty());
  CHECK_NOTHROW(relu.use_implementation("auto"));
  CHECK_THROWS_WITH(relu.use_implementation("winograd"), Catch::Contains("relu (ReLU): has one implementation"));
}
