// Tokenizer on tiny in-process vocabularies: BPE merge order, pre-tokenizer splits, SentencePiece
// merges and byte fallback, special tokens, decoding and incremental detokenization.
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "engine/common/error.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/unicode_util.h"

namespace xq {
namespace {

using Ids = std::vector<int32_t>;

int32_t IdOf(const TokenizerSpec& spec, const std::string& text) {
  auto it = std::find(spec.tokens.begin(), spec.tokens.end(), text);
  EXPECT_NE(it, spec.tokens.end()) << text;
  return static_cast<int32_t>(it - spec.tokens.begin());
}

// 256 byte tokens (GPT-2 table), then merge results, then specials.
TokenizerSpec ByteLevelSpec(const std::vector<std::string>& merges) {
  TokenizerSpec spec;
  spec.kind = TokenizerKind::kByteLevelBpe;
  spec.pre = "gpt2";
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
  for (const auto& m : merges) {
    const size_t sp = m.find(' ');
    spec.tokens.push_back(m.substr(0, sp) + m.substr(sp + 1));
  }
  spec.types.assign(spec.tokens.size(), TokenType::kNormal);
  spec.merges = merges;
  for (const char* special : {"<|endoftext|>", "<|im_end|>", "<tool>", "<tool><x>"}) {
    spec.tokens.push_back(special);
    spec.types.push_back(std::string(special) == "<tool>" ? TokenType::kUserDefined
                                                          : TokenType::kControl);
  }
  spec.eos_id = IdOf(spec, "<|endoftext|>");
  return spec;
}

Ids Bytes(const std::string& s) {
  Ids ids;
  for (char c : s) ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

TEST(ByteUnicode, TableIsGpt2s) {
  EXPECT_EQ(ByteToUnicode('A'), "A");
  EXPECT_EQ(ByteToUnicode(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(ByteToUnicode('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(ByteDecode(ByteToUnicode(static_cast<uint8_t>(b))), std::string(1, char(b)));
  }
}

TEST(PreTokenizer, Gpt2SplitsWordsSpacesAndContractions) {
  PreTokenizer pre(PreTokenizer::RegexesForPre("gpt2"));
  using V = std::vector<std::string_view>;
  EXPECT_EQ(pre.Split("Hello world's  test 123!!"),
            (V{"Hello", " world", "'s", " ", " test", " 123", "!!"}));
  EXPECT_EQ(pre.Split("héllo wörld 東京"), (V{"héllo", " wörld", " 東京"}));
  EXPECT_EQ(pre.Split("a \t!"), (V{"a", " ", "\t", "!"}));
  EXPECT_EQ(pre.Split("end  "), (V{"end", "  "}));
}

TEST(PreTokenizer, Llama3GroupsDigitsByThreeAndKeepsNewlines) {
  PreTokenizer pre(PreTokenizer::RegexesForPre("llama-bpe"));
  using V = std::vector<std::string_view>;
  EXPECT_EQ(pre.Split("1234567 I'M ok\n\n  x"),
            (V{"123", "456", "7", " I", "'M", " ok", "\n\n", " ", " x"}));
}

TEST(PreTokenizer, SmolLmSplitsEveryDigit) {
  PreTokenizer pre(PreTokenizer::RegexesForPre("smollm"));
  using V = std::vector<std::string_view>;
  EXPECT_EQ(pre.Split("abc 123"), (V{"abc", " ", "1", "2", "3"}));
  EXPECT_THROW(PreTokenizer::RegexesForPre("no-such-pre"), Error);
  EXPECT_THROW(PreTokenizer({"(unclosed"}), Error);
}

TEST(ByteLevelBpe, AppliesMergesByRank) {
  const TokenizerSpec spec = ByteLevelSpec({"h e", "l l", "he ll", "hell o", "Ġ w"});
  Tokenizer tok(spec);
  EXPECT_EQ(tok.Encode("hello", false), Ids{IdOf(spec, "hello")});
  // " wall": "Ġ w" merges, then nothing joins "a" "l" "l" except "l l".
  EXPECT_EQ(tok.Encode(" wall", false), (Ids{IdOf(spec, "Ġw"), 'a', IdOf(spec, "ll")}));
  EXPECT_EQ(tok.Decode(tok.Encode(" wall hello", false)), " wall hello");

  // Lower rank wins: with "b c" first, "abc" becomes a + bc; with "a b" first, ab + c.
  const TokenizerSpec bc_first = ByteLevelSpec({"b c", "a b"});
  EXPECT_EQ(Tokenizer(bc_first).Encode("abc", false), (Ids{'a', IdOf(bc_first, "bc")}));
  const TokenizerSpec ab_first = ByteLevelSpec({"a b", "b c"});
  EXPECT_EQ(Tokenizer(ab_first).Encode("abc", false), (Ids{IdOf(ab_first, "ab"), 'c'}));
}

TEST(ByteLevelBpe, UnmergedTextFallsBackToByteTokensAndInvalidUtf8IsReplaced) {
  Tokenizer tok(ByteLevelSpec({}));
  EXPECT_EQ(tok.Encode("é", false), Bytes("é"));
  EXPECT_EQ(tok.Encode(std::string("a\xFF"), false), Bytes("a\xEF\xBF\xBD"));
}

TEST(SpecialTokens, MatchedWhenParsingAndNeverSplit) {
  const TokenizerSpec spec = ByteLevelSpec({"h i"});
  Tokenizer tok(spec);
  const int32_t im_end = IdOf(spec, "<|im_end|>");
  EXPECT_EQ(tok.Encode("hi<|im_end|>hi", false, true),
            (Ids{IdOf(spec, "hi"), im_end, IdOf(spec, "hi")}));
  const Ids plain = tok.Encode("hi<|im_end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_end), 0);
  EXPECT_EQ(tok.Decode(plain), "hi<|im_end|>");
  // User-defined tokens are matched even without parse_special; longer specials go first.
  EXPECT_EQ(tok.Encode("<tool>", false, false), Ids{IdOf(spec, "<tool>")});
  EXPECT_EQ(tok.Encode("<tool><x>", false, true), Ids{IdOf(spec, "<tool><x>")});

  EXPECT_TRUE(tok.IsSpecial(im_end));
  EXPECT_FALSE(tok.IsSpecial('a'));
  EXPECT_TRUE(tok.IsEndOfGeneration(im_end));
  EXPECT_TRUE(tok.IsEndOfGeneration(*spec.eos_id));
  EXPECT_FALSE(tok.IsEndOfGeneration(IdOf(spec, "<tool>")));
  EXPECT_EQ(tok.Decode({'a', im_end, 'b'}, true), "ab");
  EXPECT_EQ(tok.Decode({'a', im_end, 'b'}, false), "a<|im_end|>b");
}

TEST(SpecialTokens, BosAndEosFollowTheSpec) {
  TokenizerSpec spec = ByteLevelSpec({});
  spec.bos_id = IdOf(spec, "<|im_end|>");
  spec.add_bos = true;
  spec.add_eos = true;
  Tokenizer tok(spec);
  EXPECT_EQ(tok.Encode("a"), (Ids{*spec.bos_id, 'a', *spec.eos_id}));
  EXPECT_EQ(tok.Encode("a", false), Ids{'a'});
}

// SentencePiece vocab: <unk> <s> </s>, 256 byte tokens, then pieces with scores.
TokenizerSpec SpmSpec() {
  TokenizerSpec spec;
  spec.kind = TokenizerKind::kSentencePieceBpe;
  spec.add_space_prefix = true;
  spec.add_bos = true;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  char hex[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    spec.tokens.push_back(hex);
    spec.types.push_back(TokenType::kByte);
  }
  spec.scores.assign(spec.tokens.size(), 0.0f);
  const std::vector<std::pair<std::string, float>> pieces = {
      {"▁", -1},       {"h", -2},    {"e", -3},   {"l", -4},    {"o", -5},
      {"ll", -6},      {"he", -7},   {"▁he", -8}, {"hell", -9}, {"▁hell", -10},
      {"▁hello", -11}, {"lo", -0.5}, {"w", -12}};
  for (const auto& [text, score] : pieces) {
    spec.tokens.push_back(text);
    spec.types.push_back(TokenType::kNormal);
    spec.scores.push_back(score);
  }
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  return spec;
}

TEST(SentencePiece, MergesHighestScoreFirstWithSpacePrefix) {
  const TokenizerSpec spec = SpmSpec();
  Tokenizer tok(spec);
  // "▁hello": "lo" (-0.5) beats "ll" (-6), so "hell" can never form: ▁he + l + lo.
  EXPECT_EQ(tok.Encode("hello", false),
            (Ids{IdOf(spec, "▁he"), IdOf(spec, "l"), IdOf(spec, "lo")}));
  EXPECT_EQ(tok.Encode("hello"), (Ids{1, IdOf(spec, "▁he"), IdOf(spec, "l"), IdOf(spec, "lo")}));
  // The first token's prefix space is dropped on decode; after BOS it is kept, as in llama.cpp.
  EXPECT_EQ(tok.Decode(tok.Encode("hello", false)), "hello");
  EXPECT_EQ(tok.Decode(tok.Encode("hello"), true), " hello");
}

TEST(SentencePiece, FallsBackToByteTokens) {
  const TokenizerSpec spec = SpmSpec();
  Tokenizer tok(spec);
  // 'é' is not a piece: its two UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(tok.Encode("wé", false), (Ids{IdOf(spec, "▁"), IdOf(spec, "w"), 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.Decode(tok.Encode("wé hello", false)), "wé hello");
  EXPECT_EQ(tok.TokenBytes(3 + 0xC3), "\xC3");
}

TEST(IncrementalDetokenizer, HoldsIncompleteCharacters) {
  Tokenizer tok(ByteLevelSpec({}));
  IncrementalDetokenizer detok(tok);
  const std::string euro = "\xE2\x82\xAC";  // €
  EXPECT_EQ(detok.Push('a'), "a");
  EXPECT_EQ(detok.Push(0xE2), "");
  EXPECT_EQ(detok.Push(0x82), "");
  EXPECT_EQ(detok.Push(0xAC), euro);
  EXPECT_EQ(detok.Push(0xFF), "\xEF\xBF\xBD");  // can never start a character
  EXPECT_EQ(detok.Push(0xE2), "");
  EXPECT_EQ(detok.Flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(detok.Flush(), "");
}

TEST(IncrementalDetokenizer, MatchesDecodeForSentencePiece) {
  const TokenizerSpec spec = SpmSpec();
  Tokenizer tok(spec);
  const Ids ids = tok.Encode("hello wé", false);
  IncrementalDetokenizer detok(tok);
  std::string out;
  for (int32_t id : ids) out += detok.Push(id);
  out += detok.Flush();
  EXPECT_EQ(out, tok.Decode(ids));
  EXPECT_EQ(out, "hello wé");
}

TEST(TokenizerErrors, BadSpecsAndIdsThrow) {
  Tokenizer tok(ByteLevelSpec({}));
  EXPECT_THROW(tok.Decode({-1}), Error);
  EXPECT_THROW(tok.TokenBytes(tok.vocab_size()), Error);

  TokenizerSpec no_bos = ByteLevelSpec({});
  no_bos.add_bos = true;
  EXPECT_THROW(Tokenizer{no_bos}, Error);
  TokenizerSpec dup = ByteLevelSpec({});
  dup.tokens.push_back("a");
  dup.types.push_back(TokenType::kNormal);
  EXPECT_THROW(Tokenizer{dup}, Error);
  TokenizerSpec bad_types = ByteLevelSpec({});
  bad_types.types.pop_back();
  EXPECT_THROW(Tokenizer{bad_types}, Error);
  TokenizerSpec bad_merge = ByteLevelSpec({});
  bad_merge.merges = {"nospace"};
  EXPECT_THROW(Tokenizer{bad_merge}, Error);
}

// Chat prompts: the template's own control tokens are parsed, while the same text inside a
// literal span (a message's content) stays text, exactly as parse_special = false writes it;
// user-defined tokens are tokens everywhere, as they are with parse_special = false.
TEST(Tokenizer, LiteralSpansKeepControlTextAsText) {
  const TokenizerSpec spec = ByteLevelSpec({});
  const Tokenizer tok(spec);
  const int32_t im_end = IdOf(spec, "<|im_end|>");
  const std::string content = "a<|im_end|>b<tool>c";
  const std::string text = "<|im_end|>" + content + "<|im_end|>";
  const TextSpan span{10, 10 + content.size()};
  Ids want = {im_end};
  for (int32_t id : tok.Encode(content, false, false)) want.push_back(id);
  want.push_back(im_end);
  EXPECT_EQ(tok.Encode(text, false, std::span<const TextSpan>(&span, 1)), want);
  EXPECT_EQ(std::count(want.begin(), want.end(), IdOf(spec, "<tool>")), 1);
  // A span covering part of a token's text keeps all of it text (the three <|im_end|> here
  // become the two outer ones); no spans is parse_special = true.
  const TextSpan part{12, 13};
  const Ids partly = tok.Encode(text, false, std::span<const TextSpan>(&part, 1));
  EXPECT_EQ(std::count(partly.begin(), partly.end(), im_end), 2);
  EXPECT_EQ(tok.Decode(partly), text);
  EXPECT_EQ(tok.Encode(text, false, std::span<const TextSpan>()), tok.Encode(text, false, true));

  EXPECT_EQ(tok.FindControlText("plain <tool> text"), "");
  EXPECT_EQ(tok.FindControlText("x <|endoftext|>"), "<|endoftext|>");
}

}  // namespace
}  // namespace xq
