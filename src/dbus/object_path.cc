#include "dbus/object_path.h"

namespace procman::dbus {
namespace {

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is never produced, so it is not accepted either
}

std::string escape_label(std::string_view name) {
  if (name.empty()) return "_";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(name.size() * 3);
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    // sd-bus escapes a leading digit too; matching it keeps our paths equal to
    // what sd_bus_path_encode() clients compute.
    if (is_letter(c) || (i > 0 && is_digit(c))) {
      out += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      out += '_';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace

std::string process_path(std::string_view name) {
  return std::string(kProcessPathPrefix) + escape_label(name);
}

std::optional<std::string> name_from_path(std::string_view path) {
  if (path.substr(0, kProcessPathPrefix.size()) != kProcessPathPrefix) return std::nullopt;
  std::string_view label = path.substr(kProcessPathPrefix.size());
  if (label.empty()) return std::nullopt;
  if (label == "_") return std::string();
  std::string name;
  for (std::size_t i = 0; i < label.size(); ++i) {
    char c = label[i];
    if (c != '_') {
      name += c;
      continue;
    }
    if (i + 2 >= label.size()) return std::nullopt;
    int hi = hex_value(label[i + 1]);
    int lo = hex_value(label[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    name += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  // Only the canonical spelling names a process: "_61" is not another path for "a".
  if (escape_label(name) != label) return std::nullopt;
  return name;
}

}  // namespace procman::dbus
