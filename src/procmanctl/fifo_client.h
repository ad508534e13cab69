// procmanctl's FIFO verbs: `fifo-path` and `fifo run|shutdown|start|stop|restart`,
// which write one line of the FIFO protocol (docs/fifo-protocol.md) to the FIFO
// of a config, like seed 000's `procman start` / `procman stop`, without D-Bus.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace procman::ctl {

/// Adds `fifo-path [CONFIG]` and `fifo` with the subcommands run, shutdown,
/// start, stop and restart, each taking -c/--config FILE (default
/// ./procman.toml; it must exist) or --fifo PATH. The verb that runs stores
/// its exit code in `rc`: 0, or 1 after "procmanctl: <error>" on stderr.
/// `fifo run -- CMD...`: one word is sent as the command line itself; several
/// words are joined with spaces, each quoted for the shell where needed, so
/// procmand runs exactly those words. A message procmand would refuse is
/// refused here, with the same message.
void add_fifo_commands(CLI::App& app, int& rc);

/// The name `fifo run` uses when --name is not given: the basename of the
/// command's first word (split shell-style), as the seed did
/// ("/usr/bin/redis-server --port 6380" -> "redis-server"). nullopt when
/// there is no usable word.
std::optional<std::string> default_run_name(const std::string& command_line);

/// -e K=V words as a map (later ones win); nullopt and *error for a word
/// without '=' or with an empty key.
std::optional<std::map<std::string, std::string>> parse_env_words(
    const std::vector<std::string>& words, std::string* error);

}  // namespace procman::ctl
