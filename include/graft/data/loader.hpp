// Loader: worker threads decode and augment images ahead of the trainer; batches come out in
// order as host tensors, (N, 3, H, W) floats and (N,) int32 labels.
//
//   LoaderOptions o;
//   o.batch_size = 32;
//   o.workers = 2;
//   o.seed = 7;
//   Loader loader(train_set, Transform::train(), o);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (const Batch* b = loader.next()) { copy_from_host(b->images, x_gpu); ... }
//   }
//
// - Reproducible: the order of an epoch is a pure function of (seed, epoch) and the crop and
//   flip of a sample of (seed, epoch, dataset index), and every sample is written to its own
//   row; so batches are bit-identical whatever the number of workers (0 decodes on the
//   calling thread) and whatever order the threads finish in.
// - Bounded: `prefetch` batches are filled ahead of the one the caller holds; workers then
//   wait. Work is handed out one sample at a time, so all workers help with the next batch.
// - No allocation per batch: the batch buffers are allocated once (through `allocator`, e.g.
//   pinned host memory for faster device copies, without this header knowing CUDA) and
//   reused; each worker reuses its file and image buffers. A Batch is valid until the next
//   call to next() or start_epoch().
// - Sharded (options.shard): each rank decodes only its own samples of every global batch.
// - Errors: a failure while loading a sample (unreadable file, image smaller than the crop)
//   is rethrown by next() as graft::Error naming the file, when the caller reaches that
//   batch (the lowest failing row if several). With skip_unreadable, files that cannot be
//   read or decoded are instead left out of their batch (which is then smaller) and listed
//   by unreadable(). Calling next() again continues with the following batch.
// One thread at a time may call a Loader's member functions.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/core/random.hpp"
#include "graft/core/tensor.hpp"
#include "graft/data/dataset.hpp"
#include "graft/data/image.hpp"
#include "graft/data/transform.hpp"
#include "graft/dist/shard.hpp"

namespace graft {
namespace data {

// Where batch buffers come from. Both empty: graft's aligned host memory.
struct HostAllocator {
  std::function<void*(size_t bytes)> allocate;
  std::function<void(void*)> release;
};

struct LoaderOptions {
  int64_t batch_size = 32;
  int workers = 2;           // decoding threads; 0: decode on the thread that calls next()
  int prefetch = 2;          // batches filled ahead of the one the caller holds (>= 1)
  bool shuffle = true;       // a new order every epoch; false: dataset order
  bool drop_last = false;    // leave out the last, smaller batch
  uint64_t seed = 0;         // order and augmentation
  bool skip_unreadable = false;  // leave out (and list) files that cannot be read or decoded
  // One rank of a data-parallel run: the epoch's order and batches stay the global ones and
  // each batch holds only this rank's samples (graft/dist/shard.hpp), the others' images
  // never decoded; a batch may then be empty, and is still served.
  dist::Shard shard;
  HostAllocator allocator;
};

struct Batch {
  Tensor<float> images;          // (N, 3, H, W), a view of the loader's buffer
  Tensor<int32_t> labels;        // (N,)
  std::vector<int64_t> indices;  // dataset index of each row: dataset()[indices[i]] has the metadata
  int64_t epoch = 0;
  int64_t number = 0;            // batch number within the epoch, from 0
  std::vector<int64_t> positions;  // sharded: each row's place in the epoch's global order
  int64_t size() const { return labels.size(); }
};

class Loader {
 public:
  Loader(Dataset dataset, Transform transform, LoaderOptions options = {})
      : ds_(std::move(dataset)), tf_(std::move(transform)), opt_(std::move(options)) {
    tf_.check();
    ds_.check();
    GRAFT_CHECK(!ds_.empty(), "loader: dataset '", ds_.name, "' is empty");
    GRAFT_CHECK(opt_.batch_size > 0, "loader: batch size must be positive, got ", opt_.batch_size);
    GRAFT_CHECK(opt_.workers >= 0, "loader: workers must be >= 0, got ", opt_.workers);
    GRAFT_CHECK(opt_.prefetch >= 1, "loader: prefetch must be >= 1, got ", opt_.prefetch);
    GRAFT_CHECK(bool(opt_.allocator.allocate) == bool(opt_.allocator.release),
                "loader: give both allocate and release, or neither");
    out_ = tf_.fixed_output_size();
    GRAFT_CHECK(out_.width > 0, "loader: the transform (", tf_.str(),
                ") does not give every image the same size: set crop or resize_to");
    GRAFT_CHECK(!opt_.drop_last || ds_.size() >= opt_.batch_size, "loader: drop_last with ", ds_.size(),
                " samples and batches of ", opt_.batch_size, " leaves nothing");
    image_floats_ = size_t(3) * size_t(out_.width) * size_t(out_.height);
    slots_.resize(size_t(opt_.prefetch) + 1);
    try {
      for (auto& s : slots_) {
        s.images = static_cast<float*>(allocate(size_t(opt_.batch_size) * image_floats_ * sizeof(float)));
        s.labels = static_cast<int32_t*>(allocate(size_t(opt_.batch_size) * sizeof(int32_t)));
        s.indices.resize(size_t(opt_.batch_size));
      }
    } catch (...) {
      free_slots();
      throw;
    }
    for (int i = 0; i < opt_.workers; ++i) threads_.emplace_back([this] { worker(); });
  }

  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  ~Loader() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    free_slots();
  }

  // Begins epoch `epoch` (any number; the order and augmentation depend on it), dropping
  // whatever was in flight for the previous one.
  void start_epoch(int64_t epoch) {
    std::unique_lock<std::mutex> lock(m_);
    begin_locked(lock, epoch);
  }

  // The next batch of the current epoch (epoch 0 if none was started), or nullptr at its end.
  const Batch* next() {
    std::unique_lock<std::mutex> lock(m_);
    if (epoch_ < 0) begin_locked(lock, 0);
    release_held_locked();
    for (;;) {
      if (consumer_ >= batches_) return nullptr;
      const int64_t b = consumer_;
      Slot& slot = slot_of(b);
      if (threads_.empty()) {
        int64_t pos;
        while (claim_locked(pos)) {
          lock.unlock();
          work(pos, scratch0_);
          lock.lock();
        }
      }
      done_cv_.wait(lock, [&] { return slot.done == slot.count; });
      ++consumer_;
      held_ = b;
      if (slot.error) {
        std::exception_ptr e = slot.error;
        slot.error = nullptr;
        std::rethrow_exception(e);
      }
      finish_locked(slot, b);
      if (slot.view.size() > 0 || !opt_.shard.whole()) return &slot.view;
      release_held_locked();  // every file of the batch was unreadable: go on
    }
  }

  int64_t epoch() const { return epoch_; }
  // The order of the dataset's samples in epoch `epoch` (the first samples_per_epoch() of
  // it are served), for a consumer that needs the epoch's labels without its images.
  std::vector<int64_t> epoch_order(int64_t epoch) const {
    const int64_t n = ds_.size();
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    if (opt_.shuffle) {
      Rng rng(random::bits(opt_.seed ^ 0x73687566u /* "shuf" */, uint64_t(epoch)));
      for (int64_t i = n; i > 1; --i) std::swap(order[size_t(i - 1)], order[rng.below(uint64_t(i))]);
    }
    return order;
  }
  // Samples and batches of an epoch (before leaving out unreadable files).
  int64_t samples_per_epoch() const { return opt_.drop_last ? ds_.size() / opt_.batch_size * opt_.batch_size : ds_.size(); }
  int64_t batches_per_epoch() const { return (samples_per_epoch() + opt_.batch_size - 1) / opt_.batch_size; }
  Size output_size() const { return out_; }
  const Dataset& dataset() const { return ds_; }
  const Transform& transform() const { return tf_; }
  const LoaderOptions& options() const { return opt_; }
  // Files left out so far because they could not be read (skip_unreadable), each once.
  std::vector<Skipped> unreadable() const {
    std::lock_guard<std::mutex> lock(m_);
    return unreadable_;
  }

 private:
  struct Scratch {
    std::vector<uint8_t> bytes;
    Image decoded, window;
  };
  struct Slot {
    float* images = nullptr;
    int32_t* labels = nullptr;
    std::vector<int64_t> indices;
    int64_t batch = -1;  // the batch held or being filled
    int64_t count = 0;   // its rows
    int64_t done = 0;    // rows finished
    std::exception_ptr error;
    int64_t error_row = -1;
    std::vector<std::pair<int64_t, Skipped>> skipped;  // (row, file)
    std::vector<int64_t> foreign;                        // rows of other ranks' samples
    Batch view;
  };

  void* allocate(size_t bytes) {
    if (opt_.allocator.allocate) {
      void* p = opt_.allocator.allocate(bytes);
      GRAFT_CHECK(p, "loader: the allocator returned no memory for ", bytes, " bytes");
      return p;
    }
    return Memory<CPU>::allocate(bytes);
  }
  void release(void* p) {
    if (!p) return;
    if (opt_.allocator.release)
      opt_.allocator.release(p);
    else
      Memory<CPU>::release(p);
  }
  void free_slots() {
    for (auto& s : slots_) {
      release(s.images);
      release(s.labels);
      s.images = nullptr;
      s.labels = nullptr;
    }
  }

  Slot& slot_of(int64_t batch) { return slots_[size_t(batch % int64_t(slots_.size()))]; }

  void assign_locked(Slot& s, int64_t batch) {
    s.done = 0;
    s.error = nullptr;
    s.error_row = -1;
    s.skipped.clear();
    s.foreign.clear();
    if (batch < batches_) {
      s.batch = batch;
      s.count = std::min(opt_.batch_size, total_ - batch * opt_.batch_size);
    } else {
      s.batch = -1;
      s.count = 0;
    }
  }

  void begin_locked(std::unique_lock<std::mutex>& lock, int64_t epoch) {
    next_pos_ = total_;  // no new claims; wait for samples in flight
    done_cv_.wait(lock, [&] { return in_flight_ == 0; });
    epoch_ = epoch;
    order_ = epoch_order(epoch);
    total_ = samples_per_epoch();
    batches_ = batches_per_epoch();
    next_pos_ = 0;
    consumer_ = 0;
    held_ = -1;
    for (size_t k = 0; k < slots_.size(); ++k) assign_locked(slots_[k], int64_t(k));
    work_cv_.notify_all();
  }

  // Gives the caller's batch's slot to the batch `slots` further on.
  void release_held_locked() {
    if (held_ < 0) return;
    assign_locked(slot_of(held_), held_ + int64_t(slots_.size()));
    held_ = -1;
    work_cv_.notify_all();
  }

  // Takes the next sample position when its batch has a slot.
  bool claim_locked(int64_t& pos) {
    if (next_pos_ >= total_) return false;
    const int64_t b = next_pos_ / opt_.batch_size;
    if (slot_of(b).batch != b) return false;
    pos = next_pos_++;
    ++in_flight_;
    return true;
  }

  void worker() {
    Scratch scratch;
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      int64_t pos = 0;
      work_cv_.wait(lock, [&] { return stop_ || claim_locked(pos); });
      if (stop_) return;
      lock.unlock();
      work(pos, scratch);
      lock.lock();
    }
  }

  // Loads sample `pos` of the epoch into its row (without the lock), then records it.
  void work(int64_t pos, Scratch& scratch) {
    const int64_t b = pos / opt_.batch_size, row = pos - b * opt_.batch_size;
    Slot& slot = slot_of(b);
    const int64_t index = order_[size_t(pos)];
    const Sample& s = ds_.samples[size_t(index)];
    if (!opt_.shard.owns(index)) {  // another rank's: left out of this rank's batch
      std::lock_guard<std::mutex> lock(m_);
      --in_flight_;
      slot.foreign.push_back(row);
      if (++slot.done == slot.count || in_flight_ == 0) done_cv_.notify_all();
      return;
    }
    std::exception_ptr error;
    bool unreadable = false;
    std::string why;
    try {
      try {
        load_image(s.path, scratch.decoded, scratch.bytes);
      } catch (const Error& e) {
        if (!opt_.skip_unreadable) throw;
        unreadable = true;
        why = e.what();
      }
      if (!unreadable) {
        tf_.apply(scratch.decoded, augment_seed(opt_.seed, epoch_, index), scratch.window,
                  slot.images + size_t(row) * image_floats_);
        slot.labels[row] = s.label;
        slot.indices[size_t(row)] = index;
      }
    } catch (const Error& e) {
      // Decoding errors already start with the path; others get it here.
      const std::string msg = e.what();
      error = msg.compare(0, s.path.size(), s.path) == 0 ? std::current_exception()
                                                         : std::make_exception_ptr(Error(s.path + ": " + msg));
    } catch (const std::exception& e) {
      error = std::make_exception_ptr(Error(s.path + ": " + e.what()));
    } catch (...) {
      error = std::make_exception_ptr(Error(s.path + ": unknown error while loading"));
    }

    std::lock_guard<std::mutex> lock(m_);
    --in_flight_;
    if (error && (slot.error_row < 0 || row < slot.error_row)) {
      slot.error = error;
      slot.error_row = row;
    }
    if (unreadable) slot.skipped.push_back({row, Skipped{s.path, SkipReason::Unreadable, why}});
    if (++slot.done == slot.count || in_flight_ == 0) done_cv_.notify_all();
  }

  // Builds the batch's tensors, leaving out rows of unreadable files and of other ranks.
  void finish_locked(Slot& slot, int64_t b) {
    int64_t n = slot.count;
    Batch& v = slot.view;
    v.positions.clear();
    if (!slot.skipped.empty() || !slot.foreign.empty()) {
      std::sort(slot.skipped.begin(), slot.skipped.end(),
                [](const auto& x, const auto& y) { return x.first < y.first; });
      std::sort(slot.foreign.begin(), slot.foreign.end());
      unreadable_seen_.resize(size_t(ds_.size()), 0);
      int64_t out = 0;
      size_t k = 0, f = 0;
      for (int64_t row = 0; row < slot.count; ++row) {
        if (f < slot.foreign.size() && slot.foreign[f] == row) {
          ++f;
          continue;
        }
        if (k < slot.skipped.size() && slot.skipped[k].first == row) {
          const int64_t index = order_[size_t(b * opt_.batch_size + row)];
          if (!unreadable_seen_[size_t(index)]) {
            unreadable_seen_[size_t(index)] = 1;
            unreadable_.push_back(slot.skipped[k].second);
          }
          ++k;
          continue;
        }
        if (out != row) {
          std::memmove(slot.images + size_t(out) * image_floats_, slot.images + size_t(row) * image_floats_,
                       image_floats_ * sizeof(float));
          slot.labels[out] = slot.labels[row];
          slot.indices[size_t(out)] = slot.indices[size_t(row)];
        }
        if (!opt_.shard.whole()) v.positions.push_back(b * opt_.batch_size + row);
        ++out;
      }
      n = out;
    } else if (!opt_.shard.whole()) {
      for (int64_t row = 0; row < n; ++row) v.positions.push_back(b * opt_.batch_size + row);
    }
    v.images = Tensor<float>::view(slot.images, Shape{n, 3, out_.height, out_.width});
    v.labels = Tensor<int32_t>::view(slot.labels, Shape{n});
    v.indices.assign(slot.indices.begin(), slot.indices.begin() + n);
    v.epoch = epoch_;
    v.number = b;
  }

  Dataset ds_;
  Transform tf_;
  LoaderOptions opt_;
  Size out_;
  size_t image_floats_ = 0;

  mutable std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> threads_;
  std::vector<Slot> slots_;
  Scratch scratch0_;  // the calling thread's, when there are no workers
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
  int64_t total_ = 0, batches_ = 0;
  int64_t next_pos_ = 0;  // next sample position to hand out
  int64_t consumer_ = 0;  // next batch next() returns
  int64_t held_ = -1;     // batch the caller holds
  int in_flight_ = 0;
  bool stop_ = false;
  std::vector<Skipped> unreadable_;
  std::vector<char> unreadable_seen_;
};

}  // namespace data
}  // namespace graft
