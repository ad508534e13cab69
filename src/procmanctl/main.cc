// procmanctl: the procman client. One subcommand per verb; the verbs that
// need no daemon live in offline.cc.
#include <CLI/CLI.hpp>
#include <string>

#include "procmanctl/offline.h"

int main(int argc, char** argv) {
  CLI::App app{"procmanctl - control and inspect procman"};
  app.set_version_flag("--version", std::string("procmanctl ") + PROCMAN_VERSION);
  app.require_subcommand(1);
  int rc = 0;

  std::string check_file;
  auto* check = app.add_subcommand("check", "Validate a config file and show what it describes");
  check->add_option("file", check_file, "The TOML file")->required();
  check->callback([&] { rc = procman::ctl::check(check_file); });

  std::string expand_file;
  auto* expand = app.add_subcommand("expand-templates", "Print a config file with its [[template]]s expanded");
  expand->add_option("file", expand_file, "The TOML file")->required();
  expand->callback([&] { rc = procman::ctl::expand_templates(expand_file); });

  std::string gen_path = "procman.toml";
  auto* gen = app.add_subcommand("gen-file", "Write a commented example config (never overwrites)");
  gen->add_option("file", gen_path, "Where to write it (default ./procman.toml)");
  gen->callback([&] { rc = procman::ctl::gen_file(gen_path); });

  auto* uid = app.add_subcommand("uid", "Print a new random uid for a config file");
  uid->callback([&] { rc = procman::ctl::uid(); });

  CLI11_PARSE(app, argc, argv);
  return rc;
}
