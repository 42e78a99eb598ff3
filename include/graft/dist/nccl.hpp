// DeviceAllreduce<CUDA>: sums a bucket of CUDA gradients across ranks. With NCCL (CMake's
// graft::nccl, GRAFT_WITH_NCCL; NCCL ships with the CUDA toolkit) the sum runs on the GPUs
// on a stream of its own, ordered after the backward kernels that produced the bucket by an
// event, so that it overlaps the backward kernels still to come; NCCL's communicator is
// started from the host communicator, which broadcasts rank 0's ncclUniqueId. Without NCCL
// the bucket goes through host memory and the host communicator (MPI), correct but slow.
//
// A sum that does not finish within the communicator's timeout aborts the NCCL
// communicator (ncclCommAbort) and fails with a CollectiveError; one that NCCL reports as
// failed (a peer gone) fails at once. Included by grad_sync.hpp in CUDA translation units.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <thread>
#include <vector>

#include "graft/backend/cuda/check.hpp"
#include "graft/backend/cuda/context.hpp"
#include "graft/dist/communicator.hpp"
#if defined(GRAFT_WITH_NCCL)
#include <nccl.h>
#endif

namespace graft {
namespace dist {

template <class D>
class DeviceAllreduce;

#if defined(GRAFT_WITH_NCCL)
template <>
class DeviceAllreduce<CUDA> {
 public:
  explicit DeviceAllreduce(Communicator& c) : c_(c) {
    ncclUniqueId id;
    if (c.rank() == 0) nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    c.broadcast(&id, int64_t(sizeof id), 0, "NCCL's unique id");
    nccl(ncclCommInitRank(&comm_, c.size(), id, c.rank()), "ncclCommInitRank");
    GRAFT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  DeviceAllreduce(const DeviceAllreduce&) = delete;
  DeviceAllreduce& operator=(const DeviceAllreduce&) = delete;
  ~DeviceAllreduce() {
    for (auto& e : ready_) cudaEventDestroy(e);
    for (auto& e : done_) cudaEventDestroy(e);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) aborted_ ? ncclCommAbort(comm_) : ncclCommDestroy(comm_);
  }
  const char* engine() const { return "NCCL"; }

  void start(size_t bucket, const std::vector<Span>& spans, Context<CUDA>& ctx) {
    while (ready_.size() <= bucket) {
      cudaEvent_t a, b;
      GRAFT_CUDA_CHECK(cudaEventCreateWithFlags(&a, cudaEventDisableTiming));
      GRAFT_CUDA_CHECK(cudaEventCreateWithFlags(&b, cudaEventDisableTiming));
      ready_.push_back(a);
      done_.push_back(b);
    }
    // The sum waits for the kernels that wrote the bucket's gradients, nothing later.
    GRAFT_CUDA_CHECK(cudaEventRecord(ready_[bucket], ctx.stream()));
    GRAFT_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_[bucket], 0));
    nccl(ncclGroupStart(), "ncclGroupStart");
    for (const Span& s : spans)
      nccl(ncclAllReduce(s.data, s.data, size_t(s.n), ncclFloat, ncclSum, comm_, stream_), "ncclAllReduce");
    nccl(ncclGroupEnd(), "ncclGroupEnd (the gradient all-reduce)");
    GRAFT_CUDA_CHECK(cudaEventRecord(done_[bucket], stream_));
  }
  // The optimizer's kernels (on the context's stream) wait for the sum; the host waits only
  // to watch the deadline.
  void finish(size_t bucket, const std::vector<Span>&, Context<CUDA>& ctx) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t q = cudaEventQuery(done_[bucket]);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) GRAFT_CUDA_CHECK(q);
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess) fail(detail::concat("NCCL reports ", ncclGetErrorString(async)));
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (c_.timeout_seconds() > 0 && s > c_.timeout_seconds())
        fail(detail::concat("the gradient all-reduce did not complete within ", c_.timeout_seconds(),
                            " s (GRAFT_DIST_TIMEOUT): a rank hangs or has stopped"));
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    GRAFT_CUDA_CHECK(cudaStreamWaitEvent(ctx.stream(), done_[bucket], 0));
  }
  void progress() {}

 private:
  void nccl(ncclResult_t r, const char* what) {
    if (r != ncclSuccess) fail(detail::concat(what, " failed: ", ncclGetErrorString(r)));
  }
  [[noreturn]] void fail(const std::string& why) {
    aborted_ = true;
    throw CollectiveError(detail::concat("dist: rank ", c_.rank(), " of ", c_.size(), " (NCCL): ", why));
  }

  Communicator& c_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> ready_, done_;
  bool aborted_ = false;
};
#else
template <>
class DeviceAllreduce<CUDA> {
 public:
  explicit DeviceAllreduce(Communicator& c) : c_(c) {}
  const char* engine() const { return "MPI through host memory (graft built without NCCL)"; }
  void start(size_t bucket, const std::vector<Span>& spans, Context<CUDA>& ctx) {
    if (host_.size() <= bucket) host_.resize(bucket + 1), requests_.resize(bucket + 1);
    int64_t total = 0;
    for (const Span& s : spans) total += s.n;
    host_[bucket].resize(size_t(total));
    float* p = host_[bucket].data();
    for (const Span& s : spans) {
      GRAFT_CUDA_CHECK(cudaMemcpyAsync(p, s.data, size_t(s.n) * sizeof(float), cudaMemcpyDeviceToHost, ctx.stream()));
      p += s.n;
    }
    GRAFT_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
    requests_[bucket] = c_.start_allreduce_sum(host_[bucket].data(), total, "gradient all-reduce");
  }
  void finish(size_t bucket, const std::vector<Span>& spans, Context<CUDA>& ctx) {
    c_.wait(requests_[bucket]);
    const float* p = host_[bucket].data();
    for (const Span& s : spans) {
      GRAFT_CUDA_CHECK(cudaMemcpyAsync(s.data, p, size_t(s.n) * sizeof(float), cudaMemcpyHostToDevice, ctx.stream()));
      p += s.n;
    }
    GRAFT_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));  // the host buffer is reused next step
  }
  void progress() { c_.progress(); }

 private:
  Communicator& c_;
  std::vector<std::vector<float>> host_;
  std::vector<int64_t> requests_;
};
#endif

}  // namespace dist
}  // namespace graft
