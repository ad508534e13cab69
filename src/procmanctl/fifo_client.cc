#include "procmanctl/fifo_client.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <unistd.h>

#include "core/command_line.h"
#include "core/fifo_protocol.h"
#include "os/fifo.h"

namespace procman::ctl {
namespace {

void say_error(const std::string& what) { std::fprintf(stderr, "procmanctl: %s\n", what.c_str()); }

/// Where a `fifo` verb writes: --fifo, else the FIFO of --config, else (no
/// ./procman.toml) the service's $XDG_RUNTIME_DIR/procman/procman.fifo.
struct Target {
  std::string config = "procman.toml";
  std::string fifo;
};

void add_target_options(CLI::App* cmd, Target& t) {
  auto* config = cmd->add_option("-c,--config", t.config,
                                 "The config whose procmand to talk to (default ./procman.toml)");
  auto* fifo = cmd->add_option("--fifo", t.fifo, "Write to this FIFO instead of the config's");
  config->excludes(fifo);
}

/// Sends `m`; the exit code.
int send(const Target& t, const core::FifoMessage& m) {
  std::string path = t.fifo;
  if (path.empty() && t.config == "procman.toml" && access("procman.toml", F_OK) != 0) {
    // No config here: the user service's FIFO (procman.service runs with
    // --fifo %t/procman/procman.fifo, which procman.socket may hold).
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    const std::string service = std::string(runtime && *runtime ? runtime : "/run") + "/procman/procman.fifo";
    if (access(service.c_str(), F_OK) == 0) path = service;
  }
  if (path.empty()) {
    std::string error;
    std::optional<std::string> derived = os::fifo_path_for_config(t.config, &error);
    if (!derived) {
      say_error(error);
      return 1;
    }
    path = std::move(*derived);
  }
  const std::string line = core::fifo_line(m);
  if (line.size() - 1 > core::kMaxFifoLine) {
    say_error("the message is " + std::to_string(line.size() - 1) +
              " bytes long; procmand accepts lines of at most " +
              std::to_string(core::kMaxFifoLine) + " bytes");
    return 1;
  }
  // What procmand would refuse (and only log) is refused here, where someone reads it.
  auto check = core::parse_fifo_line(std::string_view(line).substr(0, line.size() - 1));
  if (auto* error = std::get_if<std::string>(&check)) {
    say_error(*error);
    return 1;
  }
  if (std::optional<std::string> error = os::fifo_send(path, line)) {
    say_error(*error);
    return 1;
  }
  return 0;
}

/// `word` as the shell (and core::split_words) reads it back: as is when it holds only
/// safe characters, else in single quotes.
std::string shell_quote(const std::string& word) {
  const bool safe = !word.empty() && word.find_first_not_of(
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789_@%+=:,./-") == std::string::npos;
  if (safe) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// The `run` field for CMD...: one word is a whole command line, as seed 000's `procman start
/// "redis-server --port 6380"` took it; several words are an argv, quoted where needed so
/// that procmand runs exactly those words.
std::string command_line(const std::vector<std::string>& words) {
  if (words.size() == 1) return words.front();
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    out += shell_quote(w);
  }
  return out;
}

}  // namespace

std::optional<std::string> default_run_name(const std::string& command_line) {
  std::string first;
  if (auto words = core::split_words(command_line, nullptr); words && !words->empty()) {
    first = words->front();
  } else {
    // An unbalanced quote: take the text up to the first blank, as written.
    const std::size_t start = command_line.find_first_not_of(" \t\n");
    if (start == std::string::npos) return std::nullopt;
    first = command_line.substr(start, command_line.find_first_of(" \t\n", start) - start);
  }
  while (first.size() > 1 && first.back() == '/') first.pop_back();
  const std::size_t slash = first.rfind('/');
  if (slash != std::string::npos && first.size() > 1) first = first.substr(slash + 1);
  if (first.empty() || first == "/" || first == "." || first == "..") return std::nullopt;
  return first;
}

std::optional<std::map<std::string, std::string>> parse_env_words(
    const std::vector<std::string>& words, std::string* error) {
  std::map<std::string, std::string> env;
  for (const std::string& w : words) {
    const std::size_t eq = w.find('=');
    if (eq == std::string::npos) {
      *error = "expected KEY=VALUE, not '" + w + "'";
      return std::nullopt;
    }
    if (eq == 0) {
      *error = "empty key in '" + w + "'";
      return std::nullopt;
    }
    env[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return env;
}

void add_fifo_commands(CLI::App& app, int& rc) {
  // The values the options are bound to, alive as long as the App.
  struct Args {
    std::string path_config = "procman.toml";
    Target target;
    std::string name;
    bool once = false;
    std::vector<std::string> env;
    std::vector<std::string> command;
    std::string message = "User-initiated via CLI";
  };
  auto args = std::make_shared<Args>();
  auto& a = *args;

  auto* path_cmd = app.add_subcommand("fifo-path", "Print the path of a config's FIFO");
  path_cmd->add_option("config", a.path_config, "The config file (default ./procman.toml)");
  path_cmd->callback([&rc, args] {
    std::string error;
    std::optional<std::string> path = os::fifo_path_for_config(args->path_config, &error);
    if (!path) {
      say_error(error);
      rc = 1;
      return;
    }
    std::printf("%s\n", path->c_str());
    rc = 0;
  });

  auto* fifo = app.add_subcommand(
      "fifo", "Send one message to procmand's FIFO (works without D-Bus; see fifo-protocol docs)");
  fifo->require_subcommand(1);

  auto* run = fifo->add_subcommand("run", "Run a command as a new process");
  add_target_options(run, a.target);
  run->add_option("--name", a.name, "Its name (default: the basename of the command's first word)");
  run->add_flag("--once", a.once, "A one-shot task");
  run->add_option("-e,--env", a.env, "Set an environment variable (K=V, repeatable)")
      ->allow_extra_args(false)
      ->check([](const std::string& s) {
        std::string error;
        return parse_env_words({s}, &error) ? std::string() : error;
      });
  run->add_option("command", a.command,
                  "The command: one word holding a whole command line, or its words")
      ->required();
  // The command's own options (ls -l) are its words, not ours.
  run->positionals_at_end();
  run->footer("procmanctl fifo run [OPTIONS] [--] CMD [ARG...]");
  run->callback([&rc, args] {
    core::FifoRun msg;
    msg.run = command_line(args->command);
    if (msg.run.find_first_not_of(" \t\n") == std::string::npos) {
      say_error("the command is blank");
      rc = 1;
      return;
    }
    if (!args->name.empty()) {
      msg.name = args->name;
    } else if (auto name = default_run_name(msg.run)) {
      msg.name = *name;
    } else {
      say_error("cannot derive a name from '" + msg.run + "'; use --name");
      rc = 1;
      return;
    }
    std::string error;
    msg.env = *parse_env_words(args->env, &error);  // checked while parsing
    msg.once = args->once;
    rc = send(args->target, msg);
  });

  auto* shutdown = fifo->add_subcommand("shutdown", "Stop every process and procmand");
  add_target_options(shutdown, a.target);
  shutdown->add_option("--message", a.message,
                       "Why, for procmand's log (default \"User-initiated via CLI\")");
  shutdown->callback([&rc, args] {
    core::FifoShutdown msg;
    if (const char* user = std::getenv("USER")) msg.user = user;
    msg.message = args->message;
    rc = send(args->target, msg);
  });

  struct Verb {
    const char* name;
    const char* help;
    core::FifoControl::Kind kind;
  };
  for (const Verb v : {Verb{"start", "Start a process", core::FifoControl::Kind::Start},
                       Verb{"stop", "Stop a process", core::FifoControl::Kind::Stop},
                       Verb{"restart", "Restart a process", core::FifoControl::Kind::Restart}}) {
    auto* cmd = fifo->add_subcommand(v.name, v.help);
    add_target_options(cmd, a.target);
    cmd->add_option("name", a.name, "The process")->required();
    cmd->footer("Returns once the message is written; procmand acts on it afterwards.");
    cmd->callback([&rc, args, kind = v.kind] {
      core::FifoControl msg;
      msg.kind = kind;
      msg.name = args->name;
      rc = send(args->target, msg);
    });
  }
}

}  // namespace procman::ctl
