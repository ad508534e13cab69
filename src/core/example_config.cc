#include "core/example_config.h"

#include <fmt/format.h>

namespace procman::core {

std::string example_config(const std::string& uid) {
  return fmt::format(R"(# procman configuration: the processes procmand keeps running.
# Check it with `procmanctl check FILE`; run it with `procmand FILE`.
# Reference: docs/config.md

# Each file has its own uid (`procmanctl uid` makes one); procmand refuses to
# run two supervisors for the same uid.
uid = "{}"
file-format = "0"

# A long-running service. `command` is split like a shell would, but run
# without one (so signals reach it directly).
[[process]]
id = "web"
command = "python3 -m http.server 8000 --bind 127.0.0.1"
# Relative to this file's directory; the default is that directory itself.
work-dir = "."
# Not "running" (and its dependents wait) until this succeeds.
init = {{ command = "sleep 1", timeout = "10s" }}
restart = "always"
restart-delay = {{ initial = "1s", multiplier = 2.0, max = "1m", reset-after = "1m" }}
stop-signal = "SIGTERM"
stop-timeout = "10s"
env = {{ PYTHONUNBUFFERED = "1" }}

# A one-shot job that must succeed before `worker` starts.
[[process]]
id = "migrate"
command = "echo migrating"
one-shot = true

# Starts once `web` is running and `migrate` completed successfully.
[[process]]
id = "worker"
command = "sh -c 'while true; do echo working; sleep 5; done'"
depends-on = ["web", {{ id = "migrate", condition = "completed-successfully" }}]
instances = 2

# A version that takes over from the one above at a given local time
# (jleahred/procman apply-on); `fake = true` makes a version inert (rollback).
# [[process]]
# id = "worker"
# apply-on = "2030-01-01T08:00:00"
# command = "sh -c 'while true; do echo working harder; sleep 5; done'"
# depends-on = ["web"]

# Only runs inside a daily window (overnight windows like 22:00-06:00 work too).
[[process]]
id = "office-hours"
command = "sleep 3600"
schedule = {{ start-time = "08:00:00", stop-time = "18:00:00", week-days = "mon-fri" }}
)",
                     uid);
}

}  // namespace procman::core
