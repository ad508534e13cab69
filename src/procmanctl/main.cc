// procmanctl: the procman client. One subcommand per verb: the verbs that need
// no daemon live in offline.cc, those that talk to procmand over D-Bus in
// online.cc, and the FIFO ones in fifo_client.cc. Exit codes: format.h.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/suggest.h"
#include "procmanctl/fifo_client.h"
#include "procmanctl/format.h"
#include "procmanctl/offline.h"
#include "procmanctl/online.h"

namespace {

/// The verb is the first word that is not an option (nor --bus-name's value). CLI11 alone
/// says "A subcommand is required" for a misspelt one; this names it and suggests one.
bool verb_is_known(const CLI::App& app, int argc, char** argv) {
  std::string_view verb;
  for (int i = 1; i < argc && verb.empty(); ++i) {
    const std::string_view a = argv[i];
    if (a == "--bus-name")
      ++i;
    else if (!a.starts_with("-"))
      verb = a;
  }
  if (verb.empty()) return true;
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == verb) return true;
    if (!sub->get_group().empty()) names.push_back(sub->get_name());
  }
  const auto guess = procman::core::closest_match(verb, names);
  std::fprintf(stderr, "procmanctl: unknown verb '%.*s'%s\nRun with --help for more information.\n",
               static_cast<int>(verb.size()), verb.data(),
               guess ? (" (did you mean '" + *guess + "'?)").c_str() : "");
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"procmanctl - control and inspect procman"};
  app.set_version_flag("--version", std::string("procmanctl ") + PROCMAN_VERSION);
  app.require_subcommand(1);
  // Global options (--system, --bus-name) may also follow the verb.
  app.fallthrough();
  int rc = 0;

  std::string check_file;
  auto* check = app.add_subcommand("check", "Validate a config file and show what it describes");
  check->add_option("file", check_file, "The TOML file")->required();
  check->callback([&] { rc = procman::ctl::check(check_file); });

  std::string expand_file;
  auto* expand =
      app.add_subcommand("expand-templates", "Print a config file with its [[template]]s expanded");
  expand->add_option("file", expand_file, "The TOML file")->required();
  expand->callback([&] { rc = procman::ctl::expand_templates(expand_file); });

  std::string gen_path = "procman.toml";
  auto* gen = app.add_subcommand("gen-file", "Write a commented example config (never overwrites)");
  gen->add_option("file", gen_path, "Where to write it (default ./procman.toml)");
  gen->callback([&] { rc = procman::ctl::gen_file(gen_path); });

  auto* uid = app.add_subcommand("uid", "Print a new random uid for a config file");
  uid->callback([&] { rc = procman::ctl::uid(); });

  procman::ctl::BusOptions bus;
  // `run`'s command is split off first: its words are the command's, never ours.
  const std::vector<std::string> run_command = procman::ctl::take_run_command(argc, argv);
  procman::ctl::add_online_commands(app, bus, run_command, rc);
  procman::ctl::add_fifo_commands(app, rc);

  if (!verb_is_known(app, argc, argv)) return procman::ctl::kExitUsage;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2.
    return app.exit(e) == 0 ? 0 : procman::ctl::kExitUsage;
  }
  return rc;
}
