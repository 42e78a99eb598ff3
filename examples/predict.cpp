// graft-predict: the class and probabilities of each image file. --json prints a list of
// {"file", "label", "probabilities"} with the probabilities in class order.
//
//   graft-predict --weights runs/gender/model.npz face1.jpg face2.png
//   graft-predict --arch vgg16 --classes m,f,other --weights VGG16_GENDER.npy --json face.png
//   graft-predict --arch resnet18 --classes a,b,... --norm imagenet --weights resnet18.npz img.jpg
//       (a torchvision state_dict as np.savez wrote it: no conversion step)
#include "graft/cpu.hpp"

#include "common/cuda_entries.hpp"
#include "common/eval_run.hpp"
#include "common/main.hpp"

using namespace graft::app;

int main(int argc, char** argv) {
  static const std::string usage =
      std::string("graft-predict --weights FILE [--json] [--device cpu|cuda] IMAGE...\n") + model_flags_help();
  return guarded_main("graft-predict", usage.c_str(), [&] {
    Args a(argc, argv, {"json", "help"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    PredictConfig c;
    c.model.read(a);
    c.json = a.flag("json");
    c.device = a.str("device", c.device);
    c.files = a.positional();
    a.finish(true);
    if (c.files.empty()) throw UsageError("no image files given");
    return on_device(c.device, c, &run_predict<graft::CPU>, predict_cuda);
  });
}
