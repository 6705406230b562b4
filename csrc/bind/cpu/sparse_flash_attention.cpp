// _C binding of sparse_flash_attention (Sparse Flash Attention): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "host/attention_problem.h"
#include "host/sparse_flash_attention/sparse_flash_attention_host.h"

void BindCpuOp_sparse_flash_attention(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("sparse_flash_attention",
        [](uintptr_t query, uint64_t queryBytes, uintptr_t queryRope, uint64_t queryRopeBytes, uintptr_t key,
           uint64_t keyBytes, uintptr_t value, uint64_t valueBytes, uintptr_t keyRope, uint64_t keyRopeBytes, uintptr_t sparseIndices,
           uint64_t sparseIndicesBytes, uintptr_t blockTable, uint64_t blockTableBytes, uintptr_t out,
           uintptr_t softmaxMax, uintptr_t softmaxSum, std::vector<int64_t> queryStart, std::vector<int64_t> queryLen,
           std::vector<int64_t> keyStart, std::vector<int64_t> keyLen, uint32_t numRows, uint32_t heads,
           uint32_t sparseCount, uint32_t sparseMode, uint32_t dtype, bool paged, uint32_t blockSize,
           uint32_t maxBlocks, float scale, bool deterministic) {
          ascend_glm5::host::SparseFlashAttentionProblem p;
          ascend_glm5::host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen), numRows, heads,
                    sparseCount, sparseMode, paged, blockSize, maxBlocks);
          p.dtype = dtype;
          p.scale = scale;
          p.returnLse = softmaxMax != 0;
          p.separateValue = value != key;
          p.combinedKv = keyRope == 0;  // the rope columns are in the key rows
          p.deterministic = deterministic;
          const ascend_glm5::host::SparseFlashAttentionBuffers b{
              Ptr<const void>(query), queryBytes, Ptr<const void>(queryRope), queryRopeBytes, Ptr<const void>(key),
              keyBytes, Ptr<const void>(value), valueBytes, Ptr<const void>(keyRope), keyRopeBytes, Ptr<const void>(sparseIndices), sparseIndicesBytes,
              Ptr<const void>(blockTable), blockTableBytes, Ptr<void>(out), Ptr<void>(softmaxMax), Ptr<void>(softmaxSum)};
          py::gil_scoped_release release;
          ascend_glm5::host::SparseFlashAttentionCpu(p, b);
        },
        py::kw_only(), py::arg("query"), py::arg("query_bytes"), py::arg("query_rope"), py::arg("query_rope_bytes"),
        py::arg("key"), py::arg("key_bytes"), py::arg("value"), py::arg("value_bytes"), py::arg("key_rope"), py::arg("key_rope_bytes"), py::arg("sparse_indices"),
        py::arg("sparse_indices_bytes"), py::arg("block_table"), py::arg("block_table_bytes"), py::arg("out"),
        py::arg("softmax_max"), py::arg("softmax_sum"), py::arg("query_start"), py::arg("query_len"),
        py::arg("key_start"), py::arg("key_len"), py::arg("num_rows"), py::arg("heads"), py::arg("sparse_count"),
        py::arg("sparse_mode"), py::arg("dtype"), py::arg("paged"), py::arg("block_size"), py::arg("max_blocks"),
        py::arg("scale"), py::arg("deterministic") = false);
  // The host plan's work split (for tests): per AI core its items (row, first and end position,
  // piece: -1 a whole row, >= 0 a piece's slot, <= -2 a seeded item) and the (split, head) units its
  // two vector cores merge; the split rows (row, first slot, pieces, finisher: 1 + the index of the
  // piece that writes the row, 0 if merged or seeded); one_ref: whether the split rows' pieces share
  // one reference max (SfaOneRef; never with deterministic); one_ref_all_cores: and they are one row's,
  // one on every core, posted by an all-AIV flag (kSfaOneRefAllCores).
  m.def(
      "sparse_flash_attention_plan",
      [](std::vector<int64_t> queryStart, std::vector<int64_t> queryLen, std::vector<int64_t> keyStart,
         std::vector<int64_t> keyLen, uint32_t numRows, uint32_t heads, uint32_t sparseCount, uint32_t sparseMode,
         bool paged, uint32_t blockSize, uint32_t maxBlocks, bool combined, uint32_t aiCores, bool deterministic) {
        using namespace ascend_glm5;
        host::SparseFlashAttentionProblem p;
        host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen), numRows,
                        heads, sparseCount, sparseMode, paged, blockSize, maxBlocks);
        p.dtype = kBFloat16;
        p.combinedKv = combined;
        p.deterministic = deterministic;
        const host::SparseFlashAttentionPlan plan = host::MakeSparseFlashAttentionPlan(p, aiCores);
        const SparseFlashAttentionTiling& t = plan.tiling;
        const auto record = [&](uint64_t at) {
          return py::make_tuple(plan.table[at], plan.table[at + 1], plan.table[at + 2], plan.table[at + 3]);
        };
        py::list cores;
        for (uint32_t c = 0; c < t.blockDim; ++c) {
          const uint64_t head = t.headOffset + uint64_t(c) * kSfaHeadWords, merge = head + 2 + 2 * kSfaRecordWords;
          py::list items;
          for (int32_t i = plan.table[head]; i < plan.table[head + 1]; ++i)
            items.append(record(t.itemOffset + uint64_t(i) * kSfaRecordWords));
          py::dict core;
          core["items"] = items;
          core["merge"] = py::make_tuple(py::make_tuple(plan.table[merge], plan.table[merge + 1]),
                                         py::make_tuple(plan.table[merge + 1], plan.table[merge + 2]));
          cores.append(core);
        }
        py::list splits;
        for (uint32_t j = 0; j < t.numSplits; ++j) {
          const uint64_t at = t.splitOffset + uint64_t(j) * kSfaRecordWords;
          splits.append(py::make_tuple(plan.table[at], plan.table[at + 1], plan.table[at + 2], plan.table[at + 3]));
        }
        py::dict d;
        d["block_dim"] = t.blockDim;
        d["cores"] = cores;
        d["splits"] = splits;
        d["one_ref"] = t.oneRef != 0;  // the split rows' pieces share one reference max (sfa-oneref)
        d["one_ref_all_cores"] = t.oneRef == kSfaOneRefAllCores;
        return d;
      },
      py::kw_only(), py::arg("query_start"), py::arg("query_len"), py::arg("key_start"), py::arg("key_len"),
      py::arg("num_rows"), py::arg("heads"), py::arg("sparse_count"), py::arg("sparse_mode"), py::arg("paged"),
      py::arg("block_size"), py::arg("max_blocks"), py::arg("combined"), py::arg("ai_cores"),
      py::arg("deterministic") = false);
}
