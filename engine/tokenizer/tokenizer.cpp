#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <unordered_set>

#include "engine/common/error.h"
#include "engine/tokenizer/bpe_encoder.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/spm_encoder.h"
#include "engine/tokenizer/unicode_util.h"
#include "engine/tokenizer/vocab_index.h"

namespace xq {
namespace {

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // U+2581

// Token texts that end generation, as llama.cpp lists them; such tokens are treated as control.
const std::unordered_set<std::string>& EogTexts() {
  static const std::unordered_set<std::string> texts = {
      "<|eot_id|>",      "<|im_end|>",         "<|end|>",    "<end_of_turn>",
      "<|endoftext|>",   "<|eom_id|>",         "<EOT>",      "_<EOT>",
      "<|end_of_text|>", "<end_of_utterance>", "<|return|>", "<|call|>"};
  return texts;
}

bool IsLlama3Pre(const std::string& pre) {
  return pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
         pre == "pixtral";
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(s.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(s.substr(pos));
  return out;
}

struct Fragment {
  int32_t token = -1;  // >= 0: a special token; otherwise raw text
  std::string_view text;
};

}  // namespace

struct Tokenizer::Impl {
  TokenizerSpec spec;
  std::vector<TokenType> types;        // [vocab]
  std::vector<std::string> pieces;     // [vocab] bytes each token decodes to
  std::vector<int32_t> special_order;  // control / user-defined / unknown ids, longest text first
  std::unordered_set<int32_t> eog;
  std::optional<VocabIndex> index;
  std::optional<PreTokenizer> pre;
  std::optional<BpeEncoder> bpe;
  std::optional<SpmEncoder> spm;

  bool IsSpm() const { return spec.kind == TokenizerKind::kSentencePieceBpe; }
  bool IsControlOrUnknown(int32_t id) const {
    return types[id] == TokenType::kControl || types[id] == TokenType::kUnknown;
  }
  void CheckId(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= pieces.size()) {
      throw Error("tokenizer: token id " + std::to_string(id) + " out of range [0, " +
                  std::to_string(pieces.size()) + ")");
    }
  }
  std::string Piece(int32_t id, bool skip_special, bool strip_space) const {
    CheckId(id);
    if (skip_special && IsControlOrUnknown(id)) return {};
    const std::string& p = pieces[id];
    if (strip_space && !p.empty() && p[0] == ' ') return p.substr(1);
    return p;
  }
  bool StripsFirstSpace() const { return IsSpm() && spec.add_space_prefix; }

  void Validate();
  void BuildPieces();
  std::vector<Fragment> Partition(std::string_view text, bool parse_special,
                                  std::span<const TextSpan> literal = {}) const;
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special,
                              std::span<const TextSpan> literal) const;
};

void Tokenizer::Impl::Validate() {
  const size_t n = spec.tokens.size();
  if (n == 0) throw Error("tokenizer: tokens is empty");
  if (!spec.types.empty() && spec.types.size() != n) {
    throw Error("tokenizer: types has " + std::to_string(spec.types.size()) + " entries for " +
                std::to_string(n) + " tokens");
  }
  if (!spec.scores.empty() && spec.scores.size() != n) {
    throw Error("tokenizer: scores has " + std::to_string(spec.scores.size()) + " entries for " +
                std::to_string(n) + " tokens");
  }
  auto check = [&](const std::optional<int32_t>& id, const char* field) {
    if (id && (*id < 0 || static_cast<size_t>(*id) >= n)) {
      throw Error(std::string("tokenizer: ") + field + " " + std::to_string(*id) +
                  " out of range for " + std::to_string(n) + " tokens");
    }
  };
  check(spec.bos_id, "bos_id");
  check(spec.eos_id, "eos_id");
  check(spec.unk_id, "unk_id");
  check(spec.pad_id, "pad_id");
  check(spec.eot_id, "eot_id");
  if (spec.add_bos && !spec.bos_id) throw Error("tokenizer: add_bos is set but bos_id is not");
  if (spec.add_eos && !spec.eos_id) throw Error("tokenizer: add_eos is set but eos_id is not");
}

void Tokenizer::Impl::BuildPieces() {
  pieces.resize(spec.tokens.size());
  for (size_t id = 0; id < spec.tokens.size(); ++id) {
    const std::string& text = spec.tokens[id];
    switch (types[id]) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUserDefined:
        pieces[id] = text;
        break;
      case TokenType::kNormal:
        pieces[id] = IsSpm() ? ReplaceAll(text, kSpaceMarker, " ") : ByteDecode(text);
        break;
      case TokenType::kByte:
        if (text.size() == 6 && text.starts_with("<0x") && text.back() == '>') {
          pieces[id] = std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
        } else {
          pieces[id] = IsSpm() ? text : ByteDecode(text);
        }
        break;
      default:  // unused / undefined tokens decode to nothing, as in llama.cpp
        break;
    }
  }
}

std::vector<Fragment> Tokenizer::Impl::Partition(std::string_view text, bool parse_special,
                                                 std::span<const TextSpan> literal) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, text});
  const auto in_literal = [&](size_t at, size_t size) {
    for (const TextSpan& s : literal) {
      if (at < s.end && s.begin < at + size) return true;
    }
    return false;
  };
  // Longest special token first over the whole text, then the next one in what is left, as
  // llama.cpp's tokenizer_st_partition does.
  for (int32_t id : special_order) {
    if (!parse_special && types[id] != TokenType::kUserDefined) continue;
    const std::string& tok = spec.tokens[id];
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.token >= 0 || f.text.find(tok) == std::string_view::npos) {
        next.push_back(f);
        continue;
      }
      size_t pos = 0, search = 0;
      for (size_t hit; (hit = f.text.find(tok, search)) != std::string_view::npos;) {
        const size_t at = static_cast<size_t>(f.text.data() - text.data()) + hit;
        if (types[id] != TokenType::kUserDefined && in_literal(at, tok.size())) {
          search = hit + 1;  // text here, not a token
          continue;
        }
        if (hit > pos) next.push_back({-1, f.text.substr(pos, hit - pos)});
        next.push_back({id, {}});
        pos = search = hit + tok.size();
      }
      if (pos < f.text.size()) next.push_back({-1, f.text.substr(pos)});
    }
    frags = std::move(next);
  }
  return frags;
}

Tokenizer::Tokenizer(TokenizerSpec spec) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.spec = std::move(spec);
  m.Validate();
  const size_t n = m.spec.tokens.size();
  for (size_t i = 0; i < n; ++i) {
    // An empty text would match everywhere; llama.cpp renames such tokens the same way.
    if (m.spec.tokens[i].empty()) m.spec.tokens[i] = "[EMPTY_" + std::to_string(i) + "]";
  }
  m.types = m.spec.types.empty() ? std::vector<TokenType>(n, TokenType::kNormal) : m.spec.types;
  m.index.emplace(m.spec.tokens);

  for (size_t i = 0; i < n; ++i) {
    if (EogTexts().count(m.spec.tokens[i])) {
      m.eog.insert(static_cast<int32_t>(i));
      if (m.types[i] != TokenType::kUserDefined) m.types[i] = TokenType::kControl;
    }
  }
  if (m.spec.eos_id) m.eog.insert(*m.spec.eos_id);
  if (m.spec.eot_id) m.eog.insert(*m.spec.eot_id);

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = m.types[i];
    if (t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) {
      m.special_order.push_back(static_cast<int32_t>(i));
    }
  }
  std::stable_sort(m.special_order.begin(), m.special_order.end(), [&](int32_t a, int32_t b) {
    return m.spec.tokens[a].size() > m.spec.tokens[b].size();
  });
  m.BuildPieces();

  if (m.IsSpm()) {
    std::vector<int32_t> byte_ids(256, -1);
    char hex[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      int32_t id = m.index->Find(hex);
      if (id < 0) id = m.index->Find(std::string(1, static_cast<char>(b)));
      byte_ids[b] = id;
    }
    if (m.spec.scores.empty()) m.spec.scores.assign(n, 0.0f);
    m.spm.emplace(*m.index, m.spec.scores, std::move(byte_ids), m.spec.unk_id.value_or(-1));
  } else {
    m.pre.emplace(m.spec.pre_regexes.empty() ? PreTokenizer::RegexesForPre(m.spec.pre)
                                             : m.spec.pre_regexes);
    m.bpe.emplace(*m.index, m.spec.merges, m.spec.ignore_merges || IsLlama3Pre(m.spec.pre));
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  return impl_->Encode(text, add_special, parse_special, {});
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       std::span<const TextSpan> literal) const {
  return impl_->Encode(text, add_special, /*parse_special=*/true, literal);
}

std::string Tokenizer::FindControlText(std::string_view text) const {
  for (int32_t id : impl_->special_order) {
    if (impl_->types[id] == TokenType::kUserDefined) continue;
    const std::string& tok = impl_->spec.tokens[id];
    if (text.find(tok) != std::string_view::npos) return tok;
  }
  return {};
}

std::vector<int32_t> Tokenizer::Impl::Encode(std::string_view text, bool add_special,
                                             bool parse_special,
                                             std::span<const TextSpan> literal) const {
  const Impl& m = *this;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && m.spec.add_bos) out.push_back(*m.spec.bos_id);
  bool prev_special = true;  // SentencePiece prefixes a space at the start and after specials
  for (const Fragment& f : m.Partition(text, parse_special, literal)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    if (m.IsSpm()) {
      std::string piece = m.spec.add_space_prefix && prev_special ? " " : "";
      piece.append(f.text);
      m.spm->Encode(ReplaceAll(piece, " ", kSpaceMarker), out);
    } else {
      const std::string clean = SanitizeUtf8(f.text);
      for (std::string_view word : m.pre->Split(clean)) m.bpe->Encode(ByteEncode(word), out);
    }
    prev_special = false;
  }
  if (add_special && m.spec.add_eos) out.push_back(*m.spec.eos_id);
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    out += impl_->Piece(id, skip_special, first && impl_->StripsFirstSpace());
    first = false;
  }
  return out;
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  impl_->CheckId(id);
  return impl_->pieces[id];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->pieces.size()); }
const TokenizerSpec& Tokenizer::spec() const { return impl_->spec; }

bool Tokenizer::IsSpecial(int32_t id) const {
  impl_->CheckId(id);
  return impl_->types[id] == TokenType::kControl;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const { return impl_->eog.count(id) > 0; }

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string IncrementalDetokenizer::Push(int32_t id) {
  const auto& m = *tokenizer_->impl_;
  pending_ += m.Piece(id, skip_special_, first_ && m.StripsFirstSpace());
  first_ = false;
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const int len = ValidUtf8Prefix(pending_, pos);
    if (len < 0) break;  // incomplete: wait for the next token
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++pos;
    } else {
      out.append(pending_, pos, len);
      pos += len;
    }
  }
  pending_.erase(0, pos);
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace xq
