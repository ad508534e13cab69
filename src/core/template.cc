// {{ var }} substitution for [[template]] bodies: a small scanner instead of a
// regex, so that quoted literals may contain "}}" and every malformed
// placeholder gets a precise position instead of being copied through.
#include "core/template.h"

#include <string>

namespace procman::core {

namespace {

// Left unrendered unless the process defines it: the launcher replaces it with
// the pid file's path at run time (jleahred/procman pid-file commands).
constexpr std::string_view kRuntimePlaceholder = "PROCMAN_PID_FILE";

bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '-'; }

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool is_name(std::string_view s) {
  if (s.empty() || !is_name_start(s.front())) return false;
  for (char c : s) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

class Renderer {
 public:
  Renderer(std::string_view text, const std::map<std::string, std::string>& vars,
           const std::map<std::string, std::string>& env)
      : text_(text), vars_(vars), env_(env) {}

  std::optional<std::string> run(TemplateError* error) {
    std::size_t i = 0;
    while (i < text_.size()) {
      if (text_.compare(i, 2, "{{") != 0) {
        out_ += text_[i];
        advance(text_[i]);
        ++i;
        continue;
      }
      const unsigned line = line_, column = column_;
      const std::optional<std::size_t> end = placeholder(i);
      if (!end) {
        if (error != nullptr) *error = {message_, line, column};
        return std::nullopt;
      }
      for (std::size_t k = i; k < *end; ++k) advance(text_[k]);
      i = *end;
    }
    for (const auto& [name, value] : vars_) {
      if (used_.count(name) == 0) {
        if (error != nullptr)
          *error = {"variable '" + name + "' is not used by the template", 0, 0};
        return std::nullopt;
      }
    }
    return std::move(out_);
  }

 private:
  // Renders the placeholder starting at `start` (at "{{") into out_; returns the
  // index just past its "}}", or nullopt with message_ set.
  std::optional<std::size_t> placeholder(std::size_t start) {
    std::size_t j = start + 2;
    while (j < text_.size() && is_blank(text_[j])) ++j;
    if (j < text_.size() && (text_[j] == '\'' || text_[j] == '"')) return literal(j);

    const std::size_t close = text_.find("}}", start + 2);
    if (close == std::string_view::npos) {
      message_ = "unterminated '{{' (no closing '}}')";
      return std::nullopt;
    }
    const std::string_view whole = text_.substr(start, close + 2 - start);
    const std::string_view name = trim(text_.substr(start + 2, close - start - 2));
    if (name.empty()) {
      message_ = "empty placeholder '" + std::string(whole) + "'";
      return std::nullopt;
    }
    if (!is_name(name)) {
      message_ = "invalid placeholder '" + std::string(whole) +
                 "': expected {{ name }} or a quoted literal such as {{ '" + std::string(whole) +
                 "' }}";
      return std::nullopt;
    }
    const std::string key(name);
    if (auto it = vars_.find(key); it != vars_.end()) {
      used_.insert(key);
      out_ += it->second;
    } else if (name == kRuntimePlaceholder) {
      out_ += whole;
    } else if (auto env_it = env_.find(key); env_it != env_.end()) {
      out_ += env_it->second;
    } else {
      message_ = "missing variable '" + key + "'";
      return std::nullopt;
    }
    return close + 2;
  }

  // {{ 'text' }} or {{ "text" }}: the text verbatim, no escapes.
  std::optional<std::size_t> literal(std::size_t quote_at) {
    const char quote = text_[quote_at];
    const std::size_t closing = text_.find(quote, quote_at + 1);
    if (closing == std::string_view::npos) {
      message_ = std::string("unterminated quoted literal in '{{' (missing closing ") + quote + ")";
      return std::nullopt;
    }
    std::size_t j = closing + 1;
    while (j < text_.size() && is_blank(text_[j])) ++j;
    if (text_.compare(j, 2, "}}") != 0) {
      message_ = "expected '}}' after the quoted literal " +
                 std::string(text_.substr(quote_at, closing + 1 - quote_at));
      return std::nullopt;
    }
    out_ += text_.substr(quote_at + 1, closing - quote_at - 1);
    return j + 2;
  }

  // Columns count characters, not bytes: UTF-8 continuation bytes are skipped.
  void advance(char c) {
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column_;
    }
  }

  std::string_view text_;
  const std::map<std::string, std::string>& vars_;
  const std::map<std::string, std::string>& env_;
  std::set<std::string> used_;
  std::string out_;
  std::string message_;
  unsigned line_ = 1;
  unsigned column_ = 1;
};

}  // namespace

std::optional<std::string> render_template(std::string_view text,
                                           const std::map<std::string, std::string>& vars,
                                           const std::map<std::string, std::string>& env,
                                           TemplateError* error) {
  return Renderer(text, vars, env).run(error);
}

}  // namespace procman::core
