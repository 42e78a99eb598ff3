// The training run behind graft-finetune and graft-pretrain, on any device: data, model,
// weights, staged fit with per-epoch evaluation, final test evaluation, report and model.
// A translation unit includes a backend (graft/cpu.hpp or graft/cuda.hpp) before this.
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/cli.hpp"
#include "common/progress.hpp"
#include "common/setup.hpp"
#include "common/world.hpp"
#include "graft/core/precision.hpp"
#include "graft/io.hpp"
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
  bool arch_given = false, width_given = false, input_given = false, dropout_given = false, norm_given = false,
       resize_given = false, scratch_given = false, stages_given = false, head_on_given = false,
       chip_given = false;
  std::string weights, prototxt;               // pretrained weights (.npz model, caffe-tensorflow .npy)
  std::vector<std::string> scratch{"fc8"};     // layers not loaded from the weights (a ResNet's: fc)
  std::string stages = "fc8:5";                // a ResNet's default: fc:5
  std::string optimizer = "adam";
  float lr = 1e-3f, momentum = 0.9f, weight_decay = 0.0f;
  std::string schedule = "constant";
  int64_t batch = 32;
  int workers = 2;
  std::string device = "cpu";
  // CUDA only: bf16 mixed precision (Context<CUDA>::set_precision) and the activations' layout
  // (channels-last by default on CUDA: NHWC, the faster layout for cuDNN's tensor cores).
  std::string precision = "fp32";
  std::string layout;                          // "" = the device's default
  std::string out = "runs/finetune";
  bool augment = false, cache = true, resume = false;
  bool cache_once = false;                     // one feature cache below every stage (fit's cache_once)
  bool tta = false;                            // the test evaluation averages each image with its mirror
  bool sync_bn = false;                        // data parallel: BatchNorm statistics over the global batch
  int64_t train_eval_max = 2000;               // training images evaluated each epoch (0: all)
  std::string backbone;                        // also save the weights here as caffe-tensorflow .npy
  std::string title = "graft fine-tuning";
  uint64_t init_seed = 1;

  void read(Args& a) {
    data.read(a);
    arch_given = a.has("arch");
    model.arch = a.str("arch", "vgg16");
    if (!nn::known_arch(model.arch))
      throw UsageError("unknown --arch " + model.arch + " (" + nn::known_archs() + ")");
    // A ResNet's classifier is "fc" (torchvision's name), and it takes ImageNet's normalisation.
    const bool resnet = model.resnet();
    width_given = a.has("width");
    input_given = a.has("input");
    dropout_given = a.has("dropout");
    norm_given = a.has("norm");
    resize_given = a.has("resize");
    model.vgg.width = a.num("width", model.arch == "vgg-face" ? 1.0 : model.vgg.width);
    model.vgg.input = a.integer("input", model.vgg.input);
    model.vgg.dropout = float(a.num("dropout", model.vgg.dropout));
    model.norm = normalization(a.str("norm", resnet ? "imagenet" : "vgg-face"));
    model.resize = int(a.integer("resize", 0));
    weights = a.str("weights", weights);
    prototxt = a.str("prototxt", prototxt);
    scratch_given = a.has("scratch");
    stages_given = a.has("stages");
    std::string head = nn::classifier_node(model.arch);
    if (io::is_onnx_path(weights)) {
      // An ONNX trunk: the network is its graph, the input side its input's; the classifier
      // to train from scratch its output Gemm (resized), or a new Linear "head" on its output.
      if (arch_given && model.arch != "onnx")
        throw UsageError(weights + " is an ONNX model: its network is its graph (--arch onnx), not " + model.arch);
      arch_given = true;
      model.arch = "onnx";
      model.onnx = std::filesystem::absolute(weights).string();
      const nn::OnnxPlan plan = nn::onnx_plan(io::read_onnx(weights));
      const Shape& in = plan.sample;
      if (in.rank() != 3 || in[0] != 3 || in[1] != in[2])
        throw UsageError(weights + ": the input (n, " + in.str().substr(1) + " is not square colour images (n, 3, side, side)");
      if (input_given && model.vgg.input != in[1])
        throw UsageError("--input " + std::to_string(model.vgg.input) + " differs from the input side " +
                         std::to_string(in[1]) + " of " + weights);
      model.vgg.input = in[1];
      model.vgg.dropout = 0;
      head = nn::onnx_head(plan, 0).node;
      if (!norm_given) model.norm = data::Normalization::imagenet();  // (a graft export's own replaces it)
    } else if (model.arch == "onnx") {
      throw UsageError("--arch onnx builds the graph of the .onnx file given as --weights");
    }
    scratch = split_list(a.str("scratch", head));
    stages = a.str("stages", head != "fc8" && stages == "fc8:5" ? head + ":5" : stages);  // graft-pretrain's default stays
    head_on_given = a.has("head-on");
    model.head_on = a.str("head-on", model.head_on);
    if (model.head_on != "fc" && model.head_on != "pool")
      throw UsageError("--head-on " + model.head_on + ": fc (the 128-d descriptor) or pool (the 256-d pooled features)");
    if (head_on_given && model.arch != "dlib-face" && !nn::is_dlib_path(weights))
      throw UsageError("--head-on is for --arch dlib-face (or dlib's .dat as --weights)");
    model.trunk_norm = a.str("trunk-norm", model.trunk_norm);
    if (model.trunk_norm != "affine" && model.trunk_norm != "batchnorm")
      throw UsageError("--trunk-norm " + model.trunk_norm + ": affine (dlib's frozen affines) or batchnorm (to train from random weights)");
    if (a.has("trunk-norm") && model.arch != "dlib-face")
      throw UsageError("--trunk-norm is for --arch dlib-face");
    chip_given = a.has("chip");
    model.chip = a.str("chip", model.chip);
    if (model.chip != "dlib" && model.chip != "resize")
      throw UsageError("--chip " + model.chip + ": dlib (dlib's face chip: 140 inside a 5-pixel border) or resize (the whole image to 150)");
    if (chip_given && model.arch != "dlib-face" && !nn::is_dlib_path(weights))
      throw UsageError("--chip is for --arch dlib-face (or dlib's .dat as --weights)");
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
    cache_once = a.flag("cache-once");
    resume = a.flag("resume");
    tta = a.flag("tta");
    sync_bn = a.flag("sync-bn");
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
    if (model.dlib_face()) {
      if (input_given && model.vgg.input != 150) throw UsageError("--arch dlib-face takes 150x150 chips, not --input " + std::to_string(model.vgg.input));
      model.vgg.input = 150;
      model.vgg.dropout = 0;
    }
    if (device != "cpu" && device != "cuda") throw UsageError("unknown --device " + device + " (cpu or cuda)");
    precision = a.str("precision", precision);
    if (precision != "fp32" && precision != "bf16") throw UsageError("unknown --precision " + precision + " (fp32 or bf16)");
    layout = a.str("layout", layout);
    if (!layout.empty() && layout != "nchw" && layout != "channels-last")
      throw UsageError("unknown --layout " + layout + " (nchw or channels-last)");
    if (device == "cpu" && precision == "bf16")
      throw UsageError("--precision bf16 runs on the GPU only (--device cuda); the CPU computes in fp32");
    if (device == "cpu" && layout == "channels-last")
      throw UsageError("--layout channels-last is the GPU's (--device cuda); the CPU keeps NCHW");
  }
  bool channels_last() const { return device == "cuda" && layout != "nchw"; }
};

inline const char* train_flags_help() {
  return "data:   --data DIR --format utkface|adience|folder|csv [--task gender|race|age|race+age]\n"
         "        [--classes m,f|m,f,other] [--subset F] [--val F] [--test F] [--seed N]\n"
         "        [--split-rule name|stratified (default name: each file's part by its name, the same for every task)]\n"
         "model:  --arch vgg16|vgg-face|resnet18|resnet34|resnet50|caffe|dlib-face [--width W] [--input PX] [--dropout P (vgg)]\n"
         "        (caffe: the --prototxt's network, e.g. a ResNet, its output layer resized to the classes)\n"
         "        (dlib-face: dlib's face ResNet from its .dat, 150x150 chips, a new Linear \"head\" on\n"
         "         --head-on fc (the 128-d descriptor, default) or pool (256-d); --scratch head --stages \"head:5,level4_b1_conv1:3:0.1\";\n"
         "         --chip dlib (default: dlib's face chip, 140 inside a 5-pixel border) or resize (the whole image);\n"
         "         --trunk-norm affine (dlib's, frozen) or batchnorm (in their place, to train from random weights))\n"
         "        [--norm vgg-face|vgg-face-255|imagenet|unit (default: vgg-face; imagenet for a ResNet)]\n"
         "        [--weights FILE (.npz model, caffe-tensorflow .npy, .caffemodel with --prototxt FILE,\n"
         "         torchvision state_dict .npz, .onnx: its graph, with its output Gemm resized or a new \"head\")]\n"
         "        [--scratch fc8 (a ResNet's: fc; an ONNX graph's: its output node)]\n"
         "train:  --stages \"fc8:5,conv5_1:3:0.1\" [--optimizer adam|sgd] [--lr R] [--momentum M] [--weight-decay D]\n"
         "        [--schedule constant|step:E:G|cosine] [--batch N] [--workers N] [--augment] [--no-cache]\n"
         "        [--cache-once (one feature cache below every stage, not one per stage)]\n"
         "        [--train-eval N] [--init-seed N] [--resume]\n"
         "        [--sync-bn (under mpirun: BatchNorm statistics of the global batch, not of each rank's share)]\n"
         "run:    --device cpu|cuda --out DIR [--backbone FILE.npy]\n"
         "        [--precision fp32|bf16 (cuda: bf16 convolutions and fc layers, float32 accumulation and weights)]\n"
         "        [--layout channels-last|nchw (cuda's activations; default channels-last)]\n"
         "        [--tta (the test split's predictions average each image and its mirror image)]\n";
}

// ---- the steps of a training run, in the order run_train takes them ----

// 1. A pretrained model file brings its own architecture and preprocessing: the flags not
// given are adopted from it, so that fine-tuning feeds the trunk what it was trained on.
inline void adopt_dlib_file(TrainConfig& c);
inline void adopt_described_model(TrainConfig& c) {
  if (nn::is_dlib_path(c.weights)) return adopt_dlib_file(c);
  nn::ModelInfo from_file;
  if (c.weights.empty() || !nn::read_model_info(c.weights, from_file)) {
    if (c.model.dlib_face() && !c.norm_given)
      throw UsageError("--arch dlib-face takes its input means from dlib's .dat (--weights "
                       "dlib_face_recognition_resnet_model_v1.dat) or a dlib-face model.npz; without one, give --norm");
    if (c.model.arch == "onnx")
      std::printf("using the graph of %s: input %lld, %s%s\n", c.weights.c_str(), static_cast<long long>(c.model.input()),
                  c.norm_given ? "its preprocessing from --norm" : "ImageNet's normalisation (the file does not say; --norm otherwise)",
                  "");
    return;
  }
  if (!c.arch_given && from_file.arch != c.model.arch) {
    // The defaults that name the classifier follow the architecture (a ResNet's is "fc").
    const std::string was = nn::classifier_node(c.model.arch), head = nn::classifier_node(from_file.arch);
    c.model.arch = from_file.arch;
    if (!c.scratch_given && c.scratch == std::vector<std::string>{was}) c.scratch = {head};
    if (!c.stages_given && c.stages == was + ":5") c.stages = head + ":5";
  }
  if (c.model.dlib_face() && from_file.dlib_face()) {
    c.model.dist_thresh = from_file.dist_thresh;
    if (!c.head_on_given) c.model.head_on = from_file.head_on;
    c.model.trunk_norm = from_file.trunk_norm;  // the file's layers decide
    if (!c.chip_given) c.model.chip = from_file.chip;
  }
  if (c.model.arch == "caffe" && c.model.prototxt.empty()) c.model.prototxt = from_file.prototxt;
  if (c.model.arch == "onnx" && from_file.arch == "onnx") c.model.onnx = from_file.onnx;
  if (!c.width_given) c.model.vgg.width = from_file.vgg.width;
  if (!c.input_given) c.model.vgg.input = from_file.vgg.input;
  if (!c.dropout_given) c.model.vgg.dropout = from_file.vgg.dropout;
  if (!c.norm_given) c.model.norm = from_file.norm;
  if (!c.resize_given) c.model.resize = from_file.resize;
  std::printf("using the architecture of %s: %s, its preprocessing%s\n", c.weights.c_str(),
              c.model.geometry().c_str(), c.norm_given ? " replaced by --norm" : "");
}

// dlib's own .dat: arch dlib-face, and the file's input means ((p - mean) / 256, RGB) and
// threshold, recorded in model.npz so that graft-eval and graft-predict need no flag.
inline void adopt_dlib_file(TrainConfig& c) {
  if (c.arch_given && !c.model.dlib_face())
    throw UsageError(c.weights + " is a dlib network: it loads into --arch dlib-face, not " + c.model.arch);
  if (!c.model.dlib_face()) {
    const std::string was = nn::classifier_node(c.model.arch);
    c.model.arch = "dlib-face";
    if (!c.scratch_given && c.scratch == std::vector<std::string>{was}) c.scratch = {"head"};
    if (!c.stages_given && c.stages == was + ":5") c.stages = "head:5";
    c.model.vgg.input = 150;
    c.model.vgg.dropout = 0;
  }
  if (c.model.trunk_norm != "affine")
    throw UsageError(c.weights + " holds dlib's affines: --trunk-norm " + c.model.trunk_norm +
                     " is for training the architecture from random weights (no --weights)");
  const io::DlibNet file = io::read_dlib(c.weights);
  nn::DlibFaceInfo info;
  for (int k = 0; k < 3; ++k) info.mean[k] = file.mean[k];
  if (!c.norm_given) c.model.norm = nn::dlib_face_normalization(info);
  c.model.dist_thresh = file.dist_thresh;
  std::printf("using dlib's network %s: %s, (p - mean) / 256 with its means %g, %g, %g%s\n", c.weights.c_str(),
              c.model.geometry().c_str(), double(info.mean[0]), double(info.mean[1]), double(info.mean[2]),
              c.norm_given ? " (replaced by --norm)" : "");
}

// 2. The dataset with the task's labels and its splits; the model takes the data's classes.
struct RunData {
  data::Dataset all;
  Splits sp;
};
inline RunData open_run_data(TrainConfig& c) {
  RunData d;
  d.all = open_dataset(c.data);
  std::printf("%s\n", d.all.summary().c_str());
  d.sp = split_dataset(d.all, c.data);
  c.model.classes = d.all.classes;
  c.model.task = c.data.task;
  std::printf("train %lld (subset %g), validation %lld, test %lld\n", static_cast<long long>(d.sp.train.size()),
              c.data.subset, static_cast<long long>(d.sp.val.size()), static_cast<long long>(d.sp.test.size()));
  return d;
}

// 3. Pretrained weights into the network (skipping the scratch layers), saying what was done.
template <class D>
void load_pretrained(nn::Network<float, D>& net, const TrainConfig& c) {
  if (c.weights.empty()) return;
  if (io::is_caffemodel_path(c.weights) && c.prototxt.empty())
    throw UsageError("a .caffemodel needs its --prototxt (the deploy file beside it)");
  nn::LoadOptions o;
  o.skip = c.scratch;
  const nn::LoadReport rep = nn::load_weights_file(net.layers(), c.weights, c.prototxt, o);  // no Caffe, no Python
  std::string initial;
  for (const auto& x : rep.initial) initial += (initial.empty() ? "" : ", ") + x;
  std::printf("weights %s: %zu arrays loaded, %zu left at initial values (%s)\n", c.weights.c_str(),
              rep.loaded.size(), rep.initial.size(), initial.empty() ? "none" : initial.c_str());
}

template <class D>
std::unique_ptr<train::Optimizer<float, D>> make_optimizer(const TrainConfig& c) {
  if (c.optimizer == "adam")
    return std::make_unique<train::Adam<float, D>>(train::AdamOptions{c.lr, 0.9f, 0.999f, 1e-8f, c.weight_decay});
  if (c.optimizer == "sgd")
    return std::make_unique<train::Sgd<float, D>>(train::SgdOptions{c.lr, c.momentum, c.weight_decay, false});
  throw UsageError("unknown --optimizer " + c.optimizer + " (adam or sgd)");
}

// 4. The four loaders of a run: training (augmented when asked), a stratified sample of the
// training split evaluated each epoch, validation and test (all evaluated without
// augmentation), with the batch sources fit() reads.
struct RunLoaders {
  data::Loader train, train_eval, val, test;
  train::LoaderSource tr{train}, te{train_eval}, va{val}, ts{test};

  RunLoaders(const TrainConfig& c, const Splits& sp)
      : train(sp.train, train_transform(c.model, c.augment), train_options(c, sp.train)),
        train_eval(train_eval_set(c, sp.train), eval_transform(c.model), options(c, false)),
        val(sp.val, eval_transform(c.model), options(c, false)),
        test(sp.test, eval_transform(c.model), options(c, false)) {}

  static data::LoaderOptions options(const TrainConfig& c, bool shuffle) {
    data::LoaderOptions lo;
    lo.batch_size = c.batch;
    lo.workers = c.workers;
    lo.seed = c.data.seed;
    lo.shuffle = shuffle ? lo.shuffle : false;
    lo.shard = my_shard();  // data parallel: this rank's samples of every global batch
    return lo;
  }
  // A BatchNorm needs more than one value per channel while training, and a ResNet's layer4
  // is 1x1 at small inputs (32x32; dlib-face's level5 conv2 always is), so a last training
  // batch of a single image would fail there (as in PyTorch): the training loader of a
  // network with BatchNorm leaves such a batch out (a graph from a file, ONNX's or Caffe's, may
  // have one: so too).
  static data::LoaderOptions train_options(const TrainConfig& c, const data::Dataset& train) {
    data::LoaderOptions lo = options(c, true);
    const bool batch_norm = c.model.resnet() || (c.model.dlib_face() && c.model.trunk_norm == "batchnorm") ||
                            c.model.arch == "onnx" || c.model.arch == "caffe";
    lo.drop_last = batch_norm && train.size() > c.batch && train.size() % c.batch == 1;
    return lo;
  }
  static data::Dataset train_eval_set(const TrainConfig& c, const data::Dataset& train) {
    if (c.train_eval_max <= 0 || train.size() <= c.train_eval_max) return train;
    return train.select(
        data::stratified_subset(train, double(c.train_eval_max) / double(train.size()), c.data.seed));
  }
};

// 5. The staged fit, printing a progress bar per epoch and a line after it.
template <class D>
std::vector<train::EpochRecord> fit_stages(train::Trainer<D>& trainer, RunLoaders& l, int classes,
                                           const TrainConfig& c) {
  train::FitOptions fo;
  fo.stages = train::parse_stages(c.stages);
  fo.schedule = c.schedule;
  fo.checkpoint = c.out + "/checkpoint.npz";
  fo.resume = c.resume;
  fo.cache_once = c.cache_once;
  fo.seed = c.data.seed;
  std::unique_ptr<Progress> bar;
  fo.on_batch = [&](const train::BatchInfo& b) {
    if (!bar) bar = std::make_unique<Progress>("train", l.tr.size());
    bar->update(b.images, b.loss);
  };
  fo.on_epoch = [&](const train::EpochRecord& r, const train::Evaluation*, const train::Evaluation*) {
    bar.reset();
    std::printf("%-7s %-11s %9.4f %8.4f %9.4f %8.1f %s\n", r.epoch == 0 ? "Rand" : std::to_string(r.epoch).c_str(),
                r.stage.c_str(), r.train_accuracy, r.val_accuracy, r.loss, r.seconds,
                r.cached_batches ? "(from cached features)" : "");
    std::fflush(stdout);
  };
  std::printf("%-7s %-11s %9s %8s %9s %8s %s\n", "epoch", "stage", "train_acc", "val_acc", "loss", "seconds", "");
  auto history = train::fit(trainer, l.tr, &l.te, &l.va, classes, fo);
  bar.reset();
  return history;
}

// 6. The report of the test evaluation: what was run, the learning curve, the confusion
// matrix and the accuracy per group.
inline train::Report test_report(const TrainConfig& c, const RunData& d, const train::Evaluation& test,
                                 const std::vector<train::EpochRecord>& history) {
  train::Report rep;
  rep.title = c.title;
  rep.classes = d.all.classes;
  rep.confusion = test.confusion;
  rep.evaluated_on = "the held-out test split of " + d.all.name + tta_note(c.tta);
  rep.epochs = history;
  rep.groups = group_accuracy(d.sp.test, test);
  auto g = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  double train_seconds = 0;
  for (const auto& r : history) train_seconds += r.seconds;
  const std::string dev = c.device == "cuda" ? "cuda, " + c.precision + ", " + (c.channels_last() ? "channels-last" : "nchw")
                                             : c.device;
  rep.info = {{"device", dev},
              {"data", d.all.name + ", task " + c.data.task + ", train " + std::to_string(d.sp.train.size()) +
                           " (subset " + g(c.data.subset) + "), validation " + std::to_string(d.sp.val.size()) +
                           ", test " + std::to_string(d.sp.test.size())},
              {"model", c.model.geometry() +
                            (c.model.resize > 0 ? ", evaluated on centre crops of a shorter side of " +
                                                      std::to_string(c.model.resize)
                                                : "")},
              {"weights", c.weights.empty() ? "random initialisation (seed " + std::to_string(c.init_seed) + ")" : c.weights},
              {"stages", c.stages + (c.schedule == "constant" ? "" : ", schedule " + c.schedule)},
              {"optimizer", c.optimizer + ", learning rate " + g(c.lr)},
              {"training time", g(train_seconds) + " s"},
              {"augmentation", c.augment ? train_transform(c.model, true).str() : "none"},
              {"feature cache", c.cache ? (c.cache_once ? "on, once below every stage" : "on") : "off"},
              {"ranks", world().size() == 1 ? std::string("1") :
                            std::to_string(world().size()) + " (data parallel over " + world().engine() +
                                ", global batch " + std::to_string(c.batch) +
                                (c.sync_bn ? ", synchronised BatchNorm" : "") + ")"}};
  return rep;
}

// 7. The tables on stdout; metrics.json, report.html, model.npz (and the backbone) in --out.
template <class D>
void write_outputs(const TrainConfig& c, nn::Network<float, D>& net, const train::Report& rep,
                   const std::vector<train::EpochRecord>& history) {
  if (!writer()) return;  // rank 0 alone writes; every rank holds the same model and report
  std::printf("\nlearning curve\n%s", train::learning_curve_table(history).c_str());
  std::printf("\nconfusion matrix (%s)\n%s", rep.evaluated_on.c_str(), train::confusion_table(rep.confusion, rep.classes).c_str());
  const std::string groups = train::group_table(rep.groups);
  if (!groups.empty()) std::printf("\naccuracy per group (test split)\n%s", groups.c_str());
  train::write_report(c.out, rep);
  nn::save_model(c.out + "/model.npz", net, c.model);
  if (!c.backbone.empty()) nn::save_weights(net.layers(), c.backbone, io::WeightsFormat::caffe_tensorflow);
  std::printf("\nwrote %s/metrics.json, %s/report.html, %s/model.npz%s%s\n", c.out.c_str(), c.out.c_str(), c.out.c_str(),
              c.backbone.empty() ? "" : ", ", c.backbone.c_str());
}

template <class D>
int run_train(TrainConfig c) {
  std::filesystem::create_directories(c.out);
  adopt_described_model(c);
  // Augmented training sees random crops of a shorter side 8/7 of the input; evaluation (and
  // the saved model) then takes the centre crop at that same scale, so faces are as large as
  // in training. On UTKFace's validation split this was worth 1.9 points over squeezing the
  // whole image into the input (docs/results.md).
  if (c.augment && c.model.resize == 0 && !c.model.dlib_face()) c.model.resize = augment_resize(c.model.input());
  const RunData d = open_run_data(c);
  const int classes = int(d.all.classes.size());

  auto net = nn::build<float, D>(c.model);
  net->initialize(c.init_seed);
  load_pretrained(*net, c);
  if constexpr (std::is_same<D, CUDA>::value) {  // (read() refused both on the CPU)
    net->context().set_precision(parse_precision(c.precision));
    net->context().set_channels_last(c.channels_last());
    net->fuse_relu();  // ReLU into the convolution below or the dropout above (the same values, one pass fewer)
  }
  auto opt = make_optimizer<D>(c);
  RunLoaders loaders(c, d.sp);

  typename train::Trainer<D>::Options to;
  to.use_cache = c.cache;
  to.comm = &world();
  to.sync_batchnorm = c.sync_bn;
  train::Trainer<D> trainer(*net, *opt, to);
  std::printf("%s", net->summary().c_str());
  if (trainer.batchnorm_sync())
    std::printf("synchronised BatchNorm: %zu layers take statistics over all %d ranks\n", trainer.synced_layers(),
                world().size());
  const auto history = fit_stages(trainer, loaders, classes, c);

  const train::Evaluation test = trainer.evaluate(loaders.ts, classes, c.tta);
  write_outputs(c, *net, test_report(c, d, test, history), history);
  return 0;
}

}  // namespace app
}  // namespace graft
