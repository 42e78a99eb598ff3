// What the example programs share: opening a dataset in one of the real formats with the
// labels of a task, deterministic splits, the model description, transforms and groups.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "graft/data.hpp"
#include "graft/nn/model_file.hpp"
#include "graft/train/metrics.hpp"
#include "graft/train/trainer.hpp"

namespace graft {
namespace app {

// UTKFace's race codes and the age bands used for sources and for per-group accuracy.
inline const std::vector<std::string>& race_names() {
  static const std::vector<std::string> n{"white", "black", "asian", "indian", "other"};
  return n;
}
inline const std::vector<int>& age_edges() {
  static const std::vector<int> e{0, 13, 20, 30, 45, 60};
  return e;
}

struct DataConfig {
  std::string dir;                   // empty: GRAFT_DATA/<format's folder>
  std::string format = "utkface";    // utkface | adience | folder | csv
  std::string task = "gender";       // gender; UTKFace sources: race | age | race+age
  std::vector<std::string> classes;  // display names (gender: m,f or m,f,other)
  double subset = 1.0;               // fraction of the training split used
  double val = 0.1, test = 0.1;      // held-out fractions
  uint64_t seed = 1;
  // name: the part of each file by a hash of its name (the same for every task, so a source
  // model never trains on the target's test faces); stratified: balanced per class of this task.
  std::string split_rule = "name";

  void read(Args& a) {
    dir = a.str("data", dir);
    format = a.str("format", format);
    task = a.str("task", task);
    if (a.has("classes")) classes = split_list(a.str("classes"));
    subset = a.num("subset", subset);
    val = a.num("val", val);
    test = a.num("test", test);
    seed = uint64_t(a.integer("seed", int64_t(seed)));
    split_rule = a.str("split-rule", split_rule);
    GRAFT_CHECK(split_rule == "name" || split_rule == "stratified",
                "--split-rule must be name or stratified, got '", split_rule, "'");
  }
};

// The dataset with labels for the task. For race/age sources the gender label is replaced.
inline data::Dataset open_dataset(const DataConfig& c) {
  std::string dir = c.dir;
  const std::string fmt = c.format;
  if (dir.empty()) {
    const char* env = std::getenv("GRAFT_DATA");
    dir = std::string(env ? env : "../shared/data") + "/" + (fmt == "adience" ? "adience" : "utkface");
  }
  if (!std::filesystem::exists(dir)) throw UsageError("data folder " + dir + " does not exist");
  data::Dataset ds;
  if (fmt == "utkface") {
    ds = data::utkface(dir);
  } else if (fmt == "adience") {
    data::AdienceOptions o;
    o.classes = c.classes.size() == 3 ? 3 : 2;
    std::vector<int> folds;
    for (int f = 0; f < 5; ++f)
      if (std::filesystem::exists(std::filesystem::path(dir) / ("fold_" + std::to_string(f) + "_data.txt")))
        folds.push_back(f);
    if (folds.empty()) throw UsageError("no fold_N_data.txt in " + dir);
    ds = data::adience(dir, folds, o);
  } else if (fmt == "folder") {
    ds = data::image_folder(dir);
  } else if (fmt == "csv") {
    data::CsvOptions o;
    o.classes = c.classes;
    ds = data::csv_list(dir, o);
  } else {
    throw UsageError("unknown --format " + fmt + " (utkface, adience, folder or csv)");
  }
  if (c.task == "race" || c.task == "age" || c.task == "race+age") {
    if (fmt != "utkface") throw UsageError("--task " + c.task + " needs UTKFace (race and age in the file names)");
    const auto& edges = age_edges();
    const int bands = int(edges.size());
    data::Dataset out;
    out.name = ds.name + " (" + c.task + ")";
    if (c.task == "race") {
      out.classes = race_names();
    } else if (c.task == "age") {
      for (int b = 0; b < bands; ++b) out.classes.push_back(data::age_band_name(edges, b));
    } else {  // race-major: race r, band b -> r * bands + b
      for (const auto& r : race_names())
        for (int b = 0; b < bands; ++b) out.classes.push_back(r + "/" + data::age_band_name(edges, b));
    }
    for (auto s : ds.samples) {
      const int band = data::age_band(s, edges);
      if (s.race < 0 || s.race > 4 || band < 0) continue;
      s.label = c.task == "race" ? s.race : c.task == "age" ? band : s.race * bands + band;
      out.samples.push_back(s);
    }
    ds = std::move(out);
  } else if (c.task != "gender") {
    throw UsageError("unknown --task " + c.task + " (gender, race, age or race+age)");
  }
  if (!c.classes.empty() && c.task == "gender") {
    if (c.classes.size() != ds.classes.size())
      throw UsageError("--classes lists " + std::to_string(c.classes.size()) + " names but the data has " +
                       std::to_string(ds.classes.size()) + " classes");
    ds.classes = c.classes;
  }
  return ds;
}

struct Splits {
  data::Dataset train, val, test;
};

// Train/validation/test split by seed (by file name, or stratified by class), then the
// training subset (stratified).
inline Splits split_dataset(const data::Dataset& ds, const DataConfig& c) {
  data::Split s = c.split_rule == "stratified" ? data::stratified_split(ds, c.val, c.test, c.seed)
                                               : data::name_split(ds, c.val, c.test, c.seed);
  std::vector<int64_t> train = s.train;
  if (c.subset < 1.0) train = data::stratified_subset(ds, s.train, c.subset, c.seed);
  return {ds.select(train), ds.select(s.val), ds.select(s.test)};
}

// Evaluation: shorter side to `resize` (default the input side), centre crop.
// dlib-face: the face chip of a UTKFace-style crop (resized to 140, a 5-pixel black border),
// unless the model says chip=resize.
inline data::Transform eval_transform(const nn::ModelInfo& m) {
  const int in = int(m.input());
  if (m.dlib_face() && m.chip == "dlib") {
    data::Transform t = data::Transform::dlib_face_chip(in);
    t.norm = m.norm;
    return t;
  }
  data::Transform t = data::Transform::eval(m.resize > 0 ? m.resize : in, in);
  t.norm = m.norm;
  return t;
}
// What "evaluated on ..." adds under --tta (graft-eval and the trainers' test evaluation).
inline std::string tta_note(bool tta) { return tta ? ", each image and its mirror" : ""; }

// The shorter side augmented training crops from when the model names none: 8/7 of the
// input (ImageNet's 256 for 224).
inline int augment_resize(int64_t input) { return int((input * 8 + 6) / 7); }

// Training with augmentation: shorter side to the model's resize (default 8/7 of the input),
// random crop, random flip.
// dlib-face: the 140 face jittered (scale, translation, mirror), then the black border.
inline data::Transform train_transform(const nn::ModelInfo& m, bool augment) {
  if (!augment) return eval_transform(m);
  const int in = int(m.input());
  if (m.dlib_face() && m.chip == "dlib") {
    data::Transform t = data::Transform::dlib_face_chip_train(in);
    t.norm = m.norm;
    return t;
  }
  data::Transform t = data::Transform::train(m.resize > 0 ? m.resize : augment_resize(in), in);
  t.norm = m.norm;
  return t;
}

// Accuracy per race and age band (where the samples carry them).
inline train::GroupAccuracy group_accuracy(const data::Dataset& ds, const train::Evaluation& ev) {
  train::GroupAccuracy g;
  for (size_t i = 0; i < ev.indices.size(); ++i) {
    const data::Sample& s = ds.samples[size_t(ev.indices[i])];
    const bool ok = ev.predicted[i] == ev.labels[i];
    if (s.race >= 0 && s.race < 5) g.add("race", race_names()[size_t(s.race)], ok);
    const int band = data::age_band(s, age_edges());
    if (band >= 0) g.add("age", data::age_band_name(age_edges(), band), ok);
  }
  return g;
}

// The normalisation named on the command line.
inline data::Normalization normalization(const std::string& name) {
  using N = data::Normalization;
  if (name == "vgg-face") return N::vgg_face();
  if (name == "vgg-face-255") return N::mean_then_255(N::Order::BGR, N::vgg_face().mean);
  if (name == "imagenet") return N::imagenet();
  if (name == "unit") return N::unit_range();
  throw UsageError("unknown --norm " + name + " (vgg-face, vgg-face-255, imagenet or unit)");
}

}  // namespace app
}  // namespace graft
