// StepTableArena over the runtime stand-in: staged tables arrive on the device whole, keep their
// addresses while they fit their slots, and are all laid out again (still whole) when one grows.
#include "engine/runner/cuda/step_table_arena.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace xq {
namespace {

template <typename T>
std::vector<T> Read(const StepTable<T>& table, size_t n) {
  std::vector<T> host(n);
  CheckCuda(cudaMemcpy(host.data(), table.data(), n * sizeof(T), cudaMemcpyDeviceToHost), "read");
  return host;
}

TEST(StepTableArena, TablesArriveWholeAndMoveOnlyWhenOneOutgrowsItsSlot) {
  cudaStream_t stream = nullptr;
  CheckCuda(cudaStreamCreate(&stream), "stream");
  StepTableArena arena(stream);
  StepTable<int32_t> a(arena);
  StepTable<int64_t> b(arena);
  StepTable<float> c(arena);
  std::vector<int32_t> va(10);
  std::iota(va.begin(), va.end(), 1);
  std::vector<int64_t> vb = {7, 8, 9};
  std::vector<float> vc;  // empty this step
  auto step = [&] {
    a.Stage(va);
    b.Stage(vb);
    c.Stage(vc);
    arena.Upload();
  };
  step();
  EXPECT_EQ(Read(a, va.size()), va);
  EXPECT_EQ(Read(b, vb.size()), vb);
  const void* where[] = {a.data(), b.data(), c.data()};
  vb = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // still within 256 bytes
  vc = {0.5f, 1.5f};
  step();
  EXPECT_EQ(a.data(), where[0]);
  EXPECT_EQ(b.data(), where[1]);
  EXPECT_EQ(c.data(), where[2]);
  EXPECT_EQ(Read(b, vb.size()), vb);
  EXPECT_EQ(Read(c, vc.size()), vc);
  va.resize(100);  // 400 bytes: the slot grows, the tables after it move
  std::iota(va.begin(), va.end(), 5);
  step();
  EXPECT_NE(b.data(), where[1]);
  EXPECT_EQ(Read(a, va.size()), va);
  EXPECT_EQ(Read(b, vb.size()), vb);
  EXPECT_EQ(Read(c, vc.size()), vc);
  for (const void* p : {static_cast<const void*>(a.data()), static_cast<const void*>(b.data()),
                        static_cast<const void*>(c.data())}) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, reinterpret_cast<uintptr_t>(a.data()) % 256)
        << "slots 256-byte aligned to the arena";
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace xq
