// The machinery every part of the config parser shares: collecting
// diagnostics (Diags), reporting about one table (Scope, which also maps
// positions inside a rendered [[template]] back to the process that used it),
// typed accessors that report their own type errors, and small TOML helpers.
// Internal to the parser (config_parser.cc, config_values.cc,
// config_templates.cc); the public interface is config_parser.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "core/diagnostic.h"
#include "core/duration.h"

namespace procman::core::config_detail {

using Strings = std::vector<std::string>;

/// The 1-based start of `s` (0:0 for a node that was not read from text).
SourcePos pos_of(const toml::source_region& s);

/// "a string", "an integer", ... for messages such as "must be a string, not an integer".
std::string type_name(const toml::node& n);

/// [[name]] arrays: an empty array is fine too (`process = []`).
bool is_table_array(const toml::node& n);

/// type_name, but an array that is not a [[table]] array is "an array of values".
std::string shape_name(const toml::node& n);

/// " (did you mean 'x'?)" when a candidate is a plausible typo of `word`, else "".
std::string suggestion(std::string_view word, const Strings& candidates);

/// Scalars as the text a user would expect in an environment or a template;
/// dates and times only when `allow_dates`. nullopt for arrays and tables.
std::optional<std::string> scalar_text(const toml::node& n, bool allow_dates);

/// The directory part of `path`: "" for a bare file name, "/" for a file in the root.
std::string directory_of(const std::string& path);

/// `path` joined to `dir` unless absolute, lexically: "." segments and doubled
/// slashes go, ".." stays (a symlinked directory makes folding it wrong).
/// "." when nothing is left.
std::string resolve_path(const std::string& dir, const std::string& path);

/// "process 'web'" when the table has a non-empty string id, else "process #N"
/// (N = `index` + 1): the label of messages about one [[process]].
std::string process_label(const toml::table& t, std::size_t index);

// ---------------------------------------------------------------------------
// Diagnostics

/// Every error and note about one file, in the order found (sorted at the end).
class Diags {
 public:
  explicit Diags(std::string file) : file_(std::move(file)) {}

  void error(SourcePos pos, std::string message) {
    errors.push_back({Diagnostic::Severity::Error, file_, pos, std::move(message)});
  }
  void note(SourcePos pos, std::string message) {
    notes.push_back({Diagnostic::Severity::Note, file_, pos, std::move(message)});
  }
  const std::string& file() const { return file_; }

  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> notes;

 private:
  std::string file_;
};

/// A process whose keys came (partly) from a [[template]].
struct TemplateUse {
  std::string name;
  SourcePos pos;        ///< of its [process.template] table
  bool failed = false;  ///< expansion failed: its keys are missing, so skip "required" errors
};

/// Where messages about one table go, and how they are prefixed. A node that
/// came from a template has positions inside the rendered template; it is
/// reported at the [process.template] table that pulled it in. `diags` and
/// `use` (may be null: no template) must outlive the Scope.
class Scope {
 public:
  Scope(Diags& diags, std::string label, const TemplateUse* use)
      : diags_(diags), label_(std::move(label)), use_(use) {}

  const std::string& label() const { return label_; }

  /// "<label>: <message>" at the node.
  void error(const toml::node& at, const std::string& message);
  /// As error(), at the key of `value` (a [header] table at its '[').
  void error_at_key(const toml::key& k, const toml::node& value, const std::string& message);
  void error_at(SourcePos pos, const std::string& message);
  /// Without the label prefix, for messages that name the process themselves.
  void raw_error(const toml::source_region& where, const std::string& message);
  void note(const toml::node& at, const std::string& message);

  /// Every key of `table` must be in `allowed`; `where` is e.g. "in 'init' of process 'web'".
  void check_keys(const toml::table& table, const Strings& allowed, const std::string& where);

 private:
  std::string prefixed(const std::string& message) const;
  std::pair<SourcePos, std::string> locate(const toml::source_region& where) const;

  Diags& diags_;
  std::string label_;
  const TemplateUse* use_;
};

// ---------------------------------------------------------------------------
// Typed accessors: each reports its own type error and returns nothing then.
// `name` is the key as the user wrote it (e.g. "health-check.timeout").

/// Points into `n`.
const std::string* want_string(Scope& s, const toml::node& n, const std::string& name);

/// A string that is not empty or blank. Points into `n`.
const std::string* want_text(Scope& s, const toml::node& n, const std::string& name);

std::optional<bool> want_bool(Scope& s, const toml::node& n, const std::string& name);

/// An integer in [min, max].
std::optional<int64_t> want_int(Scope& s, const toml::node& n, const std::string& name, int64_t min,
                                int64_t max);

/// A duration string such as "5s"; greater than 0 when `positive`.
std::optional<Duration> want_duration(Scope& s, const toml::node& n, const std::string& name,
                                      bool positive);

/// One of `names` (did-you-mean otherwise); returns its index. `what` names
/// the kind in the error ("unknown <what> 'x'").
std::optional<std::size_t> want_choice(Scope& s, const toml::node& n, const std::string& name,
                                       const Strings& names, const std::string& what);

/// A table; `shape` describes what was expected ("a table { burst, interval }").
const toml::table* want_table(Scope& s, const toml::node& n, const std::string& name,
                              const std::string& shape);

}  // namespace procman::core::config_detail
