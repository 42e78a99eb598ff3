// MpiCommunicator: the ranks of MPI_COMM_WORLD (Open MPI from Debian: libopenmpi-dev), for
// host tensors and for starting NCCL up. Needs <mpi.h> and the MPI library (CMake's
// graft::mpi, which defines GRAFT_WITH_MPI).
//
// No collective waits forever. MPI's errors return to graft (MPI_ERRORS_RETURN) as a
// CollectiveError naming the collective, and every collective is started non-blocking and
// polled against a deadline (GRAFT_DIST_TIMEOUT seconds, 300 by default): a rank that hangs
// makes the others fail within that time. To say which rank it was, every rank sends a
// one-number note "I have reached collective k" to rank 0 (and rank 0 to rank 1) before each
// collective; whoever times out lists the ranks whose note it lacks. A rank that dies is seen
// by the launcher: mpirun stops the others at once and names the rank that exited.
#pragma once

// MPI's C API only: without these, Open MPI's mpi.h also declares its deprecated C++ bindings,
// which need libmpi_cxx at link time.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "graft/dist/communicator.hpp"

namespace graft {
namespace dist {

class MpiCommunicator : public Communicator {
 public:
  // Initialises MPI when nobody has (finalised again by the destructor).
  explicit MpiCommunicator(double timeout_s = default_timeout()) : timeout_(timeout_s) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      // Only the thread that trains calls MPI (the loader's threads never do).
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw CollectiveError("dist: MPI_Init_thread failed");
      owns_mpi_ = true;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_dup(MPI_COMM_WORLD, &notes_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(notes_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    reached_.assign(size_t(size_), 0);
    if (listens()) post_note_receive();
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() override {
    if (aborted_) return;
    if (note_recv_ != MPI_REQUEST_NULL) {
      MPI_Cancel(&note_recv_);
      MPI_Request_free(&note_recv_);
    }
    for (auto& s : note_sends_) MPI_Request_free(&s.request);  // eager notes: sent or dropped
    MPI_Comm_free(&notes_);
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  static double default_timeout() {
    const char* s = std::getenv("GRAFT_DIST_TIMEOUT");
    return s && *s ? std::atof(s) : 300.0;
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* engine() const override { return "MPI"; }
  double timeout_seconds() const override { return timeout_; }
  MPI_Comm comm() const { return comm_; }

  void allreduce_sum(double* data, int64_t n, const char* what) override {
    MPI_Request r;
    const int64_t seq = arrive(what);
    check(MPI_Iallreduce(MPI_IN_PLACE, data, count(n, what), MPI_DOUBLE, MPI_SUM, comm_, &r), what);
    complete(r, what, seq);
  }
  int64_t start_allreduce_sum(float* data, int64_t n, const char* what) override {
    Pending p;
    p.what = what;
    p.seq = arrive(what);
    check(MPI_Iallreduce(MPI_IN_PLACE, data, count(n, what), MPI_FLOAT, MPI_SUM, comm_, &p.request), what);
    const int64_t id = next_id_++;
    pending_[id] = p;
    return id;
  }
  void wait(int64_t request) override {
    auto it = pending_.find(request);
    GRAFT_CHECK(it != pending_.end(), "dist: wait on an unknown request ", request);
    Pending p = it->second;
    pending_.erase(it);
    complete(p.request, p.what.c_str(), p.seq);
  }
  void progress() override {
    int flag = 0;
    for (auto& kv : pending_) check(MPI_Test(&kv.second.request, &flag, MPI_STATUS_IGNORE), kv.second.what.c_str());
    drain_notes();
  }
  void broadcast(void* data, int64_t bytes, int root, const char* what) override {
    MPI_Request r;
    const int64_t seq = arrive(what);
    check(MPI_Ibcast(data, count(bytes, what), MPI_BYTE, root, comm_, &r), what);
    complete(r, what, seq);
  }
  std::vector<char> allgatherv(const void* data, int64_t bytes, std::vector<int64_t>& counts,
                               const char* what) override {
    std::vector<long long> all(static_cast<size_t>(size_));
    long long mine = bytes;
    MPI_Request r;
    int64_t seq = arrive(what);
    check(MPI_Iallgather(&mine, 1, MPI_LONG_LONG, all.data(), 1, MPI_LONG_LONG, comm_, &r), what);
    complete(r, what, seq);
    std::vector<int> c(static_cast<size_t>(size_)), displ(static_cast<size_t>(size_));
    long long total = 0;
    counts.resize(size_t(size_));
    for (int k = 0; k < size_; ++k) {
      counts[size_t(k)] = all[size_t(k)];
      displ[size_t(k)] = count(total, what);
      c[size_t(k)] = count(all[size_t(k)], what);
      total += all[size_t(k)];
    }
    std::vector<char> out(static_cast<size_t>(total));
    seq = arrive(what);
    check(MPI_Iallgatherv(data, count(bytes, what), MPI_BYTE, out.data(), c.data(), displ.data(), MPI_BYTE, comm_, &r),
          what);
    complete(r, what, seq);
    return out;
  }
  void barrier(const char* what) override {
    MPI_Request r;
    const int64_t seq = arrive(what);
    check(MPI_Ibarrier(comm_, &r), what);
    complete(r, what, seq);
  }
  void abort(int code) override {
    aborted_ = true;
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
  }

 private:
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::string what;
    int64_t seq = 0;
  };
  struct Note {
    long long seq = 0;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  // Rank 0 hears from everyone, rank 1 from rank 0.
  bool listens() const { return size_ > 1 && (rank_ == 0 || rank_ == 1); }

  int count(long long n, const char* what) const {
    if (n < 0 || n > 0x7fffffffLL)
      throw CollectiveError(detail::concat("dist: ", what, ": ", n, " elements do not fit an MPI count"));
    return int(n);
  }
  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw CollectiveError(detail::concat("dist: rank ", rank_, " of ", size_, ": ", what, " failed: ",
                                         std::string(msg, size_t(len))));
  }

  // Numbers the next collective and tells the listeners this rank has reached it.
  int64_t arrive(const char*) {
    const int64_t seq = ++seq_;
    reached_[size_t(rank_)] = seq;
    if (size_ == 1) return seq;
    auto send = [&](int to) {
      note_sends_.push_back(Note{seq, MPI_REQUEST_NULL});
      Note& n = note_sends_.back();
      MPI_Isend(&n.seq, 1, MPI_LONG_LONG, to, 0, notes_, &n.request);
    };
    if (rank_ != 0) send(0);
    if (rank_ == 0 && size_ > 1) send(1);
    // Sent notes are freed once done (a deque: the others stay in place).
    while (!note_sends_.empty()) {
      int flag = 0;
      MPI_Test(&note_sends_.front().request, &flag, MPI_STATUS_IGNORE);
      if (!flag) break;
      note_sends_.pop_front();
    }
    return seq;
  }
  void post_note_receive() {
    MPI_Irecv(&note_in_, 1, MPI_LONG_LONG, MPI_ANY_SOURCE, 0, notes_, &note_recv_);
  }
  void drain_notes() {
    if (!listens()) return;
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Test(&note_recv_, &flag, &st) != MPI_SUCCESS || !flag) return;
      if (st.MPI_SOURCE >= 0 && st.MPI_SOURCE < size_) reached_[size_t(st.MPI_SOURCE)] = note_in_;
      post_note_receive();
    }
  }

  // Polls r until it completes or the deadline passes; then names the ranks that have not
  // reached collective `seq` (as far as this rank can tell).
  void complete(MPI_Request& r, const char* what, int64_t seq) {
    const auto t0 = std::chrono::steady_clock::now();
    int spins = 0;
    for (;;) {
      int flag = 0;
      check(MPI_Test(&r, &flag, MPI_STATUS_IGNORE), what);
      drain_notes();
      if (flag) return;
      if (++spins > 200) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 1000 : 50));
      if (timeout_ > 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_)
        throw CollectiveError(detail::concat("dist: rank ", rank_, " of ", size_, ": ", what, " (collective ", seq,
                                             ") did not complete within ", timeout_, " s (GRAFT_DIST_TIMEOUT): ",
                                             missing(seq)));
    }
  }
  std::string missing(int64_t seq) {
    drain_notes();
    std::string late;
    if (rank_ == 0) {
      for (int k = 1; k < size_; ++k)
        if (reached_[size_t(k)] < seq) late += (late.empty() ? "" : ", ") + std::to_string(k);
    } else if (rank_ == 1 && reached_[0] < seq) {
      late = "0";
    }
    if (!late.empty()) return "rank " + late + " has not reached it (hung or stopped)";
    return rank_ == 0 ? std::string("every rank reached it (a failure inside MPI)")
                      : std::string("rank 0 names the rank that has not reached it");
  }

  MPI_Comm comm_ = MPI_COMM_NULL, notes_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_ = 300;
  bool owns_mpi_ = false, aborted_ = false;
  int64_t seq_ = 0, next_id_ = 1;
  std::map<int64_t, Pending> pending_;
  std::vector<int64_t> reached_;  // the last collective each rank is known to have reached
  std::deque<Note> note_sends_;
  long long note_in_ = 0;
  MPI_Request note_recv_ = MPI_REQUEST_NULL;
};

}  // namespace dist
}  // namespace graft
