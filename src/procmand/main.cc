// procmand: keeps the processes of a procman TOML file running.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "procmand/console.h"
#include "procmand/daemon.h"

namespace {

std::string default_config_path() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/procman/procman.toml";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/procman/procman.toml";
  return "/etc/procman/procman.toml";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"procmand - keeps the processes described in a procman TOML file running"};
  app.set_version_flag("--version", std::string("procmand ") + PROCMAN_VERSION);
  std::string config = default_config_path();
  std::string state_dir;
  std::string color = "auto";
  app.add_option("config", config, "The TOML file to supervise (default: $XDG_CONFIG_HOME/procman/procman.toml)");
  app.add_option("--state-dir", state_dir,
                 "Where state, output FIFOs and the lock live (default: $RUNTIME_DIRECTORY, else "
                 "$XDG_STATE_HOME/procman, each with the config uid appended)");
  app.add_option("--color", color, "Colour output: auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  CLI11_PARSE(app, argc, argv);

  bool use_color = color == "always" ||
                   (color == "auto" && isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"));
  procman::Console console(stdout, use_color);

  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(config, ec);
  procman::DaemonOptions opts;
  opts.config_path = ec ? config : abs.lexically_normal().string();
  if (!state_dir.empty()) opts.state_dir = std::filesystem::absolute(state_dir).lexically_normal().string();
  try {
    procman::Daemon daemon(opts, console);
    return daemon.run();
  } catch (const std::exception& e) {
    console.error(std::string("fatal: ") + e.what());
    return procman::kExitFailure;
  }
}
