// dlib's face ResNet (dlib_face_recognition_resnet_model_v1.dat) as dlib's own C++ type, for
// the programs that run dlib itself: the [dlib] tests' oracle (dlib_oracle.cpp) and the speed
// peer graft-bench-dlib (bench/dlib_bench.cpp). Needs dlib's headers (Debian's libdlib-dev).
//
// The type spells out the architecture as nested dlib templates (written from the layer table
// in docs, not copied from dlib's example): dlib refuses to deserialize a file into a type
// whose layers differ, so a wrong type cannot pass silently.
#pragma once

#include <dlib/dnn.h>

namespace oracle {
using namespace dlib;

// A residual block at width N: conv 3x3/1 -> affine -> relu -> conv 3x3/1 -> affine, plus the
// block input (tag1), then relu.
template <long N, typename S>
using block = relu<add_prev1<affine<con<N, 3, 3, 1, 1, relu<affine<con<N, 3, 3, 1, 1, tag1<S>>>>>>>>;
// The down-sampling block: the branch starts with conv 3x3/2 (no padding) and is tagged
// (tag2); skip1 returns to the block input, which is average-pooled 2x2/2, and add_prev2
// adds the zero-padded branch.
template <long N, typename S>
using down = relu<add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<affine<con<N, 3, 3, 1, 1, relu<affine<con<N, 3, 3, 2, 2, tag1<S>>>>>>>>>>>;

template <typename S> using level1 = block<32, block<32, block<32, S>>>;
template <typename S> using level2 = block<64, block<64, block<64, down<64, S>>>>;
template <typename S> using level3 = block<128, block<128, down<128, S>>>;
template <typename S> using level4 = block<256, block<256, down<256, S>>>;
template <typename S> using level5 = down<256, S>;

using net_type = loss_metric<fc_no_bias<128, avg_pool_everything<level5<level4<level3<level2<level1<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;
}  // namespace oracle
