#include "core/effective.h"

namespace procman::core {

const ProcessConfig* effective_version(std::span<const ProcessConfig* const> versions,
                                       const LocalDateTime& now) {
  const ProcessConfig* best = nullptr;
  for (const ProcessConfig* p : versions) {
    if (p->fake) continue;
    if (p->apply_on && *p->apply_on > now) continue;
    if (!best || (p->apply_on && (!best->apply_on || *p->apply_on > *best->apply_on))) best = p;
  }
  return best;
}

}  // namespace procman::core
