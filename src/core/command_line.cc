// POSIX-shell word splitting, and deciding when a real shell is needed.
#include "core/command_line.h"

namespace procman::core {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Characters after '$' that make the shell expand something: a name, ${...},
// $(...), or a special parameter.
bool starts_expansion(char c) {
  if (is_name_char(c)) return true;
  switch (c) {
    case '{':
    case '(':
    case '@':
    case '*':
    case '#':
    case '?':
    case '$':
    case '!':
    case '-':
      return true;
    default:
      return false;
  }
}

// Only meaningful to a shell as the first word: reserved words, and builtins
// that exec() could not find (or that would do nothing useful as a process).
constexpr std::string_view kShellOnlyFirstWords[] = {
    // reserved words
    "!", "{", "}", "[[", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function",
    "if", "in", "then", "until", "while", "select",
    // builtins without an executable
    ":", ".", "source", "alias", "unalias", "break", "continue", "cd", "eval", "exec", "exit",
    "export", "getopts", "hash", "local", "read", "readonly", "return", "set", "shift", "times",
    "trap", "type", "ulimit", "umask", "unset", "wait"};

std::optional<std::vector<std::string>> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

// The first word as written, up to the first blank; quoting is not removed.
std::string_view raw_first_word(std::string_view line) {
  std::size_t begin = 0;
  while (begin < line.size() && is_blank(line[begin])) ++begin;
  std::size_t end = begin;
  while (end < line.size() && !is_blank(line[end])) ++end;
  return line.substr(begin, end - begin);
}

bool starts_with_assignment(std::string_view word) {
  if (word.empty() || !is_name_start(word[0])) return false;
  std::size_t i = 1;
  while (i < word.size() && is_name_char(word[i])) ++i;
  return i < word.size() && word[i] == '=';
}

bool is_shell_only_first_word(std::string_view word) {
  for (std::string_view w : kShellOnlyFirstWords) {
    if (w == word) return true;
  }
  return false;
}

}  // namespace

bool needs_shell(std::string_view line) {
  const std::string_view first = raw_first_word(line);
  if (starts_with_assignment(first) || is_shell_only_first_word(first)) return true;

  enum class Quote { None, Single, Double };
  Quote quote = Quote::None;
  bool at_word_start = true;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    const char next = i + 1 < line.size() ? line[i + 1] : '\0';
    if (quote == Quote::Single) {
      if (c == '\'') quote = Quote::None;
      continue;
    }
    if (quote == Quote::Double) {
      if (c == '\\') {
        ++i;  // whatever follows is either escaped or literal; it never counts
      } else if (c == '"') {
        quote = Quote::None;
      } else if (c == '`' || (c == '$' && starts_expansion(next))) {
        return true;
      }
      continue;
    }
    const bool word_start = at_word_start;
    at_word_start = false;
    switch (c) {
      case ' ':
      case '\t':
        at_word_start = true;
        break;
      case '\n':
      case ';':
      case '&':
      case '|':
      case '(':
      case ')':
      case '<':
      case '>':
      case '`':
      case '*':
      case '?':
      case '[':
        return true;
      case '$':
        if (starts_expansion(next)) return true;
        break;
      case '~':
      case '#':
        if (word_start) return true;
        break;
      case '\\':
        ++i;
        break;
      case '\'':
        quote = Quote::Single;
        break;
      case '"':
        quote = Quote::Double;
        break;
      default:
        break;
    }
  }
  return false;
}

std::optional<std::vector<std::string>> split_words(std::string_view line, std::string* error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // distinguishes an empty quoted word from no word
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\\') {
      if (i + 1 == line.size()) return fail(error, "trailing backslash in command");
      if (line[i + 1] != '\n') {
        word += line[i + 1];
        in_word = true;
      }
      i += 2;
    } else if (c == '\'') {
      const std::size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) {
        return fail(error, "unterminated single quote (opened at column " + std::to_string(i + 1) +
                               ") in command");
      }
      word += line.substr(i + 1, close - i - 1);
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      const std::size_t open = i;
      in_word = true;
      ++i;
      bool closed = false;
      while (i < line.size()) {
        const char d = line[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < line.size()) {
          const char e = line[i + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            word += e;
            i += 2;
            continue;
          }
          if (e == '\n') {
            i += 2;
            continue;
          }
        }
        word += d;
        ++i;
      }
      if (!closed) {
        return fail(error, "unterminated double quote (opened at column " +
                               std::to_string(open + 1) + ") in command");
      }
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return fail(error, "empty command");
  return words;
}

std::optional<std::vector<std::string>> command_argv(std::string_view line, bool force_shell,
                                                     std::string* error) {
  if (force_shell) {
    // The shell has the last word on syntax; only refuse a command that is not there.
    if (raw_first_word(line).empty()) return fail(error, "empty command");
    return std::vector<std::string>{"/bin/sh", "-c", std::string(line)};
  }
  auto words = split_words(line, error);
  if (!words) return std::nullopt;
  if (needs_shell(line)) return std::vector<std::string>{"/bin/sh", "-c", std::string(line)};
  if (words->front().empty()) return fail(error, "empty program name in command");
  return words;
}

}  // namespace procman::core
