// graft's file formats: .npy, .npz and caffe-tensorflow files, ONNX models, Caffe's .caffemodel and
// .prototxt, dlib's .dat networks, layout transforms. Files only: loading them into layers is
// graft/nn/'s (graft/nn/nn.hpp: load_weights, load_caffe, load_weights_file). Needs zlib (Debian:
// zlib1g-dev), which graft::graft links.
#pragma once

#include "graft/io/array.hpp"
#include "graft/io/caffemodel.hpp"
#include "graft/io/dlib.hpp"
#include "graft/io/dtype.hpp"
#include "graft/io/layout.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/npy.hpp"
#include "graft/io/npz.hpp"
#include "graft/io/onnx.hpp"
#include "graft/io/prototxt.hpp"
#include "graft/io/weights.hpp"
