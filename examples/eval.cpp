// graft-eval: evaluate weights on a dataset; prints the confusion matrix and per-group
// accuracy, and with --out writes metrics.json and report.html.
//
//   graft-eval --weights runs/gender/model.npz --data ../shared/data/utkface --format utkface \
//       --split test --out runs/gender-eval
#include "graft/cpu.hpp"

#include "common/cuda_entries.hpp"
#include "common/eval_run.hpp"
#include "common/main.hpp"

using namespace graft::app;

int main(int argc, char** argv) {
  static const std::string usage = std::string("graft-eval --weights FILE --data DIR --format FMT [options]\n") +
                                   model_flags_help() +
                                   "data:   --data DIR --format utkface|adience|folder|csv [--task T] [--split all|train|val|test]\n"
                                   "        [--val F --test F --seed N --split-rule R (to rebuild the training run's split)]\n"
                                   "run:    [--out DIR] [--device cpu|cuda] [--batch N] [--workers N]\n"
                                   "        [--tta (average each image's prediction with its mirror image's)]\n";
  return guarded_main("graft-eval", usage.c_str(), [&] {
    Args a(argc, argv, {"help", "tta"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    EvalConfig c;
    c.model.read(a);
    c.data.read(a);
    c.data.classes.clear();  // --classes names the model's outputs here
    c.split = a.str("split", c.split);
    c.out = a.str("out", "");
    c.device = a.str("device", c.device);
    c.batch = a.integer("batch", c.batch);
    c.workers = int(a.integer("workers", c.workers));
    c.tta = a.flag("tta");
    a.finish();
    return on_device(c.device, c, &run_eval<graft::CPU>, eval_cuda);
  });
}
