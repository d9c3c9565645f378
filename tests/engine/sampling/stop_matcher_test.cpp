#include "engine/sampling/stop_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace xq {
namespace {

// Feeds pieces until a stop; returns everything emitted (flushing at the end if no stop).
struct Transcript {
  std::string text;
  bool stopped = false;
  int32_t stop_index = -1;
  std::vector<std::string> emitted_per_piece;
};

Transcript Feed(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  StopMatcher m(std::move(stops));
  Transcript r;
  for (const auto& p : pieces) {
    StopMatcher::Output out = m.Push(p);
    r.text += out.text;
    r.emitted_per_piece.push_back(out.text);
    if (out.stopped) {
      r.stopped = true;
      r.stop_index = out.stop_index;
      return r;
    }
  }
  r.text += m.Flush();
  return r;
}

TEST(StopMatcherTest, NoStopsPassesTextThrough) {
  Transcript r = Feed({}, {"Hello", " world"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emitted_per_piece, (std::vector<std::string>{"Hello", " world"}));
}

TEST(StopMatcherTest, StopInsideOnePieceCutsBeforeIt) {
  Transcript r = Feed({"END"}, {"abc", "deENDfg"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 0);
  EXPECT_EQ(r.text, "abcde");
}

TEST(StopMatcherTest, StopSplitAcrossPiecesIsHeldThenDropped) {
  Transcript r = Feed({"</s>"}, {"hi <", "/", "s", "> more"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hi ");
  EXPECT_EQ(r.emitted_per_piece, (std::vector<std::string>{"hi ", "", "", ""}));
}

TEST(StopMatcherTest, HeldPrefixIsReleasedWhenItDoesNotComplete) {
  Transcript r = Feed({"</s>"}, {"a <", "/b", " c"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emitted_per_piece, (std::vector<std::string>{"a ", "</b", " c"}));
  EXPECT_EQ(r.text, "a </b c");
}

TEST(StopMatcherTest, OverlappingPrefixesFindTheLaterStart) {
  // "ab" looks like the start of "abc"; the real match starts at the second "a".
  Transcript r = Feed({"abc"}, {"xa", "b", "abc"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "xab");

  Transcript self = Feed({"aab"}, {"a", "a", "a", "b"});
  EXPECT_TRUE(self.stopped);
  EXPECT_EQ(self.text, "a");
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  Transcript r = Feed({"world", "lo w"}, {"hello world"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 1);
  EXPECT_EQ(r.text, "hel");
}

TEST(StopMatcherTest, StopAtTheVeryStart) {
  Transcript r = Feed({"Stop"}, {"St", "op now"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  Transcript whole = Feed({"\n\n"}, {"\n\nx"});
  EXPECT_TRUE(whole.stopped);
  EXPECT_EQ(whole.text, "");
}

TEST(StopMatcherTest, UnicodeStopsSplitAcrossPieces) {
  // "日本" is 6 bytes; the pieces are whole characters as a detokenizer emits them.
  Transcript r = Feed({"日本"}, {"こんにちは", "日", "本語"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "こんにちは");
  Transcript miss = Feed({"日本"}, {"日", "曜日"});
  EXPECT_FALSE(miss.stopped);
  EXPECT_EQ(miss.emitted_per_piece, (std::vector<std::string>{
                                        "",
                                        "日曜",
                                    }));
  EXPECT_EQ(miss.text, "日曜日");
  Transcript emoji = Feed({"🙂!"}, {"ok 🙂", "🙂", "!"});
  EXPECT_TRUE(emoji.stopped);
  EXPECT_EQ(emoji.text, "ok 🙂");
}

TEST(StopMatcherTest, DisallowedStopsAreIgnoredButASpanningOneIsFoundLater) {
  StopMatcher m({"ab"});
  StopMatcher::Output first = m.Push("xab", /*allow_stop=*/false);
  EXPECT_FALSE(first.stopped);
  EXPECT_EQ(first.text, "xab");
  StopMatcher::Output held = m.Push("ya", /*allow_stop=*/false);
  EXPECT_EQ(held.text, "y");
  StopMatcher::Output done = m.Push("b", /*allow_stop=*/true);
  EXPECT_TRUE(done.stopped);
  EXPECT_EQ(done.text, "");
}

}  // namespace
}  // namespace xq
