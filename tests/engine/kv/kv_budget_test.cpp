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

// G = 32, R = 128: a window of 128 + 31 = 159 tokens, 1590 bytes; a step appends 64 (640 bytes).
KvBudgetRequest SmallRequest(int64_t total_bytes, int64_t max_num_seqs) {
  KvBudgetRequest r;
  r.total_bytes = total_bytes;
  r.block_bytes = 1000;
  r.block_tokens = 32;
  r.recent_window = 128;
  r.window_bytes_per_token = 10;
  r.max_chunk_tokens = 64;
  r.max_num_seqs = max_num_seqs;
  return r;
}

TEST(KvBudgetTest, Fp16BytesPerTokenOfTheDefaultModel) {
  // SmolLM2-135M: 30 layers, 3 KV heads, head_dim 64; K and V, 2 bytes each.
  EXPECT_EQ(Fp16KvBytesPerToken(30, 3, 64), 23040);
}

TEST(KvBudgetTest, ReservesWindowsForEverySequenceAndGivesTheRestToBlocks) {
  const KvBudget b = SplitKvBudget(SmallRequest(100000, 4));
  EXPECT_EQ(b.window_tokens_per_seq, 159);
  EXPECT_EQ(b.window_bytes_per_seq, 1590);
  EXPECT_EQ(b.step_bytes, 640);
  EXPECT_EQ(b.num_seqs, 4);
  EXPECT_EQ(b.window_bytes, 7000);  // 4 * 1590 + 640
  EXPECT_EQ(b.num_blocks, 93);      // floor(93000 / 1000)
  EXPECT_EQ(b.block_pool_bytes, 93000);
}

TEST(KvBudgetTest, FewerSequencesWhenTheirWindowsDoNotFit) {
  // Three sequences need 640 + 3 * (1590 + 1000) = 8410 bytes; 1780 more do not make a fourth.
  const KvBudget b = SplitKvBudget(SmallRequest(10190, 8));
  EXPECT_EQ(b.num_seqs, 3);
  EXPECT_EQ(b.window_bytes, 5410);
  EXPECT_EQ(b.num_blocks, 4);
}

TEST(KvBudgetTest, ExactlyOneSequenceFitsOrTheErrorSaysWhy) {
  const KvBudget b = SplitKvBudget(SmallRequest(3230, 16));
  EXPECT_EQ(b.num_seqs, 1);
  EXPECT_EQ(b.num_blocks, 1);
  EXPECT_THAT(ErrorOf([] { SplitKvBudget(SmallRequest(3229, 16)); }),
              AllOf(HasSubstr("--kv-cache-memory"), HasSubstr("3229"), HasSubstr("159 tokens"),
                    HasSubstr("3230")));
}

TEST(KvBudgetTest, BlockCountIsCappedAtTheIdRange) {
  KvBudgetRequest r = SmallRequest(int64_t{1} << 42, 1);
  r.block_bytes = 16;
  EXPECT_EQ(SplitKvBudget(r).num_blocks, std::numeric_limits<int32_t>::max());
}

TEST(KvBudgetTest, RejectsNonPositiveInputsByName) {
  KvBudgetRequest r = SmallRequest(100000, 4);
  r.block_bytes = 0;
  EXPECT_THAT(ErrorOf([&] { SplitKvBudget(r); }), HasSubstr("block_bytes"));
  r = SmallRequest(100000, 0);
  EXPECT_THAT(ErrorOf([&] { SplitKvBudget(r); }), HasSubstr("max_num_seqs"));
  r = SmallRequest(100000, 4);
  r.recent_window = -1;
  EXPECT_THAT(ErrorOf([&] { SplitKvBudget(r); }), HasSubstr("recent_window"));
  r = SmallRequest(100000, 4);
  r.window_bytes_per_token = std::numeric_limits<int64_t>::max() / 4;
  EXPECT_THAT(ErrorOf([&] { SplitKvBudget(r); }), HasSubstr("overflows"));
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
