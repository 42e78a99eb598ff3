// The benchmark core of graft-bench, a template on the device so that the same code times
// the CPU backend (graft_bench.cpp) and the CUDA backend (bench_cuda.cu).
//
// Every measurement is the median of timed repetitions after warm-up repetitions (which
// also make every buffer reach its final size, so that no timed repetition allocates).
// What a device must provide is BenchTraits<D> (see cpu_traits.hpp): sync(), the conv
// implementations it can select per layer, and the FMA peak used for fractions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/tensor.hpp"
#include "graft/layers/layers.hpp"
#include "graft/io/npz.hpp"
#include "graft/nn/dlib_face.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/batch.hpp"
#include "graft/train/optimizer.hpp"
#include "graft/train/trainer.hpp"
#include "json.hpp"

namespace graft {
namespace bench {

struct Options {
  std::string net = "vgg16";
  std::string mode = "forward";  // forward | train | head
  std::string device = "cpu";
  int64_t size = 224, batch = 8, classes = 2;
  double width = 1.0;            // VGG width multiplier (0.25: the reduced geometry)
  int warmup = 2, reps = 5;
  bool json = false, layers = false, quick = false;
  double peak = 0;               // GFLOP/s for fractions; 0: measure (CPU) or unknown
  // head mode: the fc8-only stage over `images` samples for `epochs` epochs
  int64_t images = 4400;
  int epochs = 10;
  int uncached_epochs = 0;       // epochs actually run without the cache; 0: all of them
  std::string conv_impl;         // force one conv implementation ("" = the backend's choice)
  std::string only_layer;        // --layers: only this layer ("" = all)
  // train mode: freeze everything, then let the nodes from this one on learn ("" = the
  // net's default: dlib-face level4_b1_conv1, the top two levels; the others everything;
  // "all" = everything)
  std::string learn_from;
  std::string weights;           // dlib-face: dlib's .dat to load ("" = random weights)
  std::string save;              // an .npz of the weights, the input batch and the output
  bool size_given = false;       // --size given (else dlib-face takes 150)
  uint64_t seed = 1;
};

template <class D>
struct BenchTraits;  // specialised per device

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
  std::vector<double> seconds;  // each timed repetition
  double median() const {
    if (seconds.empty()) return 0;
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    const size_t n = s.size();
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  }
  double min() const { return seconds.empty() ? 0 : *std::min_element(seconds.begin(), seconds.end()); }
};

// Runs f warmup times untimed, then reps times timed; `sync` waits for the device.
template <class F, class S>
Timing time_reps(int warmup, int reps, F&& f, S&& sync) {
  for (int i = 0; i < warmup; ++i) f();
  sync();
  Timing t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_seconds();
    f();
    sync();
    t.seconds.push_back(now_seconds() - t0);
  }
  return t;
}

template <class T>
void fill_random(Tensor<T>& t, uint64_t seed, double scale) {
  Rng rng(seed);
  for (auto& v : t) v = static_cast<T>(scale * rng.normal());
}

// A host tensor of random values copied to device D.
template <class D>
void random_on_device(const Shape& s, uint64_t seed, double scale, Tensor<float, D>& out) {
  Tensor<float> h(s);
  fill_random(h, seed, scale);
  copy_from_host(h, out);
}

template <class D>
bool all_finite(const Tensor<float, D>& t) {
  Tensor<float> h;
  copy_to_host(t, h);
  for (float v : h)
    if (!std::isfinite(v)) return false;
  return true;
}

// ---- FLOP counts (a multiply-add is 2 FLOPs) of a network's layers, as each layer states them ----
struct NetFlops {
  double forward = 0;   // per image
  double train = 0;     // forward + weight gradients + input gradients above the lowest learner
};

template <class D>
NetFlops count_flops(nn::Network<float, D>& net) {
  NetFlops f;
  const int low = net.lowest_learning_layer();
  for (size_t i = 0; i < net.size(); ++i) {
    auto& l = net.layer(i);
    const double fl = l.flops(l.input_shapes());  // set up for a batch of one
    f.forward += fl;
    if (low >= 0 && int(i) >= low) f.train += fl * (l.learns() ? 2 : 1) + (int(i) > low ? fl : 0);
    else f.train += fl;
  }
  return f;
}

// The classifier a fine-tuning head stage trains: VGG's fc8, torchvision's fc, the Linear
// "head" that graft-finetune puts on dlib-face's descriptor.
inline std::string head_name(const Options& o) {
  return o.net == "vgg16" ? "fc8" : o.net == "dlib-face" ? "head" : "fc";
}

// The lowest node that learns in train mode ("all": every node).
inline std::string learn_from(const Options& o) {
  if (!o.learn_from.empty()) return o.learn_from;
  return o.net == "dlib-face" ? "level4_b1_conv1" : "all";
}

// dlib-face: dlib's face ResNet (nn::dlib_face_resnet, 150x150 in, affines frozen) with a
// Linear "head" of --classes outputs on the 128-d descriptor fc, as graft-finetune --arch
// dlib-face builds it. Random weights unless --weights names dlib's .dat.
template <class D>
std::unique_ptr<nn::Network<float, D>> make_net(const Options& o) {
  GRAFT_CHECK(o.net == "vgg16" || o.net == "dlib-face" || nn::is_resnet(o.net), "unknown --net ", o.net,
              " (known: vgg16, resnet18, resnet34, resnet50, dlib-face)");
  GRAFT_CHECK(o.weights.empty() || o.net == "dlib-face", "--weights is for --net dlib-face (dlib's .dat)");
  std::unique_ptr<nn::Network<float, D>> net;
  if (o.net == "dlib-face") {
    GRAFT_CHECK(o.size == 150, "dlib-face takes 150x150 chips, not --size ", o.size);
    GRAFT_CHECK(o.width == 1.0, "--width applies to vgg16 and the resnets, not dlib-face");
    net = nn::dlib_face_resnet<float, D>(true);
    net->fc("head", o.classes);
  } else {
    net = o.net == "vgg16" ? nn::vgg16<float, D>(o.classes, {o.width, o.size, 0.5f})
                           : nn::resnet_by_name<float, D>(o.net, o.classes, {o.size, o.width});
  }
  net->initialize(o.seed);
  if (!o.weights.empty()) nn::load_dlib_face(net->layers(), io::read_dlib(o.weights));
  return net;
}

// The scale of the random input: pixel-like (0..255 before a mean is taken) for the nets
// that take raw pixels, dlib's (p - mean) / 256 for dlib-face.
inline double input_scale(const Options& o) { return o.net == "dlib-face" ? 0.25 : 50.0; }

// Train mode's freezing, as graft-finetune's stages do it: "all" unfreezes every node
// (dlib-face's affines too); a node name freezes everything, then lets that node and every
// later one learn (dlib-face's affines from there on too).
template <class D>
void apply_learn_from(nn::Network<float, D>& net, const Options& o) {
  const std::string from = learn_from(o);
  if (from == "all") {
    net.unfreeze_all();
    return;
  }
  net.freeze_all();
  net.unfreeze_from(from);
}

// --save FILE.npz: the weights (caffe-tensorflow layouts: conv HWIO, fc (in, out)) as
// "layer/param", the input batch as "graft/input" and the output as "graft/output", for a
// peer to check that it computes the same network (compare_torch.py check).
template <class D>
void save_run(const std::string& path, nn::Network<float, D>& net, const Tensor<float, D>& x, const Tensor<float, D>& y) {
  std::vector<io::NamedArray> arrays;
  const io::WeightsDict w = nn::weights_of(net.layers());
  for (const auto& l : w.layers())
    for (const auto& p : l.params) arrays.push_back({l.name + "/" + p.name, p.array});
  Tensor<float> h;
  copy_to_host(x, h);
  arrays.push_back({"graft/input", io::Array::from_tensor(h)});
  copy_to_host(y, h);
  arrays.push_back({"graft/output", io::Array::from_tensor(h)});
  io::write_npz(path, arrays, io::Compression::stored);
}

// --conv NAME: every convolution that has that algorithm runs it (the others keep theirs).
template <class D>
void apply_conv_impl(nn::Network<float, D>& net, const std::string& impl) {
  if (impl.empty()) return;
  int applied = 0;
  for (auto* l : net.layers()) {
    if (l->implementation_kind() != "convolution") continue;
    const auto v = l->implementations();
    if (impl != "auto" && std::find(v.begin(), v.end(), impl) == v.end()) continue;
    l->use_implementation(impl);
    ++applied;
  }
  GRAFT_CHECK(applied > 0, "graft-bench: no convolution of this network has the implementation '", impl, "'");
}

inline void put_timing(Json& j, const Timing& t, int64_t images) {
  const double med = t.median();
  j.num("images_per_second", med > 0 ? double(images) / med : 0);
  j.num("ms_per_batch", med * 1e3);
  j.num("ms_min", t.min() * 1e3);
  j.list("ms_reps", t.seconds, 1e3);
}

// ---- forward / train: one batch of random images, as in inference and fine-tuning ----
template <class D>
Json run_network(const Options& o) {
  auto net = make_net<D>(o);
  apply_conv_impl(*net, o.conv_impl);
  Context<D>& ctx = net->context();
  auto sync = [&] { BenchTraits<D>::sync(ctx); };
  Tensor<float, D> x, dz;
  random_on_device<D>(Shape{o.batch, 3, o.size, o.size}, o.seed + 1, input_scale(o), x);
  Json j;
  j.str("device", o.device);
  j.str("mode", o.mode);
  j.str("net", o.net);
  j.num("size", double(o.size));
  j.num("batch", double(o.batch));
  j.num("width", o.width);
  if (o.net == "dlib-face") j.str("weights", o.weights.empty() ? "random" : o.weights);
  if (o.mode == "train") {
    apply_learn_from(*net, o);
    j.str("learn_from", learn_from(o));
  }
  const NetFlops fl = count_flops(*net);
  Timing t;
  if (o.mode == "forward") {
    net->set_training(false);
    t = time_reps(o.warmup, o.reps, [&] { net->forward(x); }, sync);
    GRAFT_CHECK(all_finite(net->output()), "graft-bench: the forward output is not finite");
    if (!o.save.empty()) save_run(o.save, *net, x, net->output());
    j.num("gflop_per_image", fl.forward / 1e9);
  } else {
    GRAFT_CHECK(o.save.empty(), "--save is for --mode forward");
    net->set_training(true);
    train::Adam<float, D> opt;
    SoftmaxCrossEntropy<float, D> loss;
    loss.setup(ctx);
    Tensor<int32_t> labels_h(Shape{o.batch});
    Rng rng(o.seed + 2);
    for (auto& l : labels_h) l = int32_t(rng.below(uint64_t(o.classes)));
    Tensor<int32_t, D> labels;
    copy_from_host(labels_h, labels);
    auto params = net->params(true);
    double last_loss = 0;
    t = time_reps(o.warmup, o.reps, [&] {
      last_loss = loss.forward(net->forward(x), labels);
      loss.backward(labels, dz);
      net->backward(dz);
      opt.step(ctx, params);
    }, sync);
    GRAFT_CHECK(std::isfinite(last_loss), "graft-bench: the training loss is not finite");
    j.num("loss", last_loss);
    j.num("gflop_per_image", fl.train / 1e9);
  }
  put_timing(j, t, o.batch);
  const double med = t.median(), per_image = o.mode == "forward" ? fl.forward : fl.train;
  j.num("gflops", med > 0 ? per_image * double(o.batch) / med / 1e9 : 0);
  j.num("warmup", o.warmup);
  j.num("reps", o.reps);
  return j;
}

// ---- head: the fc8-only stage, with the Trainer's feature cache and without ----
template <class D>
Json run_head(const Options& o) {
  Tensor<float> images(Shape{o.images, 3, o.size, o.size});
  fill_random(images, o.seed + 3, input_scale(o));
  Tensor<int32_t> labels(Shape{o.images});
  for (int64_t i = 0; i < o.images; ++i) labels[i] = int32_t(i % o.classes);
  const int uncached = o.uncached_epochs > 0 ? std::min(o.uncached_epochs, o.epochs) : o.epochs;

  auto epochs = [&](bool use_cache, int n, std::vector<double>& secs, int64_t& cached_batches) {
    auto net = make_net<D>(o);
    apply_conv_impl(*net, o.conv_impl);
    net->freeze_all();
    net->unfreeze(head_name(o));
    train::Adam<float, D> opt;
    typename train::Trainer<D>::Options to;
    to.use_cache = use_cache;
    to.cache_memory = size_t(8) << 30;
    train::Trainer<D> trainer(*net, opt, to);
    train::TensorSource src(images, labels, o.batch, o.seed + 4);
    cached_batches = 0;
    for (int e = 0; e < n; ++e) {
      auto st = trainer.train_epoch(src, uint64_t(e + 1));
      BenchTraits<D>::sync(net->context());
      GRAFT_CHECK(std::isfinite(st.loss), "graft-bench: head training loss is not finite");
      secs.push_back(st.seconds);
      cached_batches += st.cached_batches;
    }
  };
  std::vector<double> with, without;
  int64_t cached_with = 0, cached_without = 0;
  epochs(true, o.epochs, with, cached_with);
  epochs(false, uncached, without, cached_without);
  GRAFT_CHECK(cached_without == 0, "graft-bench: the uncached run read the cache");
  GRAFT_CHECK(o.epochs < 2 || cached_with > 0, "graft-bench: the cached run never read the cache");

  Timing later;  // cached epochs after the first (which computes the trunk and fills the cache)
  later.seconds.assign(with.begin() + (with.size() > 1 ? 1 : 0), with.end());
  Timing unc;
  unc.seconds = without;
  double total_with = 0;
  for (double s : with) total_with += s;
  const double total_without = unc.median() * o.epochs;  // = the sum when all were run
  double sum_without = 0;
  for (double s : without) sum_without += s;

  Json j;
  j.str("device", o.device);
  j.str("mode", "head");
  j.num("size", double(o.size));
  j.num("width", o.width);
  j.num("batch", double(o.batch));
  j.num("images", double(o.images));
  j.num("epochs", o.epochs);
  j.num("uncached_epochs_run", uncached);
  j.list("cached_epoch_s", with, 1.0);
  j.list("uncached_epoch_s", without, 1.0);
  j.num("first_epoch_s", with.empty() ? 0 : with[0]);
  j.num("cached_epoch_median_s", later.median());
  j.num("uncached_epoch_median_s", unc.median());
  j.num("gain_per_epoch", later.median() > 0 ? unc.median() / later.median() : 0);
  j.num("total_cached_s", total_with);
  j.num(uncached == o.epochs ? "total_uncached_s" : "total_uncached_estimated_s",
        uncached == o.epochs ? sum_without : total_without);
  j.num("gain_total", total_with > 0 ? (uncached == o.epochs ? sum_without : total_without) / total_with : 0);
  // What the head stage costs per image and epoch, for scaling to other data set sizes.
  j.num("cached_us_per_image", later.median() / double(o.images) * 1e6);
  j.num("uncached_ms_per_image", unc.median() / double(o.images) * 1e3);
  // images_per_second of the cached stage, so that --json always has the common keys
  j.num("images_per_second", later.median() > 0 ? double(o.images) / later.median() : 0);
  j.num("ms_per_batch", later.median() > 0 ? later.median() * 1e3 * double(o.batch) / double(o.images) : 0);
  return j;
}

// ---- --layers: every node of the network, each pass, each implementation it has ----
// Each node's own layer runs on random inputs of its set-up shapes (batch o.batch), in
// training mode. "backward-data" is the input gradient with the layer's parameters frozen;
// "backward-filter" the parameters' gradients alone. The layer is asked what it can run
// (implementations()), never told apart by its type.
struct LayerRow {
  std::string layer, shape, impl, pass;
  double gflop = 0, ms = 0;
};

inline std::string layer_shape_label(const Shape& in, const Shape& out) {
  std::string s = std::to_string(in[1]) + "->" + std::to_string(out[1]);
  if (in.rank() == 4) s += " @" + std::to_string(in[2]) + "x" + std::to_string(in[3]);
  return s;
}

template <class D>
void time_layer(const Options& o, Layer<float, D>& l, Context<D>& ctx, size_t seed, std::vector<LayerRow>& rows) {
  std::vector<Shape> shapes = l.input_shapes();
  std::vector<Tensor<float, D>> xs(shapes.size()), dxs(shapes.size());
  std::vector<const Tensor<float, D>*> xp;
  std::vector<Tensor<float, D>*> dxp;
  for (size_t k = 0; k < shapes.size(); ++k) {
    std::vector<int64_t> d = shapes[k].dims();
    d[0] = o.batch;
    shapes[k] = Shape(d);
    random_on_device<D>(shapes[k], o.seed + 10 + seed * 7 + k, 1.0, xs[k]);
    dxs[k].resize(shapes[k]);
    xp.push_back(&xs[k]);
    dxp.push_back(&dxs[k]);
  }
  const Shape ys = l.output_shape_multi(shapes);
  Tensor<float, D> y(ys), dy;
  random_on_device<D>(ys, o.seed + 20 + seed, 1.0, dy);
  auto sync = [&] { BenchTraits<D>::sync(ctx); };
  const std::string shape = layer_shape_label(shapes[0], ys);
  const double gf = l.flops(shapes) / 1e9;
  const std::vector<Param<float, D>*> params = l.params();
  std::vector<bool> trainable;
  for (auto* p : params) trainable.push_back(p->trainable);
  auto set_trainable = [&](bool on) { for (auto* p : params) p->trainable = on; };
  std::vector<std::string> impls = l.implementations();
  if (impls.empty()) impls.push_back("auto");
  l.set_training(true);
  for (const std::string& impl : impls) {
    if (!o.conv_impl.empty() && l.implementation_kind() == "convolution" && impl != o.conv_impl) continue;
    l.use_implementation(impl);
    const std::string label = impl == "auto" ? "graft" : impl;
    auto add = [&](const char* pass, const Timing& t) {
      rows.push_back({l.name(), shape, label, pass, gf, t.median() * 1e3});
    };
    const int wu = std::max(1, o.warmup - 1);
    add("forward", time_reps(wu, o.reps, [&] { l.forward_multi(xp, y); }, sync));
    set_trainable(false);
    add("backward-data", time_reps(wu, o.reps, [&] { l.backward_multi(xp, y, dy, dxp); }, sync));
    if (!params.empty()) {
      set_trainable(true);
      const std::vector<Tensor<float, D>*> none(xp.size(), nullptr);
      add("backward-filter", time_reps(wu, o.reps, [&] { l.backward_multi(xp, y, dy, none); }, sync));
    }
    bool finite = all_finite(y);
    for (const auto& dx : dxs) finite = finite && all_finite(dx);
    for (auto* p : params) finite = finite && all_finite(p->grad);
    GRAFT_CHECK(finite, "graft-bench: ", l.name(), " (", label, ") wrote a non-finite value");
  }
  l.use_implementation("auto");
  for (size_t k = 0; k < params.size(); ++k) params[k]->trainable = trainable[k];
}

template <class D>
std::vector<LayerRow> run_layers(const Options& o) {
  auto net = make_net<D>(o);
  std::vector<LayerRow> rows;
  for (size_t i = 0; i < net->size(); ++i) {
    auto& l = net->layer(i);
    if (!o.only_layer.empty() && l.name() != o.only_layer) continue;
    time_layer<D>(o, l, net->context(), i, rows);
  }
  GRAFT_CHECK(!rows.empty(), "graft-bench: --layer ", o.only_layer, ": no such node");
  return rows;
}

}  // namespace bench
}  // namespace graft
