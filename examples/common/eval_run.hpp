// The bodies of graft-eval, graft-predict and graft-extract, on any device.
#pragma once

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/model_args.hpp"
#include "common/progress.hpp"
#include "common/setup.hpp"
#include "common/world.hpp"
#include "graft/io.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/json.hpp"
#include "graft/train/loader_source.hpp"
#include "graft/train/report.hpp"
#include "graft/train/train.hpp"

namespace graft {
namespace app {

// The samples of the chosen split (all, train, val or test) with the model's classes.
inline data::Dataset chosen_split(const DataConfig& dc, const std::string& split, const nn::ModelInfo& m) {
  data::Dataset all = open_dataset(dc);
  if (all.classes.size() != m.classes.size())
    throw UsageError("the data has " + std::to_string(all.classes.size()) + " classes, the model " +
                     std::to_string(m.classes.size()));
  if (split == "all") return all;
  Splits sp = split_dataset(all, dc);
  if (split == "train") return sp.train;
  if (split == "val") return sp.val;
  if (split == "test") return sp.test;
  throw UsageError("unknown --split " + split + " (all, train, val or test)");
}

// ---- graft-eval ----
struct EvalConfig {
  ModelArgs model;
  DataConfig data;
  std::string split = "all", out, device = "cpu";
  int64_t batch = 32;
  int workers = 2;
  bool tta = false;  // average each image's prediction with its mirror image's
};

template <class D>
int run_eval(EvalConfig c) {
  auto net = c.model.template load<D>();
  if (c.data.task == "gender" && !c.model.info.task.empty()) c.data.task = c.model.info.task;
  data::Dataset ds = chosen_split(c.data, c.split, c.model.info);
  std::printf("evaluating %s on %s: %lld images\n", c.model.weights.c_str(), ds.name.c_str(),
              static_cast<long long>(ds.size()));
  data::LoaderOptions lo;
  lo.batch_size = c.batch;
  lo.workers = c.workers;
  lo.shuffle = false;
  lo.shard = my_shard();  // under mpirun each rank evaluates its share; the trainer gathers them
  data::Loader loader(ds, eval_transform(c.model.info), lo);
  train::LoaderSource src(loader);
  typename train::Trainer<D>::Options to;
  to.comm = &world();
  train::Trainer<D> t(*net, to);  // evaluation only: no optimizer
  train::Evaluation ev = t.evaluate(src, int(c.model.info.classes.size()), c.tta);
  train::Report rep;
  rep.title = "graft-eval: " + c.model.weights;
  rep.classes = c.model.info.classes;
  rep.confusion = ev.confusion;
  rep.evaluated_on = c.split + " of " + ds.name + tta_note(c.tta);
  rep.groups = group_accuracy(ds, ev);
  rep.info = {{"weights", c.model.weights}, {"data", ds.name}, {"split", c.split}, {"device", c.device},
              {"loss", std::to_string(ev.loss)}, {"test-time augmentation", c.tta ? "mirror" : "none"}};
  std::printf("%s", train::confusion_table(ev.confusion, rep.classes).c_str());
  const std::string groups = train::group_table(rep.groups);
  if (!groups.empty()) std::printf("accuracy per group\n%s", groups.c_str());
  if (!c.out.empty() && writer()) {
    std::filesystem::create_directories(c.out);
    train::write_report(c.out, rep);
    std::printf("wrote %s/metrics.json and %s/report.html\n", c.out.c_str(), c.out.c_str());
  }
  return 0;
}

// ---- graft-predict ----
struct PredictConfig {
  ModelArgs model;
  std::vector<std::string> files;
  bool json = false;
  std::string device = "cpu";
};

template <class D>
int run_predict(PredictConfig c) {
  auto net = c.model.template load<D>();
  const auto& m = c.model.info;
  const int64_t side = m.input();
  const int k = int(m.classes.size());
  Context<D>& ctx = net->context();
  SoftmaxCrossEntropy<float, D> softmax;
  softmax.setup(ctx);
  Tensor<float, D> x;
  Tensor<float> host, probs;
  data::Image img, scratch;
  std::vector<uint8_t> bytes;
  std::string out = c.json ? "[" : "";
  for (size_t i = 0; i < c.files.size(); ++i) {
    data::load_image(c.files[i], img, bytes);
    // An image already at the input size is used as it is; others are resized and cropped.
    data::Transform t = eval_transform(m);
    if (img.width == side && img.height == side) {
      t.resize_shorter = 0;
      t.crop = {0, 0};
    }
    t.apply(img, 0, host);
    if (host.shape() != Shape({1, 3, side, side}))
      throw Error(c.files[i] + ": the image gives " + host.shape().str() + ", the network needs (1, 3, " +
                  std::to_string(side) + ", " + std::to_string(side) + ")");
    if constexpr (std::is_same<D, CPU>::value) {
      softmax.predict(net->forward(host));
      copy(softmax.probabilities(), probs);
    } else {
      copy_from_host(host, x);
      softmax.predict(net->forward(x));
      copy_to_host(softmax.probabilities(), probs);
    }
    int best = 0;
    for (int j = 1; j < k; ++j)
      if (probs[j] > probs[best]) best = j;
    if (c.json) {
      out += std::string(i ? ",\n " : "\n ") + "{\"file\": " + train::json::str(c.files[i]) +
             ", \"label\": " + train::json::str(m.classes[size_t(best)]) + ", \"probabilities\": [";
      for (int j = 0; j < k; ++j) out += (j ? ", " : "") + train::json::num(probs[j]);
      out += "]}";
    } else {
      std::printf("%s: %s (%.4f)", c.files[i].c_str(), m.classes[size_t(best)].c_str(), double(probs[best]));
      for (int j = 0; j < k && k <= 10; ++j) std::printf("  %s %.4f", m.classes[size_t(j)].c_str(), double(probs[j]));
      std::printf("\n");
    }
  }
  if (c.json) std::printf("%s\n]\n", out.c_str());
  return 0;
}

// ---- graft-extract ----
struct ExtractConfig {
  ModelArgs model;
  DataConfig data;
  std::string layer = "fc7", out = "runs/extract", device = "cpu";
  std::vector<int64_t> per_class{0};  // examples per class for the classifier (0: all)
  int epochs = 100;
  float lr = 1e-3f, weight_decay = 1e-4f;
  int64_t batch = 64;
  int workers = 2;
};

// Features of every sample of `ds` at layer `layer` (evaluation mode), as (n, f) on the host.
template <class D>
Tensor<float> extract_features(nn::Network<float, D>& net, const data::Dataset& ds, const nn::ModelInfo& m,
                               const std::string& layer, int64_t batch, int workers) {
  const int li = net.index_of(layer);
  if (li < 0) throw UsageError("the network has no layer " + layer);
  const int64_t f = net.shape_after(li).numel();
  Tensor<float> out(Shape{ds.size(), f});
  out.zero();
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.workers = workers;
  lo.shuffle = false;
  lo.shard = my_shard();  // each rank its samples' rows; summed across ranks below
  data::Loader loader(ds, eval_transform(m), lo);
  loader.start_epoch(0);
  Tensor<float, D> x;
  Tensor<float> rows;
  Progress bar("extract " + layer, ds.size());
  int64_t done = 0;
  net.set_training(false);
  while (const data::Batch* b = loader.next()) {
    if (b->size() == 0) continue;  // none of this rank's samples in the batch
    if constexpr (std::is_same<D, CPU>::value) {
      net.forward(b->images);
      copy(net.activation(size_t(li)), rows);
    } else {
      copy_from_host(b->images, x);
      net.forward(x);
      copy_to_host(net.activation(size_t(li)), rows);
    }
    for (int64_t i = 0; i < b->size(); ++i)
      std::copy(rows.data() + i * f, rows.data() + (i + 1) * f, out.data() + b->indices[size_t(i)] * f);
    done += b->size();
    bar.update(done, 0);
  }
  if (world().size() > 1) {  // every row was written by one rank, zeros by the others: the sum is exact
    world().wait(world().start_allreduce_sum(out.data(), out.size(), "the extracted features"));
  }
  return out;
}

template <class D>
int run_extract(ExtractConfig c) {
  namespace fs = std::filesystem;
  auto net = c.model.template load<D>();
  const auto& m = c.model.info;
  data::Dataset all = open_dataset(c.data);
  Splits sp = split_dataset(all, c.data);
  if (writer()) fs::create_directories(c.out);
  std::printf("extracting %s features of %s: train %lld, validation %lld, test %lld images\n", c.layer.c_str(),
              all.name.c_str(), static_cast<long long>(sp.train.size()), static_cast<long long>(sp.val.size()),
              static_cast<long long>(sp.test.size()));
  Tensor<float> ftr = extract_features(*net, sp.train, m, c.layer, c.batch, c.workers);
  Tensor<float> fva = extract_features(*net, sp.val, m, c.layer, c.batch, c.workers);
  Tensor<float> fte = extract_features(*net, sp.test, m, c.layer, c.batch, c.workers);
  auto labels_of = [](const data::Dataset& ds) {
    Tensor<int32_t> l(Shape{ds.size()});
    for (int64_t i = 0; i < ds.size(); ++i) l[i] = ds.samples[size_t(i)].label;
    return l;
  };
  Tensor<int32_t> ltr = labels_of(sp.train), lva = labels_of(sp.val), lte = labels_of(sp.test);
  // Every rank holds every feature now; rank 0 writes them, and every rank fits the same
  // small regressions (cheap next to the extraction), so that all leave together.
  if (writer()) {
    io::write_npy(c.out + "/features_train.npy", ftr);
    io::write_npy(c.out + "/labels_train.npy", ltr);
    io::write_npy(c.out + "/features_val.npy", fva);
    io::write_npy(c.out + "/labels_val.npy", lva);
    io::write_npy(c.out + "/features_test.npy", fte);
    io::write_npy(c.out + "/labels_test.npy", lte);
    // The files in row order, for analyses by group (UTKFace's names carry age and race).
    for (const auto* part : {&sp.train, &sp.val, &sp.test}) {
      std::string list;
      for (const auto& s : part->samples) list += s.path + "\n";
      const char* name = part == &sp.train ? "train" : part == &sp.val ? "val" : "test";
      train::write_text_file(c.out + "/files_" + name + ".txt", list);
    }
  }
  std::printf("wrote %s/features_{train,val,test}.npy, labels_{train,val,test}.npy and files_{train,val,test}.txt\n",
              c.out.c_str());

  // A softmax regression (one fully connected layer) on the features, on the same device.
  const int k = int(all.classes.size());
  const int64_t f = ftr.shape()[1];
  std::printf("\nsoftmax regression on %s features (%lld per sample), %d epochs of Adam:\n", c.layer.c_str(),
              static_cast<long long>(f), c.epochs);
  std::printf("%-18s %10s %14s\n", "examples/class", "train n", "test accuracy");
  std::string json = "{\"layer\": " + train::json::str(c.layer) + ", \"results\": [";
  for (size_t r = 0; r < c.per_class.size(); ++r) {
    std::vector<int64_t> pick;  // the first n of each class in a seeded shuffle
    std::vector<std::vector<int64_t>> by(static_cast<size_t>(k));
    Rng rng(c.data.seed + 17);
    std::vector<int64_t> order(size_t(ftr.shape()[0]));
    for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (int64_t i : order) by[size_t(ltr[i])].push_back(i);
    for (auto& v : by) {
      const size_t n = c.per_class[r] > 0 ? std::min(v.size(), size_t(c.per_class[r])) : v.size();
      pick.insert(pick.end(), v.begin(), v.begin() + int64_t(n));
    }
    Tensor<float> x(Shape{int64_t(pick.size()), f});
    Tensor<int32_t> y(Shape{int64_t(pick.size())});
    for (size_t i = 0; i < pick.size(); ++i) {
      std::copy(ftr.data() + pick[i] * f, ftr.data() + (pick[i] + 1) * f, x.data() + int64_t(i) * f);
      y[int64_t(i)] = ltr[pick[i]];
    }
    nn::Network<float, D> clf(Shape{f});
    clf.fc("classifier", k);
    clf.initialize(c.data.seed);
    train::Adam<float, D> adam({c.lr, 0.9f, 0.999f, 1e-8f, c.weight_decay});
    train::Trainer<D> t(clf, adam);
    train::TensorSource src(x, y, c.batch, c.data.seed), test(fte, lte, 256);
    for (int e = 0; e < c.epochs; ++e) t.train_epoch(src, uint64_t(e));
    const double acc = t.evaluate(test, k).accuracy();
    std::printf("%-18s %10zu %14.4f\n", c.per_class[r] > 0 ? std::to_string(c.per_class[r]).c_str() : "all",
                pick.size(), acc);
    json += std::string(r ? ", " : "") + "{\"per_class\": " + std::to_string(c.per_class[r]) + ", \"train\": " +
            std::to_string(pick.size()) + ", \"test_accuracy\": " + train::json::num(acc) + "}";
  }
  json += "]}\n";
  if (writer()) train::write_text_file(c.out + "/classifier.json", json);
  return 0;
}

}  // namespace app
}  // namespace graft
