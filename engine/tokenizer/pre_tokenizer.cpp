#include "engine/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "engine/common/error.h"

namespace xq {
namespace {

// GPT-2's pattern plus the trailing "|\s+" that llama.cpp's hand-written GPT-2 splitter (and
// Hugging Face's ByteLevel) apply, so lone whitespace before a non-space is never left over.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Contractions are spelled out instead of (?i:...) so that PCRE2's Unicode case folding (e.g.
// U+017F matching 's') cannot differ from llama.cpp.
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Regex {
  pcre2_code* code = nullptr;
};

}  // namespace

struct PreTokenizer::Impl {
  std::vector<Regex> regexes;
  ~Impl() {
    for (auto& r : regexes) pcre2_code_free(r.code);
  }
};

std::vector<std::string> PreTokenizer::RegexesForPre(const std::string& pre) {
  // Same families as llama.cpp's llama-vocab.cpp.
  if (pre == "default" || pre.empty()) {
    return {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
  }
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
      pre == "pixtral" || pre == "dbrx" || pre == "smaug-bpe" || pre == "glm4" ||
      pre == "chatglm-bpe") {
    return {kLlama3};
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2" || pre == "megrez" ||
      pre == "hunyuan") {
    return {kQwen2};
  }
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "command-r" ||
      pre == "codeshell" || pre == "exaone" || pre == "minerva-7b") {
    return {R"(\p{N})", kGpt2};
  }
  if (pre == "gpt2" || pre == "gpt-2" || pre == "phi-2" || pre == "mpt" || pre == "olmo" ||
      pre == "jais" || pre == "exaone4" || pre == "trillion" || pre == "granite-docling") {
    return {kGpt2};
  }
  throw Error("tokenizer: unsupported pre-tokenizer type (tokenizer.ggml.pre) '" + pre + "'");
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& regexes)
    : impl_(std::make_unique<Impl>()) {
  for (const auto& pattern : regexes) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      throw Error("tokenizer: pre-tokenizer regex '" + pattern + "' does not compile at " +
                  std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
    impl_->regexes.push_back({code});
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  for (const auto& regex : impl_->regexes) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex.code, nullptr);
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      // Each piece is its own subject so lookarounds see its ends, as llama.cpp's splitter does.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t pos = 0, emitted = 0;
      while (pos < piece.size()) {
        uint32_t opts = PCRE2_NO_UTF_CHECK;
        int rc = pcre2_match(regex.code, subject, piece.size(), pos, opts, md, nullptr);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
          rc =
              pcre2_match(regex.code, subject, piece.size(), pos, opts | PCRE2_NO_JIT, md, nullptr);
        }
        if (rc < 0) {
          if (rc != PCRE2_ERROR_NOMATCH) {
            pcre2_match_data_free(md);
            throw Error("tokenizer: pre-tokenizer regex failed with PCRE2 error " +
                        std::to_string(rc));
          }
          break;
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t start = ov[0], end = ov[1];
        if (end == start) {  // empty match: step over one character
          pos = end + 1;
          while (pos < piece.size() && (static_cast<uint8_t>(piece[pos]) & 0xC0) == 0x80) ++pos;
          continue;
        }
        if (start > emitted) next.push_back(piece.substr(emitted, start - emitted));
        next.push_back(piece.substr(start, end - start));
        emitted = pos = end;
      }
      if (emitted < piece.size()) next.push_back(piece.substr(emitted));
    }
    pcre2_match_data_free(md);
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace xq
