#include "engine/tokenizer/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "engine/common/error.h"
#include "engine/tokenizer/jinja_value.h"

namespace xq::jinja {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Python's "unicode-escape" decoding, which jinja2 applies to string literals.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    auto hex = [&](int digits) {
      char32_t cp = 0;
      for (int k = 1; k <= digits; ++k) {
        if (i + k >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + k]))) return false;
        cp = cp * 16 + std::stoi(std::string(1, s[i + k]), nullptr, 16);
      }
      out += ToUtf8(std::u32string(1, cp));
      i += digits;
      return true;
    };
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case '\n':
        break;
      case 'x':
        if (!hex(2)) throw Error("invalid \\x escape in string literal");
        break;
      case 'u':
        if (!hex(4)) throw Error("invalid \\u escape in string literal");
        break;
      case 'U':
        if (!hex(8)) throw Error("invalid \\U escape in string literal");
        break;
      default:
        if (c >= '0' && c <= '7') {
          int v = 0, n = 0;
          while (n < 3 && i < s.size() && s[i] >= '0' && s[i] <= '7')
            v = v * 8 + (s[i++] - '0'), ++n;
          --i;
          out += ToUtf8(std::u32string(1, static_cast<char32_t>(v)));
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(src) {
    for (size_t i = 0; i < src.size(); ++i) {
      if (src[i] == '\n') newlines_.push_back(i);
    }
  }

  std::vector<Token> Run() {
    while (pos_ < src_.size()) {
      size_t tag = FindTagStart(pos_);
      if (tag == std::string::npos) {
        Emit(TokenKind::kText, src_.substr(pos_), pos_);
        break;
      }
      char kind = src_[tag + 1];
      char mod = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                     ? src_[tag + 2]
                     : 0;
      EmitText(src_.substr(pos_, tag - pos_), pos_, kind, mod);
      size_t body = tag + 2 + (mod ? 1 : 0);
      if (kind == '#') {
        LexComment(tag, body);
      } else {
        LexTag(kind, tag, body);
      }
    }
    tokens_.push_back({TokenKind::kEof, "", 0, 0, LineAt(src_.size())});
    return std::move(tokens_);
  }

 private:
  int LineAt(size_t pos) const {
    return 1 + static_cast<int>(std::lower_bound(newlines_.begin(), newlines_.end(), pos) -
                                newlines_.begin());
  }

  [[noreturn]] void Fail(size_t pos, const std::string& what) const {
    throw Error("line " + std::to_string(LineAt(pos)) + ": " + what);
  }

  size_t FindTagStart(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && std::strchr("{%#", src_[i + 1])) return i;
    }
    return std::string::npos;
  }

  void Emit(TokenKind kind, std::string text, size_t pos) {
    if (kind == TokenKind::kText && text.empty()) return;
    tokens_.push_back({kind, std::move(text), 0, 0, LineAt(pos)});
  }

  // Text before a tag: `{%-` strips all whitespace before it; lstrip_blocks strips the
  // indentation of a line that holds only a block or comment tag.
  void EmitText(std::string text, size_t pos, char kind, char mod) {
    if (mod == '-') {
      size_t end = text.size();
      while (end > 0 && IsSpace(text[end - 1])) --end;
      text.resize(end);
    } else if (mod != '+' && kind != '{') {
      size_t line_start = text.rfind('\n');
      line_start = line_start == std::string::npos ? 0 : line_start + 1;
      if (line_start > 0 || line_starting_) {
        bool blank = line_start < text.size();
        for (size_t i = line_start; i < text.size() && blank; ++i) blank = IsSpace(text[i]);
        if (blank) text.resize(line_start);
      }
    }
    Emit(TokenKind::kText, std::move(text), pos);
  }

  // After a tag: `-%}` strips all following whitespace; trim_blocks drops one newline after a
  // block or comment tag unless it ends with `+%}`.
  void FinishTag(size_t after, char mod, bool is_block) {
    pos_ = after;
    if (mod == '-') {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
    } else if (mod != '+' && is_block && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  void LexComment(size_t tag, size_t body) {
    size_t end = src_.find("#}", body);
    if (end == std::string::npos) Fail(tag, "unterminated comment");
    char mod = end > body && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
    FinishTag(end + 2, mod, true);
  }

  void LexTag(char kind, size_t tag, size_t p) {
    const bool is_block = kind == '%';
    const char close = is_block ? '%' : '}';
    const size_t first_token = tokens_.size();
    Emit(is_block ? TokenKind::kBlockBegin : TokenKind::kVarBegin, "", tag);
    int depth = 0;
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size()) Fail(tag, std::string("unterminated '{") + kind + "' tag");
      char mod = src_[p] == '-' || src_[p] == '+' ? src_[p] : 0;
      size_t q = p + (mod ? 1 : 0);
      if (depth == 0 && q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}' &&
          (mod != '+' || is_block)) {
        Emit(is_block ? TokenKind::kBlockEnd : TokenKind::kVarEnd, "", p);
        FinishTag(q + 2, mod, is_block);
        break;
      }
      p = LexToken(p, depth);
    }
    // {% raw %}: everything up to {% endraw %} is text.
    if (is_block && tokens_.size() == first_token + 3 &&
        tokens_[first_token + 1].kind == TokenKind::kName &&
        tokens_[first_token + 1].text == "raw") {
      tokens_.resize(first_token);
      LexRaw(tag);
    }
  }

  void LexRaw(size_t tag) {
    for (size_t i = FindTagStart(pos_); i != std::string::npos; i = FindTagStart(i + 1)) {
      if (src_[i + 1] != '%') continue;
      size_t p = i + 2;
      char mod = src_[p] == '-' || src_[p] == '+' ? src_[p] : 0;
      if (mod) ++p;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      char end_mod = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : 0;
      if (end_mod) ++p;
      if (src_.compare(p, 2, "%}") != 0) continue;
      EmitText(src_.substr(pos_, i - pos_), pos_, '%', mod);
      FinishTag(p + 2, end_mod, true);
      return;
    }
    Fail(tag, "missing endraw");
  }

  size_t LexToken(size_t p, int& depth) {
    const char c = src_[p];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = p;
      while (e < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
        ++e;
      Emit(TokenKind::kName, src_.substr(p, e - p), p);
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return LexNumber(p);
    if (c == '\'' || c == '"') {
      size_t e = p + 1;
      while (e < src_.size() && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
      if (e >= src_.size()) Fail(p, "unterminated string literal");
      try {
        Emit(TokenKind::kString, Unescape(src_.substr(p + 1, e - p - 1)), p);
      } catch (const Error& err) {
        Fail(p, err.what());
      }
      return e + 1;
    }
    static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                       "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                       "]",  "{",  "}",  ",",  ".",  ":",  "|", ";"};
    for (const char* op : kOps) {
      size_t len = std::strlen(op);
      if (src_.compare(p, len, op) == 0) {
        if (std::strchr("([{", op[0])) ++depth;
        if (std::strchr(")]}", op[0])) {
          if (depth == 0) Fail(p, std::string("unexpected '") + op + "'");
          --depth;
        }
        Emit(TokenKind::kOp, op, p);
        return p + len;
      }
    }
    Fail(p, std::string("unexpected character '") + c + "'");
  }

  size_t LexNumber(size_t p) {
    auto digits = [&](size_t e) {
      while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) ||
                                 (src_[e] == '_' && e + 1 < src_.size() &&
                                  std::isdigit(static_cast<unsigned char>(src_[e + 1]))))) {
        ++e;
      }
      return e;
    };
    size_t e = digits(p);
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      e = digits(e + 1);
      is_float = true;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && std::isdigit(static_cast<unsigned char>(src_[x]))) {
        e = digits(x);
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = p; i < e; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    Token t{is_float ? TokenKind::kFloat : TokenKind::kInt, text, 0, 0, LineAt(p)};
    if (is_float) {
      // strtod, not stod: a literal beyond a double is inf, as in Python (stod threw out_of_range,
      // a fuzz finding).
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      try {
        t.int_value = std::stoll(text);
      } catch (const std::out_of_range&) {
        Fail(p, "integer literal out of range");
      }
    }
    tokens_.push_back(std::move(t));
    return e;
  }

  const std::string& src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<size_t> newlines_;
  std::vector<Token> tokens_;
};

}  // namespace

std::string NormalizeSource(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<Token> Lex(const std::string& normalized_source) {
  return Lexer(normalized_source).Run();
}

}  // namespace xq::jinja
