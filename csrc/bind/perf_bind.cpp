// _C bindings of the instruction trace (csrc/emu/include/emu/trace.h) and of the timing model's
// replay (csrc/perf/replay.h). Python drives them from ascend_glm5/perf.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>

#include "emu/runtime.h"
#include "emu/trace.h"
#include "perf/replay.h"

namespace py = pybind11;
using AscendC::emu::LaunchTrace;
using ascend_glm5::perf::SocParams;

namespace {

// Each known key of `soc` sets one SocParams field; an unknown key is an error (a typo in a table).
SocParams ParseSoc(const py::dict& soc, const py::dict& apiCosts) {
  SocParams s;
  struct Field {
    const char* key;
    double* d;
    uint32_t* u;
  };
  const Field fields[] = {
      {"clock_ghz", &s.clockGhz, nullptr}, {"aic_cores", nullptr, &s.aicCores}, {"aiv_cores", nullptr, &s.aivCores},
      {"hbm_bytes_per_cycle", &s.hbmBytesPerCycle, nullptr}, {"l2_bytes", &s.l2Bytes, nullptr},
      {"l2_bytes_per_cycle", &s.l2BytesPerCycle, nullptr},
      {"l2_line_bytes", nullptr, &s.l2LineBytes}, {"l2_dirty_at_start", &s.l2DirtyAtStart, nullptr},
      {"gm_to_ub_rate", &s.gmToUbRate, nullptr},
      {"gm_to_l1_rate", &s.gmToL1Rate, nullptr}, {"gm_read_l2_rate", &s.gmReadL2Rate, nullptr},
      {"ub_to_gm_rate", &s.ubToGmRate, nullptr},
      {"fix_write_rate", &s.fixWriteRate, nullptr}, {"l1_to_l0a_rate", &s.l1ToL0aRate, nullptr},
      {"l1_to_l0b_rate", &s.l1ToL0bRate, nullptr}, {"l1_to_ub_rate", &s.l1ToUbRate, nullptr},
      {"ub_to_l1_rate", &s.ubToL1Rate, nullptr}, {"ub_to_ub_rate", &s.ubToUbRate, nullptr},
      {"fill_rate", &s.fillRate, nullptr}, {"gm_copy_overhead", &s.gmCopyOverhead, nullptr},
      {"local_copy_overhead", &s.localCopyOverhead, nullptr},
      {"l1_to_l0_overhead", &s.l1ToL0Overhead, nullptr}, {"gm_read_latency", &s.gmReadLatency, nullptr},
      {"cube_head", &s.cubeHead, nullptr}, {"vec_barrier_drain", &s.vecBarrierDrain, nullptr},
      {"ub_beat_cycles", &s.ubBeatCycles, nullptr}, {"vec_head_when_busy", &s.vecHeadWhenBusy, nullptr},
      {"flag_latency", &s.flagLatency, nullptr}, {"cross_core_latency", &s.crossCoreLatency, nullptr},
      {"issue_cycles", &s.issueCycles, nullptr},
      {"scalar_local_cycles", &s.scalarLocalCycles, nullptr}, {"scalar_gm_hit_cycles", &s.scalarGmHitCycles, nullptr},
      {"scalar_gm_miss_cycles", &s.scalarGmMissCycles, nullptr}, {"scalar_cache_lines", nullptr, &s.scalarCacheLines},
      {"queue_depth", nullptr, &s.queueDepth}, {"turn_cycles", &s.turnCycles, nullptr},
  };
  for (auto item : soc) {
    const std::string key = py::str(item.first);
    if (key == "name") {
      s.name = py::str(item.second);
      continue;
    }
    bool found = false;
    for (const Field& f : fields)
      if (key == f.key) {
        if (f.d) *f.d = item.second.cast<double>();
        else *f.u = static_cast<uint32_t>(item.second.cast<double>());
        found = true;
      }
    if (!found) throw py::value_error("perf_replay: unknown SoC parameter '" + key + "'");
  }
  for (auto item : apiCosts) {
    const std::string name = py::str(item.first);
    const auto v = item.second.cast<std::vector<double>>();
    if (v.size() != 4) throw py::value_error("perf_replay: api cost of '" + name + "' needs (head, slope16, slope32, per_element)");
    ascend_glm5::perf::ApiCost c{v[0], v[1], v[2], v[3]};
    if (name == "*vector*") s.defaultVector = c;
    else s.apiCosts[name] = c;
  }
  return s;
}

template <typename T>
py::array_t<T> Array(const std::vector<T>& v) {
  py::array_t<T> a(v.size());
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

py::dict ResultDict(const ascend_glm5::perf::Result& r) {
  using ascend_glm5::perf::kPipes;
  py::dict d;
  d["kernel"] = r.kernel;
  d["cycles"] = r.cycles;
  d["records"] = r.records;
  d["hbm_read_bytes"] = r.hbmReadBytes;
  d["hbm_write_bytes"] = r.hbmWriteBytes;
  d["l2_dirty_bytes"] = r.l2DirtyBytes;
  d["l2_hit_bytes"] = r.l2HitBytes;
  d["cube_macs"] = py::make_tuple(r.cubeMacs[0], r.cubeMacs[1], r.cubeMacs[2], r.cubeMacs[3]);
  d["vector_repeats"] = r.vectorRepeats;
  d["bandwidth_stall"] = r.bandwidthStall;
  d["late_bytes"] = r.lateBytes;
  std::vector<double> readEnd, readBytes;
  for (const auto& [end, bytes] : r.hbmReads) {
    readEnd.push_back(end);
    readBytes.push_back(bytes);
  }
  py::dict reads;
  reads["end"] = Array(readEnd);
  reads["bytes"] = Array(readBytes);
  d["hbm_reads"] = reads;
  py::list pipes;
  for (int p = 0; p < kPipes; ++p) pipes.append(ascend_glm5::perf::PipeName(p));
  d["pipes"] = pipes;
  py::list cores;
  for (const auto& c : r.cores) {
    py::dict e;
    e["type"] = c.coreType == AscendC::AIC ? "AIC" : "AIV";
    e["block"] = c.blockIdx;
    e["sub_block"] = c.subBlockIdx;
    e["start"] = c.start;
    e["end"] = c.end;
    e["busy"] = std::vector<double>(c.busy, c.busy + kPipes);
    e["instructions"] = std::vector<uint64_t>(c.instructions, c.instructions + kPipes);
    cores.append(e);
  }
  d["cores"] = cores;
  py::list apis;
  for (size_t i = 0; i < r.apiNames.size(); ++i)
    apis.append(py::make_tuple(r.apiNames[i], ascend_glm5::perf::PipeName(r.apiPipe[i]), r.apiBusy[i][0], r.apiBusy[i][1]));
  d["apis"] = apis;
  py::dict bank;
  for (size_t i = 0; i < r.apiNames.size(); ++i)
    if (r.apiBankCycles[i] > 0) bank[py::str(r.apiNames[i])] = r.apiBankCycles[i];
  d["bank_conflict_cycles"] = bank;
  std::vector<uint32_t> tc, pc, pa;
  std::vector<uint8_t> tp, pp, pr;
  std::vector<double> ts, te, ps, pe;
  for (const auto& s : r.timeline) {
    tc.push_back(s.core);
    tp.push_back(s.pipe);
    ts.push_back(s.start);
    te.push_back(s.end);
  }
  for (const auto& s : r.path) {
    pc.push_back(s.core);
    pp.push_back(s.pipe);
    pr.push_back(s.reason);
    pa.push_back(static_cast<uint32_t>(s.api));
    ps.push_back(s.start);
    pe.push_back(s.end);
  }
  py::dict tl;
  tl["core"] = Array(tc);
  tl["pipe"] = Array(tp);
  tl["start"] = Array(ts);
  tl["end"] = Array(te);
  d["timeline"] = tl;
  py::dict path;
  path["core"] = Array(pc);
  path["pipe"] = Array(pp);
  path["reason"] = Array(pr);
  path["api"] = Array(pa);
  path["start"] = Array(ps);
  path["end"] = Array(pe);
  if (!r.detail.empty()) {
    std::vector<uint32_t> da;
    std::vector<uint8_t> dp;
    std::vector<float> di, ds, de;
    for (const auto& x : r.detail) {
      da.push_back(static_cast<uint32_t>(x.api));
      dp.push_back(x.pipe);
      di.push_back(x.issue);
      ds.push_back(x.start);
      de.push_back(x.end);
    }
    py::dict det;
    det["api"] = Array(da);
    det["pipe"] = Array(dp);
    det["issue"] = Array(di);
    det["start"] = Array(ds);
    det["end"] = Array(de);
    d["detail"] = det;
  }
  py::list reasons;
  for (int i = 0; i < ascend_glm5::perf::kReasonCount; ++i) reasons.append(ascend_glm5::perf::ReasonName(i));
  path["reasons"] = reasons;
  d["path"] = path;
  return d;
}

}  // namespace

void BindPerf(py::module_& m) {
  py::class_<LaunchTrace, std::shared_ptr<LaunchTrace>>(m, "LaunchTrace", "The instruction trace of one kernel launch.")
      .def_property_readonly("kernel", [](const LaunchTrace& t) { return t.kernel; })
      .def_property_readonly("block_dim", [](const LaunchTrace& t) { return t.blockDim; })
      .def_property_readonly("cores", [](const LaunchTrace& t) { return t.cores.size(); })
      .def_property_readonly("records", [](const LaunchTrace& t) {
        size_t n = 0;
        for (const auto& c : t.cores) n += c.records.size();
        return n;
      })
      .def_property_readonly("truncated", [](const LaunchTrace& t) {
        for (const auto& c : t.cores)
          if (c.truncated) return true;
        return false;
      })
      .def_property_readonly("bytes", [](const LaunchTrace& t) {
        size_t n = 0;
        for (const auto& c : t.cores) n += c.records.size() * sizeof(AscendC::emu::TraceRecord);
        return n;
      });
  m.def("set_trace", &AscendC::emu::SetTracing, py::arg("enabled"), py::arg("max_records") = 0,
        "Record every launch's instruction trace for the timing model (32 B per instruction; max_records per "
        "launch, 0 = ASCEND_GLM5_TRACE_MAX_RECORDS or 16M). Turning it off drops traces not yet taken.");
  m.def("trace_enabled", &AscendC::emu::TracingEnabled);
  m.def("take_traces", [] {
    std::vector<std::shared_ptr<LaunchTrace>> out;
    for (auto& t : AscendC::emu::TakeTraces()) out.push_back(std::make_shared<LaunchTrace>(std::move(t)));
    return out;
  }, "The traces of the launches since the last call, oldest first.");
  m.def("perf_replay",
        [](const LaunchTrace& t, const py::dict& soc, const py::dict& apiCosts, double resolution, int64_t detailCore) {
          const SocParams s = ParseSoc(soc, apiCosts);
          ascend_glm5::perf::Result r;
          {
            py::gil_scoped_release release;
            r = ascend_glm5::perf::Replay(t, s, resolution, detailCore);
          }
          return ResultDict(r);
        },
        py::arg("trace"), py::arg("soc"), py::arg("api_costs"), py::arg("timeline_resolution") = 0.0,
        py::arg("detail_core") = -1,
        "Replay a launch trace on the timing model of `soc` (see ascend_glm5.perf).");
  m.def("select_soc", &AscendC::emu::SelectSoc, py::arg("name"), py::arg("aic_cores"), py::arg("aiv_cores"),
        "Emulate this SoC's core counts (host tilings size their launches by them).");
}
