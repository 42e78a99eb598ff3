// The training run behind graft-finetune and graft-pretrain, on any device: data, model,
// weights, staged fit with per-epoch evaluation, final test evaluation, report and model.
// A translation unit includes a backend (graft/cpu.hpp or graft/cuda.hpp) before this.
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/progress.hpp"
#include "common/setup.hpp"
#include "graft/io.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/caffe.hpp"
#include "graft/nn/model_file.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/loader_source.hpp"
#include "graft/train/report.hpp"
#include "graft/train/train.hpp"

namespace graft {
namespace app {

struct TrainConfig {
  DataConfig data;
  nn::ModelInfo model;                         // architecture, input, preprocessing
  // Which of the architecture's flags were given: the others are adopted from a described
  // pretrained model (its width, input, dropout, preprocessing), so that fine-tuning feeds
  // the trunk what it was trained on.
  bool width_given = false, input_given = false, dropout_given = false, norm_given = false, resize_given = false;
  std::string weights, prototxt;               // pretrained weights (.npz model, caffe-tensorflow .npy)
  std::vector<std::string> scratch{"fc8"};     // layers not loaded from the weights
  std::string stages = "fc8:5";
  std::string optimizer = "adam";
  float lr = 1e-3f, momentum = 0.9f, weight_decay = 0.0f;
  std::string schedule = "constant";
  int64_t batch = 32;
  int workers = 2;
  std::string device = "cpu";
  std::string out = "runs/finetune";
  bool augment = false, cache = true, resume = false;
  bool tta = false;                            // the test evaluation averages each image with its mirror
  int64_t train_eval_max = 2000;               // training images evaluated each epoch (0: all)
  std::string backbone;                        // also save the weights here as caffe-tensorflow .npy
  std::string title = "graft fine-tuning";
  uint64_t init_seed = 1;

  void read(Args& a) {
    data.read(a);
    model.arch = a.str("arch", "vgg16");
    if (model.arch != "vgg16" && model.arch != "vgg-face" && model.arch != "caffe")
      throw UsageError("unknown --arch " + model.arch + " (vgg16, vgg-face or caffe)");
    width_given = a.has("width");
    input_given = a.has("input");
    dropout_given = a.has("dropout");
    norm_given = a.has("norm");
    resize_given = a.has("resize");
    model.vgg.width = a.num("width", model.arch == "vgg-face" ? 1.0 : model.vgg.width);
    model.vgg.input = a.integer("input", model.vgg.input);
    model.vgg.dropout = float(a.num("dropout", model.vgg.dropout));
    model.norm = normalization(a.str("norm", "vgg-face"));
    model.resize = int(a.integer("resize", 0));
    weights = a.str("weights", weights);
    prototxt = a.str("prototxt", prototxt);
    scratch = split_list(a.str("scratch", "fc8"));
    stages = a.str("stages", stages);
    optimizer = a.str("optimizer", optimizer);
    lr = float(a.num("lr", lr));
    momentum = float(a.num("momentum", momentum));
    weight_decay = float(a.num("weight-decay", weight_decay));
    schedule = a.str("schedule", schedule);
    batch = a.integer("batch", batch);
    workers = int(a.integer("workers", workers));
    device = a.str("device", device);
    out = a.str("out", out);
    augment = a.flag("augment");
    cache = !a.flag("no-cache");
    resume = a.flag("resume");
    tta = a.flag("tta");
    train_eval_max = a.integer("train-eval", train_eval_max);
    backbone = a.str("backbone", backbone);
    init_seed = uint64_t(a.integer("init-seed", int64_t(init_seed)));
    if (batch <= 0) throw UsageError("--batch must be positive");
    if (model.arch == "caffe") {
      // The network is the prototxt's, its output layer resized to the task's classes; the
      // input side is the prototxt's.
      if (prototxt.empty()) throw UsageError("--arch caffe needs the --prototxt the network is built from");
      model.prototxt = std::filesystem::absolute(prototxt).string();
      const Shape in = io::read_prototxt(prototxt).input_shape;
      if (in.rank() != 4 || in[1] != 3 || in[2] != in[3])
        throw UsageError(prototxt + ": the input " + in.str() + " is not square colour images (n, 3, side, side)");
      if (input_given && model.vgg.input != in[2])
        throw UsageError("--input " + std::to_string(model.vgg.input) + " differs from the input side " +
                         std::to_string(in[2]) + " of " + prototxt);
      model.vgg.input = in[2];
    }
    if (device != "cpu" && device != "cuda") throw UsageError("unknown --device " + device + " (cpu or cuda)");
  }
};

inline const char* train_flags_help() {
  return "data:   --data DIR --format utkface|adience|folder|csv [--task gender|race|age|race+age]\n"
         "        [--classes m,f|m,f,other] [--subset F] [--val F] [--test F] [--seed N]\n"
         "        [--split-rule name|stratified (default name: each file's part by its name, the same for every task)]\n"
         "model:  --arch vgg16|vgg-face|caffe [--width W] [--input PX] [--dropout P] [--norm vgg-face|vgg-face-255|imagenet|unit]\n"
         "        (caffe: the --prototxt's network, e.g. a ResNet, its output layer resized to the classes)\n"
         "        [--weights FILE (.npz model, caffe-tensorflow .npy, .caffemodel with --prototxt FILE)] [--scratch fc8]\n"
         "train:  --stages \"fc8:5,conv5_1:3:0.1\" [--optimizer adam|sgd] [--lr R] [--momentum M] [--weight-decay D]\n"
         "        [--schedule constant|step:E:G|cosine] [--batch N] [--workers N] [--augment] [--no-cache]\n"
         "        [--train-eval N] [--init-seed N] [--resume]\n"
         "run:    --device cpu|cuda --out DIR [--backbone FILE.npy]\n"
         "        [--tta (the test split's predictions average each image and its mirror image)]\n";
}

// Loads pretrained weights into the network (skipping the scratch layers) and says what it did.
template <class D>
void load_pretrained(nn::Network<float, D>& net, const TrainConfig& c) {
  if (c.weights.empty()) return;
  nn::LoadOptions o;
  o.skip = c.scratch;
  nn::ModelInfo info;
  nn::LoadReport rep;
  if (io::is_caffemodel_path(c.weights)) {
    if (c.prototxt.empty()) throw UsageError("a .caffemodel needs its --prototxt (the deploy file beside it)");
    rep = nn::load_caffe(net.layers(), c.weights, c.prototxt, o);  // no Caffe, no Python
  } else if (nn::read_model_info(c.weights, info)) {
    rep = nn::load_weights(net.layers(), nn::read_model_weights(c.weights), o);
  } else {
    rep = nn::load_weights(net.layers(), c.weights, o);
  }
  std::printf("weights %s: %zu arrays loaded, %zu left at initial values (%s)\n", c.weights.c_str(),
              rep.loaded.size(), rep.initial.size(),
              rep.initial.empty() ? "none" : [&] {
                std::string s;
                for (const auto& x : rep.initial) s += (s.empty() ? "" : ", ") + x;
                return s;
              }().c_str());
}

template <class D>
int run_train(TrainConfig c) {
  namespace fs = std::filesystem;
  fs::create_directories(c.out);
  // A pretrained model file brings its own architecture and preprocessing.
  nn::ModelInfo from_file;
  if (!c.weights.empty() && nn::read_model_info(c.weights, from_file)) {
    if (!c.width_given) c.model.vgg.width = from_file.vgg.width;
    if (!c.input_given) c.model.vgg.input = from_file.vgg.input;
    if (!c.dropout_given) c.model.vgg.dropout = from_file.vgg.dropout;
    if (!c.norm_given) c.model.norm = from_file.norm;
    if (!c.resize_given) c.model.resize = from_file.resize;
    std::printf("using the architecture of %s: vgg16 width %g, input %lld, its preprocessing%s\n", c.weights.c_str(),
                c.model.vgg.width, static_cast<long long>(c.model.vgg.input),
                c.norm_given ? " replaced by --norm" : "");
  }
  // Augmented training sees random crops of a shorter side 8/7 of the input; evaluation (and
  // the saved model) then takes the centre crop at that same scale, so faces are as large as
  // in training. On UTKFace's validation split this was worth 1.9 points over squeezing the
  // whole image into the input (docs/results.md).
  if (c.augment && c.model.resize == 0) c.model.resize = augment_resize(c.model.input());
  data::Dataset all = open_dataset(c.data);
  std::printf("%s\n", all.summary().c_str());
  Splits sp = split_dataset(all, c.data);
  c.model.classes = all.classes;
  c.model.task = c.data.task;
  const int classes = int(all.classes.size());
  std::printf("train %lld (subset %g), validation %lld, test %lld\n", static_cast<long long>(sp.train.size()),
              c.data.subset, static_cast<long long>(sp.val.size()), static_cast<long long>(sp.test.size()));

  auto net = c.model.arch == "caffe"
                 ? nn::caffe_network<float, D>(nn::with_outputs(io::read_prototxt(c.model.prototxt), classes))
                 : nn::vgg16<float, D>(classes, c.model.vgg);
  net->initialize(c.init_seed);
  load_pretrained(*net, c);

  std::unique_ptr<train::Optimizer<float, D>> opt;
  if (c.optimizer == "adam") opt = std::make_unique<train::Adam<float, D>>(train::AdamOptions{c.lr, 0.9f, 0.999f, 1e-8f, c.weight_decay});
  else if (c.optimizer == "sgd") opt = std::make_unique<train::Sgd<float, D>>(train::SgdOptions{c.lr, c.momentum, c.weight_decay, false});
  else throw UsageError("unknown --optimizer " + c.optimizer + " (adam or sgd)");

  data::LoaderOptions lo;
  lo.batch_size = c.batch;
  lo.workers = c.workers;
  lo.seed = c.data.seed;
  data::LoaderOptions eo = lo;
  eo.shuffle = false;
  data::Dataset train_eval_set = sp.train;
  if (c.train_eval_max > 0 && sp.train.size() > c.train_eval_max)
    train_eval_set = sp.train.select(data::stratified_subset(sp.train, double(c.train_eval_max) / double(sp.train.size()), c.data.seed));
  data::Loader train_loader(sp.train, train_transform(c.model, c.augment), lo);
  data::Loader train_eval_loader(train_eval_set, eval_transform(c.model), eo);
  data::Loader val_loader(sp.val, eval_transform(c.model), eo);
  data::Loader test_loader(sp.test, eval_transform(c.model), eo);
  train::LoaderSource tr(train_loader), te(train_eval_loader), va(val_loader), ts(test_loader);

  typename train::Trainer<D>::Options to;
  to.use_cache = c.cache;
  train::Trainer<D> trainer(*net, *opt, to);
  train::FitOptions fo;
  fo.stages = train::parse_stages(c.stages);
  fo.schedule = c.schedule;
  fo.checkpoint = c.out + "/checkpoint.npz";
  fo.resume = c.resume;
  fo.seed = c.data.seed;
  std::unique_ptr<Progress> bar;
  fo.on_batch = [&](const train::BatchInfo& b) {
    if (!bar) bar = std::make_unique<Progress>("train", tr.size());
    bar->update(b.images, b.loss);
  };
  fo.on_epoch = [&](const train::EpochRecord& r, const train::Evaluation*, const train::Evaluation*) {
    bar.reset();
    std::printf("%-7s %-11s %9.4f %8.4f %9.4f %8.1f %s\n", r.epoch == 0 ? "Rand" : std::to_string(r.epoch).c_str(),
                r.stage.c_str(), r.train_accuracy, r.val_accuracy, r.loss, r.seconds,
                r.cached_batches ? "(from cached features)" : "");
    std::fflush(stdout);
  };
  std::printf("%s", net->summary().c_str());
  std::printf("%-7s %-11s %9s %8s %9s %8s %s\n", "epoch", "stage", "train_acc", "val_acc", "loss", "seconds", "");
  auto history = train::fit(trainer, tr, &te, &va, classes, fo);
  bar.reset();

  train::Evaluation test = trainer.evaluate(ts, classes, c.tta);
  train::Report rep;
  rep.title = c.title;
  rep.classes = all.classes;
  rep.confusion = test.confusion;
  rep.evaluated_on = "the held-out test split of " + all.name + tta_note(c.tta);
  rep.epochs = history;
  rep.groups = group_accuracy(sp.test, test);
  auto g = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  double train_seconds = 0;
  for (const auto& r : history) train_seconds += r.seconds;
  rep.info = {{"device", c.device},
              {"data", all.name + ", task " + c.data.task + ", train " + std::to_string(sp.train.size()) +
                           " (subset " + g(c.data.subset) + "), validation " + std::to_string(sp.val.size()) +
                           ", test " + std::to_string(sp.test.size())},
              {"model", (c.model.arch == "caffe" ? "the network of " + c.model.prototxt
                                                  : "vgg16 width " + g(c.model.vgg.width)) +
                            ", input " + std::to_string(c.model.vgg.input) +
                            (c.model.arch == "caffe" ? std::string() : ", dropout " + g(c.model.vgg.dropout)) +
                            (c.model.resize > 0 ? ", evaluated on centre crops of a shorter side of " +
                                                      std::to_string(c.model.resize)
                                                : "")},
              {"weights", c.weights.empty() ? "random initialisation (seed " + std::to_string(c.init_seed) + ")" : c.weights},
              {"stages", c.stages + (c.schedule == "constant" ? "" : ", schedule " + c.schedule)},
              {"optimizer", c.optimizer + ", learning rate " + g(c.lr)},
              {"training time", g(train_seconds) + " s"},
              {"augmentation", c.augment ? "random crop and flip" : "none"},
              {"feature cache", c.cache ? "on" : "off"}};
  std::printf("\nlearning curve\n%s", train::learning_curve_table(history).c_str());
  std::printf("\nconfusion matrix (%s)\n%s", rep.evaluated_on.c_str(), train::confusion_table(test.confusion, all.classes).c_str());
  const std::string groups = train::group_table(rep.groups);
  if (!groups.empty()) std::printf("\naccuracy per group (test split)\n%s", groups.c_str());
  train::write_report(c.out, rep);
  nn::save_model(c.out + "/model.npz", *net, c.model);
  if (!c.backbone.empty()) nn::save_weights(net->layers(), c.backbone, io::WeightsFormat::caffe_tensorflow);
  std::printf("\nwrote %s/metrics.json, %s/report.html, %s/model.npz%s%s\n", c.out.c_str(), c.out.c_str(), c.out.c_str(),
              c.backbone.empty() ? "" : ", ", c.backbone.c_str());
  return 0;
}

}  // namespace app
}  // namespace graft
