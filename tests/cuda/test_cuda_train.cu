// Training on the GPU in the modes the trainers offer (--precision fp32|bf16, --layout
// nchw|channels-last): a small VGG16 (width 1/16, 32x32) fitted with train::fit on a
// separable two-class problem, the way graft-finetune runs it: a head stage from the feature
// cache (fc8 alone above a frozen, deterministic trunk in evaluation-free training), then a
// stage that unfreezes conv5_1 and up, evaluation after every epoch and a checkpoint, with
// the ReLUs fused into the convolutions and dropouts (Network::fuse_relu), as the trainers run CUDA.
// Every mode must learn the problem, bf16 must reach the fp32 run's accuracy (within 0.05),
// and the checkpoint written in bf16 mode holds float32 arrays only (checkpoints stay fp32).
#include <cstdio>
#include <filesystem>
#include <string>

#include "cuda/support.hpp"
#include "graft/io/npz.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/vgg.hpp"
#include "graft/train/train.hpp"

using namespace graft;
using namespace graft::test;

namespace {

// Two classes of n 32x32 colour images: the mean of channel 0 (+-shift) tells them apart.
void separable(int n, uint64_t seed, float shift, Tensor<float>& images, Tensor<int32_t>& labels) {
  images.resize(Shape{n, 3, 32, 32});
  labels.resize(Shape{n});
  fill_normal(images, seed, 1.0);
  for (int i = 0; i < n; ++i) {
    labels[i] = i % 2;
    for (int p = 0; p < 32 * 32; ++p) images[int64_t(i) * 3 * 32 * 32 + p] += labels[i] ? shift : -shift;
  }
}

struct Run {
  double val_accuracy = 0, loss = 0;
  bool checkpoint_float32 = false;
};

Run train_mode(Precision precision, bool channels_last, const std::string& dir) {
  Tensor<float> tr_x, va_x;
  Tensor<int32_t> tr_y, va_y;
  separable(192, 11, 0.6f, tr_x, tr_y);
  separable(96, 12, 0.6f, va_x, va_y);
  nn::VggOptions vo;
  vo.width = 1.0 / 16;
  vo.input = 32;
  auto net = nn::vgg16<float, CUDA>(2, vo);
  net->initialize(5);
  net->context().set_precision(precision);
  net->context().set_channels_last(channels_last);
  REQUIRE(net->fuse_relu() == 15);  // as the trainers run it (13 conv+ReLU, 2 ReLU+dropout)
  train::Adam<float, CUDA> adam({1e-3f});
  train::Trainer<CUDA> trainer(*net, adam);
  train::TensorSource tr(tr_x, tr_y, 32, 3), te(tr_x, tr_y, 64), va(va_x, va_y, 64);
  train::FitOptions o;
  o.stages = train::parse_stages("fc8:2,conv5_1:4");
  o.checkpoint = dir + "/checkpoint.npz";
  const auto hist = train::fit(trainer, tr, &te, &va, 2, o);
  Run r;
  r.val_accuracy = hist.back().val_accuracy;
  r.loss = hist.back().loss;
  // every floating-point array of the checkpoint (parameters, optimizer state) is float32
  int floats = 0;
  r.checkpoint_float32 = true;
  for (const auto& a : io::read_npz(o.checkpoint)) {
    const io::DType t = a.array.dtype();
    if (t == io::DType::f2 || t == io::DType::f8) r.checkpoint_float32 = false;
    if (t == io::DType::f4) ++floats;
  }
  if (floats == 0) r.checkpoint_float32 = false;
  return r;
}

}  // namespace

TEST_CASE("cuda training: small VGG16 in fp32 and bf16, NCHW and channels-last, learns alike", "[cuda][bf16]") {
  require_device();
  const std::string dir = (std::filesystem::temp_directory_path() / "graft_cuda_train").string();
  std::filesystem::create_directories(dir);
  const Run fp32_nchw = train_mode(Precision::FP32, false, dir);
  const Run fp32_cl = train_mode(Precision::FP32, true, dir);
  const Run bf16_cl = train_mode(Precision::BF16, true, dir);
  const Run bf16_nchw = train_mode(Precision::BF16, false, dir);
  std::printf("validation accuracy: fp32 nchw %.3f, fp32 channels-last %.3f, bf16 channels-last %.3f, bf16 nchw %.3f\n",
              fp32_nchw.val_accuracy, fp32_cl.val_accuracy, bf16_cl.val_accuracy, bf16_nchw.val_accuracy);
  CHECK(fp32_nchw.val_accuracy > 0.9);
  CHECK(fp32_cl.val_accuracy > 0.9);
  CHECK(bf16_cl.val_accuracy >= fp32_cl.val_accuracy - 0.05);
  CHECK(bf16_nchw.val_accuracy >= fp32_nchw.val_accuracy - 0.05);
  CHECK(bf16_cl.checkpoint_float32);
  CHECK(bf16_nchw.checkpoint_float32);
  std::filesystem::remove_all(dir);
}
