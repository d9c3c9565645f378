// The CUDA runtime API for host code (launchers, the CUDA runner): the real one, or under the
// test-only SIMT emulation a stand-in over host memory, so the same host code runs in CI.
#pragma once

#if defined(XQ_SIMT_EMULATION)
#include "tests/kernels/simt/cuda_runtime_emulated.h"
#else
#include <cuda_runtime_api.h>
#endif
