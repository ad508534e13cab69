// Reading a procman TOML file into a validated Config. Every problem found is
// reported (not just the first) with file:line:col; on any error no Config is
// returned, so a caller can never act on a half-valid file.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/diagnostic.h"

namespace procman::core {

struct ParseResult {
  std::optional<Config> config;        ///< set only when errors is empty
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> notes;       ///< e.g. "simple command contains shell syntax; runs via /bin/sh -c"
};

/// `env` supplies {{ VAR }} values that a template does not define (a TODO of jleahred/procman).
/// `path` is used in diagnostics and stored in Config::path.
ParseResult parse_config(std::string_view text, const std::string& path,
                         const std::map<std::string, std::string>& env);

/// The file after [[template]] expansion, as TOML text (procmanctl expand-templates).
struct ExpandResult {
  std::optional<std::string> text;
  std::vector<Diagnostic> errors;
};
ExpandResult expand_config_templates(std::string_view text, const std::string& path,
                                     const std::map<std::string, std::string>& env);

}  // namespace procman::core
