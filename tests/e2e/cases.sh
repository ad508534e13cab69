# shellcheck shell=bash disable=SC2015,SC2016
# (SC2015: `check && check || fail` is meant: fail exits. SC2016: single-quoted code runs elsewhere.)
# tests/e2e/cases.sh: the end-to-end scenarios. Each case_NAME runs in its own bash process
# (under `timeout`), as root inside the test namespace, with procman stopped, no config and no
# leftover processes. It talks to the session as the test user (uctl, pctl, ubus, as_user from
# lib.sh) and ends with `fail REASON` or by returning 0. The runner prints the reason, the tail of
# the case's output and the journal when it fails, then stops procman and checks nothing is left.

# shellcheck disable=SC2034 # E2E_CASES and E2E_CASE_DOC are read by tests/e2e/run
E2E_CASES=(start bus reload bus-activation fifo-activation journal crash notify watchdog
  socket-activation double-fork)

declare -A E2E_CASE_DOC=(
  [start]="systemctl --user start procman returns once READY=1 came; StatusText '2 running'; procmanctl status works"
  [bus]="busctl --user tree org.procman.Manager shows one object per process"
  [reload]="systemctl --user reload procman adds a process and keeps the old ones' pids"
  [bus-activation]="a D-Bus call to org.procman.Manager starts procman.service and is answered"
  [fifo-activation]="a line written to the FIFO of procman.socket starts procman.service, which runs it"
  [journal]="a child's stdout/stderr reach journald as -t NAME with its own _PID and PRIORITY 6/4"
  [crash]="kill -9 procmand: systemd restarts it, children re-adopted with the same pids, no lost line"
  [notify]="ready = \"notify\": the dependent waits for the child's READY=1; STATUS= is shown"
  [watchdog]="watchdog = \"2s\": a child that stops pinging is restarted, the reason says watchdog"
  [socket-activation]="sockets = [...]: fd 3, LISTEN_FDS/LISTEN_PID; restarts refuse no connection"
  [double-fork]="stopping a process kills a double-forked daemon too; each process has its own cgroup"
)

# ---------------------------------------------------------------------------------------------
# 1. start

status_text_says() { [[ $(unit_prop procman.service StatusText) =~ (^|[^0-9])$1\ running ]]; }

case_start() {
  write_config <<'EOF'
[[process]]
id = "a"
command = "sleep 2001"

[[process]]
id = "b"
command = "sleep 2002"
EOF
  start_procman
  # Sampled at once: with Type=notify, `start` returned because READY=1 came, and procmand sends
  # READY=1 only once it owns its bus name.
  local owned=no
  bus_name_owned && owned=yes
  local type state main exe
  type=$(unit_prop procman.service Type)
  state=$(unit_prop procman.service ActiveState)
  main=$(unit_prop procman.service MainPID)
  step "Type=$type ActiveState=$state MainPID=$main bus name owned at return: $owned"
  [[ $state == active ]] ||
    fail "systemctl --user start procman returned, but procman.service is '$state', not active." \
      "$(explain_unit)"
  exe=$(readlink "/proc/$main/exe")
  [[ $exe == /usr/local/bin/procmand ]] ||
    fail "MainPID $main of procman.service runs '$exe', not the installed /usr/local/bin/procmand"
  if [[ $type == notify && $owned != yes ]]; then
    fail "systemctl --user start procman returned while org.procman.Manager had no owner yet:" \
      "procmand sent READY=1 before it owned its bus name"
  fi
  expect_running a
  expect_running b
  wait_for 30 status_text_says 2 ||
    fail "StatusText of procman.service is '$(unit_prop procman.service StatusText)' 30s after" \
      "the start, expected it to say '2 running' (procmand's STATUS=)"
  local out
  out=$(pctl status 2>&1) || fail "procmanctl status failed (exit $?) in the user session: $out"
  step "procmanctl status:"$'\n'"$out"
  if ! grep -Eq '^a +running' <<<"$out" || ! grep -Eq '^b +running' <<<"$out"; then
    fail "procmanctl status does not show a and b running: $out"
  fi
  [[ $type == notify ]] ||
    fail "procman.service has Type=$type (--service-type override): that the start waits for" \
      "READY=1 was not verified; everything else passed"
}

# ---------------------------------------------------------------------------------------------
# 2. bus

case_bus() {
  write_config <<'EOF'
[[process]]
id = "a"
command = "sleep 2011"

[[process]]
id = "b"
command = "sleep 2012"

[[process]]
id = "my-app"
command = "sleep 2013"
EOF
  start_procman
  expect_running a
  expect_running b
  expect_running my-app
  local tree p
  tree=$(ubus tree --list org.procman.Manager 2>&1) ||
    fail "busctl --user tree org.procman.Manager failed: $tree"
  step "busctl --user tree --list org.procman.Manager:"$'\n'"$tree"
  for p in /org/procman/Manager /org/procman/Manager/process/a /org/procman/Manager/process/b \
    /org/procman/Manager/process/my_2dapp; do
    grep -qx "$p" <<<"$tree" || fail "busctl --user tree org.procman.Manager has no $p; it shows: $tree"
  done
  # The objects are live: MainPID on the bus is the sleep that runs.
  local bpid
  bpid=$(ubus get-property org.procman.Manager /org/procman/Manager/process/my_2dapp \
    org.procman.Process MainPID | awk '{ print $2 }')
  [[ $(count_procs_with_args "$E2E_UID" "sleep 2013") == 1 ]] && pid_alive "$bpid" &&
    [[ $(tr '\0' ' ' <"/proc/$bpid/cmdline") == "sleep 2013 " ]] ||
    fail "MainPID of /org/procman/Manager/process/my_2dapp is '$bpid', which is not the running 'sleep 2013'"
}

# ---------------------------------------------------------------------------------------------
# 3. reload

case_reload() {
  write_config <<'EOF'
[[process]]
id = "a"
command = "sleep 2021"

[[process]]
id = "b"
command = "sleep 2022"
EOF
  start_procman
  expect_running a
  expect_running b
  local pa pb
  pa=$(main_pid_of a)
  pb=$(main_pid_of b)
  step "a pid $pa, b pid $pb; adding c and reloading"
  write_config <<'EOF'
[[process]]
id = "a"
command = "sleep 2021"

[[process]]
id = "b"
command = "sleep 2022"

[[process]]
id = "c"
command = "sleep 2023"
EOF
  local out
  out=$(uctl reload procman.service 2>&1) ||
    fail "systemctl --user reload procman failed: $out. $(explain_unit)"
  expect_running c
  [[ $(main_pid_of a) == "$pa" && $(main_pid_of b) == "$pb" ]] ||
    fail "the reload touched the old processes: a $pa -> $(main_pid_of a), b $pb -> $(main_pid_of b)"
  pid_alive "$pa" && pid_alive "$pb" || fail "a (pid $pa) or b (pid $pb) died during the reload"
  wait_for 30 unit_state_is procman.service active ||
    fail "procman.service is '$(unit_prop procman.service ActiveState)' 30s after the reload," \
      "not back to active (RELOADING=1 without a READY=1 after it?)"
  local n
  n=$(count_procs_with_args "$E2E_UID" "sleep 2023")
  [[ $n == 1 ]] || fail "$n processes 'sleep 2023' (c) run after the reload, expected exactly 1"
}

# ---------------------------------------------------------------------------------------------
# 4. bus activation

case_bus_activation() {
  write_config <<'EOF'
[[process]]
id = "a"
command = "sleep 2031"
EOF
  unit_state_is procman.service inactive ||
    fail "procman.service is '$(unit_prop procman.service ActiveState)' before the case, expected inactive"
  ! bus_name_owned || fail "org.procman.Manager has an owner although procman.service is stopped"
  step "calling ListProcesses on the stopped org.procman.Manager"
  local out
  out=$(as_user timeout 70 busctl --user --timeout=60 call org.procman.Manager /org/procman/Manager \
    org.procman.Manager ListProcesses 2>&1) ||
    fail "the call to the stopped org.procman.Manager was not answered: $out. $(explain_unit)"
  step "answer: $out"
  [[ $out == *'"a"'* ]] || fail "ListProcesses after bus activation does not list a: $out"
  out=$(ubus get-property org.procman.Manager /org/procman/Manager org.procman.Manager Version 2>&1) ||
    fail "get-property Version failed after the activation: $out"
  [[ $out == 's "'* ]] || fail "get-property Version answered '$out'"
  local exe main
  main=$(unit_prop procman.service MainPID)
  exe=$(readlink "/proc/$main/exe")
  [[ $exe == /usr/local/bin/procmand ]] ||
    fail "the bus did not start procmand through procman.service (MainPID '$main' is '$exe')"
  wait_for 30 unit_state_is procman.service active ||
    fail "procman.service was started by the bus and answers, but it is" \
      "'$(unit_prop procman.service ActiveState)' 30s later, not active (no READY=1?)." \
      "$(explain_unit)"
  expect_running a
}

# ---------------------------------------------------------------------------------------------
# 5. FIFO socket activation

case_fifo_activation() {
  local fifo=$E2E_RUNTIME/procman/procman.fifo
  write_config <<'EOF'
[[process]]
id = "a"
command = "sleep 2041"
EOF
  local out
  out=$(uctl start procman.socket 2>&1) || fail "systemctl --user start procman.socket failed: $out"
  wait_for 10 test -p "$fifo" ||
    fail "procman.socket is '$(unit_prop procman.socket ActiveState)' but $fifo is not a FIFO"
  unit_state_is procman.service inactive ||
    fail "procman.service is '$(unit_prop procman.service ActiveState)' before anything was written"
  local line='{"type":"run","name":"fromfifo","run":"sleep 2042"}'
  step "writing $line to $fifo"
  as_user timeout 10 sh -c 'printf "%s\n" "$1" > "$2"' sh "$line" "$fifo" ||
    fail "could not write a line to $fifo within 10s (exit $?)"
  wait_for 30 unit_state_is procman.service active ||
    fail "the line written to the FIFO did not bring procman.service up within 30s. $(explain_unit)"
  if ! wait_for 30 proc_state_is fromfifo running; then
    fail "procman.service is active but the process 'fromfifo' is" \
      "'$(proc_prop fromfifo State)' 30s later: procmand did not read the line waiting in the FIFO" \
      "systemd passed it (sd_listen_fds, FileDescriptorName=fifo). procmand about the FIFO:" \
      "$(procmand_log | grep -i fifo | tail -n 5)"
  fi
  local n fp
  n=$(count_procs_with_args "$E2E_UID" "sleep 2042")
  [[ $n == 1 ]] || fail "$n processes 'sleep 2042' (fromfifo) run, expected exactly 1"
  fp=$(pctl show -p FifoPath --value 2>&1)
  [[ $fp == "$fifo" ]] || fail "procmand's FifoPath is '$fp', expected the socket unit's $fifo"
  expect_running a
}

# ---------------------------------------------------------------------------------------------
# 6. journal

# journal_entry MESSAGE FIELD: FIELD of the journal entry -t web whose MESSAGE is MESSAGE.
journal_entry() {
  journal_since -t web -o json | jq -r --arg m "$1" --arg f "$2" 'select(.MESSAGE == $m) | .[$f]' |
    head -n 1
}
has_both_lines() {
  local j
  j=$(journal_since -t web -o cat)
  grep -qx "out-$1" <<<"$j" && grep -qx "err-$1" <<<"$j"
}

case_journal() {
  local tok
  tok=$(random_token)
  write_config <<EOF
[[process]]
id = "web"
command = { line = "echo out-$tok; echo err-$tok >&2; exec sleep 2051", type = "expression" }
EOF
  start_procman
  expect_running web
  local pid mpid
  pid=$(main_pid_of web)
  mpid=$(unit_prop procman.service MainPID)
  step "web is pid $pid, procmand is pid $mpid, token $tok"
  if ! wait_for 30 has_both_lines "$tok"; then
    fail "journalctl -t web has no 'out-$tok' and 'err-$tok' 30s after web started: its output" \
      "does not reach journald as SYSLOG_IDENTIFIER=web. Where the lines went instead:" \
      "$(journal_since -o json | jq -c --arg t "$tok" 'select((.MESSAGE | tostring) | contains($t)) |
        {SYSLOG_IDENTIFIER, _PID, PRIORITY, MESSAGE}' | head -n 4)"
  fi
  local opid epid oprio eprio
  opid=$(journal_entry "out-$tok" _PID)
  epid=$(journal_entry "err-$tok" _PID)
  oprio=$(journal_entry "out-$tok" PRIORITY)
  eprio=$(journal_entry "err-$tok" PRIORITY)
  step "stdout line: _PID=$opid PRIORITY=$oprio; stderr line: _PID=$epid PRIORITY=$eprio"
  [[ $opid == "$pid" ]] ||
    fail "the stdout line of web has _PID=$opid, expected web's own pid $pid (procmand is $mpid)"
  [[ $epid == "$pid" ]] ||
    fail "the stderr line of web has _PID=$epid, expected web's own pid $pid (procmand is $mpid)"
  [[ $oprio == 6 ]] || fail "the stdout line of web has PRIORITY=$oprio, expected 6 (info)"
  [[ $eprio == 4 ]] || fail "the stderr line of web has PRIORITY=$eprio, expected 4 (warning)"
  # What the user sees. journald keeps a journal per user only with persistent storage; with
  # volatile storage (no /var/log/journal, as on a machine where journald was started by hand)
  # everything is in the system journal and `journalctl --user` opens no file at all.
  local out
  if compgen -G "/var/log/journal/*/user-$E2E_UID.journal" >/dev/null; then
    out=$(as_user journalctl --no-pager --user -t web --since "@$E2E_SINCE" -o cat 2>&1)
    if ! grep -qx "out-$tok" <<<"$out" || ! grep -qx "err-$tok" <<<"$out"; then
      fail "journalctl --user -t web, run by the user, does not show both lines (it prints: $out);" \
        "plain 'journalctl -t web' as the user prints:" \
        "$(as_user journalctl --no-pager -t web --since "@$E2E_SINCE" -o cat 2>&1 | head -n 4)"
    fi
  else
    case_note "'journalctl --user -t web' not checked: this journald keeps no per-user journal" \
      "(volatile storage); checked 'journalctl -t web' as the user instead (--private-journal" \
      "checks --user)"
    out=$(as_user journalctl --no-pager -t web --since "@$E2E_SINCE" -o cat 2>&1)
    if ! grep -qx "out-$tok" <<<"$out" || ! grep -qx "err-$tok" <<<"$out"; then
      fail "journalctl -t web, run by the user (in group systemd-journal), does not show both" \
        "lines; it prints: $out"
    fi
  fi
  wait_for 10 logs_show_both "$tok" ||
    fail "procmanctl logs web -n 10 does not show both lines 10s after they were in the journal;" \
      "it prints: ${E2E_LOGS_OUT:-nothing}"
  step "procmanctl logs web -n 10:"$'\n'"$E2E_LOGS_OUT"
}
logs_show_both() {
  bus_name_owned || return 1
  E2E_LOGS_OUT=$(pctl logs web -n 10 2>&1)
  grep -q "out-$1" <<<"$E2E_LOGS_OUT" && grep -q "err-$1" <<<"$E2E_LOGS_OUT"
}

# ---------------------------------------------------------------------------------------------
# 7. crash

ticks() { journal_since -t ticker -o cat | sed -n 's/^tick \([0-9][0-9]*\)$/\1/p'; }
max_tick() { ticks | sort -n | tail -n 1; }
tick_at_least() {
  local m
  m=$(max_tick)
  ((${m:-0} >= $1))
}
procmand_restarted() {
  local m
  m=$(unit_prop procman.service MainPID)
  [[ -n $m && $m != 0 && $m != "$1" ]] && unit_state_is procman.service active
}
readopted() { # readopted NAME PID
  [[ $(proc_prop "$1" State) == running && $(proc_prop "$1" MainPID) == "$2" ]]
}

case_crash() {
  user_file "$E2E_HOME/bin/ticker.sh" 755 <<'EOF'
#!/bin/sh
# One numbered line every 0.2 s: a gap in the numbers in the journal is a lost line.
i=0
while :; do
  i=$((i + 1))
  echo "tick $i"
  sleep 0.2
done
EOF
  write_config <<EOF
[[process]]
id = "a"
command = "sleep 2061"

[[process]]
id = "ticker"
command = "/bin/sh $E2E_HOME/bin/ticker.sh"
EOF
  start_procman
  expect_running a
  expect_running ticker
  local pa pt m1
  pa=$(main_pid_of a)
  pt=$(main_pid_of ticker)
  m1=$(unit_prop procman.service MainPID)
  wait_for 30 tick_at_least 3 ||
    fail "no 'tick N' line of ticker reached the journal (-t ticker) within 30s, before any crash:" \
      "the children's output does not go to journald"
  local at_crash
  at_crash=$(max_tick)
  at_crash=${at_crash:-0}
  step "a pid $pa, ticker pid $pt, procmand pid $m1; kill -9 $m1 at tick $at_crash"
  as_user kill -9 "$m1" || fail "kill -9 $m1 (procmand, as the user) failed"
  wait_for 30 procmand_restarted "$m1" ||
    fail "systemd did not bring procman.service back within 30s of kill -9 $m1. $(explain_unit)"
  local m2
  m2=$(unit_prop procman.service MainPID)
  step "procmand is back as pid $m2"
  wait_for 30 readopted a "$pa" ||
    fail "after the restart (procmand $m2), a is '$(proc_prop a State)' with pid" \
      "'$(main_pid_of a)', expected running with its old pid $pa (re-adopted)"
  wait_for 30 readopted ticker "$pt" ||
    fail "after the restart (procmand $m2), ticker is '$(proc_prop ticker State)' with pid" \
      "'$(main_pid_of ticker)', expected running with its old pid $pt (re-adopted)"
  pid_alive "$pa" && pid_alive "$pt" || fail "a ($pa) or ticker ($pt) is dead after the restart"
  local na nt
  na=$(count_procs_with_args "$E2E_UID" "sleep 2061")
  nt=$(count_procs_with_args "$E2E_UID" "/bin/sh $E2E_HOME/bin/ticker.sh")
  [[ $na == 1 && $nt == 1 ]] ||
    fail "duplicates after the restart: $na processes 'sleep 2061' (a), $nt tickers; expected 1 each"
  local want=$((at_crash + 15))
  wait_for 30 tick_at_least "$want" ||
    fail "ticker's lines stopped reaching the journal: the last is 'tick $(max_tick)', the crash was" \
      "at tick $at_crash, and 30s later there is no 'tick $want'"
  local all first last uniq total gaps
  all=$(ticks | sort -n)
  first=$(head -n 1 <<<"$all")
  last=$(tail -n 1 <<<"$all")
  total=$(wc -l <<<"$all")
  uniq=$(uniq <<<"$all" | wc -l)
  gaps=$(uniq <<<"$all" | awk 'NR > 1 && $1 != prev + 1 { printf "%s%d..%d", sep, prev + 1, $1 - 1; sep = ", " } { prev = $1 }')
  step "journal has ticks $first..$last ($total lines, $uniq distinct)"
  [[ -z $gaps ]] || fail "lines of ticker are missing from the journal around the crash (at tick" \
    "$at_crash): tick $gaps"
  ((total == uniq)) || fail "lines of ticker are duplicated in the journal: $total lines, $uniq distinct"
}

# ---------------------------------------------------------------------------------------------
# 8. notify

# One look at a and b (procmanctl status --json); records whether b ran before a was ready.
E2E_A_UNREADY_SEEN=0
E2E_GATE_VIOLATION=
sample_gate() {
  local js a_state a_pid b_state b_pid
  bus_name_owned || return 1
  js=$(pctl status --json 2>/dev/null) || return 1
  read -r a_state a_pid b_state b_pid < <(jq -r '
    (map(select(.Name == "a"))[0] // {}) as $a | (map(select(.Name == "b"))[0] // {}) as $b |
    [$a.State // "?", $a.MainPID // 0, $b.State // "?", $b.MainPID // 0] | @tsv' <<<"$js")
  if [[ $a_state != running ]]; then
    ((a_pid > 0)) && E2E_A_UNREADY_SEEN=1
    if ((b_pid > 0)) || [[ $b_state == running ]]; then
      E2E_GATE_VIOLATION="b was '$b_state' (pid $b_pid) while a was '$a_state' (pid $a_pid)"
    fi
  fi
  [[ $a_state == running && $b_state == running ]]
}

case_notify() {
  write_config <<'EOF'
[[process]]
id = "a"
command = { line = "sleep 1; systemd-notify --ready --status=warm; exec sleep 2071", type = "expression" }
ready = "notify"

[[process]]
id = "b"
command = "sleep 2072"
depends-on = [{ id = "a", condition = "running" }]
EOF
  start_procman
  wait_for 30 sample_gate ||
    fail "a and b are not both running 30s after the start: a '$(proc_prop a State)'" \
      "($(proc_prop a SubState)), b '$(proc_prop b State)' ($(proc_prop b SubState))." \
      "${E2E_GATE_VIOLATION:+Also: $E2E_GATE_VIOLATION.} $(explain_proc a) $(explain_unit)"
  [[ -z $E2E_GATE_VIOLATION ]] || fail "the dependent started before a's READY=1: $E2E_GATE_VIOLATION"
  local ta tb
  ta=$(proc_prop a StartTimestamp)
  tb=$(proc_prop b StartTimestamp)
  step "a started at $ta, b at $tb (us); a was seen spawned but not ready: $E2E_A_UNREADY_SEEN"
  ((E2E_A_UNREADY_SEEN)) ||
    fail "a was never seen spawned but not yet running: it counted as running before its READY=1" \
      "(it sleeps 1s before systemd-notify --ready)"
  ((tb - ta >= 900000)) ||
    fail "b started $(((tb - ta) / 1000)) ms after a, but a sends READY=1 only after 1s: b did not" \
      "wait for it"
  wait_for 10 eval '[[ $(proc_prop a StatusText) == warm ]]' ||
    fail "StatusText of a is '$(proc_prop a StatusText)', expected 'warm' (systemd-notify --status=warm)"
  local out
  out=$(pctl status 2>&1)
  step "procmanctl status:"$'\n'"$out"
  grep -q warm <<<"$out" || step "note: procmanctl status does not show the status text 'warm'"
}

# ---------------------------------------------------------------------------------------------
# 9. watchdog

watchdog_restarted() { # watchdog_restarted OLD-PID OLD-NRESTARTS
  local pid n
  pid=$(main_pid_of wd)
  n=$(proc_prop wd NRestarts)
  [[ -n $pid && $pid != 0 && $pid != "$1" && ${n:-0} -gt $2 ]]
}
watchdog_event_seen() {
  jq -r 'select(.name == "wd") | .reason // empty' "$1" 2>/dev/null | grep -qi watchdog
}

case_watchdog() {
  write_config <<'EOF'
[[process]]
id = "wd"
command = { line = "systemd-notify --ready; for i in 1 2 3; do systemd-notify WATCHDOG=1; sleep 0.5; done; exec sleep 2081", type = "expression" }
ready = "notify"
watchdog = "2s"
EOF
  start_procman
  local events=$E2E_LOGS/watchdog.events
  "${E2E_AS_USER[@]}" procmanctl events --json >"$events" 2>&1 &
  local ev_pid=$!
  on_case_exit "kill_pids TERM $ev_pid"
  expect_running wd
  local p1 n1
  p1=$(main_pid_of wd)
  n1=$(proc_prop wd NRestarts)
  step "wd is pid $p1, NRestarts $n1; it pings 3 times, then hangs"
  wait_for 30 watchdog_restarted "$p1" "${n1:-0}" ||
    fail "wd was not restarted within 30s after its pings stopped (watchdog = \"2s\"): state" \
      "'$(proc_prop wd State)', pid $(main_pid_of wd) (was $p1), NRestarts $(proc_prop wd NRestarts)"
  step "wd restarted: pid $(main_pid_of wd), NRestarts $(proc_prop wd NRestarts)"
  wait_for 10 watchdog_event_seen "$events" ||
    defer_fail "wd was restarted, but no state change of wd in 'procmanctl events --json' gives" \
      "the watchdog as the reason; the reasons were: $(jq -r 'select(.name == "wd") | .reason' \
        "$events" 2>/dev/null | sort -u | tr '\n' ';')"
  procmand_log | grep -i watchdog | grep -q wd ||
    defer_fail "procmand's log (journal, _SYSTEMD_USER_UNIT=procman.service) never mentions the" \
      "watchdog of wd"
  finish_case
}

# ---------------------------------------------------------------------------------------------
# 10. socket activation

client_count() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
client_done_at_least() { (($(client_count "$1") >= $2)); }

case_socket_activation() {
  user_file "$E2E_HOME/bin/srv.py" 755 <<'EOF'
# A socket-activated server: it never binds, it accepts on the fd 3 it inherits and answers "ok".
import os, signal, socket, sys

if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(os.getpid()):
    sys.exit("srv: not socket-activated: LISTEN_FDS=%r LISTEN_PID=%r, my pid %d"
             % (os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"), os.getpid()))
listener = socket.socket(fileno=3)
busy = stopping = False

def on_term(signum, frame):
    global stopping
    if not busy:
        sys.exit(0)
    stopping = True

signal.signal(signal.SIGTERM, on_term)
while True:
    conn, _ = listener.accept()
    busy = True
    try:
        conn.sendall(b"ok\n")
    finally:
        conn.close()
        busy = False
    if stopping:
        sys.exit(0)
EOF
  user_file "$E2E_HOME/bin/client.py" 755 <<'EOF'
# About 20 connections a second until the stop file exists; one result per line in the log:
# ok, refused (ECONNREFUSED), timeout, eof (closed without an answer) or the error's name.
import os, socket, sys, time

port, stop_file, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 80
with open(log_path, "a", buffering=1) as log:
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                data = c.recv(16)
            result = "ok" if data == b"ok\n" else ("eof" if not data else "bad")
        except ConnectionRefusedError:
            result = "refused"
        except socket.timeout:
            result = "timeout"
        except OSError as e:
            result = type(e).__name__
        log.write("%s %.3f\n" % (result, time.monotonic() - t))
        time.sleep(max(0.0, 0.05 - (time.monotonic() - t)))
EOF
  local port
  port=$(free_port)
  write_config <<EOF
[[process]]
id = "srv"
command = "/usr/bin/python3 $E2E_HOME/bin/srv.py"
sockets = ["tcp:127.0.0.1:$port"]
start-limit = { burst = 50, interval = "1m" }
EOF
  start_procman
  expect_running srv
  local pid env
  pid=$(main_pid_of srv)
  pid_alive "$pid" && env=$(tr '\0' '\n' <"/proc/$pid/environ") ||
    fail "srv was running but is not any more: state '$(proc_prop srv State)', pid '$pid'." \
      "$(explain_proc srv) $(explain_unit)"
  step "srv is pid $pid on 127.0.0.1:$port; $(grep -E '^LISTEN_' <<<"$env" | tr '\n' ' ')"
  grep -qx LISTEN_FDS=1 <<<"$env" ||
    fail "srv (pid $pid) has $(grep -E '^LISTEN_FDS=' <<<"$env" || echo 'no LISTEN_FDS') in its environment, expected LISTEN_FDS=1"
  grep -qx "LISTEN_PID=$pid" <<<"$env" ||
    fail "srv (pid $pid) has $(grep -E '^LISTEN_PID=' <<<"$env" || echo 'no LISTEN_PID') in its environment, expected LISTEN_PID=$pid"

  local log=$E2E_HOME/client.log stop=$E2E_HOME/client.stop
  rm -f "$log" "$stop"
  "${E2E_AS_USER[@]}" /usr/bin/python3 "$E2E_HOME/bin/client.py" "$port" "$stop" "$log" \
    >"$E2E_LOGS/socket-activation.client" 2>&1 &
  local client=$!
  on_case_exit "kill_pids TERM $client"
  wait_for 30 client_done_at_least "$log" 10 ||
    fail "the client made $(client_count "$log") connections in 30s, expected 10: $(sort "$log" | uniq -c)"
  local i old new n
  for i in 1 2 3 4 5; do
    old=$(main_pid_of srv)
    n=$(client_count "$log")
    pctl_do 60 restart srv
    new=$(main_pid_of srv)
    [[ $new != "$old" ]] || fail "procmanctl restart srv (#$i) returned, but srv still has pid $old"
    step "restart #$i: srv $old -> $new, client at $n connections"
    wait_for 30 client_done_at_least "$log" $((n + 3)) ||
      fail "the client is stuck after restart #$i: $(client_count "$log") connections; $(sort "$log" | cut -d' ' -f1 | uniq -c | tr '\n' ' ')"
  done
  touch "$stop"
  wait_for 30 pid_gone "$client" || fail "the client did not stop within 30s"
  local summary refused timeouts ok total
  summary=$(cut -d' ' -f1 "$log" | sort | uniq -c | tr '\n' ' ')
  total=$(wc -l <"$log")
  refused=$(grep -c '^refused' "$log")
  timeouts=$(grep -c '^timeout' "$log")
  ok=$(grep -c '^ok' "$log")
  step "client: $total connections: $summary"
  ((refused == 0)) || fail "$refused of $total connections were refused while srv was restarted" \
    "5 times: the listening socket was not kept open across the restarts ($summary)"
  ((timeouts == 0)) || fail "$timeouts of $total connections timed out (10s) across the restarts ($summary)"
  ((ok * 10 >= total * 9)) || fail "only $ok of $total connections got 'ok' ($summary)"
}

# ---------------------------------------------------------------------------------------------
# 11. double fork

# What procmand can see of the delegation of procman.service's cgroup, in each hierarchy: the
# owner of the directory and the xattrs systemd may have set (trusted.delegate, user.delegate).
delegation_evidence() {
  local cg root
  cg=$(unit_prop procman.service ControlGroup)
  [[ -n $cg ]] || return 0
  printf "procman.service's cgroup:"
  for root in $(cgroup_roots); do
    /usr/bin/python3 - "$root$cg" <<'PY'
import os, sys
p = sys.argv[1]
try:
    xattrs = {n: os.getxattr(p, n).decode(errors="replace") for n in os.listxattr(p)}
    owner = os.stat(p).st_uid
except OSError as e:
    print(" %s: %s;" % (p, e.strerror), end="")
else:
    print(" %s owned by uid %d, xattrs %s;" % (p, owner, xattrs or "none"), end="")
PY
  done
  printf ' procmand says: %s\n' "$(procmand_log | grep -i cgroup | tail -n 2 | tr '\n' ' ')"
}

case_double_fork() {
  local gcfile=$E2E_HOME/grandchild.pid
  # The id must not occur in any command line: a line of `systemctl status` naming it is the
  # process's own cgroup, not a process.
  write_config <<EOF
[[process]]
id = "forker"
command = { line = "setsid sh -c 'sleep 2101 & echo \$! > $gcfile'; exec sleep 2102", type = "expression" }
EOF
  start_procman
  expect_running forker
  local main gc
  main=$(main_pid_of forker)
  wait_for 10 test -s "$gcfile" || fail "the double-forked grandchild did not write $gcfile within 10s"
  gc=$(<"$gcfile")
  on_case_exit "kill_if_ours $gc 'sleep 2101'"
  pid_alive "$gc" || fail "the grandchild (pid $gc) is not running"
  step "forker is pid $main, its setsid'd grandchild pid $gc"
  local st
  st=$(uctl status procman.service --lines=0 2>&1)
  step "systemctl --user status procman.service:"$'\n'"$st"
  grep -q forker <<<"$st" ||
    defer_fail "systemctl --user status procman shows no line with 'forker': the process has no" \
      "cgroup of its own under procman.service (Delegate=yes). $(delegation_evidence)"
  pctl_do 60 stop forker
  wait_for 15 pid_gone "$main" || defer_fail "forker's main process (pid $main) is still there 15s after the stop"
  wait_for 15 pid_gone "$gc" ||
    defer_fail "the double-forked grandchild (pid $gc, 'sleep 2101', in its own session) survived" \
      "'procmanctl stop forker': the stop did not cover the process's cgroup"
  finish_case
}
