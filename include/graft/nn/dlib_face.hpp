// dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) on graft's graph:
// 150x150 RGB in, a 128-d descriptor out (not normalised; two faces are one person when
// their descriptors are closer than 0.6).
//
//   auto net = nn::dlib_face_resnet<float>();            // the architecture, random weights
//   nn::DlibFaceInfo info = nn::load_dlib_face(*net, path);  // dlib's weights and input means
//   nn::dlib_face_input(chip, info, x.data());           // (p - mean) / 256, planar RGB
//
// Node names (usable in --stages and freezing, in forward order):
//   stem     conv1 (7x7/2, no padding, 32), affine1, relu1, pool1 (max 3x3/2)
//   levels   level1 (3 blocks, 32 channels, 35x35), level2 (a down block and 3 blocks, 64,
//            17x17), level3 (down + 2, 128, 8x8), level4 (down + 2, 256, 4x4), level5 (down,
//            256, 2x2) -- dlib's alevel4 .. alevel0. Block k of level n is levelN_bK_*: conv1,
//            affine1, relu1, conv2, affine2, [pool: the shortcut of a down block], add, relu;
//            "--stages fc:3,level4_b1_conv1:5" trains the head, then level4 and above.
//   head     pool (global average), fc (256 -> 128, no bias)
// dlib's rules, kept as they are: a conv or pool of stride 2 has no padding (3x3/1 convs have 1),
// sizes round down (150 -> 72 -> 35 -> 17 -> 8 -> 4 -> 2), the down block's shortcut is the
// block input average-pooled 2x2/2, and its add zero-pads the smaller input at the end of
// every axis (channels 32 -> 64, and 256x3x3 + 256x4x4 -> 256x4x4 in level4). Pools here
// have no padding, so dlib's average (over the window clipped to the input, padding not
// counted) is AvgPool2d with count_pad = false. The Affine layers are dlib's batch norms
// folded into per-channel scale and offset; dlib does not train them, so they are frozen.
// The file stores fc weights (in, out); graft's Linear has (out, in), so they are transposed.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/data/image.hpp"
#include "graft/data/image_ops.hpp"
#include "graft/data/normalize.hpp"
#include "graft/io/dlib.hpp"
#include "graft/io/quote.hpp"
#include "graft/layers/layers.hpp"
#include "graft/nn/dlib_model_path.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/network.hpp"

namespace graft {
namespace nn {

// One dlib record with weights as graft places it: the node it loads and the geometry dlib's
// C++ type gives it (a file with other geometry is refused).
struct DlibFaceRecord {
  io::DlibKind kind;
  std::string node;  // graft node name ("" for records without weights)
  int64_t out = 0, in = 0;
  int kernel = 0, stride = 0, pad = 0;
};

namespace detail {

// Stands for "no network" in dlib_face_plan: the records alone, without instantiating any
// layer (so that a CUDA translation unit can list them without the CPU backend).
struct NoNetwork {};

template <class Net, class F>
void build(Net* net, F&& f) {
  if constexpr (!std::is_same<Net, NoNetwork>::value) {
    if (net) f(*net);
  }
}

// Builds the network (a Network<T, D>*, when not null) and lists the records in the file's
// order, so that the architecture and the loader cannot disagree.
// descriptor = false leaves fc out of the network (not of the records): a head that reads the
// pooled features then ends the network, with no unread node beside it.
// batch_norm = true builds BatchNorm2d nodes named ..bn1, ..bn2 in place of the frozen
// affines (the records keep dlib's): the architecture to train from random weights.
template <class Net>
std::vector<DlibFaceRecord> dlib_face_plan(Net* net, bool descriptor = true, bool batch_norm = false) {
  using K = io::DlibKind;
  std::vector<DlibFaceRecord> recs;
  int64_t channels = 3;
  auto conv = [&](const std::string& name, int64_t out, int k, int s) {
    const int pad = s == 1 ? k / 2 : 0;  // dlib's default padding, which this model uses
    recs.push_back({K::con, name, out, channels, k, s, pad});
    build(net, [&](auto& n) { n.conv(name, out, k, s, pad, true); });
    channels = out;
  };
  auto affine = [&](const std::string& name) {
    recs.push_back({K::affine, name, channels, channels, 0, 0, 0});
    if (batch_norm) {
      const std::string bn = name.substr(0, name.size() - 7) + "bn" + name.substr(name.size() - 1);  // ..affineK -> ..bnK
      build(net, [&](auto& n) { n.batch_norm(bn); });
    } else {
      build(net, [&](auto& n) { n.affine(name, true); });
    }
  };
  // The node an affine record's output is in the network (its name, or its BatchNorm's).
  auto out = [&](const std::string& name) {
    return batch_norm ? name.substr(0, name.size() - 7) + "bn" + name.substr(name.size() - 1) : name;
  };
  auto relu = [&](const std::string& name) {
    recs.push_back({K::relu, "", 0, 0, 0, 0, 0});
    build(net, [&](auto& n) { n.relu(name); });
  };
  auto tag = [&] { recs.push_back({K::tag, "", 0, 0, 0, 0, 0}); };
  // A block reading node `x`: [tag1] conv affine relu conv affine [tag2 skip1 avg_pool]
  // add_prev relu. Returns the name of its last node.
  auto block = [&](const std::string& x, const std::string& p, int64_t width, bool down) {
    tag();  // tag1: the block input
    build(net, [&](auto& n) { n.from(x); });
    conv(p + "conv1", width, 3, down ? 2 : 1);
    affine(p + "affine1");
    relu(p + "relu1");
    conv(p + "conv2", width, 3, 1);
    affine(p + "affine2");
    if (down) {
      tag();  // tag2: the branch
      tag();  // skip1: back to the block input
      recs.push_back({K::avg_pool, p + "pool", 0, 0, 2, 2, 0});
      build(net, [&](auto& n) { n.from(x).avg_pool(p + "pool", 2, 2, 0, false, false); });
      // add_prev2: the pooled input (below) plus the branch (tag2), zero-padded to the larger.
      recs.push_back({K::add_prev, "", 0, 0, 0, 0, 0});
      build(net, [&](auto& n) { n.sum(p + "add", {p + "pool", out(p + "affine2")}, true); });
    } else {
      recs.push_back({K::add_prev, "", 0, 0, 0, 0, 0});
      build(net, [&](auto& n) { n.sum(p + "add", {out(p + "affine2"), x}, false); });
    }
    relu(p + "relu");
    return p + "relu";
  };

  conv("conv1", 32, 7, 2);
  affine("affine1");
  relu("relu1");
  recs.push_back({K::max_pool, "pool1", 0, 0, 3, 2, 0});
  build(net, [&](auto& n) { n.max_pool("pool1", 3, 2, 0, false); });
  std::string x = "pool1";
  struct Level {
    int64_t width;
    bool down;
    int blocks;  // plain blocks after the down block
  };
  const Level levels[5] = {{32, false, 3}, {64, true, 3}, {128, true, 2}, {256, true, 2}, {256, true, 0}};
  for (int n = 0; n < 5; ++n) {
    const std::string level = "level" + std::to_string(n + 1);
    int b = 1;
    if (levels[n].down) x = block(x, level + "_b" + std::to_string(b++) + "_", levels[n].width, true);
    for (int k = 0; k < levels[n].blocks; ++k) x = block(x, level + "_b" + std::to_string(b++) + "_", levels[n].width, false);
  }
  recs.push_back({K::avg_pool, "pool", 0, 0, 0, 1, 0});  // avg_pool_everything: 0x0 window, stride 1
  build(net, [&](auto& n) { n.global_avg_pool("pool"); });
  recs.push_back({K::fc, "fc", 128, channels, 0, 0, 0});
  if (descriptor) build(net, [&](auto& n) { n.fc("fc", 128, false); });
  return recs;
}

}  // namespace detail

// dlib's face ResNet on graft: 29 convs, 29 frozen affines, a 128-d fc without bias
// (descriptor = false: the network ends at pool, the 256-d pooled features).
// batch_norm = true: BatchNorm2d (learning, nodes ..bn1/..bn2) in place of the affines, to
// train the architecture from random weights; such a network does not load dlib's file.
template <class T = float, class D = CPU>
std::unique_ptr<Network<T, D>> dlib_face_resnet(bool descriptor = true, bool batch_norm = false) {
  auto net = std::make_unique<Network<T, D>>(Shape{3, 150, 150});
  const auto recs = detail::dlib_face_plan(net.get(), descriptor, batch_norm);
  if (!batch_norm)
    for (const auto& r : recs)
      if (r.kind == io::DlibKind::affine) net->freeze(r.node);
  return net;
}

// The record kinds dlib's C++ type gives the file, in forward order (for io::check_dlib_layers).
inline std::vector<io::DlibKind> dlib_face_resnet_kinds() {
  std::vector<io::DlibKind> k;
  for (const auto& r : detail::dlib_face_plan<detail::NoNetwork>(nullptr)) k.push_back(r.kind);
  return k;
}

// The records in forward order, each with the node it loads and the geometry it must have.
inline std::vector<DlibFaceRecord> dlib_face_resnet_records() {
  return detail::dlib_face_plan<detail::NoNetwork>(nullptr);
}

// What the file says about the input and the descriptor, besides the weights.
struct DlibFaceInfo {
  float mean[3] = {0, 0, 0};  // R, G, B pixel means
  int size = 150;             // the chip is size x size
  double dist_thresh = 0.6;   // descriptors closer than this: the same person
};

// Loads a dlib network file into the layers of a network made by dlib_face_resnet(), possibly
// with more nodes (a task's head: reported as left at their initial values): every record is
// checked against the architecture (kind, geometry, array shapes) and a mismatch is a
// graft::Error naming the file, the record's offset and the node. Records of nodes in `skip`
// are not loaded; nor is fc when the network has no such node (a head on the pooled
// features), but any other node missing is an error (the layers are not dlib's net).
template <class T, class D>
DlibFaceInfo load_dlib_face(const std::vector<Layer<T, D>*>& layers, const io::DlibNet& file, LoadReport* report = nullptr,
                            const std::vector<std::string>& skip = {}) {
  static const char* kArch = "dlib's face ResNet (dlib_face_recognition_resnet_model_v1)";
  if (file.input != "input_rgb_image_sized" || file.rows != 150 || file.cols != 150)
    GRAFT_FAIL(file.file, ": offset ", file.input_offset, ": input ", io::quote(file.input), " of ", file.rows, " x ",
               file.cols, "; ", kArch, " takes input_rgb_image_sized 150 x 150");
  io::check_dlib_layers(file, dlib_face_resnet_kinds(), kArch);
  const auto recs = dlib_face_resnet_records();
  for (size_t i = 0; i < recs.size(); ++i) {
    const DlibFaceRecord& r = recs[i];
    const io::DlibLayer& l = file.layers[i];
    const std::string where = file.file + ": offset " + std::to_string(l.offset) + ": record " + std::to_string(i) +
                              " (" + io::quote(l.version) + (r.node.empty() ? "" : ", node " + r.node) + "): ";
    auto geometry = [&](bool ok, const std::string& got, const std::string& want) {
      if (!ok) throw Error(where + got + ", but " + kArch + " has " + want);
    };
    auto win = [](int64_t k, int64_t s, int64_t p) {
      return std::to_string(k) + "x" + std::to_string(k) + " stride " + std::to_string(s) + " pad " + std::to_string(p);
    };
    switch (r.kind) {
      case io::DlibKind::con:
        geometry(l.outputs == r.out && l.inputs == r.in, std::to_string(l.outputs) + " filters from " + std::to_string(l.inputs),
                 std::to_string(r.out) + " from " + std::to_string(r.in));
        geometry(l.rows == r.kernel && l.cols == r.kernel && l.stride_y == r.stride && l.stride_x == r.stride &&
                     l.pad_y == r.pad && l.pad_x == r.pad,
                 io::dlib_geometry(l), win(r.kernel, r.stride, r.pad));
        geometry(l.bias, "no biases", "biases");
        break;
      case io::DlibKind::affine:
        geometry(l.mode == 0 && l.outputs == r.out && !l.disabled,
                 std::string(l.mode ? "a per-element" : "a per-channel") + " affine of " + std::to_string(l.outputs) +
                     (l.disabled ? " (disabled)" : ""),
                 "a per-channel affine of " + std::to_string(r.out));
        break;
      case io::DlibKind::max_pool:
      case io::DlibKind::avg_pool:
        geometry(l.rows == r.kernel && l.cols == r.kernel && l.stride_y == r.stride && l.stride_x == r.stride &&
                     l.pad_y == 0 && l.pad_x == 0,
                 io::dlib_geometry(l), r.kernel ? win(r.kernel, r.stride, 0) : std::string("the whole input, stride 1"));
        break;
      case io::DlibKind::fc:
        geometry(l.outputs == r.out && l.inputs == r.in && !l.bias,
                 io::dlib_geometry(l), std::to_string(r.out) + " from " + std::to_string(r.in) + ", no bias");
        break;
      default: break;
    }
  }
  auto find = [&](const std::string& name) -> Layer<T, D>* {
    for (auto* l : layers)
      if (l->name() == name) return l;
    return nullptr;
  };
  auto skipped = [&](const std::string& name) { return std::find(skip.begin(), skip.end(), name) != skip.end(); };
  for (const auto& r : recs) {
    if (r.node.empty() || skipped(r.node) || find(r.node) || r.node == "fc") continue;
    GRAFT_FAIL(file.file, ": the network has no node ", r.node, " for dlib's record of it; ", kArch,
               " loads into the network nn::dlib_face_resnet() builds (arch dlib-face)");
  }
  // Copy only after every record has been checked, so a bad file leaves the network as it was.
  std::vector<std::string> loaded_nodes;
  for (size_t i = 0; i < recs.size(); ++i) {
    const DlibFaceRecord& r = recs[i];
    const io::DlibLayer& l = file.layers[i];
    if (r.kind != io::DlibKind::con && r.kind != io::DlibKind::affine && r.kind != io::DlibKind::fc) continue;
    if (skipped(r.node) || !find(r.node)) {
      if (report)
        for (const char* a : {"weights", "biases"})
          if (r.kind != io::DlibKind::fc || a[0] == 'w') report->skipped.push_back(r.node + "/" + a);
      continue;
    }
    loaded_nodes.push_back(r.node);
    Layer<T, D>& layer = *find(r.node);
    auto param = [&](const std::string& name) -> Param<T, D>& {
      for (auto* p : layer.params())
        if (p->name == name) return *p;
      GRAFT_FAIL("load_dlib_face: node ", r.node, " (", layer.type(), ") has no parameter '", name,
                 "'; was the network made by dlib_face_resnet()?");
    };
    auto put = [&](Param<T, D>& p, const io::Array& a, bool transpose) {
      if (p.value.size() != a.size())
        GRAFT_FAIL(file.file, ": offset ", l.offset, ": record ", i, " (node ", r.node, "): ", a.shape().str(), " for ",
                   p.name, " of shape ", p.value.shape().str());
      const float* src = reinterpret_cast<const float*>(a.data());
      Tensor<T, CPU> host(p.value.shape());
      if (transpose) {  // dlib (in, out) -> graft (out, in)
        const int64_t rows = a.shape()[0], cols = a.shape()[1];
        for (int64_t x = 0; x < rows; ++x)
          for (int64_t y = 0; y < cols; ++y) host.data()[y * rows + x] = T(src[x * cols + y]);
      } else {
        for (int64_t k = 0; k < a.size(); ++k) host.data()[k] = T(src[k]);
      }
      copy_from_host(host, p.value);
    };
    if (r.kind == io::DlibKind::con) {
      put(param("weights"), l.weights, false);
      put(param("biases"), l.biases, false);
    } else if (r.kind == io::DlibKind::affine) {
      put(param("scale"), l.weights, false);
      put(param("offset"), l.biases, false);
    } else {
      put(param("weights"), l.weights, true);
    }
    if (report)
      for (auto* p : layer.params()) report->loaded.push_back(r.node + "/" + p->name);
  }
  if (report)
    for (auto* l : layers)
      if (std::find(loaded_nodes.begin(), loaded_nodes.end(), l->name()) == loaded_nodes.end())
        for (auto* p : l->params()) report->initial.push_back(l->name() + "/" + p->name);
  DlibFaceInfo info;
  for (int c = 0; c < 3; ++c) info.mean[c] = file.mean[c];
  info.size = int(file.rows);
  info.dist_thresh = file.dist_thresh;
  return info;
}

template <class T, class D>
DlibFaceInfo load_dlib_face(Network<T, D>& net, const io::DlibNet& file) {
  return load_dlib_face(net.layers(), file);
}

template <class T, class D>
DlibFaceInfo load_dlib_face(Network<T, D>& net, const std::string& path, const io::ReadLimits& limits = {}) {
  return load_dlib_face(net, io::read_dlib(path, limits));
}

// The network input for one chip: planar R, G, B of (pixel - mean) / 256 (dlib's scale is
// 1/256, and there is no division by a deviation). `out` holds 3 * size * size values.
template <class T>
void dlib_face_input(const data::Image& chip, const DlibFaceInfo& info, T* out) {
  GRAFT_CHECK(chip.width == info.size && chip.height == info.size, "dlib face input: the chip is ", chip.width, "x",
              chip.height, ", the network takes ", info.size, "x", info.size);
  const size_t plane = size_t(info.size) * size_t(info.size);
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) out[size_t(c) * plane + i] = T((float(chip.rgb[i * 3 + size_t(c)]) - info.mean[c]) / 256.0f);
}

// dlib_face_input's preprocessing as a data::Normalization, for transforms and loaders:
// RGB, (p - mean) / 256. Exact: a level minus a float mean, divided by a power of two.
inline data::Normalization dlib_face_normalization(const DlibFaceInfo& info) {
  return {data::Normalization::Order::RGB, 1.0f, {{info.mean[0], info.mean[1], info.mean[2]}}, {{256.0f, 256.0f, 256.0f}}};
}

// The chip dlib's network expects (get_face_chip_details(shape, 150, 0.25)) from a face crop
// aligned as dlib's own 200-pixel chips with padding 0.2 (UTKFace's "aligned and cropped"
// images match those to about a pixel): scale 0.7, i.e. the crop resized to 140x140, and a
// 5-pixel black border, as dlib fills outside the source with 0. The resize is stb's default
// filter (Mitchell when reducing), as data::Transform::dlib_face_chip uses: stb's triangle
// filter fails an assertion on some reductions (180 -> 140) and would abort the program.
// dlib's extract_image_chip samples bilinearly, so pixels differ slightly from a chip dlib cuts.
// Against dlib's own landmark alignment this recipe's descriptors differ by about 0.13 on
// average (mostly alignment, measured on 59 UTKFace crops), far below the 0.6 threshold.
inline void dlib_face_chip(const data::Image& crop, data::Image& out, int size = 150) {
  GRAFT_CHECK(crop.width == crop.height && crop.width > 0, "dlib face chip: the crop is ", crop.width, "x", crop.height,
              ", expected a square face crop");
  const int border = size / 30, inner = size - 2 * border;  // 5 and 140 for 150
  data::Image small;
  data::resize(crop, inner, inner, small, data::Filter::Default);
  out.resize(size, size);
  std::fill(out.rgb.begin(), out.rgb.end(), uint8_t(0));
  for (int y = 0; y < inner; ++y)
    std::memcpy(out.pixel(border, y + border), small.pixel(0, y), size_t(inner) * 3);
}

}  // namespace nn
}  // namespace graft
