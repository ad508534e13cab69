// Formatting diagnostics the way compilers do, so editors can jump to them.
#include "core/diagnostic.h"

namespace procman::core {

namespace {

const char* severity_name(Diagnostic::Severity s) {
  switch (s) {
    case Diagnostic::Severity::Error:
      return "error";
    case Diagnostic::Severity::Warning:
      return "warning";
    case Diagnostic::Severity::Note:
      return "note";
  }
  return "error";
}

}  // namespace

std::string format_diagnostic(const Diagnostic& d) {
  std::string out = d.file;
  if (d.pos.line != 0) {
    if (!out.empty()) out += ':';
    out += std::to_string(d.pos.line);
    if (d.pos.column != 0) {
      out += ':';
      out += std::to_string(d.pos.column);
    }
  }
  if (!out.empty()) out += ": ";
  out += severity_name(d.severity);
  out += ": ";
  out += d.message;
  return out;
}

}  // namespace procman::core
