// Errors and notes about user input, with the place they refer to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace procman::core {

/// 1-based line and column; 0 means "no position known".
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;
};

struct Diagnostic {
  enum class Severity { Error, Warning, Note };
  Severity severity = Severity::Error;
  std::string file;
  SourcePos pos;
  std::string message;
};

/// "file:line:col: error: message" (position parts omitted when unknown).
std::string format_diagnostic(const Diagnostic& d);

}  // namespace procman::core
