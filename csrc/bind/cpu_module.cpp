// ascend_glm5._C: the torch-free CPU module. Takes raw pointers, sizes and dtype ids; the
// Python ops (ascend_glm5/ops) own validation and allocation. Kernels run on the emulator;
// any violated hardware rule arrives in Python as RuntimeError.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "emu/runtime.h"
#include "emu/tensor.h"
#include "host/attention_problem.h"
#include "host/dynamic_quant/dynamic_quant_host.h"
#include "host/lightning_indexer/lightning_indexer_host.h"
#include "host/sparse_flash_attention/sparse_flash_attention_host.h"

namespace py = pybind11;
using AscendC::emu::Counters;

namespace {

template <typename T>
T* Ptr(uintptr_t p) { return reinterpret_cast<T*>(p); }

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
    e["usable_bytes"] = s.usableBytes;
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

  m.def("dynamic_quant",
        [](uintptr_t x, uintptr_t smooth, uintptr_t y, uintptr_t scale, uint64_t rows, uint32_t cols, uint32_t dtype) {
          py::gil_scoped_release release;
          ascend_glm5::host::DynamicQuantCpu(Ptr<const void>(x), Ptr<const void>(smooth), Ptr<void>(y), Ptr<float>(scale),
                                             rows, cols, dtype);
        },
        py::arg("x"), py::arg("smooth"), py::arg("y"), py::arg("scale"), py::arg("rows"), py::arg("cols"), py::arg("dtype"));
  m.attr("DYNAMIC_QUANT_MAX_COLS") = ascend_glm5::kDynamicQuantMaxCols;

  m.def("lightning_indexer",
        [](uintptr_t query, uint64_t queryBytes, uintptr_t key, uint64_t keyBytes, uintptr_t weights, uint64_t weightsBytes,
           uintptr_t blockTable, uint64_t blockTableBytes, uintptr_t indices, uintptr_t values,
           std::vector<int64_t> queryStart, std::vector<int64_t> queryLen, std::vector<int64_t> keyStart,
           std::vector<int64_t> keyLen, uint32_t numRows, uint32_t heads, uint32_t sparseCount, uint32_t sparseMode,
           uint32_t queryDtype, uint32_t weightDtype, bool paged, uint32_t blockSize, uint32_t maxBlocks) {
          ascend_glm5::host::LightningIndexerProblem p;
          ascend_glm5::host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen), numRows, heads,
                    sparseCount, sparseMode, paged, blockSize, maxBlocks);
          p.queryDtype = queryDtype;
          p.weightDtype = weightDtype;
          p.returnValue = values != 0;
          const ascend_glm5::host::LightningIndexerBuffers b{
              Ptr<const void>(query), queryBytes, Ptr<const void>(key), keyBytes, Ptr<const void>(weights), weightsBytes,
              Ptr<const void>(blockTable), blockTableBytes, Ptr<void>(indices), Ptr<void>(values)};
          py::gil_scoped_release release;
          ascend_glm5::host::LightningIndexerCpu(p, b);
        },
        py::kw_only(), py::arg("query"), py::arg("query_bytes"), py::arg("key"), py::arg("key_bytes"), py::arg("weights"),
        py::arg("weights_bytes"), py::arg("block_table"), py::arg("block_table_bytes"), py::arg("indices"),
        py::arg("values"), py::arg("query_start"), py::arg("query_len"), py::arg("key_start"), py::arg("key_len"),
        py::arg("num_rows"), py::arg("heads"), py::arg("sparse_count"), py::arg("sparse_mode"), py::arg("query_dtype"),
        py::arg("weight_dtype"), py::arg("paged"), py::arg("block_size"), py::arg("max_blocks"));

  m.def("sparse_flash_attention",
        [](uintptr_t query, uint64_t queryBytes, uintptr_t queryRope, uint64_t queryRopeBytes, uintptr_t key,
           uint64_t keyBytes, uintptr_t keyRope, uint64_t keyRopeBytes, uintptr_t sparseIndices,
           uint64_t sparseIndicesBytes, uintptr_t blockTable, uint64_t blockTableBytes, uintptr_t out,
           uintptr_t softmaxMax, uintptr_t softmaxSum, std::vector<int64_t> queryStart, std::vector<int64_t> queryLen,
           std::vector<int64_t> keyStart, std::vector<int64_t> keyLen, uint32_t numRows, uint32_t heads,
           uint32_t sparseCount, uint32_t sparseMode, uint32_t dtype, bool paged, uint32_t blockSize,
           uint32_t maxBlocks, float scale) {
          ascend_glm5::host::SparseFlashAttentionProblem p;
          ascend_glm5::host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen), numRows, heads,
                    sparseCount, sparseMode, paged, blockSize, maxBlocks);
          p.dtype = dtype;
          p.scale = scale;
          p.returnLse = softmaxMax != 0;
          const ascend_glm5::host::SparseFlashAttentionBuffers b{
              Ptr<const void>(query), queryBytes, Ptr<const void>(queryRope), queryRopeBytes, Ptr<const void>(key),
              keyBytes, Ptr<const void>(keyRope), keyRopeBytes, Ptr<const void>(sparseIndices), sparseIndicesBytes,
              Ptr<const void>(blockTable), blockTableBytes, Ptr<void>(out), Ptr<void>(softmaxMax), Ptr<void>(softmaxSum)};
          py::gil_scoped_release release;
          ascend_glm5::host::SparseFlashAttentionCpu(p, b);
        },
        py::kw_only(), py::arg("query"), py::arg("query_bytes"), py::arg("query_rope"), py::arg("query_rope_bytes"),
        py::arg("key"), py::arg("key_bytes"), py::arg("key_rope"), py::arg("key_rope_bytes"), py::arg("sparse_indices"),
        py::arg("sparse_indices_bytes"), py::arg("block_table"), py::arg("block_table_bytes"), py::arg("out"),
        py::arg("softmax_max"), py::arg("softmax_sum"), py::arg("query_start"), py::arg("query_len"),
        py::arg("key_start"), py::arg("key_len"), py::arg("num_rows"), py::arg("heads"), py::arg("sparse_count"),
        py::arg("sparse_mode"), py::arg("dtype"), py::arg("paged"), py::arg("block_size"), py::arg("max_blocks"),
        py::arg("scale"));

  m.def("last_launch", &LastLaunchDict, "Counters of the most recent kernel launch (total and per core).");
  m.def("cumulative_counters", [] { return CountersDict(AscendC::emu::CumulativeCounters()); },
        "Counters summed over all launches since reset_counters().");
  m.def("cumulative_launches", &AscendC::emu::CumulativeLaunches);
  m.def("reset_counters", &AscendC::emu::ResetCounters);
  m.def("emulator_limits", &Limits, "The emulated SoC: core counts and local memory sizes.");
}
