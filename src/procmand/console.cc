#include "procmand/console.h"

#include <fmt/format.h>
#include <syslog.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace procman {
namespace {

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

/// HSL (s=0.6, l in [0.55, 0.75]) to RGB: light enough to read on a dark
/// terminal, saturated enough to tell names apart.
void hsl_to_rgb(double h, double s, double l, int& r, int& g, int& b) {
  auto hue = [](double p, double q, double t) {
    if (t < 0) t += 1;
    if (t > 1) t -= 1;
    if (t < 1.0 / 6) return p + (q - p) * 6 * t;
    if (t < 1.0 / 2) return q;
    if (t < 2.0 / 3) return p + (q - p) * (2.0 / 3 - t) * 6;
    return p;
  };
  const double q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const double p = 2 * l - q;
  r = static_cast<int>(std::lround(hue(p, q, h + 1.0 / 3) * 255));
  g = static_cast<int>(std::lround(hue(p, q, h) * 255));
  b = static_cast<int>(std::lround(hue(p, q, h - 1.0 / 3) * 255));
}

/// Width of a name in terminal columns (UTF-8 continuation bytes take none).
std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

}  // namespace

Console::Console(std::FILE* out, bool color) : out_(out), color_(color) {}

void Console::reserve(std::string_view name) { width_ = std::max(width_, display_width(name)); }

std::string Console::color_of(std::string_view name) const {
  if (!color_) return {};
  const uint32_t h = fnv1a(name);
  int r, g, b;
  hsl_to_rgb((h % 360) / 360.0, 0.6, 0.55 + ((h >> 9) % 21) / 100.0, r, g, b);
  return fmt::format("\x1b[38;2;{};{};{}m", r, g, b);
}

void Console::emit(std::string_view name, std::string_view text, std::string_view text_style,
                   bool flush) {
  const std::size_t w = display_width(name);
  std::string out;
  out.reserve(width_ + text.size() + 32);
  out.append(width_ > w ? width_ - w : 0, ' ');
  if (color_) {
    out += color_of(name);
    out += name;
    out += "\x1b[0m | ";
  } else {
    out += name;
    out += " | ";
  }
  if (color_ && !text_style.empty()) {
    out += text_style;
    out += text;
    out += "\x1b[0m";
  } else {
    out += text;
  }
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), out_);
  if (flush) std::fflush(out_);
}

void Console::flush() { std::fflush(out_); }

void Console::event(int priority, std::string_view text, const std::vector<os::JournalField>& fields) {
  if (journal_ && os::journal_send(priority, text, fields)) return;
  emit("procman", text, priority <= LOG_ERR ? "\x1b[31m" : priority == LOG_WARNING ? "\x1b[33m" : "",
       /*flush=*/true);
}

void Console::line(std::string_view name, std::string_view text) {
  // Only hooks' output comes here in journal mode (children write to journald themselves).
  if (journal_ && os::journal_send(LOG_INFO, text, {{std::string(os::field::kProcess), std::string(name)}})) return;
  emit(name, text, {}, /*flush=*/false);
}
void Console::notice(std::string_view text) { event(LOG_INFO, text, {}); }
void Console::warning(std::string_view text) { event(LOG_WARNING, text, {}); }
void Console::error(std::string_view text) { event(LOG_ERR, text, {}); }

}  // namespace procman
