// [cuda] dlib's face ResNet on the CUDA backend against the CPU backend, with the real weights
// (skips without a device or without the model file). FP32 (TF32 off), NCHW and channels-last:
// the descriptors agree to max |d| <= 1e-4 (the CPU test holds the CPU to dlib at the same
// tolerance); TF32 is only checked loosely (5e-2), since 29 convolutions of 10-bit mantissas
// and gammas up to 23 drift far more than fp32.
#include "cuda/dlib_reference.hpp"
#include "cuda/support.hpp"
#include "graft/nn/dlib_face.hpp"

using namespace graft;
using namespace graft::test;

TEST_CASE("dlib's face ResNet: CUDA descriptors match the CPU's", "[cuda][dlib]") {
  require_device();
  const std::string model = nn::dlib_face_model_path();
  if (model.empty())
    GRAFT_SKIP("dlib_face_recognition_resnet_model_v1.dat not found (set GRAFT_DLIB_MODEL or run cmake/fetch-dlib-model.sh)");
  const int64_t n = 6;
  // Chips of random pixels, made into inputs as dlib makes them: (p - mean) / 256.
  const uint64_t seed = fresh_seed();
  Tensor<float> x(Shape{n, 3, 150, 150});
  const nn::DlibFaceInfo info{{122.782f, 117.001f, 104.298f}, 150, 0.6};
  data::Image chip;
  chip.resize(150, 150);
  for (int64_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < chip.rgb.size(); ++k)
      chip.rgb[k] = uint8_t(random::uniform(seed + uint64_t(i), k) * 255.999f);
    nn::dlib_face_input(chip, info, x.data() + i * 3 * 150 * 150);
  }
  const Tensor<float> want = ref::dlib_face_cpu(model, x);
  Tensor<float, CUDA> xd = to_device(x);
  for (bool channels_last : {false, true})
    for (bool tf32 : {false, true}) {
      INFO((channels_last ? "channels-last" : "NCHW") << (tf32 ? " TF32" : " FP32") << " seed " << seed);
      auto net = nn::dlib_face_resnet<float, CUDA>();
      nn::load_dlib_face(*net, model);
      net->context().set_tf32(tf32);
      net->context().set_channels_last(channels_last);
      const Tensor<float> got = to_host(net->forward(xd));
      REQUIRE(got.shape() == want.shape());
      double worst = 0;
      for (int64_t k = 0; k < got.size(); ++k) worst = std::max(worst, double(std::fabs(got.data()[k] - want.data()[k])));
      std::printf("dlib face ResNet, CUDA %s %s vs CPU: max |d| = %.3g\n", channels_last ? "NHWC" : "NCHW",
                  tf32 ? "TF32" : "FP32", worst);
      CHECK(worst <= (tf32 ? 5e-2 : 1e-4));
    }
}
