// graft-convert MODEL.caffemodel --prototxt DEPLOY.prototxt -o OUT.npy|OUT.npz|OUT.onnx
// graft-convert MODEL.onnx -o OUT.npy|OUT.npz
//
// Converts a Caffe model (V1 or V2, e.g. VGG-Face's own files) into a weights file, with no
// Caffe and no Python:
//   OUT.npy  the caffe-tensorflow dict {layer: {"weights", "biases"}}, read by
//            np.load(OUT, allow_pickle=True).item() and by TensorFlow code written for it
//   OUT.npz  graft's npz of "layer/param" arrays (--compress deflates it)
// Both hold caffe-tensorflow's layouts (conv HWIO, fully connected (in, out), fc6's rows in
// H,W,C order), the layouts nn::load_weights reads. A Caffe model with its prototxt, which
// says the whole network, also converts to ONNX (OUT.onnx: nn::save_onnx, the logits as the
// output); an ONNX model converts to either weights file (its graph's node names as the
// layers). A bare weights file names no network: graft-export --arch ... --weights FILE -o
// OUT.onnx converts it. Lists what it wrote; a file it cannot read or convert exits with
// status 1 and one line on stderr, a wrong command line with 2.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "graft/cpu.hpp"
#include "graft/io/onnx.hpp"
#include "graft/nn/caffe.hpp"
#include "graft/nn/onnx.hpp"
#include "graft/nn/onnx_export.hpp"

namespace {

const char* kUsage =
    "usage: graft-convert MODEL.caffemodel --prototxt DEPLOY.prototxt -o OUT.npy|OUT.npz|OUT.onnx\n"
    "       graft-convert MODEL.onnx -o OUT.npy|OUT.npz\n"
    "                     [--compress] [--ignore-unmatched] [-q]\n";

int usage_error(const std::string& what) {
  std::fprintf(stderr, "graft-convert: %s\n%s", what.c_str(), kUsage);
  return 2;
}

int fail(const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "graft-convert: %s\n", line.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, prototxt, out;
  bool compress = false, quiet = false;
  graft::nn::CaffeWeightsOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& dst) {
      if (i + 1 >= argc) return false;
      dst = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::printf("%s\nConverts a Caffe model and its deploy prototxt (V1 or V2) into caffe-tensorflow's .npy dict\n"
                  "or graft's .npz (layer/param), conv weights HWIO and fully connected (in, out).\n", kUsage);
      return 0;
    } else if (a == "--prototxt") {
      if (!value(prototxt)) return usage_error("--prototxt needs a file");
    } else if (a == "-o" || a == "--output") {
      if (!value(out)) return usage_error(a + " needs a file");
    } else if (a == "--compress") {
      compress = true;
    } else if (a == "--ignore-unmatched") {
      options.ignore_unmatched = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] != '-' && model.empty()) {
      model = a;
    } else {
      return usage_error("unexpected argument '" + a + "'");
    }
  }
  const bool from_onnx = graft::io::is_onnx_path(model), to_onnx = graft::io::is_onnx_path(out);
  if (model.empty() || out.empty() || (!from_onnx && prototxt.empty()))
    return usage_error("needs a model, -o and, for a .caffemodel, --prototxt");
  if (from_onnx && !prototxt.empty()) return usage_error("an ONNX model needs no --prototxt");
  if (from_onnx && to_onnx) return usage_error("the model is ONNX already");
  const bool npz = out.size() >= 4 && out.compare(out.size() - 4, 4, ".npz") == 0;
  if (!npz && !to_onnx && !(out.size() >= 4 && out.compare(out.size() - 4, 4, ".npy") == 0))
    return usage_error("the output must end in .npy (caffe-tensorflow dict), .npz or .onnx");
  if (compress && !npz) return usage_error("--compress applies to .npz output only");
  try {
    using graft::io::WeightsFormat;
    const WeightsFormat format = npz ? (compress ? WeightsFormat::npz_compressed : WeightsFormat::npz)
                                     : WeightsFormat::caffe_tensorflow;
    if (to_onnx) {
      // The prototxt's network with the caffemodel's weights, written as ONNX.
      auto net = graft::nn::caffe_network<float>(prototxt);
      graft::nn::LoadOptions lo;
      lo.ignore_unmatched = options.ignore_unmatched;
      graft::nn::load_caffe(net->layers(), model, prototxt, lo);
      net->set_training(false);
      graft::nn::OnnxExportOptions eo;
      eo.softmax = false;
      eo.metadata = {{"source", model}, {"prototxt", prototxt}};
      graft::nn::save_onnx(*net, out, eo);
      if (!quiet)
        std::printf("wrote %s: %zu nodes, %lld parameters (ONNX opset 13, the logits as the output)\n", out.c_str(),
                    net->size(), static_cast<long long>(net->parameter_count()));
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("cannot write to standard output");
      return 0;
    }
    graft::io::WeightsDict w;
    if (from_onnx) {
      // The graph's network with the file's weights, saved in caffe-tensorflow layouts.
      const graft::io::OnnxModel m = graft::io::read_onnx(model);
      auto net = graft::nn::onnx_network<float>(m);
      graft::nn::load_onnx(net->layers(), m);
      w = graft::nn::weights_of(net->layers());
      graft::io::write_weights(out, w, format);
    } else {
      w = graft::nn::convert_caffe(model, prototxt, out, format, options);
    }
    if (!quiet) {
      std::printf("%-24s %-8s %-8s %s\n", "layer", "param", "dtype", "shape");
      for (const auto& l : w.layers())
        for (const auto& p : l.params) {
          const std::string q = graft::io::quote(l.name, 200);
          std::printf("%-24s %-8s %-8s %s\n", q.substr(1, q.size() - 2).c_str(), p.name.c_str(),
                      graft::io::dtype_name(p.array.dtype()), p.array.shape().str().c_str());
        }
      std::printf("wrote %s: %zu arrays of %zu layers (%s)\n", out.c_str(), w.array_count(), w.layers().size(),
                  npz ? "npz, layer/param" : "caffe-tensorflow dict");
    }
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("cannot write to standard output");
  return 0;
}
