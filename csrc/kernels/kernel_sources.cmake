# Every AscendC kernel source, compiled once for the CPU emulator and, with CANN, for the NPU.
set(ASCEND_GLM5_KERNEL_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/dynamic_quant/dynamic_quant.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lightning_indexer/lightning_indexer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sparse_flash_attention/sparse_flash_attention.cpp
)
# Host tiling code (pure C++, both targets), CPU-emulator launches, NPU launches (aclrtlaunch_*).
set(ASCEND_GLM5_TILING_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../host/dynamic_quant/dynamic_quant_tiling.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../host/lightning_indexer/lightning_indexer_tiling.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../host/sparse_flash_attention/sparse_flash_attention_tiling.cpp
)
set(ASCEND_GLM5_CPU_HOST_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../host/dynamic_quant/dynamic_quant_cpu.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../host/lightning_indexer/lightning_indexer_cpu.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../host/sparse_flash_attention/sparse_flash_attention_cpu.cpp
)
set(ASCEND_GLM5_NPU_HOST_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/../host/dynamic_quant/dynamic_quant_npu.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../host/lightning_indexer/lightning_indexer_npu.cpp
  ${CMAKE_CURRENT_LIST_DIR}/../host/sparse_flash_attention/sparse_flash_attention_npu.cpp
)
