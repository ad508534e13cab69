// The commented example `procmanctl gen-file` writes. Kept in the core so a
// unit test can prove it passes `check`.
#pragma once

#include <string>

namespace procman::core {

std::string example_config(const std::string& uid);

}  // namespace procman::core
