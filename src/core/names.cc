#include "core/names.h"

#include <fmt/format.h>

#include <csignal>

namespace procman::core {

const std::vector<std::pair<std::string, int>>& signal_table() {
  static const std::vector<std::pair<std::string, int>> table = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
      {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
      {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
      {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
      {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
      {"SYS", SIGSYS},
  };
  return table;
}

std::string signal_name(int sig) {
  for (const auto& [name, number] : signal_table())
    if (number == sig) return "SIG" + name;
  return fmt::format("signal {}", sig);
}

std::string_view condition_name(DepCondition c) {
  switch (c) {
    case DepCondition::Started: return "started";
    case DepCondition::Running: return "running";
    case DepCondition::Completed: return "completed";
    case DepCondition::CompletedSuccessfully: return "completed-successfully";
  }
  return "running";
}

}  // namespace procman::core
