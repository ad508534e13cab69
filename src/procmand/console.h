// Foreground output: every line prefixed with its process name, right-aligned
// to the longest name, then " | ". Names are coloured by a stable hash of the
// name when stdout is a terminal and NO_COLOR is unset; procmand's own lines
// appear under "procman".
//
// Under systemd (journal mode) there is no prefix and no colour: procmand's
// own lines go to journald as structured entries (PRIORITY, PROCMAN_PROCESS,
// MESSAGE_ID...), and children write to the journal themselves.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "os/journal.h"

namespace procman {

class Console {
 public:
  /// color: whether to emit ANSI colours (decided by the caller from isatty/NO_COLOR/flags).
  Console(std::FILE* out, bool color);

  /// Make room for a name (the prefix column grows, never shrinks).
  void reserve(std::string_view name);
  /// A line of a child's output. In console mode it is buffered, not flushed: a child
  /// writing fast would otherwise cost procmand one write(2) per line. Callers that
  /// hand over lines call flush() once the batch (one read of a pipe) is done.
  void line(std::string_view name, std::string_view text);
  /// Writes out the lines line() buffered.
  void flush();
  /// A line from procmand itself.
  void notice(std::string_view text);
  void warning(std::string_view text);
  void error(std::string_view text);

  /// The colour escape for a name (empty without colour): 24-bit, from FNV-1a of the name.
  std::string color_of(std::string_view name) const;

  /// Journal mode: everything goes to journald (falling back to the stream when
  /// journald refuses a message).
  void set_journal(bool on) { journal_ = on; }
  bool journal() const { return journal_; }
  /// A message with structured fields; `priority` is LOG_ERR..LOG_DEBUG. In
  /// console mode the fields are dropped and the text is printed like notice().
  void event(int priority, std::string_view text, const std::vector<os::JournalField>& fields);

 private:
  void emit(std::string_view name, std::string_view text, std::string_view text_style, bool flush);
  std::FILE* out_;
  bool color_;
  bool journal_ = false;
  std::size_t width_ = 7;  // "procman"
};

}  // namespace procman
