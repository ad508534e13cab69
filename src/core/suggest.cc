// "did you mean": edit distance and the nearest plausible candidate.
#include "core/suggest.h"

#include <algorithm>

namespace procman::core {

namespace {

// Folds the differences a user should not be blamed for: case and '_' vs '-'.
std::string normalize(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
  }
  return out;
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows of the optimal-string-alignment table: the transposition
  // step looks two rows back.
  const std::size_t n = b.size();
  std::vector<std::size_t> two_back(n + 1), prev(n + 1), cur(n + 1);
  for (std::size_t j = 0; j <= n; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= n; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], two_back[j - 2] + 1);
      }
    }
    std::swap(two_back, prev);
    std::swap(prev, cur);
  }
  return prev[n];
}

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
  if (word.empty()) return std::nullopt;
  const std::size_t threshold = std::max<std::size_t>(1, word.size() / 3);
  const std::string needle = normalize(word);
  const std::string* best = nullptr;
  std::size_t best_distance = threshold + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t d = edit_distance(needle, normalize(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = &candidate;
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

}  // namespace procman::core
