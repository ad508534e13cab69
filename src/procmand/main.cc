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
                 "$XDG_RUNTIME_DIR/procman, else $XDG_STATE_HOME/procman, each with the config uid "
                 "appended)");
  app.add_option("--color", color, "Colour output: auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  bool user_bus = false, system_bus = false, no_bus = false, no_fifo = false;
  std::string bus_name = "org.procman.Manager";
  std::string fifo;
  auto* user_flag = app.add_flag("--user", user_bus, "Serve org.procman.Manager on the session bus (default)");
  auto* system_flag = app.add_flag("--system", system_bus, "Serve org.procman.Manager on the system bus");
  auto* no_bus_flag = app.add_flag("--no-bus", no_bus, "Do not connect to D-Bus at all");
  user_flag->excludes(system_flag)->excludes(no_bus_flag);
  system_flag->excludes(no_bus_flag);
  app.add_option("--bus-name", bus_name, "The bus name to own (default org.procman.Manager)");
  auto* fifo_opt = app.add_option("--fifo", fifo, "Listen on this FIFO instead of the one derived from the config path");
  app.add_flag("--no-fifo", no_fifo, "Do not listen on a FIFO")->excludes(fifo_opt);
  std::string log_target = "auto";
  app.add_option("--log-target", log_target,
                 "Where output goes: console (prefixed lines on stdout), journal (children write to "
                 "journald, procmand logs structured entries) or auto (journal when stdout is "
                 "already connected to journald, as under systemd)")
      ->check(CLI::IsMember({"auto", "journal", "console"}));
  std::string cgroups = "auto";
  app.add_option("--cgroups", cgroups,
                 "A cgroup per process: auto (when systemd delegated procmand's cgroup, Delegate=yes), "
                 "yes (whenever procmand's cgroup is writable) or no (process groups only)")
      ->check(CLI::IsMember({"auto", "yes", "no"}));
  CLI11_PARSE(app, argc, argv);

  bool use_color = color == "always" ||
                   (color == "auto" && isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"));
  procman::Console console(stdout, use_color);

  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(config, ec);
  procman::DaemonOptions opts;
  opts.config_path = ec ? config : abs.lexically_normal().string();
  if (!state_dir.empty()) opts.state_dir = std::filesystem::absolute(state_dir).lexically_normal().string();
  opts.bus = no_bus ? procman::BusChoice::None : system_bus ? procman::BusChoice::System : procman::BusChoice::Session;
  opts.bus_name = bus_name;
  if (!fifo.empty()) opts.fifo_path = std::filesystem::absolute(fifo).lexically_normal().string();
  opts.no_fifo = no_fifo;
  opts.cgroups = cgroups == "yes" ? procman::CgroupChoice::Yes
                 : cgroups == "no" ? procman::CgroupChoice::No
                                   : procman::CgroupChoice::Auto;
  opts.log_target = log_target == "journal"   ? procman::LogTarget::Journal
                    : log_target == "console" ? procman::LogTarget::Console
                                              : procman::LogTarget::Auto;
  try {
    procman::Daemon daemon(opts, console);
    return daemon.run();
  } catch (const std::exception& e) {
    console.error(std::string("fatal: ") + e.what());
    return procman::kExitFailure;
  }
}
