// The shared GM bandwidth pools (HBM, L2) of the timing model: max-min fair sharing (processor
// sharing) among the transfers in flight, simulated in modeled-time order.
//
// At every moment each transfer in flight in a pool gets min(its own path rate, the water level L),
// L chosen so the pool is fully used when the transfers want more than it has (no level when they
// want less). The rates change only when a transfer starts or ends, so the pools advance from event
// to event. Transfers whose path rates are equal get the same rate, so a pool keeps one service
// curve per path rate ("class"): S_k(t) = bytes a transfer of class k in flight since 0 would have
// moved by t. A transfer of class k started at t0 with B bytes ends when S_k reaches S_k(t0) + B.
// The answer depends only on the transfers' start times, sizes and rates, never on the order the
// replay hands them in.
//
// The replay hands every transfer in at or after its start (it defers what a core issues to a pipe
// with a transfer in flight instead of holding the core back). Should one come with a start before
// the pools' clock anyway, it is taken to have moved at its class's rate of that time, from the kept
// history of S_k, without slowing the transfers of that time (an over-use of the pool); LateBytes
// counts such bytes so that a test or a report can see them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

namespace ascend_glm5::perf {

class SharedPools {
 public:
  enum Pool : uint8_t { kHbm, kL2, kPools };
  static constexpr int kMaxClasses = 8;
  static constexpr double kNever = std::numeric_limits<double>::infinity();

  // One leg of a transfer: `bytes` through `pool` at up to `rate` bytes / cycle (the core's path).
  struct Leg {
    Pool pool;
    double bytes, rate;
  };
  struct Done {
    uint64_t tag;
    double end;
  };

  // capacity: bytes / cycle of each pool; rates: every path rate a leg in that pool may have.
  SharedPools(const double capacity[kPools], const std::vector<double> rates[kPools]);

  // A transfer of legs run one after the other from t0 (legs of 0 bytes are skipped). True: it has
  // already ended (nothing in flight, or a late start that ended before the clock), at `end`.
  // False: it ends later; Advance reports it under `tag`.
  bool Start(double t0, const Leg* legs, int count, uint64_t tag, double& end);
  // Time of the next start or end (kNever: nothing in flight or waiting).
  double NextEvent() const;
  // Moves the clock to NextEvent(); appends the transfers that ended there.
  void Advance(std::vector<Done>& done);
  // Forget the history before t (no transfer will start before it any more).
  void Forget(double t);
  double Now() const { return now_; }
  // Bytes handed in with a start before the clock (a late start: taken to have moved at its class's
  // rate of that time without slowing anyone, an over-use of the pool). The replay avoids them.
  double LateBytes() const { return lateBytes_; }

 private:
  struct Transfer {
    Leg legs[2];
    int count = 0, at = 0;
    uint64_t tag = 0;
  };
  struct Snap {  // the service curves from t on, until the next snapshot
    double t;
    double S[kMaxClasses], rate[kMaxClasses];
  };
  using Entry = std::pair<double, uint32_t>;  // (target or start time, transfer)
  using MinHeap = std::priority_queue<Entry, std::vector<Entry>, std::greater<>>;
  struct PoolState {
    double capacity = 0;
    int classes = 0;
    double path[kMaxClasses] = {};  // ascending
    double S[kMaxClasses] = {}, rate[kMaxClasses] = {};
    uint32_t inFlight[kMaxClasses] = {};
    MinHeap ends[kMaxClasses];  // by target S
    std::vector<Snap> history;  // from `first` on
    size_t first = 0;
  };

  int ClassOf(const PoolState& p, double rate) const;
  void Refill(PoolState& p);  // the water level and the class rates, then a snapshot at now_
  double ServiceAt(const PoolState& p, int k, double t) const;
  double TimeOfService(const PoolState& p, int k, double s) const;
  // Starts leg `at` of transfer id at t (<= now_); true if the transfer ended (by now_) at `end`.
  bool StartLeg(uint32_t id, double t, double& end);

  double now_ = 0, lateBytes_ = 0;
  PoolState pools_[kPools];
  std::vector<Transfer> transfers_;
  std::vector<uint32_t> freeIds_;
  MinHeap starts_;  // transfers whose t0 is after the clock
};

}  // namespace ascend_glm5::perf
