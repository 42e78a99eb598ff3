// ReadLimits: upper bounds on what a file may make graft allocate.
//
// Every size read from a file is checked against the bytes that are really there before
// anything is allocated, so a stored array can never claim more memory than the file holds.
// These limits bound what that rule cannot: structures whose count is not tied to bytes
// (pickle objects, zip entries) and data that grows on decompression. The defaults admit
// any real weights file (VGG-Face: 32 arrays, 580 MB) with a wide margin; the Caffe limits
// admit any real .caffemodel and .prototxt (ResNet-152's has about 900 layers).
#pragma once

#include <cstdint>

namespace graft {
namespace io {

struct ReadLimits {
  uint64_t max_array_bytes = uint64_t(16) << 30;   // one array's data (16 GiB)
  uint64_t max_total_bytes = uint64_t(64) << 30;   // all arrays of one file together
  uint64_t max_header_bytes = uint64_t(1) << 20;   // an NPY header (NumPy's are ~128 bytes)
  uint64_t max_name_bytes = uint64_t(1) << 16;     // a layer, parameter or entry name
  uint64_t max_pickle_items = uint64_t(1) << 20;   // pickle objects, stack, memo and marks, each
  uint64_t max_zip_entries = uint64_t(1) << 16;    // entries in an .npz
  uint64_t max_zip_directory_bytes = uint64_t(64) << 20;  // the central directory
  uint64_t max_layers = uint64_t(1) << 16;         // layers of a .caffemodel or .prototxt
  uint64_t max_blobs = 1024;                       // blobs of one Caffe layer
  int max_nesting = 64;                            // nested messages (.caffemodel, .prototxt)
  uint64_t max_text_bytes = uint64_t(64) << 20;    // a .prototxt
};

}  // namespace io
}  // namespace graft
