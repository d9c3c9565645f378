#include "engine/tokenizer/unicode_util.h"

#include <array>

namespace xq {
namespace {

struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> to_byte;  // every mapped code point is below 512

  ByteTables() {
    to_byte.fill(-1);
    std::array<bool, 256> printable{};
    for (int b = 0x21; b <= 0x7E; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cpt = printable[b] ? b : next++;
      AppendUtf8(cpt, to_unicode[b]);
      to_byte[cpt] = b;
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables tables;
  return tables;
}

bool IsCont(uint8_t c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t Utf8SeqLen(uint8_t lead) {
  static constexpr size_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[lead >> 4];
}

void AppendUtf8(uint32_t cpt, std::string& out) {
  if (cpt <= 0x7F) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cpt >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

int ValidUtf8Prefix(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  const uint8_t c = s[pos];
  if (c < 0x80) return 1;
  int len;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (rejects overlongs/surrogates)
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < len; ++i) {
    if (pos + i >= n) return -1;
    const uint8_t b = s[pos + i];
    if (i == 1 ? (b < lo || b > hi) : !IsCont(b)) return 0;
  }
  return len;
}

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const int len = ValidUtf8Prefix(text, pos);
    if (len > 0) {
      out.append(text.substr(pos, len));
      pos += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++pos;
    }
  }
  return out;
}

const std::string& ByteToUnicode(uint8_t byte) { return Tables().to_unicode[byte]; }

int UnicodeToByte(uint32_t cpt) { return cpt < 512 ? Tables().to_byte[cpt] : -1; }

std::string ByteEncode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += ByteToUnicode(static_cast<uint8_t>(c));
  return out;
}

std::string ByteDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  while (pos < text.size()) {
    const int len = ValidUtf8Prefix(text, pos);
    if (len <= 0) {
      out.push_back(text[pos++]);
      continue;
    }
    uint32_t cpt = len == 1 ? s[pos] : (s[pos] & (0xFF >> (len + 1)));
    for (int i = 1; i < len; ++i) cpt = (cpt << 6) | (s[pos + i] & 0x3F);
    const int byte = UnicodeToByte(cpt);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace xq
