// Networks: the builder, VGG and ResNet models, ONNX graphs in and out, the feature cache, loading weights files into layers
// (load_weights, load_caffe, load_weights_file for any kind) and self-describing model files.
#pragma once

#include "graft/nn/caffe.hpp"
#include "graft/nn/feature_cache.hpp"
#include "graft/nn/load_weights.hpp"
#include "graft/nn/model_file.hpp"
#include "graft/nn/network.hpp"
#include "graft/nn/onnx.hpp"
#include "graft/nn/onnx_export.hpp"
#include "graft/nn/resnet.hpp"
#include "graft/nn/vgg.hpp"
#include "graft/nn/weights_file.hpp"
