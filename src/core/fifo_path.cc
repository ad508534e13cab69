#include "core/fifo_path.h"

#include <fmt/format.h>

#include <vector>

namespace procman::core {
namespace {

/// SipHash-1-3 over a byte stream (one compression round per 8-byte word,
/// three finalization rounds), fed incrementally like Rust's Hasher.
class SipHash13 {
 public:
  SipHash13(uint64_t k0, uint64_t k1)
      : v0_(k0 ^ 0x736f6d6570736575ULL),
        v1_(k1 ^ 0x646f72616e646f6dULL),
        v2_(k0 ^ 0x6c7967656e657261ULL),
        v3_(k1 ^ 0x7465646279746573ULL) {}

  void write(std::string_view bytes) {
    for (char c : bytes) {
      tail_ |= uint64_t{static_cast<unsigned char>(c)} << (8 * ntail_);
      ++length_;
      if (++ntail_ == 8) {
        compress(tail_);
        tail_ = 0;
        ntail_ = 0;
      }
    }
  }

  void write_u64_le(uint64_t value) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
    write(std::string_view(bytes, 8));
  }

  uint64_t finish() const {
    SipHash13 s = *this;
    const uint64_t b = ((s.length_ & 0xff) << 56) | s.tail_;
    s.compress(b);
    s.v2_ ^= 0xff;
    s.round();
    s.round();
    s.round();
    return s.v0_ ^ s.v1_ ^ s.v2_ ^ s.v3_;
  }

 private:
  static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

  void round() {
    v0_ += v1_;
    v1_ = rotl(v1_, 13);
    v1_ ^= v0_;
    v0_ = rotl(v0_, 32);
    v2_ += v3_;
    v3_ = rotl(v3_, 16);
    v3_ ^= v2_;
    v0_ += v3_;
    v3_ = rotl(v3_, 21);
    v3_ ^= v0_;
    v2_ += v1_;
    v1_ = rotl(v1_, 17);
    v1_ ^= v2_;
    v2_ = rotl(v2_, 32);
  }

  void compress(uint64_t m) {
    v3_ ^= m;
    round();
    v0_ ^= m;
  }

  uint64_t v0_, v1_, v2_, v3_;
  uint64_t tail_ = 0;
  int ntail_ = 0;
  uint64_t length_ = 0;
};

uint64_t rotr(uint64_t x, int b) { return (x >> b) | (x << (64 - b)); }

/// The normal components of a Unix path as Path::components() yields them
/// (no root, no empty ones, no "." except a leading one).
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view c = path.substr(pos, end - pos);
    if (!c.empty() && !(c == "." && pos > 0)) out.push_back(c);
    pos = end + 1;
  }
  return out;
}

}  // namespace

uint64_t rust_path_hash(std::string_view path) {
  // Mirrors `impl Hash for Path`: it walks the bytes instead of components()
  // for speed, so only the normalizations that walk performs apply here.
  SipHash13 h(0, 0);
  uint64_t chunk_bits = 0;  // usize on the 64-bit targets procman runs on
  std::size_t start = 0;
  auto hash_component = [&](std::string_view c) {
    chunk_bits = rotr(chunk_bits + c.size(), 2);
    h.write(c);
  };
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    if (i > start) hash_component(path.substr(start, i - start));
    start = i + 1;
    // A "." right after a separator, alone or followed by another separator.
    std::string_view tail = path.substr(start);
    if (tail == "." || (tail.size() >= 2 && tail[0] == '.' && tail[1] == '/')) start += 1;
  }
  if (start < path.size()) hash_component(path.substr(start));
  h.write_u64_le(chunk_bits);
  return h.finish();
}

std::string fifo_file_name(std::string_view canonical_config_path) {
  // Path::parent().file_name(): the second-to-last component, when it is a name.
  std::string sanitized;
  const std::vector<std::string_view> parts = components(canonical_config_path);
  if (parts.size() >= 2 && parts[parts.size() - 2] != "..") {
    for (char c : parts[parts.size() - 2]) {
      const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (keep && sanitized.size() < 32) sanitized += c;
    }
  }
  if (sanitized.empty()) sanitized = "procman";
  return fmt::format("procman-{}-{:08x}.fifo", sanitized, rust_path_hash(canonical_config_path));
}

namespace {

std::string trimmed(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

/// dir + "/" + leaf, without doubling the root's slash.
std::string joined(const std::string& dir, std::string_view leaf) {
  std::string base = trimmed(dir);
  if (base == "/") base.clear();
  return base + "/" + std::string(leaf);
}

}  // namespace

std::string fifo_directory(const char* xdg_runtime_dir, const char* tmpdir) {
  if (xdg_runtime_dir != nullptr && *xdg_runtime_dir != '\0')
    return joined(xdg_runtime_dir, "procman");
  if (tmpdir != nullptr && *tmpdir != '\0') return trimmed(tmpdir);
  return "/tmp";
}

std::string state_directory_base(const StateDirEnv& env) {
  std::string first = env.runtime_directory.substr(0, env.runtime_directory.find(':'));
  if (!first.empty()) return trimmed(first);
  if (!env.xdg_runtime_dir.empty()) return joined(env.xdg_runtime_dir, "procman");
  if (!env.xdg_state_home.empty()) return joined(env.xdg_state_home, "procman");
  if (!env.home.empty()) return joined(env.home, ".local/state/procman");
  return "/run/procman";
}

}  // namespace procman::core
