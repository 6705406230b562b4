// Calls CANN 8.5 compiles but refuses when they run (an ASCENDC_ASSERT in its CPU-debug build, compiled
// out on the device), or that the emulator does not model: each compiles against the emulator too and
// must fail with an EmuError naming the API and the rule. `which` picks the call (test_emu_type_rules.py).
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

#define RULE_EXPORT extern "C" __attribute__((visibility("default")))

using namespace AscendC;

namespace {
alignas(64) uint8_t g_gm[1024];

void VectorCall(int which) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, 16384);
  LocalTensor<uint8_t> all = buf.Get<uint8_t>();
  auto at = [&](uint32_t byteOffset) { return all[byteOffset]; };
  LocalTensor<half> h0 = at(0).ReinterpretCast<half>(), h1 = at(2048).ReinterpretCast<half>(),
                    h2 = at(4096).ReinterpretCast<half>();
  LocalTensor<int16_t> i16 = at(0).ReinterpretCast<int16_t>(), i16b = at(2048).ReinterpretCast<int16_t>();
  LocalTensor<float> f = at(0).ReinterpretCast<float>();
  LocalTensor<int8_t> i8 = at(0).ReinterpretCast<int8_t>(), i8b = at(2048).ReinterpretCast<int8_t>();
  LocalTensor<uint16_t> u16 = at(8192).ReinterpretCast<uint16_t>();
  LocalTensor<uint32_t> u32 = at(8192).ReinterpretCast<uint32_t>();
  uint64_t cnt = 0;
  GlobalTensor<int4b_t> g4;
  g4.SetGlobalBuffer(reinterpret_cast<__gm__ int4b_t*>(g_gm), 256);
  switch (which) {
    case 0: Abs(i16, i16b, 128); break;                           // vabs has int16_t; CANN's type check is run-time
    case 1: And(f, f, f, 64); break;                              // And / Or count forms run as int16_t
    case 2: Or(i8, i8, i8b, 256); break;
    case 3: Compare(u16, h0, h1, CMPMODE::EQ, 128); break;        // the mask dst goes through a uint8_t view
    case 4: Select(h0, i8, h1, h2, SELMODE::VSEL_TENSOR_TENSOR_MODE, 128); break;
    case 5: GatherMask(h0, h1, u32, true, 32, GatherMaskParams(), cnt); break;  // uint32_t pattern, 16-bit data
    case 6: GatherMask(i8, i8b, uint8_t(1), false, 0, GatherMaskParams(), cnt); break;
    case 7: Gather(i8, i8b, u32, 0, 128); break;
    case 8: Brcb(i8, i8b, 1, BrcbRepeatParams()); break;
    case 9: Extract(i16, u32, i16b, 1); break;
    case 10: { TQueSync<PIPE_S, PIPE_MTE1> s; s.SetFlag(0); break; }  // no hardware event S -> MTE1
    case 11: (void)g4.GetValue(0); break;
    case 12: g4.SetValue(0, int4b_t(1)); break;
    case 13: (void)g4(0); break;
    case 14: (void)buf.Get<int4b_t>()(0); break;
    default: break;
  }
}

void CubeCall(int which) {
  TPipe pipe;
  TBuf<TPosition::CO1> co1;
  pipe.InitBuffer(co1, 1024);
  LocalTensor<float> c = co1.Get<float>();
  GlobalTensor<int8_t> g8;
  g8.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(g_gm), 1024);
  GlobalTensor<float> gf;
  gf.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(g_gm), 256);
  TBuf<TPosition::C2PIPE2GM> fb;
  switch (which) {
    case 15: Fixpipe(g8, c, FixpipeParamsV220(16, 16, 16, 16, false)); break;  // the int8 quant output
    case 16: Fixpipe<float, float, CFG_COLUMN_MAJOR>(gf, c, FixpipeParamsV220(16, 16, 16, 16, false)); break;
    case 17: {
      pipe.InitBuffer(fb, 256);
      SetFixPipeConfig<uint64_t, true>(fb.Get<uint64_t>());
      break;
    }
    case 18: {
      TBuf<TPosition::A1> l1;
      pipe.InitBuffer(l1, 1024);
      InitConstValue(l1.Get<int8_t>(), InitConstValueParams<int8_t>(1, int8_t(0)));
      break;
    }
    default: break;
  }
}
}  // namespace

RULE_EXPORT int type_rule_launch(int which, char* err, int errLen) {
  try {
    if (which < 15)
      emu::Launch("type_rule_kernel", KernelMode::AIV_MODE, 1, [&] { VectorCall(which); }, {});
    else
      emu::Launch("type_rule_kernel", KernelMode::AIC_MODE, 1, [&] { CubeCall(which); }, {});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
