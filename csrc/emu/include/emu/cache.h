// DataCacheCleanAndInvalid (A2/A3): CANN 8.5 include/basic_api/kernel_operator_cache_intf.h declares
// three prototypes for __NPU_ARCH__ 2201; impl/basic_api/kernel_reg.h defines the enums and passes
// them to the dcci intrinsic. SINGLE_CACHE_LINE writes back and drops the 64-byte line holding the
// tensor's first element, ENTIRE_DATA_CACHE the whole cache (the address is ignored).
// DcciDst::CACHELINE_UB is reserved and CACHELINE_ATOMIC is not supported on A2/A3
// (DataCacheCleanAndInvalid.md), so both are refused here; the LocalTensor prototype exists only
// for CACHELINE_UB and is refused the same way. The emulated DataCache is emu/data_cache.h.
#pragma once

#include <cstdint>

#include "data_cache.h"
#include "runtime.h"
#include "tensor.h"
#include "trace.h"

namespace AscendC {

enum class CacheLine : uint64_t { SINGLE_CACHE_LINE = 0, ENTIRE_DATA_CACHE };
enum class DcciDst : uint64_t { CACHELINE_ALL = 0, CACHELINE_UB, CACHELINE_OUT, CACHELINE_ATOMIC };

namespace emu {
template <typename T, CacheLine entireType>
void DataCacheCleanAndInvalidGm(const GlobalTensor<T>& dst) {
  constexpr bool entire = entireType == CacheLine::ENTIRE_DATA_CACHE;
  const char* api = "DataCacheCleanAndInvalid";
  if (!entire) dst.Check(api, 0, 1);
  Core().counters.scalarOps++;
  TraceDataCacheClean(dst.GetPhyAddr(), entire);
  DataCacheCleanInvalid(dst.GetPhyAddr(), entire);
}
}  // namespace emu

template <typename T, CacheLine entireType, DcciDst dcciDst>
inline void DataCacheCleanAndInvalid(const GlobalTensor<T>& dst) {
  EMU_REQUIRE(dcciDst == DcciDst::CACHELINE_ALL || dcciDst == DcciDst::CACHELINE_OUT, "DataCacheCleanAndInvalid",
              "unsupported", "DcciDst::%s is reserved / not supported on Atlas A2/A3 (DataCacheCleanAndInvalid.md)",
              dcciDst == DcciDst::CACHELINE_UB ? "CACHELINE_UB" : "CACHELINE_ATOMIC");
  emu::DataCacheCleanAndInvalidGm<T, entireType>(dst);
}

template <typename T, CacheLine entireType, DcciDst dcciDst>
inline void DataCacheCleanAndInvalid(const LocalTensor<T>&) {
  emu::Fail("DataCacheCleanAndInvalid", "unsupported",
            "the LocalTensor prototype is reserved (DcciDst::CACHELINE_UB is not supported yet, DataCacheCleanAndInvalid.md)");
}

template <typename T, CacheLine entireType>
inline void DataCacheCleanAndInvalid(const GlobalTensor<T>& dst) {
  emu::DataCacheCleanAndInvalidGm<T, entireType>(dst);
}

}  // namespace AscendC
