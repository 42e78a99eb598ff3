// graft's data pipeline: decoding, transforms, datasets, splits and the threaded loader.
// Host only; it knows no model and no CUDA (batches are host tensors the trainer copies).
#pragma once

#include "graft/data/adience.hpp"
#include "graft/data/csv_list.hpp"
#include "graft/data/data_root.hpp"
#include "graft/data/dataset.hpp"
#include "graft/data/files.hpp"
#include "graft/data/image.hpp"
#include "graft/data/image_folder.hpp"
#include "graft/data/image_ops.hpp"
#include "graft/data/loader.hpp"
#include "graft/data/normalize.hpp"
#include "graft/data/split.hpp"
#include "graft/data/transform.hpp"
#include "graft/data/utkface.hpp"
