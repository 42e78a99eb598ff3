// dist_fault MODE DIR: a 2-rank data-parallel fit (checkpoints in DIR) in which rank 1 fails
// on purpose, for tests/dist/faults.py. MODE: die (rank 1 kills itself in epoch 2), hang
// (rank 1 sleeps for an hour in epoch 2), mismatch (rank 1 builds another network), none.
// Errors end as the programs' do (examples/common/main.hpp): the rank names itself and
// stops the others with MPI_Abort.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "graft/cpu.hpp"
#include "graft/dist/mpi.hpp"
#include "graft/nn/nn.hpp"
#include "graft/train/train.hpp"

using namespace graft;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: dist_fault die|hang|mismatch|none DIR\n");
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  dist::MpiCommunicator comm;
  try {
    const bool one = comm.rank() == 1;
    Tensor<float> images(Shape{64, 3, 8, 8});
    Tensor<int32_t> labels(Shape{64});
    Rng rng(3);
    for (auto& v : images) v = float(rng.normal());
    for (int64_t i = 0; i < 64; ++i) labels[i] = int32_t(i % 2);
    nn::Network<float> net(Shape{3, 8, 8});
    net.conv("conv1", mode == "mismatch" && one ? 5 : 4, 3, 1, 1).relu().max_pool("pool1", 2, 2).fc("fc2", 2);
    net.initialize(1);
    train::Sgd<float, CPU> sgd;
    train::Trainer<CPU>::Options o;
    o.comm = &comm;
    train::Trainer<CPU> t(net, sgd, o);
    const dist::Shard shard(comm.rank(), comm.size());
    train::TensorSource tr(images, labels, 8, 2, shard), ev(images, labels, 16, 0, shard);
    train::FitOptions f;
    f.stages = train::parse_stages("all:4");
    f.checkpoint = dir + "/checkpoint.npz";
    int epoch = 1, batch = 0;
    f.on_epoch = [&](const train::EpochRecord& r, const train::Evaluation*, const train::Evaluation*) {
      epoch = r.epoch + 1;
      batch = 0;
    };
    f.on_batch = [&](const train::BatchInfo&) {
      if (!one || epoch != 2 || ++batch != 2) return;
      if (mode == "die") std::raise(SIGKILL);
      if (mode == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
    };
    train::fit(t, tr, &ev, &ev, 2, f);
    std::printf("dist_fault: rank %d finished\n", comm.rank());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_fault: rank %d of %d: %s\n", comm.rank(), comm.size(), e.what());
    comm.abort(1);
  }
  return 0;
}
