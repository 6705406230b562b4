// The arithmetic core of Mmad, on unpacked operands: acc[m][n] = acc[m][n] + sum over k of
// a[m][k] * bt[k][n], one fused multiply-add per k in k order for float (the rule cube.h documents)
// and exact integer multiply-adds for int32. The loops run along n, so the compiler vectorises the
// independent accumulators of a row; on x86 a copy built for FMA is picked at run time (the fused
// multiply-add rounds once either way: the same bits as std::fma).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace AscendC::emu {

namespace {

template <typename T>
__attribute__((always_inline)) inline void GemmRows(const T* __restrict a, const T* __restrict bt, T* __restrict acc, uint32_t m, uint32_t n,
                     uint32_t k) {
  for (uint32_t i = 0; i < m; ++i) {
    T* __restrict row = acc + size_t(i) * n;
    const T* ai = a + size_t(i) * k;
    for (uint32_t j = 0; j < k; ++j) {
      const T av = ai[j];
      const T* __restrict b = bt + size_t(j) * n;
      if constexpr (std::is_floating_point_v<T>) {
        for (uint32_t c = 0; c < n; ++c) row[c] = std::fma(av, b[c], row[c]);
      } else {
        for (uint32_t c = 0; c < n; ++c) row[c] = static_cast<T>(static_cast<uint32_t>(row[c]) +
                                                                  static_cast<uint32_t>(av) * static_cast<uint32_t>(b[c]));
      }
    }
  }
}

}  // namespace

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EMU_FMA_CLONES __attribute__((target_clones("fma", "default"), optimize("O3")))
#else
#define EMU_FMA_CLONES __attribute__((optimize("O3")))
#endif

EMU_FMA_CLONES void GemmFloat(const float* a, const float* bt, float* acc, uint32_t m, uint32_t n, uint32_t k) {
  GemmRows(a, bt, acc, m, n, k);
}

EMU_FMA_CLONES void GemmInt32(const int32_t* a, const int32_t* bt, int32_t* acc, uint32_t m, uint32_t n, uint32_t k) {
  GemmRows(a, bt, acc, m, n, k);
}

}  // namespace AscendC::emu
