// Networks: the builder, VGG models, the feature cache.
#pragma once

#include "graft/nn/network.hpp"
#include "graft/nn/vgg.hpp"
