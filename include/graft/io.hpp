// graft's file formats and weights loading: .npy, .npz and caffe-tensorflow files
// (graft/io/), Caffe's .caffemodel and .prototxt, dlib's .dat networks, layout transforms, and loading into /
// saving from layers (graft/nn/load_weights.hpp, graft/nn/caffe.hpp). Needs zlib (Debian:
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
#include "graft/io/prototxt.hpp"
#include "graft/io/weights.hpp"
#include "graft/nn/caffe.hpp"
#include "graft/nn/load_weights.hpp"
