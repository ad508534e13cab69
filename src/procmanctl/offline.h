// procmanctl verbs that work on files alone, without a running procmand.
#pragma once

#include <optional>
#include <string>

namespace procman::ctl {

/// Validates FILE; lists every error (file:line:col) and, when valid, what it
/// describes. 0 when valid, 1 otherwise.
int check(const std::string& file);
/// Prints FILE with [[template]]s expanded. 0, or 1 on errors.
int expand_templates(const std::string& file);
/// Writes a commented example config (default ./procman.toml); never overwrites.
int gen_file(const std::string& file);
/// Prints a new random uid (UUID v4).
int uid();

}  // namespace procman::ctl
