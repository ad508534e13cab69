// A private D-Bus daemon for tests: `dbus-daemon --nofork` started on
// construction and stopped on destruction, so tests never touch the user's
// session bus. Plain POSIX + std only: unit and integration tests both use it.
#pragma once

#include <sys/types.h>

#include <string>

namespace procman::test {

class PrivateBus {
 public:
  struct Options {
    /// Let any uid connect (a generated config with <allow user="*"/> and a
    /// world-accessible socket directory), for tests that call as another user.
    /// Default: the stock session config, which admits only our own uid.
    bool allow_other_users = false;
    /// Behave like the system bus (implies allow_other_users): by default
    /// nobody owns names or sends method calls, and this policy file is
    /// <include>d to punch the holes, e.g. dbus/org.procman.Manager.conf.
    /// "" = the open policy of a session bus.
    std::string system_policy_file;
  };

  /// Starts the daemon and waits (at most 10 s) for its address. On failure
  /// address() is empty and error() says why. The daemon gets SIGKILL if the
  /// thread that constructed this object exits (PR_SET_PDEATHSIG), so a crashed
  /// test run leaves no daemon behind: construct it on a long-lived thread.
  PrivateBus();
  explicit PrivateBus(Options opts);
  /// Stops the daemon (SIGTERM, then SIGKILL after 5 s), reaps it by pid and
  /// removes the files it used (config, socket directory, its output).
  ~PrivateBus();
  PrivateBus(const PrivateBus&) = delete;
  PrivateBus& operator=(const PrivateBus&) = delete;

  /// "unix:abstract=...,guid=..." or "unix:path=...,guid=..."; empty if it did not start.
  const std::string& address() const { return address_; }
  const std::string& error() const { return error_; }
  /// The daemon's pid; -1 when it is not running.
  pid_t pid() const { return pid_; }

  /// Kills the daemon at once (SIGKILL) and reaps it: for tests of a bus that
  /// goes away. Idempotent.
  void kill_daemon();

 private:
  void start(const Options& opts);
  void stop(int first_signal, int grace_ms);

  pid_t pid_ = -1;
  std::string address_;
  std::string error_;
  std::string tmp_dir_;   ///< config and socket directory (allow_other_users only)
  std::string log_path_;  ///< the daemon's stdout and stderr
};

}  // namespace procman::test
