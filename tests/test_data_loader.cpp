// The threaded loader: every sample once per epoch, rows equal to the transform of their
// image, the same batches whatever the number of workers, errors from workers reaching the
// caller with the file named, unreadable files skipped and counted, buffers from the
// allocator reused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "graft/data.hpp"
#include "graft/train/loader_source.hpp"
#include "support/image_files.hpp"
#include "support/skip.hpp"

using namespace graft;
using namespace graft::data;
using graft::test::TempDir;

namespace {
// n PNGs of varied sizes (all at least 24 pixels on the shorter side), label i % 3.
Dataset make_dataset(const TempDir& dir, int n) {
  Dataset d;
  d.name = "generated";
  d.classes = {"a", "b", "c"};
  for (int i = 0; i < n; ++i) {
    std::string p = dir / ("img" + std::to_string(100 + i) + ".png");
    test::write_png(p, test::random_image(24 + (i * 7) % 19, 24 + (i * 5) % 13, uint64_t(i)));
    Sample s;
    s.path = p;
    s.label = i % 3;
    d.samples.push_back(s);
  }
  return d;
}

Transform small_train() { return Transform::train(20, 16); }

struct Epoch {
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::vector<int64_t> indices, sizes;
};

Epoch run_epoch(Loader& loader, int64_t epoch) {
  Epoch e;
  loader.start_epoch(epoch);
  int64_t number = 0;
  while (const Batch* b = loader.next()) {
    REQUIRE(b->epoch == epoch);
    REQUIRE(b->number == number++);
    REQUIRE(b->images.shape() == Shape({b->size(), 3, 16, 16}));
    REQUIRE(b->indices.size() == size_t(b->size()));
    e.images.insert(e.images.end(), b->images.begin(), b->images.end());
    e.labels.insert(e.labels.end(), b->labels.begin(), b->labels.end());
    e.indices.insert(e.indices.end(), b->indices.begin(), b->indices.end());
    e.sizes.push_back(b->size());
  }
  return e;
}
}  // namespace

TEST_CASE("Loader: every sample once per epoch, rows equal their transformed image", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 45);
  LoaderOptions o;
  o.batch_size = 8;
  o.workers = 2;
  o.seed = 5;
  Loader loader(d, small_train(), o);
  CHECK(loader.batches_per_epoch() == 6);
  CHECK(loader.output_size() == Size{16, 16});
  Epoch e = run_epoch(loader, 0);
  CHECK(e.sizes == std::vector<int64_t>{8, 8, 8, 8, 8, 5});
  std::vector<int64_t> sorted = e.indices;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 45; ++i) REQUIRE(sorted[size_t(i)] == i);
  CHECK(e.indices != sorted);  // shuffled

  std::vector<float> expect(3 * 16 * 16);
  Image scratch;
  for (size_t row = 0; row < 45; ++row) {
    const int64_t index = e.indices[row];
    CHECK(e.labels[row] == d[index].label);
    small_train().apply(load_image(d[index].path), augment_seed(5, 0, index), scratch, expect.data());
    REQUIRE(std::memcmp(expect.data(), e.images.data() + row * expect.size(), expect.size() * sizeof(float)) == 0);
  }
  CHECK(loader.next() == nullptr);  // the epoch stays finished

  Epoch e1 = run_epoch(loader, 1);
  CHECK(e1.indices != e.indices);  // a new order each epoch
  Epoch e0 = run_epoch(loader, 0);
  CHECK(e0.indices == e.indices);  // and the same one again for the same epoch
  CHECK(e0.images == e.images);
}

TEST_CASE("Loader: the same batches with 0, 1, 2 or 4 workers and any prefetch", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 37);
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 11;
  o.workers = 0;
  Loader ref_loader(d, small_train(), o);
  Epoch ref0 = run_epoch(ref_loader, 0), ref3 = run_epoch(ref_loader, 3);
  for (int workers : {1, 2, 4}) {
    for (int prefetch : {1, 3}) {
      o.workers = workers;
      o.prefetch = prefetch;
      Loader loader(d, small_train(), o);
      Epoch e0 = run_epoch(loader, 0), e3 = run_epoch(loader, 3);
      INFO(workers << " workers, prefetch " << prefetch);
      CHECK(e0.indices == ref0.indices);
      CHECK(e0.images == ref0.images);
      CHECK(e0.labels == ref0.labels);
      CHECK(e3.indices == ref3.indices);
      CHECK(e3.images == ref3.images);
    }
  }
  o.seed = 12;
  Loader other(d, small_train(), o);
  CHECK(run_epoch(other, 0).indices != ref0.indices);
}

TEST_CASE("Loader: without shuffling, dataset order; drop_last; restart mid-epoch", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 21);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.drop_last = true;
  Loader loader(d, Transform::eval(20, 16), o);
  CHECK(loader.batches_per_epoch() == 5);
  Epoch e = run_epoch(loader, 0);
  CHECK(e.sizes == std::vector<int64_t>{4, 4, 4, 4, 4});
  for (int64_t i = 0; i < 20; ++i) CHECK(e.indices[size_t(i)] == i);

  // Two batches, then start over: the epoch is as if fresh.
  o.shuffle = true;
  o.drop_last = false;
  Loader a(d, small_train(), o), b(d, small_train(), o);
  a.start_epoch(2);
  REQUIRE(a.next() != nullptr);
  REQUIRE(a.next() != nullptr);
  Epoch again = run_epoch(a, 2), fresh = run_epoch(b, 2);
  CHECK(again.indices == fresh.indices);
  CHECK(again.images == fresh.images);

  // next() without start_epoch begins epoch 0.
  Loader c(d, small_train(), o);
  const Batch* first = c.next();
  REQUIRE(first != nullptr);
  CHECK(first->epoch == 0);
  Epoch zero = run_epoch(b, 0);
  CHECK(first->indices == std::vector<int64_t>(zero.indices.begin(), zero.indices.begin() + 4));
}

TEST_CASE("LoaderSource: a labels-only epoch has the loaded epoch's batches, indices and labels", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 23);
  for (bool drop_last : {false, true}) {
    LoaderOptions o;
    o.batch_size = 5;
    o.seed = 9;
    o.drop_last = drop_last;
    Loader loader(d, small_train(), o);
    train::LoaderSource src(loader);
    for (uint64_t epoch : {1u, 4u}) {
      std::vector<std::vector<int64_t>> loaded, bare;
      std::vector<int32_t> loaded_labels, bare_labels;
      src.start(epoch);
      while (const train::Batch* b = src.next()) {
        REQUIRE(b->images.size() > 0);
        loaded.push_back(b->indices);
        loaded_labels.insert(loaded_labels.end(), b->labels.begin(), b->labels.end());
      }
      REQUIRE(src.start_labels_only(epoch));
      while (const train::Batch* b = src.next()) {
        CHECK(b->images.size() == 0);  // nothing decoded
        REQUIRE(b->labels.size() == int64_t(b->indices.size()));
        bare.push_back(b->indices);
        bare_labels.insert(bare_labels.end(), b->labels.begin(), b->labels.end());
      }
      CHECK(bare == loaded);
      CHECK(bare_labels == loaded_labels);
      CHECK(loaded.size() == size_t(drop_last ? 4 : 5));
      // start() after a labels-only epoch loads images again.
      src.start(epoch);
      const train::Batch* b = src.next();
      REQUIRE(b != nullptr);
      CHECK(b->images.size() > 0);
      CHECK(b->indices == loaded[0]);
    }
  }
}

TEST_CASE("Loader: sharded, each rank's batches are its samples of the global batches, at their places", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 23);
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 3;
  o.workers = 1;
  Loader whole(d, small_train(), o);
  const Epoch all = run_epoch(whole, 2);
  const std::vector<int64_t> order = whole.epoch_order(2);
  for (int ranks : {2, 3}) {
    std::vector<int64_t> seen(size_t(d.size()), 0);
    for (int r = 0; r < ranks; ++r) {
      LoaderOptions so = o;
      so.shard = dist::Shard(r, ranks);
      Loader mine(d, small_train(), so);
      train::LoaderSource src(mine);
      CHECK(src.size() == 23);  // the global epoch
      CHECK(src.shard() == so.shard);
      for (bool bare : {false, true}) {
        if (bare) REQUIRE(src.start_labels_only(2));
        else src.start(2);
        int64_t batches = 0;
        while (const train::Batch* b = src.next()) {
          ++batches;
          REQUIRE(b->positions.size() == b->indices.size());
          for (size_t i = 0; i < b->indices.size(); ++i) {
            const int64_t idx = b->indices[i], pos = b->positions[i];
            CHECK(idx % ranks == r);
            CHECK(order[size_t(pos)] == idx);               // its place in the global order
            CHECK(pos / 5 == batches - 1);                  // in the global batch of that place
            CHECK(b->labels[int64_t(i)] == all.labels[size_t(pos)]);
            if (!bare) {
              seen[size_t(idx)] += 1;
              const int64_t row = 3 * 16 * 16;  // the same pixels as the whole loader's
              CHECK(std::equal(b->images.data() + int64_t(i) * row, b->images.data() + int64_t(i + 1) * row,
                               all.images.data() + pos * row));
            }
          }
        }
        CHECK(batches == 5);  // every global batch, empty shares too
      }
    }
    for (int64_t k : seen) CHECK(k == 1);  // the shards partition the epoch
  }
}

TEST_CASE("Loader: a worker's error reaches the caller with the file named", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 20);
  // Sample 13 is corrupt: a PNG cut after its first 40 bytes.
  std::vector<uint8_t> png = test::read_bytes(d.samples[13].path);
  png.resize(40);
  test::write_bytes(d.samples[13].path, png);
  for (int workers : {0, 2}) {
    LoaderOptions o;
    o.batch_size = 4;
    o.workers = workers;
    o.shuffle = false;
    Loader loader(d, small_train(), o);
    loader.start_epoch(0);
    for (int b = 0; b < 3; ++b) REQUIRE(loader.next() != nullptr);  // rows 0..11 are fine
    CHECK_THROWS_WITH(loader.next(), Catch::StartsWith(d.samples[13].path) && Catch::Contains("corrupt or truncated PNG"));
    const Batch* after = loader.next();  // and the loader goes on
    REQUIRE(after != nullptr);
    CHECK(after->number == 4);
    CHECK(loader.next() == nullptr);
  }

  // An error that is not about decoding (image smaller than the crop) also names the file.
  TempDir dir2("loader");
  Dataset small = make_dataset(dir2, 6);
  test::write_png(small.samples[2].path, test::random_image(10, 40, 1));
  Transform crop_only;
  crop_only.crop = {16, 16};
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  o.skip_unreadable = true;  // does not cover images that decode
  Loader loader(small, crop_only, o);
  CHECK_THROWS_WITH(loader.next(), Catch::StartsWith(small.samples[2].path + ": ") &&
                                       Catch::Contains("smaller than the crop of 16x16"));
}

TEST_CASE("Loader: skip_unreadable leaves out and lists bad files, once each", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 30);
  test::write_bytes(d.samples[4].path, {1, 2, 3});
  std::filesystem::remove(d.samples[17].path);
  std::vector<uint8_t> png = test::read_bytes(d.samples[20].path);
  png.resize(png.size() / 2);
  test::write_bytes(d.samples[20].path, png);
  for (int workers : {0, 3}) {
    LoaderOptions o;
    o.batch_size = 6;
    o.workers = workers;
    o.skip_unreadable = true;
    Loader loader(d, small_train(), o);
    for (int epoch = 0; epoch < 2; ++epoch) {
      Epoch e = run_epoch(loader, epoch);
      CHECK(e.indices.size() == 27);
      for (int64_t bad : {4, 17, 20}) CHECK(std::count(e.indices.begin(), e.indices.end(), bad) == 0);
      // Rows still match their indices after the batch is compacted.
      for (size_t r = 0; r < e.indices.size(); ++r) CHECK(e.labels[r] == d[e.indices[r]].label);
    }
    auto bad = loader.unreadable();
    REQUIRE(bad.size() == 3);
    std::set<std::string> paths;
    for (const auto& s : bad) {
      paths.insert(s.path);
      CHECK(s.reason == SkipReason::Unreadable);
      CHECK(s.detail.rfind(s.path, 0) == 0);  // the error message, which names the file
    }
    CHECK(paths == std::set<std::string>{d.samples[4].path, d.samples[17].path, d.samples[20].path});
  }

  // A batch made only of unreadable files is passed over.
  LoaderOptions o;
  o.batch_size = 1;
  o.shuffle = false;
  o.skip_unreadable = true;
  Loader one(d, small_train(), o);
  one.start_epoch(0);
  int64_t n = 0;
  while (const Batch* b = one.next()) {
    CHECK(b->size() == 1);
    ++n;
  }
  CHECK(n == 27);
}

TEST_CASE("Loader: batch buffers come from the allocator, once", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 12);
  struct Counts {
    int allocs = 0, frees = 0;
    std::vector<std::pair<char*, size_t>> blocks;
  } counts;
  LoaderOptions o;
  o.batch_size = 4;
  o.prefetch = 2;
  o.allocator.allocate = [&](size_t bytes) {
    ++counts.allocs;
    char* p = static_cast<char*>(std::malloc(bytes));
    counts.blocks.push_back({p, bytes});
    return static_cast<void*>(p);
  };
  o.allocator.release = [&](void* p) {
    ++counts.frees;
    std::free(p);
  };
  {
    Loader loader(d, small_train(), o);
    CHECK(counts.allocs == 2 * 3);  // images and labels for 3 slots (prefetch 2 + held)
    for (int epoch = 0; epoch < 3; ++epoch) {
      loader.start_epoch(epoch);
      while (const Batch* b = loader.next()) {
        const char* p = reinterpret_cast<const char*>(b->images.data());
        bool inside = std::any_of(counts.blocks.begin(), counts.blocks.end(),
                                  [&](const auto& blk) { return p >= blk.first && p < blk.first + blk.second; });
        CHECK(inside);
      }
    }
    CHECK(counts.allocs == 6);
  }
  CHECK(counts.frees == 6);

  o.allocator.release = nullptr;
  CHECK_THROWS_WITH(Loader(d, small_train(), o), Catch::Contains("both allocate and release"));
}

TEST_CASE("Loader: bad options and datasets are refused", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 3);
  Transform varying;
  varying.resize_shorter = 20;
  CHECK_THROWS_WITH(Loader(d, varying), Catch::Contains("same size"));
  Dataset empty = d.select({});
  CHECK_THROWS_WITH(Loader(empty, small_train()), Catch::Contains("is empty"));
  LoaderOptions o;
  o.batch_size = 0;
  CHECK_THROWS_WITH(Loader(d, small_train(), o), Catch::Contains("batch size"));
  o.batch_size = 4;
  o.drop_last = true;
  CHECK_THROWS_WITH(Loader(d, small_train(), o), Catch::Contains("leaves nothing"));
  Dataset wrong = d;
  wrong.samples[1].label = 3;
  CHECK_THROWS_WITH(Loader(wrong, small_train()), Catch::Contains("has label 3"));
}

TEST_CASE("Loader: destroyed while its workers are busy", "[data]") {
  TempDir dir("loader");
  Dataset d = make_dataset(dir, 40);
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 3;
  o.prefetch = 4;
  for (int i = 0; i < 5; ++i) {
    Loader loader(d, small_train(), o);
    loader.start_epoch(i);
    if (i % 2) REQUIRE(loader.next() != nullptr);
  }  // no hang, no crash
  SUCCEED();
}

TEST_CASE("Loader: real UTKFace batches", "[data]") {
  auto dir = data_dir(GRAFT_SOURCE_DIR, "utkface");
  if (!std::filesystem::is_directory(dir)) GRAFT_SKIP("no utkface data at " + dir.string());
  Dataset all = utkface(dir);
  std::vector<int64_t> first(64);
  for (int64_t i = 0; i < 64; ++i) first[size_t(i)] = i * 300;
  Dataset d = all.select(first);
  LoaderOptions o;
  o.batch_size = 32;
  Loader loader(d, Transform::train(), o);
  int64_t n = 0;
  loader.start_epoch(0);
  while (const Batch* b = loader.next()) {
    REQUIRE(b->images.shape() == Shape({32, 3, 224, 224}));
    for (int64_t i = 0; i < b->size(); ++i) CHECK(b->labels[i] == d[b->indices[size_t(i)]].label);
    float lo = 1e9f, hi = -1e9f;
    for (float v : b->images) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    // 0..255 minus means of 93.6..129.2: a real photo spans most of that range.
    CHECK(lo >= -129.1863f);
    CHECK(hi <= 255 - 93.5940f);
    CHECK(hi - lo > 150);
    n += b->size();
  }
  CHECK(n == 64);
}
