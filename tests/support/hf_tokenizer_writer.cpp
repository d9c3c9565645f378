#include "tests/support/hf_tokenizer_writer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "engine/common/error.h"
#include "engine/tokenizer/pre_tokenizer.h"

namespace xq {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
// Llama 3 and Qwen2 split regexes as their tokenizer.json files spell them.
constexpr const char* kHfLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kHfQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json ByteLevel(bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", use_regex}};
}

json Split(const std::string& regex) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

json Sequence(json items) { return {{"type", "Sequence"}, {"pretokenizers", std::move(items)}}; }

bool SameFamily(const TokenizerSpec& s, const char* family) {
  return PreTokenizer::RegexesForPre(s.pre) == PreTokenizer::RegexesForPre(family);
}

json ByteLevelPreTokenizer(const TokenizerSpec& s) {
  std::vector<std::string> regexes = s.pre_regexes;
  if (regexes.empty()) {
    // Known families get the spelling real tokenizer.json files use, so other readers (and
    // SpecFromHfDir's family detection) recognise them.
    if (SameFamily(s, "gpt2")) return ByteLevel(true);
    if (SameFamily(s, "smollm")) {
      return Sequence({{{"type", "Digits"}, {"individual_digits", true}}, ByteLevel(true)});
    }
    if (SameFamily(s, "llama-bpe")) return Sequence({Split(kHfLlama3Regex), ByteLevel(false)});
    if (SameFamily(s, "qwen2")) return Sequence({Split(kHfQwen2Regex), ByteLevel(false)});
    regexes = PreTokenizer::RegexesForPre(s.pre);
  }
  json items = json::array();
  for (const auto& r : regexes) items.push_back(Split(r));
  items.push_back(ByteLevel(false));
  return Sequence(std::move(items));
}

size_t Utf8Len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

bool IsPieceType(TokenType t) { return t == TokenType::kNormal || t == TokenType::kUndefined; }

// HF BPE has no scores: every split of a piece into two pieces becomes a merge, pieces ranked by
// score (then id), so a merge's rank orders pieces as their scores did.
std::vector<std::string> SentencePieceMerges(const TokenizerSpec& s) {
  std::unordered_map<std::string, int32_t> ids;
  std::vector<int32_t> order;
  for (size_t i = 0; i < s.tokens.size(); ++i) {
    if (!IsPieceType(s.types[i])) continue;
    ids.emplace(s.tokens[i], static_cast<int32_t>(i));
    order.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return s.scores[a] > s.scores[b]; });
  std::vector<std::string> merges;
  for (int32_t id : order) {
    const std::string& t = s.tokens[id];
    std::vector<std::pair<int32_t, int32_t>> splits;
    for (size_t p = Utf8Len(t[0]); p < t.size(); p += Utf8Len(t[p])) {
      const auto l = ids.find(t.substr(0, p)), r = ids.find(t.substr(p));
      if (l != ids.end() && r != ids.end()) splits.emplace_back(l->second, r->second);
    }
    std::sort(splits.begin(), splits.end());
    for (const auto& [l, r] : splits) {
      if (s.tokens[l].find(' ') != std::string::npos ||
          s.tokens[r].find(' ') != std::string::npos) {
        continue;  // "a b" merges cannot spell a piece with a space
      }
      merges.push_back(s.tokens[l] + " " + s.tokens[r]);
    }
  }
  return merges;
}

json SpecialToken(const std::string& text) {
  return {{"SpecialToken", {{"id", text}, {"type_id", 0}}}};
}

json PostProcessor(const TokenizerSpec& s) {
  if (!s.add_bos && !s.add_eos) {
    if (s.kind == TokenizerKind::kSentencePieceBpe) return nullptr;
    return {{"type", "ByteLevel"},
            {"add_prefix_space", true},
            {"trim_offsets", false},
            {"use_regex", true}};
  }
  json single = json::array(), pair = json::array(), special = json::object();
  auto wrap = [&](json& seq, const char* part, int type_id) {
    if (s.add_bos) seq.push_back(SpecialToken(s.tokens[*s.bos_id]));
    seq.push_back({{"Sequence", {{"id", part}, {"type_id", type_id}}}});
    if (s.add_eos) seq.push_back(SpecialToken(s.tokens[*s.eos_id]));
  };
  wrap(single, "A", 0);
  wrap(pair, "A", 0);
  wrap(pair, "B", 1);
  for (const auto& id :
       {s.add_bos ? s.bos_id : std::nullopt, s.add_eos ? s.eos_id : std::nullopt}) {
    if (!id) continue;
    const std::string& text = s.tokens[*id];
    special[text] = {{"id", text}, {"ids", {*id}}, {"tokens", {text}}};
  }
  return {{"type", "TemplateProcessing"},
          {"single", single},
          {"pair", pair},
          {"special_tokens", special}};
}

json AddedToken(int32_t id, const std::string& text, bool special) {
  return {{"id", id},        {"content", text},        {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", !special}, {"special", special}};
}

}  // namespace

json HfTokenizerJson(const TokenizerSpec& s) {
  const size_t n = s.tokens.size();
  if (s.types.size() != n) throw Error("tokenizer export: types and tokens differ in length");
  for (const auto& [id, field] : {std::pair{s.bos_id, "bos_id"}, std::pair{s.eos_id, "eos_id"},
                                  std::pair{s.unk_id, "unk_id"}, std::pair{s.pad_id, "pad_id"}}) {
    if (id && (*id < 0 || static_cast<size_t>(*id) >= n)) {
      throw Error(std::string("tokenizer export: ") + field + " is outside the vocab");
    }
  }
  if ((s.add_bos && !s.bos_id) || (s.add_eos && !s.eos_id)) {
    throw Error("tokenizer export: add_bos/add_eos set without the token id");
  }
  const bool spm = s.kind == TokenizerKind::kSentencePieceBpe;
  if (spm && s.scores.size() != n) {
    throw Error("tokenizer export: SentencePiece scores and tokens differ in length");
  }

  json vocab = json::object(), added = json::array();
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (!vocab.contains(s.tokens[i])) vocab[s.tokens[i]] = id;
    const TokenType t = s.types[i];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      added.push_back(AddedToken(id, s.tokens[i], t != TokenType::kUserDefined));
    }
  }
  // model.unk_token retypes its token as unknown; a control token serving as unk (SmolLM2's
  // <|endoftext|>) is named in tokenizer_config.json only.
  const bool unk_is_typed = s.unk_id && s.types[*s.unk_id] == TokenType::kUnknown;
  json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", unk_is_typed ? json(s.tokens[*s.unk_id]) : json(nullptr)},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", spm},
                {"byte_fallback", spm},
                {"ignore_merges", s.ignore_merges || (!spm && SameFamily(s, "llama-bpe"))},
                {"vocab", std::move(vocab)},
                {"merges", spm ? SentencePieceMerges(s) : s.merges}};

  json out = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", std::move(added)}};
  if (spm) {
    json normalizers = json::array();
    if (s.add_space_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", kSpaceMarker}});
    normalizers.push_back(
        {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpaceMarker}});
    out["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
    out["pre_tokenizer"] = nullptr;
    json decoders = {
        {{"type", "Replace"}, {"pattern", {{"String", kSpaceMarker}}}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}}};
    if (s.add_space_prefix) {
      decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    }
    out["post_processor"] = PostProcessor(s);
    out["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
  } else {
    out["normalizer"] = nullptr;
    out["pre_tokenizer"] = ByteLevelPreTokenizer(s);
    out["post_processor"] = PostProcessor(s);
    out["decoder"] = ByteLevel(true);
  }
  out["model"] = std::move(model);
  return out;
}

json HfTokenizerConfigJson(const TokenizerSpec& s) {
  auto text = [&](const std::optional<int32_t>& id) {
    return id ? json(s.tokens.at(*id)) : json(nullptr);
  };
  json decoder = json::object();
  for (size_t i = 0; i < s.tokens.size(); ++i) {
    const TokenType t = s.types[i];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      json entry = AddedToken(static_cast<int32_t>(i), s.tokens[i], t != TokenType::kUserDefined);
      entry.erase("id");
      decoder[std::to_string(i)] = std::move(entry);
    }
  }
  json cfg = {{"add_bos_token", s.add_bos},
              {"add_eos_token", s.add_eos},
              {"bos_token", text(s.bos_id)},
              {"eos_token", text(s.eos_id)},
              {"unk_token", text(s.unk_id)},
              {"pad_token", text(s.pad_id)},
              {"clean_up_tokenization_spaces", false},
              {"tokenizer_class", "PreTrainedTokenizerFast"},
              {"added_tokens_decoder", std::move(decoder)}};
  if (!s.chat_template.empty()) cfg["chat_template"] = s.chat_template;
  return cfg;
}

}  // namespace xq
