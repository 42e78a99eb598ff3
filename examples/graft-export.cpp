// graft-export: a model as an ONNX file, for onnxruntime, OpenCV's dnn module or a phone.
//
//   graft-export --weights runs/gender/model.npz -o gender.onnx
//   graft-export --arch resnet18 --classes "$(paste -sd, names.txt)" --norm imagenet --weights resnet18.npz -o r18.onnx
//
// Takes the model options graft-predict takes (--arch, --classes, --norm, --weights of any
// format graft reads). The file holds the network in evaluation form (dropout removed,
// BatchNorm kept, or folded into the convolutions with --fold-batchnorm), opset 13, reading
// "input" (batch, 3, side, side) and giving "probabilities" (--logits: the logits), with the
// preprocessing (channel order, scale, means, standard deviations, input size) and the class
// names as metadata_props, so a consumer knows how to feed it; graft reads it back as it is.
#include "graft/cpu.hpp"

#include <cstring>
#include <vector>

#include "common/main.hpp"
#include "common/model_args.hpp"
#include "graft/nn/model_file.hpp"

using namespace graft;
using namespace graft::app;

int main(int argc, char** argv) {
  static const std::string usage =
      std::string("graft-export --weights FILE -o OUT.onnx [--fold-batchnorm] [--logits]\n") + model_flags_help();
  // -o is --output.
  std::vector<char*> args(argv, argv + argc);
  static char output[] = "--output";
  for (auto& p : args)
    if (std::strcmp(p, "-o") == 0) p = output;
  return guarded_main("graft-export", usage.c_str(), [&] {
    Args a(int(args.size()), args.data(), {"fold-batchnorm", "logits", "help"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    ModelArgs m;
    m.read(a);
    const std::string out = a.str("output");
    nn::OnnxExportOptions o;
    o.fold_batch_norm = a.flag("fold-batchnorm");
    o.softmax = !a.flag("logits");
    a.finish();
    if (out.empty()) throw UsageError("-o OUT.onnx is required");
    if (!io::is_onnx_path(out)) throw UsageError("the output " + out + " must end in .onnx");
    auto net = m.load<CPU>();
    nn::save_model_onnx(out, *net, m.info, o);
    std::printf("wrote %s: %s, %zu nodes, %lld parameters, input (batch, 3, %lld, %lld), output %s of %zu classes\n",
                out.c_str(), m.info.geometry().c_str(), net->size(), static_cast<long long>(net->parameter_count()),
                static_cast<long long>(m.info.input()), static_cast<long long>(m.info.input()),
                o.softmax ? "probabilities" : "logits", m.info.classes.size());
    return 0;
  });
}
