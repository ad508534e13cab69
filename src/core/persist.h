// The state file procmand keeps current on every transition, so that a procmand started
// after a crash knows which pids are its children. It is a snapshot (one JSON line) followed
// by one record line per unit that changed since; procmand appends records and rewrites the
// snapshot once they outweigh it, so a transition costs O(1), not O(processes).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/supervisor.h"
#include "core/transient.h"

namespace procman::core {

struct PersistedState {
  int version = 1;
  std::string uid;  ///< the config's uid
  std::string config_path;
  std::string boot_id;  ///< pids (and monotonic times) mean nothing after a reboot
  int daemon_pid = 0;
  int64_t written_usec = 0;  ///< realtime
  std::vector<UnitStatus> units;
  /// The transient processes defined, each with its final assigned name (so re-adding them
  /// gives the same names). Absent from files written before transients existed.
  std::vector<TransientRequest> transients;
};

/// The snapshot: one line.
std::string serialize_state(const PersistedState& s);
/// One unit's record, appended after the snapshot: one line that replaces the unit of the same
/// name (or adds it).
std::string serialize_unit_record(const UnitStatus& u);
/// The snapshot with every complete record applied. A last line without its newline is a
/// write cut short by a crash and is ignored. Snapshots written over several lines (older
/// procmand versions) are read too.
/// nullopt + *error for a file that is not a state file of this version.
std::optional<PersistedState> parse_persisted_state(std::string_view text, std::string* error);

}  // namespace procman::core
