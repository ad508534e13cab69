// "did you mean" for unknown keys and names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procman::core {

/// Edit distance (insert, delete, substitute, adjacent transpose), each costing 1; a substring
/// is never edited twice (optimal string alignment), so "ca" -> "abc" is 3. Case-sensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The closest candidate if it is close enough to be a plausible typo
/// (distance <= max(1, len/3)), also matching snake_case against kebab-case.
/// Comparison ignores ASCII case and treats '_' and '-' as equal; len is the length of
/// `word`; among equally close candidates the first in the list wins. nullopt for an empty
/// word. The candidate is returned as spelled in `candidates`.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

}  // namespace procman::core
