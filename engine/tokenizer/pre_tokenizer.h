// PreTokenizer: splits text into words with a chain of PCRE2 regexes (full Unicode classes), the
// way llama.cpp's unicode_regex_split does for byte-level BPE.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xq {

class PreTokenizer {
 public:
  // Regexes for a GGUF tokenizer.ggml.pre name; throws xq::Error on an unknown name.
  static std::vector<std::string> RegexesForPre(const std::string& pre);

  // Each regex splits every piece the previous one produced; text between matches is kept as
  // its own piece, so nothing is dropped. Throws xq::Error when a regex does not compile.
  explicit PreTokenizer(const std::vector<std::string>& regexes);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // `text` must be valid UTF-8. The views point into `text`.
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xq
