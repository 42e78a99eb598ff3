// The model a tool evaluates: a self-describing model.npz, or any weights file (a plain
// caffe-tensorflow .npy, an .npz without description, a .caffemodel, a torchvision
// state_dict) with the architecture on the command line (--arch --classes --width --input
// --norm; a ResNet's normalisation defaults to ImageNet's). A .caffemodel with its --prototxt
// and no --arch (or --arch caffe) is the prototxt's network (a ResNet, say): its input size
// comes from the prototxt, its classes from --classes or are numbered 0..K-1. An .onnx file
// is its own graph (arch onnx): one graft exported describes itself; another takes its input
// size from the graph, its classes from --classes (or numbered) and --norm (default ImageNet's).
#pragma once

#include <string>

#include "common/cli.hpp"
#include "common/setup.hpp"
#include "graft/nn/model_file.hpp"
#include "graft/nn/weights_file.hpp"

namespace graft {
namespace app {

struct ModelArgs {
  std::string weights, prototxt;
  nn::ModelInfo info;

  void read(Args& a) {
    weights = a.str("weights");
    prototxt = a.str("prototxt");
    if (weights.empty()) throw UsageError("--weights FILE is required");
    if (io::is_caffemodel_path(weights) && prototxt.empty())
      throw UsageError("a .caffemodel needs its --prototxt (the deploy file beside it)");
    const bool described = nn::read_model_info(weights, info);
    const bool dlib = nn::is_dlib_path(weights);
    // Command-line values override (or, for a plain file, supply) the description.
    if (a.has("arch")) info.arch = a.str("arch");
    if (dlib) {
      // dlib's .dat: its trunk in arch dlib-face, its means and threshold (a head of --classes
      // would be untrained: graft-embed reads the trunk; model.npz files describe themselves).
      if (a.has("arch") && info.arch != "dlib-face")
        throw UsageError(weights + " is a dlib network: it loads into --arch dlib-face, not " + info.arch);
      info.arch = "dlib-face";
      const io::DlibNet file = io::read_dlib(weights);
      nn::DlibFaceInfo fi;
      for (int k = 0; k < 3; ++k) fi.mean[k] = file.mean[k];
      info.norm = nn::dlib_face_normalization(fi);
      info.dist_thresh = file.dist_thresh;
      info.head_on = a.str("head-on", info.head_on);
    }
    if (!described && !prototxt.empty() && (!a.has("arch") || info.arch == "caffe")) info.arch = "caffe";
    const bool onnx = io::is_onnx_path(weights);
    if (onnx && a.has("arch") && info.arch != "onnx")
      throw UsageError(weights + " is an ONNX model: its network is its graph (--arch onnx), not " + info.arch);
    if (onnx) info.arch = "onnx";
    if (a.has("classes")) info.classes = split_list(a.str("classes"));
    info.vgg.width = a.num("width", described ? info.vgg.width : (info.arch == "vgg-face" ? 1.0 : 1.0));
    info.vgg.input = a.integer("input", described ? info.vgg.input : info.dlib_face() ? 150 : 224);
    if (!nn::known_arch(info.arch)) throw UsageError("unknown --arch " + info.arch + " (" + nn::known_archs() + ")");
    if (a.has("norm")) info.norm = normalization(a.str("norm"));
    else if (!described && info.resnet()) info.norm = data::Normalization::imagenet();  // torchvision's
    info.resize = int(a.integer("resize", info.resize));
    if (info.dlib_face()) info.chip = a.str("chip", info.chip);
    if (info.chip != "dlib" && info.chip != "resize")
      throw UsageError("--chip " + info.chip + ": dlib (dlib's face chip) or resize (the whole image)");
    if (info.arch == "caffe") from_prototxt(a.has("input"));
    if (onnx && !described) from_onnx(a.has("input"), a.has("norm"));
    if (info.arch == "vgg-face" && info.classes.empty())
      for (int i = 0; i < 2622; ++i) info.classes.push_back("id" + std::to_string(i));
    if (info.classes.empty())
      throw UsageError(weights + " does not describe its model: give --arch and --classes (e.g. m,f,other)");
  }

  // --arch caffe: the input side and the classes from the prototxt's net (for a model.npz
  // that graft-finetune wrote, the prototxt it names, with its output layer resized).
  void from_prototxt(bool input_given) {
    if (prototxt.empty()) prototxt = info.prototxt;
    if (prototxt.empty()) throw UsageError("--arch caffe needs the --prototxt the network is built from");
    info.prototxt = prototxt;
    const io::CaffeNet net = io::read_prototxt(prototxt);
    const Shape& in = net.input_shape;
    if (in.rank() != 4 || in[1] != 3 || in[2] != in[3])
      throw UsageError(prototxt + ": the input " + in.str() + " is not square colour images (n, 3, side, side)");
    if (input_given && info.vgg.input != in[2])
      throw UsageError("--input " + std::to_string(info.vgg.input) + " differs from the input side " +
                       std::to_string(in[2]) + " of " + prototxt);
    info.vgg.input = in[2];
    const std::vector<nn::CaffeLayerShape> shapes = nn::caffe_shapes(net);
    const size_t out = net.layers.back().type == "Softmax" ? shapes.size() - 2 : shapes.size() - 1;
    const int64_t k = shapes[out].out.numel();
    if (info.classes.empty())
      for (int64_t i = 0; i < k; ++i) info.classes.push_back(std::to_string(i));
    if (io::is_caffemodel_path(weights) && int64_t(info.classes.size()) != k)
      throw UsageError("--classes lists " + std::to_string(info.classes.size()) + " names, but the network of " +
                       prototxt + " has " + std::to_string(k) + " outputs");
  }

  // An ONNX file graft did not write: the input side from its graph, the classes numbered
  // by its outputs unless --classes names them, ImageNet's normalisation unless --norm.
  void from_onnx(bool input_given, bool norm_given) {
    info.onnx = weights;
    const nn::OnnxPlan plan = nn::onnx_plan(io::read_onnx(weights));
    const Shape& in = plan.sample;
    if (in.rank() != 3 || in[0] != 3 || in[1] != in[2])
      throw UsageError(weights + ": the input (n, " + in.str().substr(1) + " is not square colour images (n, 3, side, side)");
    if (input_given && info.vgg.input != in[1])
      throw UsageError("--input " + std::to_string(info.vgg.input) + " differs from the input side " +
                       std::to_string(in[1]) + " of " + weights);
    info.vgg.input = in[1];
    const nn::OnnxHead h = nn::onnx_head(plan, int64_t(info.classes.size()));
    if (info.classes.empty())
      for (int64_t i = 0; i < h.file_outputs; ++i) info.classes.push_back(std::to_string(i));
    if (int64_t(info.classes.size()) != h.file_outputs)
      throw UsageError("--classes lists " + std::to_string(info.classes.size()) + " names, but the graph of " + weights +
                       " has " + std::to_string(h.file_outputs) + " outputs");
    if (!norm_given) {
      info.norm = data::Normalization::imagenet();
      std::fprintf(stderr, "%s does not say how its input is normalised: ImageNet's (--norm imagenet; give --norm otherwise)\n",
                   weights.c_str());
    }
  }

  template <class D>
  std::unique_ptr<nn::Network<float, D>> load() const {
    auto net = nn::build<float, D>(info);
    nn::load_weights_file(net->layers(), weights, prototxt);
    net->set_training(false);
    return net;
  }
};

inline const char* model_flags_help() {
  return "model:  --weights FILE [--prototxt FILE for a .caffemodel: without --arch, the network is the prototxt's]\n"
         "        [--arch vgg16|vgg-face|resnet18|resnet34|resnet50|caffe|dlib-face|onnx\n"
         "        --classes a,b,... --width W --input PX"
         " --norm vgg-face|vgg-face-255|imagenet|unit --resize PX --chip dlib|resize]   (a model.npz needs none of these)\n"
         "        a torchvision state_dict (.npz of its arrays): --arch resnet18 --classes ... (input 224, --norm imagenet)\n"
         "        dlib's .dat (dlib-face, its means): the trunk; a model.npz graft-finetune wrote from it needs no flag\n"
         "        an .onnx file: its graph (arch onnx); one graft-export wrote needs no flag, another takes\n"
         "         --classes (default: numbered) and --norm (default imagenet)\n";
}

}  // namespace app
}  // namespace graft
