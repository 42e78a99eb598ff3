// fit: staged fine-tuning with an evaluation before training (the "Rand" point of a
// learning curve) and after every epoch, and checkpoints to resume from.
//
//   stages "fc8:5,conv5_1:3:0.1": fc8 alone learns for 5 epochs, then conv5_1 and up for 3
//   epochs at the optimizer's rate x 0.1. Epochs are numbered across stages from 1; epoch 0
//   is the evaluation before any training.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "graft/train/checkpoint.hpp"
#include "graft/train/history.hpp"
#include "graft/train/schedule.hpp"
#include "graft/train/trainer.hpp"

namespace graft {
namespace train {

struct FitOptions {
  std::vector<Stage> stages;
  std::string schedule = "constant";  // within each stage: constant, step:E:G, cosine[:MIN]
  std::string checkpoint;             // written after every epoch (temporary file, then rename)
  bool resume = false;                // continue from `checkpoint` when it exists
  int last_epoch = -1;                // stop after this epoch (-1: run every stage)
  uint64_t seed = 0;                  // recorded in checkpoints
  // Cache the features once, at the cut below every stage's learners, instead of again at
  // each stage's own cut: one pass over the frozen trunk for the whole run, at the price of
  // running the layers between the cuts in the earlier stages' epochs (cheap when the later
  // stages unfreeze only a small top, as dlib-face's level5).
  bool cache_once = false;
  std::function<void(const BatchInfo&)> on_batch;
  // After each evaluation (epoch 0 too), with its record and the two evaluations.
  std::function<void(const EpochRecord&, const Evaluation* train, const Evaluation* val)> on_epoch;
};

// Stage of a global epoch (1-based) and the epoch's index within it; {-1, -1} past the end.
inline std::pair<int, int> stage_of(const std::vector<Stage>& stages, int epoch) {
  int start = 1;
  for (size_t s = 0; s < stages.size(); ++s) {
    if (epoch < start + stages[s].epochs) return {int(s), epoch - start};
    start += stages[s].epochs;
  }
  return {-1, -1};
}

inline int total_epochs(const std::vector<Stage>& stages) {
  int n = 0;
  for (const auto& s : stages) n += s.epochs;
  return n;
}

// `train_eval` and `val` may be null (then that accuracy is reported as 0). A NaN or
// infinite loss throws NonFiniteLoss and leaves the last checkpoint as it was.
//
// Data parallel (a trainer with several ranks): the ranks first check that they hold the
// same network and data; every rank computes the same history; rank 0 alone writes the
// checkpoint, and every rank resumes from it, whatever the number of ranks that wrote it
// (a checkpoint holds nothing per rank).
template <class D>
std::vector<EpochRecord> fit(Trainer<D>& trainer, BatchSource& train, BatchSource* train_eval,
                             BatchSource* val, int classes, const FitOptions& o) {
  GRAFT_CHECK(!o.stages.empty(), "fit: no stages given");
  auto& net = trainer.network();
  for (const auto& s : o.stages)
    if (s.from != "all") net.find(s.from);  // fails early, listing the layers, on a bad name
  const bool writer = trainer.communicator().rank() == 0;
  std::vector<EpochRecord> history;
  int first = 1;
  struct stat sb;
  if (o.resume && !o.checkpoint.empty() && ::stat(o.checkpoint.c_str(), &sb) == 0) {
    CheckpointState st = load_checkpoint(o.checkpoint, net, trainer.optimizer());
    history = st.history;
    // A checkpoint keeps the curve's numbers; each epoch's stage follows from the stages.
    for (auto& r : history) {
      const int s = r.epoch >= 1 ? stage_of(o.stages, r.epoch).first : -1;
      if (s >= 0) r.stage = o.stages[size_t(s)].from;
    }
    first = st.epoch + 1;
    trainer.clear_cache();
  }
  // After resuming: a rank that could not read the checkpoint differs from the others.
  trainer.verify_same_setup({&train, train_eval, val});
  auto evaluate = [&](EpochRecord& r) {
    Evaluation et, ev;
    if (train_eval) {
      et = trainer.evaluate(*train_eval, classes);
      r.train_accuracy = et.accuracy();
    }
    if (val) {
      ev = trainer.evaluate(*val, classes);
      r.val_accuracy = ev.accuracy();
      r.val_loss = ev.loss;
    }
    if (r.epoch == 0) r.loss = train_eval ? et.loss : ev.loss;
    history.push_back(r);
    if (o.on_epoch) o.on_epoch(r, train_eval ? &et : nullptr, val ? &ev : nullptr);
  };
  const int total = total_epochs(o.stages);
  const int last = o.last_epoch < 0 ? total : std::min(total, o.last_epoch);
  auto enter_stage = [&](int s) {
    const Stage& st = o.stages[size_t(s)];
    if (st.from == "all") net.unfreeze_all();
    else net.unfreeze_from(st.from);
  };
  if (o.cache_once) {
    // The lowest cut any cached stage has (a stage where everything learns has none).
    const bool was = net.training();
    net.set_training(true);  // the boundary is taken in training mode, as the trainer does
    size_t lowest = 0;
    for (size_t s = 0; s < o.stages.size(); ++s) {
      enter_stage(int(s));
      const size_t k = nn::cache_boundary(net);
      if (k > 0 && (lowest == 0 || k < lowest)) lowest = k;
    }
    net.set_training(was);
    trainer.set_cache_limit(lowest);
  }
  if (first == 1) {
    if (total > 0) enter_stage(0);  // epoch 0's cache boundary is the first stage's
    EpochRecord r0;
    evaluate(r0);
  }
  int current_stage = -1;
  for (int e = first; e <= last; ++e) {
    const auto [s, within] = stage_of(o.stages, e);
    const Stage& st = o.stages[size_t(s)];
    if (s != current_stage) {
      enter_stage(s);
      current_stage = s;
    }
    const Schedule sched = Schedule::parse(o.schedule, st.epochs);
    const float scale = st.lr_scale * sched.factor(within);
    EpochStats es = trainer.train_epoch(train, uint64_t(e), scale, o.on_batch);
    EpochRecord r;
    r.epoch = e;
    r.stage = st.from;
    r.loss = es.loss;
    r.seconds = es.seconds;
    r.cached_batches = es.cached_batches;
    evaluate(r);
    if (!o.checkpoint.empty() && writer) {
      CheckpointState cs;
      cs.epoch = e;
      cs.seed = o.seed;
      cs.history = history;
      save_checkpoint(o.checkpoint, net, trainer.optimizer(), cs);
    }
  }
  return history;
}

}  // namespace train
}  // namespace graft
