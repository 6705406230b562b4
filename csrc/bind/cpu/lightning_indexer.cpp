// _C binding of lightning_indexer (Lightning Indexer): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "host/attention_problem.h"
#include "host/lightning_indexer/lightning_indexer_host.h"

void BindCpuOp_lightning_indexer(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
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
}
