// graft-finetune: fine-tune a pretrained network for a new task (gender by default), stage by
// stage, with an evaluation before training and after every epoch; writes metrics.json,
// report.html, model.npz and a checkpoint to --out.
//
//   graft-finetune --data ../shared/data/utkface --format utkface --width 0.25 --input 64 \
//       --weights runs/source/model.npz --scratch fc8 --stages "fc8:5,conv5_1:3:0.1" --out runs/gender
#include "graft/cpu.hpp"

#include "common/cuda_entries.hpp"
#include "common/main.hpp"
#include "common/train_run.hpp"

using namespace graft::app;

int main(int argc, char** argv) {
  static const std::string usage = std::string("graft-finetune [options]\n") + train_flags_help();
  return guarded_main("graft-finetune", usage.c_str(), [&] {
    Args a(argc, argv, {"augment", "no-cache", "cache-once", "resume", "tta", "sync-bn", "help"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    TrainConfig c;
    c.title = "graft-finetune";
    c.out = "runs/finetune";
    c.read(a);
    a.finish();
    return on_device(c.device, c, &run_train<graft::CPU>, train_cuda);
  });
}
