// Turning a command string into argv, POSIX-shell style, without a shell.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procman::core {

/// True when the line needs a shell to mean what it says: operators such as
/// && || ; | & ( ) < > >>, $( ) and backquotes, $VAR / ${VAR} expansion,
/// globs (* ? [), ~ at word start, comments, newlines, or a leading
/// `VAR=value` assignment. Quoted characters do not count.
/// Inside "..." the shell still expands $ and `, so those count there too; a
/// backslash-escaped character never counts. Also true when the first word is a
/// shell reserved word (if, while, for, case, {, !, ...) or a builtin that has no
/// executable of its own (cd, export, exec, ., source, ulimit, ...).
bool needs_shell(std::string_view line);

/// Splits into words honouring '...', "..." (with \" \\ \$ \` escapes) and
/// backslash escapes. nullopt + *error for an unterminated quote or a
/// trailing backslash, or an empty command.
/// Words are separated by unquoted spaces, tabs and newlines; "" and '' make an
/// empty word; backslash-newline is a line continuation (removed), inside "..." as
/// well. Inside "..." a backslash before any other character stays literal.
/// Shell operators are not interpreted: ask needs_shell first. *error may be null.
std::optional<std::vector<std::string>> split_words(std::string_view line, std::string* error);

/// The argv to exec for a command line: the split words, or
/// {"/bin/sh", "-c", line} when needs_shell(line) or force_shell.
/// Unless force_shell, the line must also split cleanly (a quoting error is
/// reported now rather than by the shell at run time). An empty or blank line is
/// an error either way, and so is an empty program name ("" as the first word).
std::optional<std::vector<std::string>> command_argv(std::string_view line, bool force_shell,
                                                     std::string* error);

}  // namespace procman::core
