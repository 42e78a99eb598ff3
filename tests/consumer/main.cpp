// Builds a two-layer network from the installed headers and checks one forward pass; resizes
// and preprocesses an image with graft/data (libstb and threads come through the package).
#include <graft/data.hpp>
#include <graft/graft.hpp>

#include <cstdio>

int main() {
  graft::Context<graft::CPU> ctx;
  graft::Conv2d<float> conv("conv1", 3, 4, 3, 1, 1);
  graft::ReLU<float> relu("relu1");
  graft::Shape s = conv.setup(graft::Shape{1, 3, 8, 8}, ctx);
  relu.setup(s, ctx);
  graft::Tensor<float> x(graft::Shape{1, 3, 8, 8}, 1.0f), y, z;
  conv.forward(x, y);
  relu.forward(y, z);
  for (float v : z)
    if (v < 0) return 1;
  graft::data::Image img, big;
  img.resize(4, 4);
  graft::data::resize(img, 8, 8, big);
  graft::Tensor<float> pre = graft::data::vgg_face_preprocess(big);
  if (pre.shape() != graft::Shape({1, 3, 8, 8})) return 1;
  std::printf("consumer: output %s\n", z.shape().str().c_str());
  return z.shape() == graft::Shape({1, 4, 8, 8}) ? 0 : 1;
}
