#include "engine/kv/kv_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "engine/common/error.h"

namespace xq {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ErrorOf(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// G = 32, R = 128, 3 pages per window block, blocks of 1000 bytes, 64-token chunks: a window of
// 159 tokens takes 5 window blocks (15 pages), 223 while a chunk is appended 7 (21 pages).
KvBudgetRequest SmallRequest(int64_t total_bytes) {
  KvBudgetRequest r;
  r.total_bytes = total_bytes;
  r.block_bytes = 1000;
  r.block_tokens = 32;
  r.recent_window = 128;
  r.window_pages_per_block = 3;
  r.max_chunk_tokens = 64;
  return r;
}

TEST(KvBudgetTest, TheWholeBudgetIsOnePoolAndWindowsAreChargedToIt) {
  const KvBudget b = PlanKvBudget(SmallRequest(100500));
  EXPECT_EQ(b.num_blocks, 100);
  EXPECT_EQ(b.block_pool_bytes, 100000);
  EXPECT_EQ(b.window_blocks, 15);
  EXPECT_EQ(b.window_blocks_peak, 21);
}

TEST(KvBudgetTest, WindowPagesComeInWholeWindowBlocks) {
  EXPECT_EQ(WindowPages(0, 32, 3), 0);
  EXPECT_EQ(WindowPages(1, 32, 3), 3);
  EXPECT_EQ(WindowPages(32, 32, 3), 3);
  EXPECT_EQ(WindowPages(33, 32, 3), 6);
}

TEST(KvBudgetTest, ExactlyOneSequenceFitsOrTheErrorSaysWhy) {
  EXPECT_EQ(PlanKvBudget(SmallRequest(22000)).num_blocks, 22);
  EXPECT_THAT(ErrorOf([] { PlanKvBudget(SmallRequest(21999)); }),
              AllOf(HasSubstr("--kv-cache-memory"), HasSubstr("21999"), HasSubstr("159"),
                    HasSubstr("22000 bytes")));
}

TEST(KvBudgetTest, BlockCountIsCappedAtTheIdRange) {
  KvBudgetRequest r = SmallRequest(int64_t{1} << 42);
  r.block_bytes = 16;
  r.window_pages_per_block = 1;
  EXPECT_EQ(PlanKvBudget(r).num_blocks, std::numeric_limits<int32_t>::max());
}

TEST(KvBudgetTest, RejectsNonPositiveInputsByName) {
  KvBudgetRequest r = SmallRequest(100000);
  r.block_bytes = 0;
  EXPECT_THAT(ErrorOf([&] { PlanKvBudget(r); }), HasSubstr("block_bytes"));
  r = SmallRequest(100000);
  r.max_chunk_tokens = 0;
  EXPECT_THAT(ErrorOf([&] { PlanKvBudget(r); }), HasSubstr("max_chunk_tokens"));
  r = SmallRequest(100000);
  r.recent_window = -1;
  EXPECT_THAT(ErrorOf([&] { PlanKvBudget(r); }), HasSubstr("recent_window"));
  r = SmallRequest(100000);
  r.window_pages_per_block = std::numeric_limits<int64_t>::max() / 4;
  EXPECT_THAT(ErrorOf([&] { PlanKvBudget(r); }), HasSubstr("overflows"));
}

TEST(ParseByteSizeTest, ParsesPlainNumbersAndUnits) {
  EXPECT_EQ(ParseByteSize("1000000"), 1000000);
  EXPECT_EQ(ParseByteSize("0"), 0);
  EXPECT_EQ(ParseByteSize("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("2GiB"), int64_t{2} << 30);
  EXPECT_EQ(ParseByteSize("1.5GB"), 1500000000);
  EXPECT_EQ(ParseByteSize("1KB"), 1000);
  EXPECT_EQ(ParseByteSize("3tb"), 3000000000000);
  EXPECT_EQ(ParseByteSize("1TiB"), int64_t{1} << 40);
  EXPECT_EQ(ParseByteSize("4k"), 4096);
  EXPECT_EQ(ParseByteSize(" 2 G "), int64_t{2} << 30);
  EXPECT_EQ(ParseByteSize("7B"), 7);
  EXPECT_EQ(ParseByteSize("0.5KiB"), 512);
  EXPECT_EQ(ParseByteSize("1.1KiB"), 1126);  // 1126.4 rounds down
  EXPECT_EQ(ParseByteSize("9223372036854775807"), std::numeric_limits<int64_t>::max());
}

TEST(ParseByteSizeTest, BadInputNamesTheFlag) {
  EXPECT_THAT(ErrorOf([] { ParseByteSize("-1GiB"); }),
              AllOf(HasSubstr("--kv-cache-memory"), HasSubstr("negative")));
  EXPECT_THAT(ErrorOf([] { ParseByteSize(""); }), HasSubstr("empty"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("   "); }), HasSubstr("empty"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("GiB"); }), HasSubstr("number"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("2XB"); }),
              AllOf(HasSubstr("--kv-cache-memory"), HasSubstr("unknown unit 'XB'")));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("1e9"); }), HasSubstr("unknown unit 'e9'"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("1.5.2G"); }), HasSubstr("unknown unit"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("1."); }), HasSubstr("after '.'"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("1.5"); }), HasSubstr("whole number"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("9223372036854775808"); }), HasSubstr("too large"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("99999999999999999999999"); }), HasSubstr("too large"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("9000000TiB"); }), HasSubstr("too large"));
  EXPECT_THAT(ErrorOf([] { ParseByteSize("12 parsecs", "--swap-space"); }),
              AllOf(HasSubstr("--swap-space"), HasSubstr("'12 parsecs'")));
}

}  // namespace
}  // namespace xq
