// Names for error messages.
#include "emu/tensor.h"
#include "emu/sync.h"

namespace AscendC::emu {

const char* EventName(HardEvent e) {
  static const char* names[] = {"MTE2_MTE1", "MTE1_MTE2", "MTE1_M", "M_MTE1", "MTE2_V", "V_MTE2", "MTE3_V", "V_MTE3",
                                "M_V", "V_M", "V_V", "MTE3_MTE1", "MTE1_MTE3", "MTE1_V", "MTE2_M", "M_MTE2", "V_MTE1",
                                "M_FIX", "FIX_M", "MTE3_MTE2", "MTE2_MTE3", "S_V", "V_S", "S_MTE2", "MTE2_S", "S_MTE3",
                                "MTE3_S", "MTE2_FIX", "FIX_MTE2", "FIX_S", "M_S", "FIX_MTE3", "MTE1_FIX", "FIX_MTE1",
                                "FIX_FIX"};
  const int i = static_cast<int>(e);
  return i < static_cast<int>(HardEvent::MAX) ? names[i] : "?";
}

const char* PositionName(TPosition p) {
  static const char* names[] = {"GM", "A1", "A2", "B1", "B2", "C1", "C2", "CO1", "CO2", "VECIN", "VECOUT", "VECCALC",
                                "SPM", "TSCM", "C2PIPE2GM", "C2PIPE2LOCAL"};
  const int i = static_cast<int>(p);
  return i < static_cast<int>(TPosition::MAX) ? names[i] : "?";
}

}  // namespace AscendC::emu
