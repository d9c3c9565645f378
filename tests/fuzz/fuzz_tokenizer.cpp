// The tokenizer (the default model's byte-level BPE vocabulary, read from its GGUF) on arbitrary
// text: encoding must not fail, Decode(Encode(text)) must give the text back, and incremental
// detokenizing must agree with Decode; arbitrary ids decode or throw xq::Error. The round trip
// is checked on text whose bytes all have a token: SmolLM2's vocabulary lacks 21 of the 256
// byte tokens (0x04, 0x14, 0xf5..0xff, ...), which the encoder drops, as llama.cpp's does (the
// first fuzz finding; expected, not a bug).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/error.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace {

std::unique_ptr<xq::Tokenizer> tokenizer;
bool byte_has_token[256];

bool Representable(std::string_view s) {
  for (char c : s) {
    if (!byte_has_token[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* model = std::getenv("XQ_FUZZ_MODEL");
  xq::GgufFile file(model ? model : XQ_DEFAULT_MODEL);
  tokenizer = std::make_unique<xq::Tokenizer>(xq::TokenizerSpecFromGguf(file));
  for (int32_t id = 0; id < tokenizer->vocab_size(); ++id) {
    const std::string bytes = tokenizer->TokenBytes(id);
    if (bytes.size() == 1 && !tokenizer->IsSpecial(id)) {
      byte_has_token[static_cast<unsigned char>(bytes[0])] = true;
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)tokenizer->Encode(text, true, true);
  (void)tokenizer->FindControlText(text);
  if (ValidUtf8(text) && Representable(text)) {
    const std::vector<int32_t> ids = tokenizer->Encode(text, false, false);
    if (tokenizer->Decode(ids) != text) __builtin_trap();
    xq::IncrementalDetokenizer incremental(*tokenizer, false);
    std::string pieces;
    for (int32_t id : ids) pieces += incremental.Push(id);
    pieces += incremental.Flush();
    if (pieces != text) __builtin_trap();
  }
  // The bytes as token ids, some out of range.
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) {
    ids.push_back(static_cast<int32_t>((data[i] << 8 | data[i + 1]) % (tokenizer->vocab_size() + 8)));
  }
  try {
    (void)tokenizer->Decode(ids, (size & 1) != 0);
  } catch (const xq::Error&) {
  }
  return 0;
}
