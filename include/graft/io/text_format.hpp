// A reader of protobuf's text format (what .prototxt files are written in), into a tree of
// fields that remember their line, with no schema: the caller interprets the fields it
// knows (graft/io/prototxt.hpp does so for Caffe nets).
//
//   message  := { field [',' | ';'] }
//   field    := NAME ':' value | NAME [':'] '{' message '}' | NAME [':'] '<' message '>'
//   value    := scalar | '[' [item {',' item}] ']'          (a list: one field per item)
//   item     := scalar | '{' message '}' | '<' message '>'
//   scalar   := STRING {STRING} | ['-'] NUMBER | ['-'] IDENTIFIER   (enum names, true, inf)
// Comments run from '#' to the end of the line. Strings take single or double quotes and
// C escapes (\n \t \\ \' \" \xHH \ooo ...); adjacent strings are joined.
//
// Untrusted input: the text is at most ReadLimits::max_text_bytes, messages nest at most
// max_nesting deep (the parser's recursion is bounded by it), and every error is a
// graft::Error "FILE:LINE:COLUMN: what", with the offending text quoted.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graft/core/error.hpp"
#include "graft/io/limits.hpp"
#include "graft/io/quote.hpp"
#include "graft/io/source.hpp"

namespace graft {
namespace io {
namespace text {

struct Message;

struct Field {
  enum Kind { identifier, number, string, message };
  std::string name;
  Kind kind = identifier;
  std::string value;  // identifier or number as written ("-" included), string decoded
  std::unique_ptr<Message> msg;  // kind == message
  int line = 0, column = 0;      // where the field's name is
};

struct Message {
  std::vector<Field> fields;
  int line = 0;  // where the message opens ('{'), 0 for the file itself

  // Every field of that name, in order.
  std::vector<const Field*> all(const std::string& name) const {
    std::vector<const Field*> out;
    for (const auto& f : fields)
      if (f.name == name) out.push_back(&f);
    return out;
  }
  bool has(const std::string& name) const {
    for (const auto& f : fields)
      if (f.name == name) return true;
    return false;
  }
};

namespace detail {

class Parser {
 public:
  Parser(const std::string& text, std::string file, const ReadLimits& limits)
      : s_(text), file_(std::move(file)), limits_(limits) {}

  Message run() {
    Message root;
    parse_fields(root, 0, '\0');
    return root;
  }

 private:
  struct Token {
    enum Kind { end, name, number, string, punct } kind = end;
    std::string text;  // the token as written (string: decoded)
    int line = 1, column = 1;
  };

  template <class... Parts>
  [[noreturn]] void fail(int line, int column, Parts&&... parts) const {
    throw Error(file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                graft::detail::concat(std::forward<Parts>(parts)...));
  }
  template <class... Parts>
  [[noreturn]] void fail(const Token& t, Parts&&... parts) const {
    fail(t.line, t.column, std::forward<Parts>(parts)...);
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::end: return "the end of the file";
      case Token::string: return "the string " + quote(t.text, 40);
      default: return quote(t.text, 40);
    }
  }

  // ---- characters ----
  bool at_end() const { return i_ >= s_.size(); }
  char peek_char(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
  char get_char() {
    const char c = s_[i_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  void skip_space() {
    while (!at_end()) {
      const char c = peek_char();
      if (c == '#') {
        while (!at_end() && peek_char() != '\n') get_char();
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        get_char();
      } else {
        return;
      }
    }
  }
  static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

  // ---- tokens ----
  const Token& peek() {
    if (!has_peek_) {
      tok_ = lex();
      has_peek_ = true;
    }
    return tok_;
  }
  Token next() {
    peek();
    has_peek_ = false;
    return tok_;
  }

  Token lex() {
    skip_space();
    Token t;
    t.line = line_;
    t.column = col_;
    if (at_end()) return t;
    const char c = peek_char();
    if (is_name_start(c)) {
      t.kind = Token::name;
      while (!at_end() && is_name_char(peek_char())) t.text += get_char();
    } else if (is_digit(c) || c == '.' || c == '-' || c == '+') {
      t.kind = Token::number;
      t.text += get_char();
      if (c == '-' || c == '+') {
        skip_space();  // "- 1" is allowed by protobuf's tokenizer; keep the sign only
        if (is_name_start(peek_char())) {  // -inf, -nan
          while (!at_end() && is_name_char(peek_char())) t.text += get_char();
          return t;
        }
        if (!is_digit(peek_char()) && peek_char() != '.')
          fail(t, "a sign must be followed by a number");
      }
      // Digits, letters (hex, exponent, suffix), dots, and a sign right after an exponent.
      while (!at_end()) {
        const char d = peek_char();
        const char prev = t.text.back();
        const bool hex = t.text.find_first_of("xX") != std::string::npos;
        if (is_name_char(d) || d == '.' || ((d == '-' || d == '+') && !hex && (prev == 'e' || prev == 'E')))
          t.text += get_char();
        else
          break;
      }
    } else if (c == '"' || c == '\'') {
      t.kind = Token::string;
      t.text = string_literal();
      for (;;) {  // adjacent literals are one string
        skip_space();
        if (peek_char() != '"' && peek_char() != '\'') break;
        t.text += string_literal();
      }
    } else if (c != '\0' && std::strchr("{}<>[]:,;", c)) {
      t.kind = Token::punct;
      t.text = std::string(1, get_char());
    } else {
      const unsigned char u = static_cast<unsigned char>(c);
      fail(line_, col_, "unexpected character ", quote(std::string(1, c)),
           u < 0x20 || u == 0x7f ? " (binary data: is it the .caffemodel rather than the .prototxt?)" : "");
    }
    return t;
  }

  std::string string_literal() {
    const int line = line_, col = col_;
    const char q = get_char();
    std::string out;
    for (;;) {
      if (at_end() || peek_char() == '\n') fail(line, col, "string not closed before the end of the line");
      const char c = get_char();
      if (c == q) return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail(line, col, "string not closed before the end of the file");
      const char e = get_char();
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\\': case '\'': case '"': case '?': out += e; break;
        case 'x': case 'X': {
          int v = 0, n = 0;
          while (n < 2 && std::isxdigit(static_cast<unsigned char>(peek_char()))) {
            const char h = get_char();
            v = v * 16 + (is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
            ++n;
          }
          if (n == 0) fail(line_, col_, "\\x needs a hexadecimal digit");
          out += static_cast<char>(v);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0', n = 1;
            while (n < 3 && peek_char() >= '0' && peek_char() <= '7') {
              v = v * 8 + (get_char() - '0');
              ++n;
            }
            if (v > 255) fail(line_, col_, "octal escape beyond \\377");
            out += static_cast<char>(v);
          } else {
            fail(line_, col_ - 1, "unknown escape \\", std::string(1, e), " in a string");
          }
      }
    }
  }

  // ---- grammar ----
  // Fields until `close` ('}' or '>'), or the end of the file when close is '\0'.
  void parse_fields(Message& m, int depth, char close) {
    for (;;) {
      const Token t = next();
      if (t.kind == Token::end) {
        if (close) fail(t, "expected '", std::string(1, close), "' to close the message opened on line ", m.line,
                        ", got the end of the file");
        return;
      }
      if (t.kind == Token::punct && close && t.text[0] == close) return;
      if (t.kind != Token::name) fail(t, "expected a field name, got ", describe(t));
      parse_field(m, t, depth);
      const Token& sep = peek();
      if (sep.kind == Token::punct && (sep.text == "," || sep.text == ";")) next();
    }
  }

  void parse_field(Message& m, const Token& name, int depth) {
    Token t = next();
    bool colon = false;
    if (t.kind == Token::punct && t.text == ":") {
      colon = true;
      t = next();
    }
    if (t.kind == Token::punct && (t.text == "{" || t.text == "<")) {
      add_message(m, name, t, depth);
      return;
    }
    if (!colon) fail(t, "expected ':' or '{' after the field name ", quote(name.text), ", got ", describe(t));
    if (t.kind == Token::punct && t.text == "[") {
      if (peek().kind == Token::punct && peek().text == "]") {
        next();
        return;  // an empty list sets nothing
      }
      for (;;) {
        Token item = next();
        if (item.kind == Token::punct && (item.text == "{" || item.text == "<"))
          add_message(m, name, item, depth);
        else
          add_scalar(m, name, item);
        const Token sep = next();
        if (sep.kind == Token::punct && sep.text == "]") return;
        if (!(sep.kind == Token::punct && sep.text == ","))
          fail(sep, "expected ',' or ']' in the list of ", quote(name.text), ", got ", describe(sep));
      }
    }
    add_scalar(m, name, t);
  }

  void add_message(Message& m, const Token& name, const Token& open, int depth) {
    if (depth + 1 > limits_.max_nesting)
      fail(open, "messages nest more than ", limits_.max_nesting, " deep (ReadLimits::max_nesting)");
    Field f = start(name, Field::message);
    f.msg = std::make_unique<Message>();
    f.msg->line = open.line;
    parse_fields(*f.msg, depth + 1, open.text == "{" ? '}' : '>');
    m.fields.push_back(std::move(f));
  }

  void add_scalar(Message& m, const Token& name, const Token& t) {
    if (t.kind != Token::name && t.kind != Token::number && t.kind != Token::string)
      fail(t, "expected a value for ", quote(name.text), ", got ", describe(t));
    Field f = start(name, t.kind == Token::name ? Field::identifier : t.kind == Token::number ? Field::number : Field::string);
    f.value = t.text;  // "-inf" is a number token too
    m.fields.push_back(std::move(f));
  }

  static Field start(const Token& name, Field::Kind kind) {
    Field f;
    f.name = name.text;
    f.kind = kind;
    f.line = name.line;
    f.column = name.column;
    return f;
  }

  const std::string& s_;
  std::string file_;
  const ReadLimits& limits_;
  size_t i_ = 0;
  int line_ = 1, col_ = 1;
  Token tok_;
  bool has_peek_ = false;
};

}  // namespace detail

// Parses `text`; `file` names it in errors.
inline Message parse(const std::string& text, const std::string& file, const ReadLimits& limits = {}) {
  GRAFT_CHECK(text.size() <= limits.max_text_bytes, file, ": ", text.size(), " bytes, more than the limit of ",
              limits.max_text_bytes, " for a text file (ReadLimits::max_text_bytes)");
  return detail::Parser(text, file, limits).run();
}

// The whole of a text file (at most max_text_bytes).
inline std::string read_text(const Source& src, const ReadLimits& limits = {}) {
  GRAFT_CHECK(src.size() <= limits.max_text_bytes, src.name(), ": ", src.size(), " bytes, more than the limit of ",
              limits.max_text_bytes, " for a text file (ReadLimits::max_text_bytes)");
  std::string s(static_cast<size_t>(src.size()), '\0');
  if (!s.empty()) src.read_at(0, &s[0], s.size());
  return s;
}

}  // namespace text
}  // namespace io
}  // namespace graft
