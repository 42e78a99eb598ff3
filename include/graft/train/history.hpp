// One point of a learning curve.
#pragma once

#include <cstdint>
#include <string>

namespace graft {
namespace train {

struct EpochRecord {
  int epoch = 0;
  std::string stage;             // the layer from which the network learned ("" at epoch 0)
  double train_accuracy = 0;     // evaluation-mode accuracy on the training data
  double val_accuracy = 0;
  double loss = 0;               // mean training loss of the epoch (epoch 0: evaluation loss)
  double val_loss = 0;
  double seconds = 0;            // training time of the epoch
  int64_t cached_batches = 0;
};

}  // namespace train
}  // namespace graft
