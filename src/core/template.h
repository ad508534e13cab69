// {{ var }} substitution for [[template]] bodies (jleahred/procman).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace procman::core {

struct TemplateError {
  std::string message;
  unsigned line = 0;    ///< 1-based line within the template text
  unsigned column = 0;
};

/// Renders `text`: `{{ name }}` takes vars[name], else env[name] (jleahred/procman.s
/// TODO: fall back to the environment), else it is an error (missing variable).
/// `{{ 'literal' }}` / `{{ "literal" }}` renders the literal itself, so
/// `{{ '{{.State.Status}}' }}` yields `{{.State.Status}}`. Every key of `vars`
/// must be used somewhere (an unused one is an "extra variable" error).
/// Placeholders in comment lines count too, as in jleahred/procman.
std::optional<std::string> render_template(std::string_view text,
                                           const std::map<std::string, std::string>& vars,
                                           const std::map<std::string, std::string>& env,
                                           TemplateError* error);

}  // namespace procman::core
