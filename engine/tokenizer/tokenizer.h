// Tokenizer: text <-> token ids for byte-level BPE and SentencePiece BPE vocabularies.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer_spec.h"

namespace xq {

// A byte range [begin, end) of a text.
struct TextSpan {
  size_t begin = 0, end = 0;
};

class Tokenizer {
 public:
  explicit Tokenizer(TokenizerSpec spec);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Reads tokenizer.json (+ tokenizer_config.json when present) of a Hugging Face model dir.
  // Throws xq::Error naming the file and field on anything malformed.
  static TokenizerSpec SpecFromHfDir(const std::filesystem::path& dir);

  // add_special: prepend BOS / append EOS as the spec says. parse_special: text like
  // "<|im_start|>" becomes its control/user-defined token instead of being split as text.
  std::vector<int32_t> Encode(std::string_view text, bool add_special = true,
                              bool parse_special = true) const;
  // Special tokens parsed everywhere except inside `literal`, where control-token text stays
  // text (as with parse_special = false): a chat template's own tokens around user content
  // that may spell them.
  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              std::span<const TextSpan> literal) const;
  // The first control token whose text appears in `text`; empty when none does.
  std::string FindControlText(std::string_view text) const;
  // Concatenated bytes of the tokens. As llama.cpp's detokenize does, a SentencePiece vocab with
  // add_space_prefix loses one leading space of the first token (so Decode(Encode(s, false)) == s;
  // after a leading BOS the space stays). No clean-up of spaces before punctuation is applied.
  // skip_special drops control and unknown tokens. Throws xq::Error on an out-of-range id.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // Raw bytes one token stands for (may be a partial UTF-8 sequence); control tokens give their
  // text. Throws xq::Error on an out-of-range id.
  std::string TokenBytes(int32_t id) const;

  int32_t vocab_size() const;
  const TokenizerSpec& spec() const;
  bool IsSpecial(int32_t id) const;  // control tokens
  // End-of-generation: EOS, EOT, and control tokens like <|im_end|>, <|eot_id|>, <|end|>.
  bool IsEndOfGeneration(int32_t id) const;

 private:
  friend class IncrementalDetokenizer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into text without ever emitting half a UTF-8 character: bytes of
// an incomplete sequence are held back until the next token completes them (or Flush()). The
// concatenated output equals Decode(all ids, skip_special), except that bytes which can never
// form a character become U+FFFD.
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special = true);
  std::string Push(int32_t id);  // newly completed text, possibly empty
  std::string Flush();           // whatever is held back (invalid bytes become U+FFFD)

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace xq
