// Where procmand's runtime files go: the control FIFO's file name and
// directory, derived from the config path exactly as wbbradley/procman (seed
// 000, v0.7-v0.12) derives it, so scripts written for the seed find procmand's
// FIFO; and the default state directory. Pure: the caller canonicalizes the
// path and reads the environment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace procman::core {

/// What Rust's `std::hash::DefaultHasher` (SipHash-1-3, keys 0 and 0) yields
/// after `Path::new(path).hash(&mut h)` on a 64-bit Unix target: every
/// component's bytes (separators dropped; a "." directly after a separator
/// skipped, as Path::components() would), then the usize accumulator of the
/// component lengths, little-endian. "/" and "" hash alike.
/// Rust documents DefaultHasher as unstable across releases; this matches
/// rustc 1.95 and the releases the seed was built with.
uint64_t rust_path_hash(std::string_view canonical_path);

/// "procman-<parent>-<hash>.fifo" for a canonical (absolute, symlink-free)
/// config path: <parent> is the name of the config's directory reduced to
/// [A-Za-z0-9_-] and cut to 32 characters, "procman" when that leaves
/// nothing or the directory is "/"; <hash> is rust_path_hash() in lowercase
/// hex with at least 8 digits and no leading zeros beyond that (Rust `{:08x}`).
/// Example: "/tmp/demo/procman.yaml" -> "procman-demo-119e10a5d752c8bd.fifo".
std::string fifo_file_name(std::string_view canonical_config_path);

/// The directory the FIFO lives in, without a trailing slash:
/// "<xdg_runtime_dir>/procman" when xdg_runtime_dir is set and not empty,
/// else tmpdir when set and not empty (the seed's std::env::temp_dir()),
/// else "/tmp". Either argument may be null.
std::string fifo_directory(const char* xdg_runtime_dir, const char* tmpdir);

/// The environment the default state directory is chosen from; empty = unset.
struct StateDirEnv {
  std::string runtime_directory;  ///< $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=)
  std::string xdg_runtime_dir;
  std::string xdg_state_home;
  std::string home;
};

/// The directory under which procmand keeps the state file, the lock and the output FIFOs of
/// its children when --state-dir is not given (the caller appends "/<config uid>"), without a
/// trailing slash. Everything there is runtime data (recorded pids mean nothing after a
/// reboot; FIFOs are runtime objects), so the first choice is a runtime directory, which is a
/// tmpfs on a standard system: making a FIFO there costs no disk inode, and at a thousand
/// processes that is a tenth of a cold start on ext4. In order: the first entry of
/// $RUNTIME_DIRECTORY (it may list several, colon-separated), $XDG_RUNTIME_DIR/procman,
/// $XDG_STATE_HOME/procman, $HOME/.local/state/procman, /run/procman.
std::string state_directory_base(const StateDirEnv& env);

}  // namespace procman::core
