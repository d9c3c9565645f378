// UTF-8 helpers and the GPT-2 byte <-> unicode table used by byte-level BPE vocabularies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace xq {

// Bytes in the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes), as
// llama.cpp counts them when it splits text into symbols.
size_t Utf8SeqLen(uint8_t lead);

void AppendUtf8(uint32_t cpt, std::string& out);

// Length of the valid UTF-8 sequence at text[pos]: 0 when the bytes there are invalid,
// -1 when they are a valid but incomplete prefix cut off by the end of text.
int ValidUtf8Prefix(std::string_view text, size_t pos);

// Replaces every invalid byte with U+FFFD (incomplete trailing sequences too).
std::string SanitizeUtf8(std::string_view text);

// GPT-2's reversible byte -> printable code point mapping, as UTF-8.
const std::string& ByteToUnicode(uint8_t byte);
// Inverse mapping for one code point; -1 when it is not one of the 256 mapped code points.
int UnicodeToByte(uint32_t cpt);

// Maps each byte of `raw` through ByteToUnicode.
std::string ByteEncode(std::string_view raw);
// Maps each code point of byte-level `text` back to its byte; unmapped code points are kept as
// their own UTF-8 bytes.
std::string ByteDecode(std::string_view text);

}  // namespace xq
