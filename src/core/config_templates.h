// Reading the TOML text and expanding its [[template]]s: collecting the
// [[template]] definitions, then rendering each [process.template] table with
// its variables and merging the result into its [[process]] table.
// Internal to the config parser; the public interface is config_parser.h.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_scope.h"

namespace procman::core::config_detail {

/// A file after template expansion.
struct Expanded {
  std::optional<toml::table> doc;                ///< unset on a syntax error
  std::vector<std::optional<TemplateUse>> uses;  ///< per [[process]] entry
};

/// Parses `text` (named `path` in positions) and expands every
/// [process.template] in place: the rendered keys are moved into the process
/// table, keeping their positions inside the rendered template (Scope maps
/// them back). `env` supplies {{ VAR }} values a template use does not set.
/// The top-level `template` key and every [process.template] table are
/// removed from `doc`. Problems go to `diags`; a process whose expansion
/// failed has TemplateUse::failed set (some of its keys may be missing).
/// `uses` has one entry per element of the `process` array (nullopt for an
/// entry without a template); it is empty when there is no such array.
Expanded parse_and_expand(std::string_view text, const std::string& path, Diags& diags,
                          const std::map<std::string, std::string>& env);

}  // namespace procman::core::config_detail
