// Host-side helpers shared by the emulator self-test libraries (loaded from Python with ctypes).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include "tikicpulib.h"

namespace selftest {

// A GmAlloc'ed buffer (at least 32 bytes), optionally initialised, freed on scope exit.
class Gm {
 public:
  explicit Gm(size_t bytes, const void* init = nullptr)
      : p_(static_cast<uint8_t*>(AscendC::GmAlloc(std::max<size_t>(bytes, 32)))) {
    if (init) std::memcpy(p_, init, bytes);
  }
  ~Gm() { AscendC::GmFree(p_); }
  Gm(const Gm&) = delete;
  Gm& operator=(const Gm&) = delete;
  uint8_t* get() const { return p_; }

 private:
  uint8_t* p_;
};

// Runs f; a C++ exception becomes return code 1 with its message in err (never crosses ctypes).
template <typename F>
int Guard(char* err, int errLen, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  } catch (...) {
    std::snprintf(err, static_cast<size_t>(errLen), "unknown C++ exception");
  }
  return 1;
}

}  // namespace selftest
