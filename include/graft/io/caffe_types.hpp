// Caffe's layer types: the V1 enum (V1LayerParameter.LayerType, used by `layers { type:
// CONVOLUTION }` and by V1 .caffemodel files) and the V2 type strings ("Convolution") that
// Caffe's upgrade tool gives them. graft names every layer type the V2 way, whichever format
// a file uses, so messages and listings read the same for both.
#pragma once

#include <cstdint>
#include <string>

namespace graft {
namespace io {
namespace caffe {

struct V1Type {
  int number;
  const char* enum_name;  // as a V1 .prototxt writes it
  const char* v2_name;    // as a V2 .prototxt writes it
};

// caffe.proto's V1LayerParameter.LayerType, with the names upgrade_proto gives each.
inline const V1Type* v1_types(size_t* count) {
  static const V1Type table[] = {
      {0, "NONE", ""},
      {35, "ABSVAL", "AbsVal"},
      {1, "ACCURACY", "Accuracy"},
      {30, "ARGMAX", "ArgMax"},
      {2, "BNLL", "BNLL"},
      {3, "CONCAT", "Concat"},
      {37, "CONTRASTIVE_LOSS", "ContrastiveLoss"},
      {4, "CONVOLUTION", "Convolution"},
      {5, "DATA", "Data"},
      {39, "DECONVOLUTION", "Deconvolution"},
      {6, "DROPOUT", "Dropout"},
      {32, "DUMMY_DATA", "DummyData"},
      {7, "EUCLIDEAN_LOSS", "EuclideanLoss"},
      {25, "ELTWISE", "Eltwise"},
      {38, "EXP", "Exp"},
      {8, "FLATTEN", "Flatten"},
      {9, "HDF5_DATA", "HDF5Data"},
      {10, "HDF5_OUTPUT", "HDF5Output"},
      {28, "HINGE_LOSS", "HingeLoss"},
      {11, "IM2COL", "Im2col"},
      {12, "IMAGE_DATA", "ImageData"},
      {13, "INFOGAIN_LOSS", "InfogainLoss"},
      {14, "INNER_PRODUCT", "InnerProduct"},
      {15, "LRN", "LRN"},
      {29, "MEMORY_DATA", "MemoryData"},
      {16, "MULTINOMIAL_LOGISTIC_LOSS", "MultinomialLogisticLoss"},
      {34, "MVN", "MVN"},
      {17, "POOLING", "Pooling"},
      {26, "POWER", "Power"},
      {18, "RELU", "ReLU"},
      {19, "SIGMOID", "Sigmoid"},
      {27, "SIGMOID_CROSS_ENTROPY_LOSS", "SigmoidCrossEntropyLoss"},
      {36, "SILENCE", "Silence"},
      {20, "SOFTMAX", "Softmax"},
      {21, "SOFTMAX_LOSS", "SoftmaxWithLoss"},
      {22, "SPLIT", "Split"},
      {33, "SLICE", "Slice"},
      {23, "TANH", "TanH"},
      {24, "WINDOW_DATA", "WindowData"},
      {31, "THRESHOLD", "Threshold"},
  };
  *count = sizeof table / sizeof table[0];
  return table;
}

// The V2 name of V1 enum value `number`; "" when the enum has no such value.
inline std::string v1_type_name(uint64_t number) {
  size_t n;
  const V1Type* t = v1_types(&n);
  for (size_t i = 0; i < n; ++i)
    if (uint64_t(t[i].number) == number) return t[i].v2_name;
  return "";
}

// The V2 name of a V1 enum identifier ("INNER_PRODUCT" -> "InnerProduct"); "" when unknown.
inline std::string v1_enum_to_v2(const std::string& enum_name) {
  size_t n;
  const V1Type* t = v1_types(&n);
  for (size_t i = 0; i < n; ++i)
    if (enum_name == t[i].enum_name) return t[i].v2_name;
  return "";
}

}  // namespace caffe
}  // namespace io
}  // namespace graft
