// Max-min fair sharing of the GM bandwidth pools: see flows.h.
#include "perf/flows.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ascend_glm5::perf {

namespace {
// A service target counts as reached within this relative slack (the curves are sums of rate x time).
double Slack(double s) { return 1e-9 * std::max(1.0, std::fabs(s)); }
}  // namespace

SharedPools::SharedPools(const double capacity[kPools], const std::vector<double> rates[kPools]) {
  for (int i = 0; i < kPools; ++i) {
    PoolState& p = pools_[i];
    p.capacity = capacity[i];
    std::vector<double> r = rates[i];
    std::sort(r.begin(), r.end());
    r.erase(std::unique(r.begin(), r.end()), r.end());
    if (r.size() > kMaxClasses) throw std::runtime_error("perf model: too many GM path rates");
    for (double x : r)
      if (!(x > 0)) throw std::runtime_error("perf model: a GM path rate must be positive");
    p.classes = static_cast<int>(r.size());
    std::copy(r.begin(), r.end(), p.path);
    Refill(p);
  }
}

int SharedPools::ClassOf(const PoolState& p, double rate) const {
  for (int k = 0; k < p.classes; ++k)
    if (p.path[k] == rate) return k;
  throw std::runtime_error("perf model: a GM transfer at a path rate the pools were not told of");
}

// Water-filling: classes in ascending path rate; a class whose path rate fits in an equal share of
// what is left runs at its path rate, the rest share the remainder equally.
void SharedPools::Refill(PoolState& p) {
  double left = p.capacity, level = kNever;
  uint32_t n = 0;
  for (int k = 0; k < p.classes; ++k) n += p.inFlight[k];
  for (int k = 0; k < p.classes && n; ++k) {
    if (!p.inFlight[k]) continue;
    if (p.path[k] * n <= left) {
      left -= p.path[k] * p.inFlight[k];
      n -= p.inFlight[k];
    } else {
      level = left / n;
      break;
    }
  }
  // A class with nothing in flight keeps the rate a transfer of it would get (late starts use it).
  for (int k = 0; k < p.classes; ++k) p.rate[k] = std::min(p.path[k], level);
  Snap s;
  s.t = now_;
  std::copy(p.S, p.S + kMaxClasses, s.S);
  std::copy(p.rate, p.rate + kMaxClasses, s.rate);
  if (p.history.size() > p.first && p.history.back().t == now_) p.history.back() = s;
  else p.history.push_back(s);
}

double SharedPools::ServiceAt(const PoolState& p, int k, double t) const {
  auto begin = p.history.begin() + p.first;
  auto it = std::upper_bound(begin, p.history.end(), t, [](double x, const Snap& s) { return x < s.t; });
  if (it != begin) --it;
  return it->S[k] + it->rate[k] * std::max(0.0, t - it->t);
}

double SharedPools::TimeOfService(const PoolState& p, int k, double s) const {
  auto begin = p.history.begin() + p.first;
  auto it = std::upper_bound(begin, p.history.end(), s, [k](double x, const Snap& h) { return x < h.S[k]; });
  if (it != begin) --it;
  return std::min(now_, it->t + std::max(0.0, s - it->S[k]) / it->rate[k]);
}

bool SharedPools::StartLeg(uint32_t id, double t, double& end) {
  Transfer& x = transfers_[id];
  for (; x.at < x.count; ++x.at) {
    const Leg& leg = x.legs[x.at];
    PoolState& p = pools_[leg.pool];
    const int k = ClassOf(p, leg.rate);
    const double target = ServiceAt(p, k, t) + leg.bytes;
    if (t >= now_ || target > p.S[k] + Slack(target)) {  // in flight from now on
      p.inFlight[k]++;
      p.ends[k].push({target, id});
      Refill(p);
      return false;
    }
    t = TimeOfService(p, k, target);  // a late start that has already ended: the next leg from then
  }
  end = t;
  return true;
}

bool SharedPools::Start(double t0, const Leg* legs, int count, uint64_t tag, double& end) {
  Transfer x;
  for (int i = 0; i < count; ++i)
    if (legs[i].bytes > 0) x.legs[x.count++] = legs[i];
  x.tag = tag;
  if (!x.count) {
    end = t0;
    return true;
  }
  uint32_t id;
  if (!freeIds_.empty()) {
    id = freeIds_.back();
    freeIds_.pop_back();
    transfers_[id] = x;
  } else {
    id = static_cast<uint32_t>(transfers_.size());
    transfers_.push_back(x);
  }
  if (t0 > now_) {
    starts_.push({t0, id});
    return false;
  }
  if (t0 < now_)
    for (int i = 0; i < x.count; ++i) lateBytes_ += x.legs[i].bytes;
  if (StartLeg(id, t0, end)) {
    freeIds_.push_back(id);
    return true;
  }
  return false;
}

double SharedPools::NextEvent() const {
  double next = starts_.empty() ? kNever : starts_.top().first;
  for (const PoolState& p : pools_)
    for (int k = 0; k < p.classes; ++k)
      if (!p.ends[k].empty()) next = std::min(next, now_ + std::max(0.0, p.ends[k].top().first - p.S[k]) / p.rate[k]);
  return next;
}

void SharedPools::Advance(std::vector<Done>& done) {
  const double t = NextEvent();
  if (t == kNever) return;
  for (PoolState& p : pools_)
    for (int k = 0; k < p.classes; ++k) p.S[k] += p.rate[k] * (t - now_);
  now_ = t;
  // Every leg that ends now leaves its pool (its transfer's next leg starts now), then every
  // transfer due to start now joins; the rates are set once all of them are in.
  std::vector<uint32_t> next;
  for (PoolState& p : pools_)
    for (int k = 0; k < p.classes; ++k)
      while (!p.ends[k].empty() && p.ends[k].top().first <= p.S[k] + Slack(p.S[k])) {
        const uint32_t id = p.ends[k].top().second;
        p.ends[k].pop();
        p.inFlight[k]--;
        transfers_[id].at++;
        next.push_back(id);
      }
  while (!starts_.empty() && starts_.top().first <= now_) {
    next.push_back(starts_.top().second);
    starts_.pop();
  }
  std::sort(next.begin(), next.end());  // the order they join in does not matter; fixed anyway
  for (PoolState& p : pools_) Refill(p);
  for (uint32_t id : next) {
    double end;
    if (StartLeg(id, now_, end)) {
      done.push_back({transfers_[id].tag, end});
      freeIds_.push_back(id);
    }
  }
}

void SharedPools::Forget(double t) {
  for (PoolState& p : pools_) {
    while (p.first + 1 < p.history.size() && p.history[p.first + 1].t <= t) p.first++;
    if (p.first > 4096 && p.first * 2 > p.history.size()) {
      p.history.erase(p.history.begin(), p.history.begin() + p.first);
      p.first = 0;
    }
  }
}

}  // namespace ascend_glm5::perf
