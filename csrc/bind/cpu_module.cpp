// ascend_glm5._C: the torch-free CPU module. Takes raw pointers, sizes and dtype ids; the
// Python ops (ascend_glm5/ops) own validation and allocation. Kernels run on the emulator;
// any violated hardware rule arrives in Python as RuntimeError.
// Each op's binding lives in csrc/bind/cpu/<op>.cpp.
#include "bind/cpu_bind.h"
#include "emu/runtime.h"
#include "host/plan_time.h"

namespace py = pybind11;
using AscendC::emu::Counters;

void BindPerf(py::module_& m);  // bind/perf_bind.cpp: trace and timing model

namespace {

py::dict CountersDict(const Counters& c) {
  py::dict d;
  d["mte2_bytes"] = c.mte2Bytes;
  d["mte3_bytes"] = c.mte3Bytes;
  d["mte1_bytes"] = c.mte1Bytes;
  d["mte2_calls"] = c.mte2Calls;
  d["mte3_calls"] = c.mte3Calls;
  d["mte1_calls"] = c.mte1Calls;
  d["vector_elem_ops"] = c.vecElemOps;
  d["vector_calls"] = c.vecCalls;
  d["cube_macs"] = c.cubeMacs;
  d["cube_calls"] = c.cubeCalls;
  d["fixpipe_bytes"] = c.fixpipeBytes;
  d["scalar_ops"] = c.scalarOps;
  d["sync_waits"] = c.syncWaits;
  return d;
}

py::dict LastLaunchDict() {
  const AscendC::emu::LaunchStats s = AscendC::emu::LastLaunch();
  py::dict d;
  d["kernel"] = s.kernel;
  d["block_dim"] = s.blockDim;
  d["cores"] = s.cores;
  d["total"] = CountersDict(s.total);
  py::list per;
  for (const Counters& c : s.perCore) per.append(CountersDict(c));
  d["per_core"] = per;
  return d;
}

py::dict Limits() {
  using AscendC::emu::Mem;
  py::dict d;
  d["soc"] = AscendC::emu::Soc().name;
  d["aic_cores"] = AscendC::emu::Soc().aicNum;
  d["aiv_cores"] = AscendC::emu::Soc().aivNum;
  py::dict mem;
  for (Mem m : {Mem::UB, Mem::L1, Mem::L0A, Mem::L0B, Mem::L0C, Mem::BT, Mem::FB}) {
    const auto& s = AscendC::emu::Spec(m);
    py::dict e;
    e["bytes"] = s.physicalBytes;
    e["align_bytes"] = s.alignBytes;
    e["core"] = s.onCube ? "AIC" : "AIV";
    mem[s.name] = e;
  }
  d["memory"] = mem;
  d["max_buffers_per_position"] = 8;
  d["event_ids"] = 8;
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "ascend_glm5 kernels on the AscendC CPU emulator (torch-free)";

#define ASCEND_GLM5_OP(name) BindCpuOp_##name(m);
#include "bind/op_list.inc"
#undef ASCEND_GLM5_OP

  m.def("last_launch", &LastLaunchDict, "Counters of the most recent kernel launch (total and per core).");
  m.def("last_plan_us", [] { return ascend_glm5::host::lastPlanSeconds * 1e6; },
        "Host time, in microseconds, of the most recent launch's plan (the same host code as on the NPU; 0 after "
        "reset_counters).");
  m.def("cumulative_counters", [] { return CountersDict(AscendC::emu::CumulativeCounters()); },
        "Counters summed over all launches since reset_counters().");
  m.def("cumulative_launches", &AscendC::emu::CumulativeLaunches);
  m.def("reset_counters", [] {
    AscendC::emu::ResetCounters();
    ascend_glm5::host::lastPlanSeconds = 0;
  });
  m.def("emulator_limits", &Limits, "The emulated SoC: core counts and local memory sizes.");
  BindPerf(m);
}
