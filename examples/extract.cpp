// graft-extract: the feature-extractor method of the case study. Runs the images through a
// frozen network, saves the chosen layer's embeddings (fc7 by default) as .npy, and trains a
// separate linear classifier (softmax regression) on them, with all training examples or a
// few per class (--per-class 1,5,10,50,100,1000: the DeCAF one-shot question).
//
//   graft-extract --weights runs/source/model.npz --data ../shared/data/utkface --format utkface \
//       --layer fc7 --per-class 1,5,10,50,100,1000,0 --out runs/extract
#include "graft/cpu.hpp"

#include "common/cuda_entries.hpp"
#include "common/eval_run.hpp"
#include "common/main.hpp"

using namespace graft::app;

int main(int argc, char** argv) {
  static const std::string usage =
      std::string("graft-extract --weights FILE --data DIR --format FMT [options]\n") + model_flags_help() +
      "data:   --data DIR --format utkface|adience|folder|csv [--task T] [--val F --test F --seed N --split-rule name|stratified]\n"
      "extract: [--layer fc7] [--per-class 1,5,10,0 (0: all)] [--epochs N] [--lr R] [--weight-decay D]\n"
      "run:    [--out DIR] [--device cpu|cuda] [--batch N] [--workers N]\n";
  return guarded_main("graft-extract", usage.c_str(), [&] {
    Args a(argc, argv, {"help"});
    if (a.flag("help")) {
      std::printf("usage: %s", usage.c_str());
      return 0;
    }
    ExtractConfig c;
    c.model.read(a);
    c.data.read(a);
    c.data.classes.clear();
    c.layer = a.str("layer", c.layer);
    c.per_class.clear();
    for (const auto& s : split_list(a.str("per-class", "0"))) c.per_class.push_back(std::stoll(s));
    c.epochs = int(a.integer("epochs", c.epochs));
    c.lr = float(a.num("lr", c.lr));
    c.weight_decay = float(a.num("weight-decay", c.weight_decay));
    c.out = a.str("out", c.out);
    c.device = a.str("device", c.device);
    c.batch = a.integer("batch", c.batch);
    c.workers = int(a.integer("workers", c.workers));
    a.finish();
    return on_device(c.device, c, &run_extract<graft::CPU>, extract_cuda);
  });
}
