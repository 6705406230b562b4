// AscendC kernel API for the CPU: the same names, signatures and rules as CANN 8.x on Atlas A2/A3
// (__CCE_AICORE__ == 220), executed by the ascend_glm5 emulator. See docs/emulator.md.
#pragma once

#include "emu/macros.h"
#include "emu/fp_types.h"
#include "emu/runtime.h"
#include "emu/tensor.h"
#include "emu/cache.h"
#include "emu/pipe.h"
#include "emu/sync.h"
#include "emu/atomic.h"
#include "emu/data_copy.h"
#include "emu/vec_engine.h"
#include "emu/vec_elementwise.h"
#include "emu/vec_copy.h"
#include "emu/vec_cast.h"
#include "emu/vec_reduce.h"
#include "emu/vec_cmpsel.h"
#include "emu/vec_transpose.h"
#include "emu/cube.h"
#include "emu/init_const.h"
#include "emu/vec_sort.h"
#include "emu/type_traits.h"
#include "emu/builtins.h"
#include "emu/cube_load.h"
#include "emu/fixpipe_config.h"
#include "emu/vec_bitwise.h"
#include "emu/vec_ternary_scalar.h"
#include "emu/vec_mul_add.h"
#include "emu/adv_activation.h"  // CANN's kernel_operator.h reaches adv_api/kernel_api.h (Silu) too
#include "emu/kernel_assert.h"   // and kernel_operator_dump_tensor_intf.h (assert)
