// The tiling a quantized GEMM plan chose (grouped_matmul_a8w4, quant_matmul: one engine, one
// QGemmTiling) as a Python dict, for tests and benchmarks.
#pragma once

#include "bind/cpu_bind.h"
#include "kernels/common/qgemm_host_tiling.h"

namespace ascend_glm5::bind {

inline pybind11::dict QGemmPlanDict(const QGemmPlan& plan) {
  const QGemmTiling& t = plan.tiling;
  pybind11::dict d;
  d["block_dim"] = t.blockDim;
  d["n_tile"] = t.nTile;
  d["m_tile"] = t.mTile;
  d["tokens_per_pass"] = t.tokensPerPass;
  d["item_rows"] = t.itemRows;
  d["k_step"] = t.kStep;
  d["resident"] = bool(t.resident);
  d["ring_chunks"] = t.ringChunks;
  d["a_rows"] = t.aRows;
  d["a_depth"] = t.aDepth;
  d["n_tiles"] = t.nTiles;
  d["n_gran"] = t.nGran;
  d["unit_steps"] = t.unitSteps;
  d["acc_slots"] = t.accSlots;
  d["split_k"] = bool(t.splitK);
  d["slots_per_block"] = t.slotsPerBlock;
  d["unit_shift"] = t.unitShift;
  d["cut_units"] = t.cutUnits;
  d["chunk_steps"] = t.chunkSteps;
  d["a_zz"] = bool(t.aZz);
  d["workspace_bytes"] = plan.workspaceBytes;
  return d;
}

}  // namespace ascend_glm5::bind
