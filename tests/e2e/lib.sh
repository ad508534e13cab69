# shellcheck shell=bash
# tests/e2e/lib.sh: the machinery of the end-to-end tests (see README.md next to it).
#
# Sourced by tests/e2e/run (setup and teardown, as root, on the host and inside the private mount
# namespace) and by every case process (assertions, talking to the user session as the test user).
# Everything that waits is a bounded wait_for poll; everything that is killed is killed by pid.

# ---------------------------------------------------------------------------------------------
# Settings (the environment may override them).

E2E_USER=${E2E_USER:-procman-e2e}
E2E_WORK=${E2E_WORK:-/tmp/procman-e2e}      # wiped at the start of every run
E2E_HOME=${E2E_HOME:-$E2E_WORK/home}          # the test user's home
E2E_LOGS=${E2E_LOGS:-$E2E_WORK/logs}          # per-case logs, kept when something failed
E2E_BOOK=${E2E_BOOK:-/run/procman-e2e}        # host-side bookkeeping: what this run created
E2E_LOCK=${E2E_LOCK:-/run/procman-e2e.lock}
E2E_CASE_TIMEOUT=${E2E_CASE_TIMEOUT:-90}      # seconds, hard bound of one case
E2E_START_TIMEOUT=${E2E_START_TIMEOUT:-30}    # seconds for `systemctl --user start` to return
E2E_PREFIX=/usr/local                         # where procman is installed inside the namespace

# ---------------------------------------------------------------------------------------------
# Output.

say() { printf '%s\n' "$*"; }
note() { printf 'e2e: %s\n' "$*" >&2; }
die() {
  printf 'e2e: error: %s\n' "$*" >&2
  exit 2
}
# Indents a block (diagnostics under a FAIL line).
indent() { sed 's/^/    /'; }

now_ms() {
  local t=${EPOCHREALTIME/./}
  printf '%s\n' $((t / 1000))
}

# ---------------------------------------------------------------------------------------------
# Waiting. Every wait in the harness goes through wait_for: it polls the condition every 0.1 s
# and gives up after TIMEOUT seconds, so nothing depends on a guess of how long something takes.

# wait_for TIMEOUT COMMAND [ARG...]: 0 as soon as COMMAND succeeds, 1 when TIMEOUT s passed.
wait_for() {
  local timeout=$1
  shift
  local deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    "$@" && return 0
    (($(now_ms) >= deadline)) && return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# Processes and pids.

pid_alive() { [[ -n ${1:-} && -d /proc/$1 ]] && ! grep -qs '^State:.*Z' "/proc/$1/status"; }
pid_gone() { ! pid_alive "$1"; }

# The pids whose real or effective uid is UID.
pids_of_uid() {
  ps -e -o pid=,ruid=,euid= | awk -v u="$1" '$2 == u || $3 == u { print $1 }'
}

# One line per process: "PID ARGS" of uid UID, zombies left out.
procs_of_uid() {
  ps -e -o pid=,ruid=,euid=,stat=,args= |
    awk -v u="$1" '($2 == u || $3 == u) && $4 !~ /^Z/ { $2 = ""; $3 = ""; $4 = ""; print }' |
    sed 's/   */ /'
}

# How many live processes of uid UID have exactly the command line ARGS (words joined by spaces).
count_procs_with_args() {
  local uid=$1 args=$2
  procs_of_uid "$uid" | awk -v a="$args" '{ p = $1; $1 = ""; sub(/^ /, ""); if ($0 == a) n++ } END { print n + 0 }'
}

# kill_pids SIGNAL PID...: signals each pid that still exists.
kill_pids() {
  local sig=$1 p
  shift
  for p in "$@"; do
    [[ -d /proc/$p ]] && kill "-$sig" "$p" 2>/dev/null
  done
  return 0
}

all_gone() {
  local p
  for p in "$@"; do pid_alive "$p" && return 1; done
  return 0
}

# stop_pids TIMEOUT PID...: SIGTERM, wait up to TIMEOUT s, then SIGKILL and wait again.
stop_pids() {
  local timeout=$1
  shift
  (($#)) || return 0
  kill_pids TERM "$@"
  wait_for "$timeout" all_gone "$@" && return 0
  kill_pids KILL "$@"
  wait_for 10 all_gone "$@"
}

# kill_if_ours PID ARGS: SIGKILLs PID only if it still is a process of the test user running
# exactly ARGS (a pid may have been reused since it was recorded).
kill_if_ours() {
  local pid=$1 args=$2
  pid_alive "$pid" || return 0
  procs_of_uid "$E2E_UID" | awk -v p="$pid" -v a="$args" '{ q = $1; $1 = ""; sub(/^ /, ""); if (q == p && $0 == a) f = 1 } END { exit !f }' &&
    kill -KILL "$pid" 2>/dev/null
  return 0
}

# The processes of the test user that should not exist once procman is stopped: everything but
# the user manager itself and the session bus (dbus.service), as "PID ARGS" lines.
user_leftovers() {
  local pid rest
  procs_of_uid "$E2E_UID" | while read -r pid rest; do
    [[ $pid == "${E2E_SD_PID:-}" ]] && continue
    grep -qsE '/(dbus\.service|init\.scope)$' "/proc/$pid/cgroup" && continue
    printf '%s %s\n' "$pid" "$rest"
  done
}

# ---------------------------------------------------------------------------------------------
# cgroups. The user manager needs user.slice/user-UID.slice/user@UID.service in the hierarchy it
# tracks processes with: on a cgroup-v1 "hybrid" machine both the cgroup2 mount (unified) and the
# name=systemd v1 mount; on a pure v2 machine the one cgroup2 mount; on a legacy v1 machine the
# name=systemd mount. They are found in /proc/self/mountinfo rather than guessed.

cgroup_roots() {
  # mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
  awk '{
    for (i = 7; i <= NF && $i != "-"; i++) {}
    fstype = $(i + 1); superopts = $(i + 3)
    if (fstype == "cgroup2" || (fstype == "cgroup" && superopts ~ /(^|,)name=systemd(,|$)/)) print $5
  }' /proc/self/mountinfo
}

# The cgroup directories of the test user's manager, one per hierarchy.
user_cgroup_dirs() {
  local root
  for root in $(cgroup_roots); do
    printf '%s\n' "$root/user.slice/user-$E2E_UID.slice/user@$E2E_UID.service"
  done
}

# Every pid in the cgroup subtree DIR (recursively).
cgroup_tree_pids() {
  [[ -d $1 ]] || return 0
  find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

# Removes the cgroup subtree DIR bottom-up (the manager leaves app.slice/..., init.scope below it).
cgroup_remove_tree() {
  [[ -d $1 ]] || return 0
  find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
  [[ ! -d $1 ]]
}

# ---------------------------------------------------------------------------------------------
# Acting as the test user inside the namespace. The environment is the one a login session has;
# the working directory is the home, so nothing depends on the source tree being readable.

# E2E_AS_USER is the command prefix that runs a program as the test user; as_user is the same
# as a function. Use the array directly for a background job (`"${E2E_AS_USER[@]}" prog &`) so that
# $! is the program's own pid (setpriv and env exec, no shell in between).
e2e_as_user_prefix() {
  E2E_AS_USER=(setpriv --reuid="$E2E_UID" --regid="$E2E_GID" --init-groups --
    env -i -C "$E2E_HOME" HOME="$E2E_HOME" USER="$E2E_USER" LOGNAME="$E2E_USER" SHELL=/bin/sh
    "PATH=$E2E_PREFIX/bin:/usr/bin:/bin" LANG=C.UTF-8 NO_COLOR=1 SYSTEMD_COLORS=0 SYSTEMD_PAGER=
    XDG_RUNTIME_DIR="$E2E_RUNTIME" DBUS_SESSION_BUS_ADDRESS="unix:path=$E2E_RUNTIME/bus")
}
[[ -n ${E2E_UID:-} ]] && e2e_as_user_prefix

as_user() { "${E2E_AS_USER[@]}" "$@"; }

# Bounded so that a wait_for polling them stays bounded too; commands that legitimately take
# long (a stop, a restart that waits, a bus activation) use `as_user timeout N ...` themselves.
uctl() { as_user timeout 30 systemctl --user --no-pager "$@"; }
pctl() { as_user timeout 20 procmanctl "$@"; }
ubus() { as_user timeout 20 busctl --user --no-pager "$@"; }

# unit_prop UNIT PROPERTY: one property of a user unit, e.g. unit_prop procman.service ActiveState.
unit_prop() { uctl show -p "$2" --value "$1" 2>/dev/null; }
# proc_prop NAME PROPERTY: one property of a procman process (procmanctl show NAME -p PROP).
# Looking never starts procman: while org.procman.Manager has no owner it answers nothing at once
# (procmanctl would bus-activate procman.service and wait for it).
proc_prop() { bus_name_owned && pctl show "$1" -p "$2" --value 2>/dev/null; }

unit_state_is() { [[ $(unit_prop "$1" ActiveState) == "$2" ]]; }
unit_state_in() {
  local s
  s=$(unit_prop "$1" ActiveState)
  shift
  local w
  for w in "$@"; do [[ $s == "$w" ]] && return 0; done
  return 1
}
proc_state_is() { [[ $(proc_prop "$1" State) == "$2" ]]; }
bus_name_owned() {
  ubus call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner \
    s org.procman.Manager 2>/dev/null | grep -qx 'b true'
}

# The journal as root, restricted to what happened since the current case started.
journal_since() { journalctl --no-pager --since "@$E2E_SINCE" "$@" 2>/dev/null; }
# procmand's own log lines (everything procman.service itself wrote) since the case started.
procmand_log() { journal_since _UID="$E2E_UID" _SYSTEMD_USER_UNIT=procman.service -o cat; }

# ---------------------------------------------------------------------------------------------
# Case helpers (used inside a case process, see cases.sh).

# fail REASON...: ends the case with REASON (the runner prints it with diagnostics).
fail() {
  printf '%s\n' "$*" >>"${E2E_CASE_REASON:-/dev/stderr}"
  printf 'FAIL: %s\n' "$*"
  exit 1
}
# defer_fail REASON...: records a failure and goes on (to check the rest); finish_case then fails
# the case with every recorded reason.
E2E_DEFERRED=()
defer_fail() {
  E2E_DEFERRED+=("$*")
  printf 'FAIL (continuing): %s\n' "$*"
}
finish_case() {
  ((${#E2E_DEFERRED[@]} == 0)) && return 0
  local IFS=$'\n'
  fail "${E2E_DEFERRED[*]}"
}
# case_note TEXT...: a remark the runner prints under the case's result line (e.g. what could
# not be checked on this machine and why), pass or fail.
case_note() {
  printf '%s\n' "$*" >>"${E2E_CASE_NOTES:-/dev/stderr}"
  printf 'NOTE: %s\n' "$*"
}
step() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }

# on_case_exit COMMAND: runs COMMAND (a string, eval'd) when the case ends, however it ends.
E2E_CASE_EXIT_HOOKS=()
_run_case_exit_hooks() {
  local h
  for h in "${E2E_CASE_EXIT_HOOKS[@]}"; do eval "$h" || true; done
}
on_case_exit() {
  E2E_CASE_EXIT_HOOKS+=("$1")
  trap _run_case_exit_hooks EXIT
  # A case stopped by its timeout (SIGTERM to its process group) runs the hooks too.
  trap 'exit 143' TERM
}

# A file in the test user's home, written as root and handed over to the user.
# user_file PATH [MODE] < CONTENT
user_file() {
  local path=$1 mode=${2:-644}
  mkdir -p "$(dirname "$path")"
  cat >"$path.tmp.$$"
  chmod "$mode" "$path.tmp.$$"
  chown "$E2E_UID:$E2E_GID" "$path.tmp.$$" "$(dirname "$path")"
  mv -f "$path.tmp.$$" "$path"
}

E2E_CONFIG=${E2E_HOME}/.config/procman/procman.toml

# write_config < BODY: writes ~/.config/procman/procman.toml, the file the unit supervises
# (%E/procman/procman.toml), with this case's uid and BODY (the [[process]] tables).
write_config() {
  {
    printf '# written by tests/e2e for case %s\n' "${E2E_CASE:-?}"
    printf 'uid = "%s"\nfile-format = "0"\n\n' "$E2E_CONFIG_UID"
    cat
  } | user_file "$E2E_CONFIG"
  chown "$E2E_UID:$E2E_GID" "$E2E_HOME/.config"
}

# Why procman.service did not come up, in one paragraph: unit state, the tail of procmand's
# log, and what `procmanctl check` says about the config (an unknown key shows up there).
explain_unit() {
  printf 'procman.service: ActiveState=%s SubState=%s Result=%s MainPID=%s NRestarts=%s StatusText=%q\n' \
    "$(unit_prop procman.service ActiveState)" "$(unit_prop procman.service SubState)" \
    "$(unit_prop procman.service Result)" "$(unit_prop procman.service MainPID)" \
    "$(unit_prop procman.service NRestarts)" "$(unit_prop procman.service StatusText)"
  local chk
  chk=$(pctl check "$E2E_CONFIG" 2>&1) || printf 'procmanctl check says:\n%s\n' "$chk"
  printf 'last lines of procmand:\n%s\n' "$(procmand_log | tail -n 8)"
}

# start_procman: `systemctl --user start procman.service`, which for Type=notify returns only once
# procmand sent READY=1. Fails the case with the reason when it does not return in time or fails.
start_procman() {
  local out rc
  step "systemctl --user start procman.service"
  out=$(as_user timeout "$E2E_START_TIMEOUT" systemctl --user --no-pager start procman.service 2>&1)
  rc=$?
  if ((rc == 124)); then
    fail "systemctl --user start procman did not return within ${E2E_START_TIMEOUT}s: the unit is" \
      "still '$(unit_prop procman.service ActiveState)' (Type=$(unit_prop procman.service Type))," \
      "so procmand never sent READY=1 to systemd. $(explain_unit)"
  elif ((rc != 0)); then
    fail "systemctl --user start procman failed (exit $rc): $out. $(explain_unit)"
  fi
  step "procman.service is $(unit_prop procman.service ActiveState), MainPID $(unit_prop procman.service MainPID)"
}

# expect_running NAME [TIMEOUT]: waits until process NAME is running; fails the case otherwise.
expect_running() {
  local name=$1 timeout=${2:-30}
  if ! wait_for "$timeout" proc_state_is "$name" running; then
    fail "process '$name' is not running after ${timeout}s: state '$(proc_prop "$name" State)'" \
      "($(proc_prop "$name" SubState)), reason '$(proc_prop "$name" FailureReason)'." \
      "$(explain_proc "$name") $(explain_unit)"
  fi
}

# The last lines of output of process NAME, for failure messages.
explain_proc() {
  if bus_name_owned; then
    printf "last output of '%s':\n%s\n" "$1" "$(pctl logs "$1" -n 5 2>&1)"
  else
    printf 'org.procman.Manager has no owner (procmand is not on the bus).\n'
  fi
}

# pctl_do TIMEOUT ARGS...: a procmanctl command that must succeed (e.g. a restart that waits);
# otherwise the case fails with its exit status and output.
pctl_do() {
  local t=$1 out rc
  shift
  out=$(as_user timeout "$t" procmanctl "$@" 2>&1)
  rc=$?
  ((rc == 0)) && return 0
  ((rc == 124)) && fail "procmanctl $* did not return within ${t}s. $(explain_unit)"
  fail "procmanctl $* failed (exit $rc): ${out:-no output}. $(explain_unit)"
}

main_pid_of() { proc_prop "$1" MainPID; }

# A free TCP port on 127.0.0.1 (the kernel picks it; nothing else on this machine should grab it
# in the next second).
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_token() { tr -dc 'a-z0-9' </dev/urandom 2>/dev/null | head -c 12; }
