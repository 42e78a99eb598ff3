// graft-embed: the embedding of each image at one node of a network. For dlib's face model
// (its .dat, or a model.npz of arch dlib-face) the default is the 128-d descriptor "fc"; with
// two images it also prints their Euclidean distance and whether dlib would call them the
// same person (distance below the file's dist_thresh, 0.6). --json prints
// [{"file": ..., "embedding": [...]}, ...] and nothing else.
//
//   graft-embed --weights dlib_face_recognition_resnet_model_v1.dat a.jpg b.jpg
//   graft-embed --weights dlib_face_recognition_resnet_model_v1.dat --layer pool --json chip.png
//   graft-embed --weights runs/gender/model.npz --layer fc7 face.jpg
//
// An image that already has the network's input size (150x150 for dlib) is fed exactly as it
// is, as dlib's net(img) takes it; others go through the model's evaluation transform (for
// dlib, the UTKFace face-chip recipe: resize to 140x140 and a 5-pixel black border).
#include <cmath>
#include <cstdio>

#include "graft/cpu.hpp"

#include "common/main.hpp"
#include "common/model_args.hpp"
#include "common/setup.hpp"
#include "graft/nn/dlib_face.hpp"
#include "graft/train/json.hpp"

using namespace graft;
using namespace graft::app;

namespace {

struct Embedder {
  std::unique_ptr<nn::Network<float>> net;
  data::Transform transform;  // for images not at the input size
  int64_t side = 0;
  bool dlib = false;          // dlib's face model: distances mean "same person" below thresh
  double thresh = 0.6;
  std::string default_layer;
};

bool is_dat(const std::string& p) { return p.size() >= 4 && p.compare(p.size() - 4, 4, ".dat") == 0; }

Embedder open_model(Args& a) {
  Embedder e;
  const std::string weights = a.str("weights");
  if (weights.empty()) throw UsageError("--weights FILE is required");
  if (is_dat(weights)) {
    // dlib's own file: the trunk alone (no classes), its means and threshold from the file.
    e.net = nn::dlib_face_resnet<float>();
    const nn::DlibFaceInfo info = nn::load_dlib_face(*e.net, weights);
    e.dlib = true;
    e.thresh = info.dist_thresh;
    e.side = info.size;
    e.default_layer = "fc";
    e.transform = data::Transform::dlib_face_chip(info.size);
    e.transform.norm = nn::dlib_face_normalization(info);
  } else {
    ModelArgs m;
    m.read(a);
    e.net = m.load<CPU>();
    e.side = m.info.input();
    e.transform = eval_transform(m.info);
    e.dlib = m.info.arch == "dlib-face";
    e.thresh = m.info.dist_thresh;
    // dlib-face: what the task's head reads (the descriptor fc, or pool); otherwise the output.
    e.default_layer = e.dlib ? m.info.head_on : e.net->layer(e.net->size() - 1).name();
  }
  e.net->set_training(false);
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  static const std::string usage =
      std::string("graft-embed --weights FILE [--layer NAME] [--json] IMAGE...\n") +
      "        FILE: dlib_face_recognition_resnet_model_v1.dat, or any model the other programs take:\n" +
      model_flags_help() +
      "        --layer: the node whose output is printed (dlib: fc, the 128-d descriptor, by default;\n"
      "        pool, the 256-d pooled features; VGG: fc7; ResNet: avgpool; otherwise the network's output)\n";
  return guarded_main("graft-embed", usage.c_str(), [&] {
    Args a(argc, argv, {"json", "help"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    const bool json = a.flag("json");
    const std::string layer_arg = a.str("layer");
    const std::vector<std::string> files = a.positional();
    Embedder e = open_model(a);
    a.finish(true);
    if (files.empty()) throw UsageError("no image files given");
    const std::string layer = layer_arg.empty() ? e.default_layer : layer_arg;
    const int li = e.net->index_of(layer);
    if (li < 0) throw UsageError("the network has no node " + layer + " (graft-inspect or --help lists node names)");
    const int64_t dim = e.net->shape_after(li).numel();

    std::vector<std::vector<float>> emb;
    data::Image img, scratch;
    std::vector<uint8_t> bytes;
    Tensor<float> x;
    for (const auto& file : files) {
      data::load_image(file, img, bytes);
      data::Transform t = e.transform;
      if (img.width == e.side && img.height == e.side) t = data::Transform::none(t.norm);  // as it is
      t.apply(img, 0, x);
      if (x.shape() != Shape({1, 3, e.side, e.side}))
        throw Error(file + ": the image (" + std::to_string(img.width) + "x" + std::to_string(img.height) + ") gives " +
                    x.shape().str() + ", the network needs (1, 3, " + std::to_string(e.side) + ", " +
                    std::to_string(e.side) + ")");
      e.net->forward(x);
      Tensor<float> out;
      copy(e.net->activation(size_t(li)), out);
      emb.emplace_back(out.data(), out.data() + dim);
    }

    if (json) {
      std::string s = "[";
      for (size_t i = 0; i < files.size(); ++i) {
        s += std::string(i ? ",\n " : "\n ") + "{\"file\": " + train::json::str(files[i]) + ", \"embedding\": [";
        for (int64_t k = 0; k < dim; ++k) s += (k ? ", " : "") + train::json::num(emb[i][size_t(k)]);
        s += "]}";
      }
      std::printf("%s\n]\n", s.c_str());
      return 0;
    }
    for (size_t i = 0; i < files.size(); ++i) {
      std::printf("%s (%s, %lld values):", files[i].c_str(), layer.c_str(), static_cast<long long>(dim));
      for (int64_t k = 0; k < dim; ++k) std::printf(" %.9g", double(emb[i][size_t(k)]));
      std::printf("\n");
    }
    if (files.size() == 2) {
      double d2 = 0;
      for (int64_t k = 0; k < dim; ++k) {
        const double d = double(emb[0][size_t(k)]) - double(emb[1][size_t(k)]);
        d2 += d * d;
      }
      const double dist = std::sqrt(d2);
      std::printf("distance %.9g", dist);
      // The threshold is dlib's for its descriptor only; other nodes have no such scale.
      if (e.dlib && layer == "fc")
        std::printf(": %s (dlib's threshold %g)", dist < e.thresh ? "the same person" : "different people", e.thresh);
      std::printf("\n");
    }
    return 0;
  });
}
