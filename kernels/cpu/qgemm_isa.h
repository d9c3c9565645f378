// Which instruction set QGemm (kernels/include/qgemm.h) runs on: detected from the CPU, or forced
// so that tests cover every path a machine can run.
#pragma once

namespace xq {

enum class QGemmIsa { kAuto, kAvx512Vnni, kAvx2, kScalar };

// Makes later QGemm calls use `isa` (kAuto: the best this CPU has). Returns false and changes
// nothing when this CPU cannot run it. Not meant to change while calls are in flight.
bool ForceQGemmIsa(QGemmIsa isa);

// The instruction set QGemm uses now (never kAuto).
QGemmIsa ActiveQGemmIsa();

}  // namespace xq
