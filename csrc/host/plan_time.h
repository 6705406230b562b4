// Host time of the most recent launch's plan: on the NPU an op's plan (Make*Plan) is made on the host
// before every launch, so it adds to each launch's latency; the CPU path makes the same plan with the
// same code. Both record its time here (each module its own copy): `last_plan_us` of _C and of _npu.
#pragma once

#include <atomic>
#include <chrono>

namespace ascend_glm5::host {

inline std::atomic<double> lastPlanSeconds{0.0};

// make(), timed.
template <typename MakePlan>
auto TimedPlan(MakePlan&& make) {
  const auto start = std::chrono::steady_clock::now();
  auto plan = make();
  lastPlanSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

}  // namespace ascend_glm5::host
