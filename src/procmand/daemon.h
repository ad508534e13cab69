// procmand's body: the OS side of the supervisor. It implements the core's
// Effects (spawning, signalling, hooks, pid discovery) and Clock with real
// processes and clocks, and routes sd-event events (SIGCHLD, signals, pidfds,
// output FIFOs, inotify, the timer) into core::Supervisor. It also implements
// the dbus::Backend that the D-Bus objects, the FIFO and the controller are
// served from (daemon_api.cc).
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/operation.h"
#include "core/socket_spec.h"
#include "core/supervisor.h"
#include "core/transient.h"
#include "dbus/backend.h"
#include "dbus/service.h"
#include "os/event_loop.h"
#include "os/cgroup.h"
#include "os/fifo.h"
#include "os/notify_socket.h"
#include "os/files.h"
#include "os/output.h"
#include "os/probe.h"
#include "os/unique_fd.h"
#include "procmand/console.h"
#include "procmand/controller.h"
#include "procmand/upward.h"

namespace procman {

enum class BusChoice { Session, System, None };
enum class LogTarget { Auto, Journal, Console };
enum class CgroupChoice { Auto, Yes, No };

struct DaemonOptions {
  std::string config_path;               ///< absolute
  std::optional<std::string> state_dir;  ///< overrides the default location
  BusChoice bus = BusChoice::Session;
  std::string bus_name = "org.procman.Manager";
  std::optional<std::string> fifo_path;  ///< overrides the path derived from the config
  bool no_fifo = false;
  LogTarget log_target = LogTarget::Auto;
  /// auto: a cgroup per process when systemd delegated ours (Delegate=yes).
  CgroupChoice cgroups = CgroupChoice::Auto;
};

/// Exit codes of procmand (sysexits-style where one fits).
enum DaemonExit { kExitOk = 0, kExitFailure = 1, kExitConfig = 78, kExitLocked = 75 };

class Daemon final : public core::Effects, public core::Clock, public dbus::Backend {
 public:
  Daemon(DaemonOptions opts, Console& console);
  ~Daemon() override;

  /// Loads the config, takes the lock, re-adopts, supervises until shutdown.
  int run();

  // core::Clock
  core::MonoTime now() const override;
  core::WallTime wall() const override;
  core::LocalDateTime local() const override;

  // core::Effects
  core::SpawnOutcome spawn(const core::UnitStatus& unit, const core::ProcessConfig& cfg) override;
  bool run_hook(const core::UnitStatus& unit, core::HookKind kind, const core::Hook& hook,
                const core::ProcessConfig& cfg, std::string* error) override;
  void cancel_hook(const core::UnitStatus& unit, core::HookKind kind) override;
  void watch_main_pid(const core::UnitStatus& unit, const core::ProcessConfig& cfg) override;
  void cancel_main_pid_watch(const core::UnitStatus& unit) override;
  void run_check(const core::UnitStatus& unit, const core::CheckRequest& req,
                 const core::HealthCheck* check, const core::Dependency* dep,
                 const core::ProcessConfig& cfg) override;
  void cancel_checks(const core::UnitStatus& unit) override;
  void signal(const core::UnitStatus& unit, int sig) override;
  void signal_main(const core::UnitStatus& unit, int sig) override;
  void unit_added(const core::UnitStatus& unit) override;
  void unit_removed(const std::string& name) override;
  bool group_alive(const core::UnitStatus& unit) override;
  void transition(const core::UnitStatus& unit, core::State from, std::string_view reason) override;
  void released(const core::UnitStatus& unit) override;
  void details_changed(const core::UnitStatus& unit) override;

  // dbus::Backend (daemon_api.cc): also what the FIFO and the controller use.
  dbus::ManagerView manager() override;
  std::vector<dbus::ProcessView> processes() override;
  void for_each_status(const std::function<void(const core::UnitStatus&)>& fn) override;
  std::optional<dbus::ProcessView> process(std::string_view name) override;
  dbus::Usage usage(std::string_view name) override;
  std::optional<dbus::Error> check_name(std::string_view name) override;
  void operate(dbus::Op op, std::string_view name, bool wait, dbus::OpDone done) override;
  std::optional<dbus::Error> kill(std::string_view name, std::string_view whom, int signal) override;
  std::optional<dbus::Error> reset_failed(std::string_view name) override;
  std::variant<std::string, dbus::Error> run_transient(const dbus::TransientSpec& spec) override;
  void remove(std::string_view name, dbus::OpDone done) override;
  std::variant<std::vector<std::string>, dbus::Error> logs(std::string_view name, uint32_t lines) override;
  std::variant<std::vector<dbus::LogLine>, dbus::Error> read_logs(std::string_view name, uint64_t after,
                                                                  uint32_t max) override;
  std::variant<dbus::ReloadResult, dbus::Error> reload() override;
  std::optional<dbus::Error> shutdown(const dbus::Caller& caller, std::string_view message) override;

 private:
  /// A unit's two output FIFOs, what reads them, and its recent lines.
  struct Io {
    const std::string* unit = nullptr;  ///< the key of its io_ entry (map keys stay put)
    std::optional<os::OutputFifo> out, err;
    os::LineSplitter out_split, err_split;
    /// The in-memory tail for `procmanctl logs` when there is no journal; bounded so
    /// (32 KiB each) so a thousand chatty processes cost at most 32 MiB.
    os::LineRing ring{200, 32 * 1024};
  };
  struct Hook {
    std::string unit;
    core::HookKind kind;
  };
  /// podman-cid: the launcher's captured stdout, then `podman inspect`'s.
  struct PodmanWatch {
    std::string unit;
    os::unique_fd capture;
    pid_t inspect_pid = -1;
    os::unique_fd inspect_capture;
  };
  /// One check attempt in flight: a prober request, or a command's pid with its timeout.
  struct CheckAttempt {
    std::string unit;
    core::CheckRequest req;
    bool invert = false;  ///< not-listening: a failed connect is the success
    std::optional<os::Prober::Id> probe;
    pid_t pid = -1;
    std::string timeout_text;
    os::EventSource timeout;
  };
  struct Adopted {
    os::unique_fd pidfd;
    os::EventSource source;
  };

  /// Reads and validates the file; on errors logs them and, when `errors` is
  /// given, also returns their text there.
  std::optional<core::Config> load_config(bool reload, std::string* errors = nullptr);
  bool setup_state_dir(const std::string& uid);
  void restore_state();
  void after_event();
  void arm_wall_timer();
  void watch_clock_changes();
  void persist();
  /// `named`: the pid the SIGCHLD carried (0 if none).
  void on_sigchld(pid_t named);
  /// Reaps one ended child matching waitid's (type, id); false when none has ended.
  bool reap_one(idtype_t type, id_t id);
  /// Reaps every child that has ended (waitid(P_ALL)); see on_sigchld.
  void sweep();
  void on_reaped(pid_t pid, const core::ExitInfo& exit);
  void on_shutdown_signal(int sig);
  void on_reload();
  void begin_shutdown(const std::string& why);

  // Front doors (daemon_api.cc).
  /// False when procmand must not run: the bus name belongs to another procmand.
  bool open_front_doors();
  void close_front_doors();
  dbus::ProcessView view_of(const core::UnitStatus& u) const;
  std::optional<dbus::Error> unknown_name(std::string_view name) const;
  std::variant<std::string, dbus::Error> add_transient(core::TransientRequest req);
  void complete_ops();
  void on_command_line(std::string_view line, std::string_view source);
  std::string status_text() const;
  void notify_front_doors(const core::UnitStatus& unit, core::State from, std::string_view reason);
  void fire_event_hooks(const core::UnitStatus& unit, core::State from, std::string_view reason, int last_pid);
  void on_event_hook_exit(pid_t pid, const core::ExitInfo& exit);
  void restore_transients(const std::vector<core::TransientRequest>& transients);
  void on_pid_file(const std::string& filename);
  void on_podman_launcher_exit(PodmanWatch& w, const core::ExitInfo& exit);
  void on_podman_inspect_exit(PodmanWatch& w, const core::ExitInfo& exit);
  void watch_adopted(const core::UnitStatus& unit);
  /// Watches a process that is not our child through a pidfd; its exit goes to the supervisor.
  void watch_pid(pid_t pid);

  // The systemd contract for children (daemon_systemd.cc).
  void open_notify_socket();
  void on_notify_readable();
  /// The unit a process belongs to (main pid, cgroup, process group or ancestry); "" if none.
  std::string unit_of_sender(pid_t pid) const;
  void watch_main_pid_change(pid_t pid);
  void open_cgroups();
  /// The journald stream targets of a unit's stdout and stderr; false and *error if
  /// its name cannot be an identifier.
  bool journal_targets(const std::string& unit, std::optional<os::JournalStreamTarget>& out,
                       std::optional<os::JournalStreamTarget>& err, std::string* error) const;
  std::variant<std::vector<os::JournalEntry>, dbus::Error> journal_tail(const std::vector<std::string>& units,
                                                                      std::size_t n);
  core::SocketExpand socket_expand() const;
  /// Opens (or keeps, or takes back from the fd store or the re-adopted child) the
  /// unit's listening sockets; false and *error when one cannot be had.
  bool ensure_listeners(const core::UnitStatus& unit, const core::ProcessConfig& cfg, std::string* error);
  void drop_listeners(const std::string& unit);
  /// start-on-demand: watch its sockets while it is down, start it on the first connection.
  void arm_on_demand(const core::UnitStatus& unit);
  /// The unit's cgroup with its limits applied; nullopt (after a warning) without one.
  std::optional<os::UnitCgroup> unit_cgroup(const core::UnitStatus& unit, const core::ProcessConfig& cfg);
  void finish_check(uint64_t attempt, bool ok, const std::string& detail);
  void deliver_later(uint64_t attempt, os::ProbeResult r);
  void retire(Adopted a);
  /// Watches a live member of an adopted process group until it exits.
  void watch_member(pid_t pid);
  Io& io_for(const std::string& unit);
  void read_output(Io& io, bool is_stderr);
  /// The tag of one stream of one Io in outputs_: its address, with the low bit for stderr.
  static uint64_t output_tag(const Io& io, bool is_stderr);
  std::string output_path(const std::string& unit, bool is_stderr) const;
  void drain_io(const std::string& unit);
  std::vector<std::string> build_env(const core::UnitStatus& unit, const core::ProcessConfig& cfg,
                                     std::string* error) const;
  std::string work_dir_for(const core::ProcessConfig& cfg) const;
  std::string pid_file_path(const std::string& unit) const;

  DaemonOptions opts_;
  Console& console_;
  /// First: it takes the descriptors systemd passed before anything opens others.
  Upward up_;
  os::EventLoop loop_;
  std::unique_ptr<core::Supervisor> sup_;
  std::shared_ptr<const core::Config> config_;
  /// The apply-on times of every version of each id in config_ (views look up the next one).
  std::map<std::string, std::vector<core::LocalDateTime>, std::less<>> apply_on_by_id_;
  void index_config();
  /// Process groups from one /proc pass, reused by usage() for a second.
  std::unordered_map<pid_t, std::vector<pid_t>> groups_;
  std::optional<std::chrono::steady_clock::time_point> groups_at_;
  static constexpr std::chrono::seconds kGroupsFresh{1};
  os::EventSource groups_expiry_;  ///< drops groups_ once it is no longer fresh
  std::string config_dir_;
  std::string state_dir_, io_dir_, pid_dir_, state_file_;
  /// The state file as last written: its snapshot's size and what was appended since (the
  /// appends go through state_fd_, opened O_APPEND on the file the snapshot's rename made).
  std::size_t state_snapshot_bytes_ = 0, state_appended_bytes_ = 0;
  os::unique_fd state_fd_;
  std::optional<os::FileLock> lock_;
  std::string boot_id_;
  std::map<std::string, std::string> base_env_;

  std::map<std::string, Io> io_;      ///< by unit; an Io never moves (map nodes stay put)
  std::optional<os::FdSet> outputs_;  ///< every output FIFO's read end, made on first use
  std::map<pid_t, Hook> hooks_;
  std::map<std::string, std::string> pid_watch_;  ///< pid file name -> unit
  std::map<std::string, PodmanWatch> podman_;     ///< unit -> watch
  std::map<pid_t, std::string> podman_pids_;      ///< launcher or inspect pid -> unit
  std::map<pid_t, Adopted> adopted_;
  std::unique_ptr<os::Prober> prober_;
  uint64_t next_attempt_ = 1;
  std::map<uint64_t, CheckAttempt> attempts_;
  std::map<pid_t, uint64_t> check_pids_;  ///< command checks in flight
  std::vector<std::pair<uint64_t, os::ProbeResult>> immediate_;  ///< answered on the next iteration
  os::EventSource deliver_;
  std::map<pid_t, Adopted> member_watch_;  ///< members of adopted groups outliving their main

  std::vector<os::EventSource> graveyard_;  ///< sources to release after the current dispatch
  std::vector<os::unique_fd> retired_fds_;
  /// Fires when the wall clock is set (not when it merely ticks): a timerfd
  /// with TFD_TIMER_CANCEL_ON_SET.
  os::unique_fd clock_change_fd_;
  os::EventSource clock_change_, wall_timer_;
  os::EventSource sigchld_, sigterm_, sigint_, sighup_, timer_, pid_inotify_, post_;
  os::EventSource sweep_;  ///< a due sweep, when nothing more urgent is pending
  os::EventSource trim_;   ///< malloc_trim once the loop is idle, after a burst
  /// This many processes changing state in one event is a burst (see trim_).
  static constexpr std::size_t kBurstUnits = 64;
  bool sweep_due_ = false;
  uint64_t sweep_due_since_ = 0;  ///< loop iteration
  int exit_code_ = kExitOk;
  bool force_requested_ = false;
  bool exiting_ = false;

  // Front doors.
  std::string daemon_state_ = "starting";  ///< starting, running, reloading, stopping
  std::unique_ptr<dbus::Service> bus_;
  std::unique_ptr<os::FifoServer> fifo_;
  std::string fifo_path_;
  std::unique_ptr<Controller> controller_;
  core::PendingOps ops_;
  std::map<uint64_t, dbus::OpDone> op_done_;
  core::NameCounter names_;
  std::map<std::string, core::TransientRequest> transients_;  ///< by assigned name
  /// on-start/on-exit/on-failure commands in flight: pid -> unit, with a kill timer.
  struct EventHook {
    std::string unit;
    std::string kind;
    os::EventSource timeout;
  };
  std::map<pid_t, EventHook> event_hooks_;
  /// Children's output goes straight to journald (and procmand logs structured entries).
  bool journal_ = false;

  // The systemd contract for children.
  std::optional<os::NotifySocket> notify_;
  std::string notify_path_;  ///< NOTIFY_SOCKET for children; empty without a socket
  os::EventSource notify_src_;
  std::unique_ptr<os::CgroupTree> cgroups_;  ///< null: process groups and /proc instead
  std::string cgroup_note_;                  ///< why there are no cgroups
  struct Listener {
    core::SocketSpec spec;
    os::unique_fd fd;
    os::EventSource watch;  ///< start-on-demand: readable means a client is waiting
  };
  /// `sockets = [...]`: held by procmand for as long as the process exists, so a
  /// restart of the child never closes them.
  std::map<std::string, std::vector<Listener>> listeners_;
};

}  // namespace procman
