// Foreground output: every line prefixed with its process name, right-aligned
// to the longest name, then " | ". Names are coloured by a stable hash of the
// name when stdout is a terminal and NO_COLOR is unset; procmand's own lines
// appear under "procman".
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace procman {

class Console {
 public:
  /// color: whether to emit ANSI colours (decided by the caller from isatty/NO_COLOR/flags).
  Console(std::FILE* out, bool color);

  /// Make room for a name (the prefix column grows, never shrinks).
  void reserve(std::string_view name);
  /// A line of a child's output.
  void line(std::string_view name, std::string_view text);
  /// A line from procmand itself.
  void notice(std::string_view text);
  void warning(std::string_view text);
  void error(std::string_view text);

  /// The colour escape for a name (empty without colour): 24-bit, from FNV-1a of the name.
  std::string color_of(std::string_view name) const;

 private:
  void emit(std::string_view name, std::string_view text, std::string_view text_style);
  std::FILE* out_;
  bool color_;
  std::size_t width_ = 7;  // "procman"
};

}  // namespace procman
