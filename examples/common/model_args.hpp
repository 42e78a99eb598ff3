// The model a tool evaluates: a self-describing model.npz, or any weights file (a plain
// caffe-tensorflow .npy, an .npz without description, a .caffemodel, a torchvision
// state_dict) with the architecture on the command line (--arch --classes --width --input
// --norm; a ResNet's normalisation defaults to ImageNet's).
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
    // Command-line values override (or, for a plain file, supply) the description.
    if (a.has("arch")) info.arch = a.str("arch");
    if (a.has("classes")) info.classes = split_list(a.str("classes"));
    info.vgg.width = a.num("width", described ? info.vgg.width : (info.arch == "vgg-face" ? 1.0 : 1.0));
    info.vgg.input = a.integer("input", described ? info.vgg.input : 224);
    if (!nn::known_arch(info.arch)) throw UsageError("unknown --arch " + info.arch + " (" + nn::known_archs() + ")");
    if (a.has("norm")) info.norm = normalization(a.str("norm"));
    else if (!described && info.resnet()) info.norm = data::Normalization::imagenet();  // torchvision's
    info.resize = int(a.integer("resize", info.resize));
    if (info.arch == "vgg-face" && info.classes.empty())
      for (int i = 0; i < 2622; ++i) info.classes.push_back("id" + std::to_string(i));
    if (info.classes.empty())
      throw UsageError(weights + " does not describe its model: give --arch and --classes (e.g. m,f,other)");
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
  return "model:  --weights FILE [--prototxt FILE for a .caffemodel] [--arch vgg16|vgg-face|resnet18|resnet34|resnet50\n"
         "        --classes a,b,... --width W --input PX"
         " --norm vgg-face|vgg-face-255|imagenet|unit --resize PX]   (a model.npz needs none of these)\n"
         "        a torchvision state_dict (.npz of its arrays): --arch resnet18 --classes ... (input 224, --norm imagenet)\n";
}

}  // namespace app
}  // namespace graft
