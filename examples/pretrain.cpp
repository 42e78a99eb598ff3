// graft-pretrain: train a backbone from random weights on a source task from the same data
// (UTKFace: race, age band, or both), so that a machine without VGG-Face can still run real
// transfer learning; saves model.npz and, with --backbone, the caffe-tensorflow .npy.
//
//   graft-pretrain --data ../shared/data/utkface --task race+age --width 0.25 --input 64 \
//       --stages all:10 --augment --out runs/source --backbone runs/source/backbone.npy
#include "graft/cpu.hpp"

#include "common/cuda_entries.hpp"
#include "common/main.hpp"
#include "common/train_run.hpp"

using namespace graft::app;

int main(int argc, char** argv) {
  static const std::string usage = std::string("graft-pretrain [options]\n") + train_flags_help();
  return guarded_main("graft-pretrain", usage.c_str(), [&] {
    Args a(argc, argv, {"augment", "no-cache", "cache-once", "resume", "tta", "sync-bn", "help"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    TrainConfig c;
    c.title = "graft-pretrain";
    c.out = "runs/pretrain";
    c.data.task = "race+age";
    c.stages = "all:10";
    c.scratch = {};
    c.model.vgg.width = 0.25;
    c.model.vgg.input = 64;
    c.read(a);
    if (!a.has("scratch")) c.scratch = {};
    a.finish();
    if (c.data.task == "gender") throw UsageError("graft-pretrain trains a source task: --task race, age or race+age");
    if (c.backbone.empty()) c.backbone = c.out + "/backbone.npy";
    return on_device(c.device, c, &run_train<graft::CPU>, train_cuda);
  });
}
