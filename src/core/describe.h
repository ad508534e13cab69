// Human and JSON renderings of a process's config, shared by `procmanctl
// check` and the D-Bus EffectiveConfig/Command/Schedule properties so both
// say the same thing the same way.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"

namespace procman::core {

const char* restart_name(RestartPolicy r);  ///< "always", "on-failure", "no"
std::string hook_text(const Hook& h);       ///< "cmd (timeout 10s)"
/// What a check probes, then how often and how many in a row count.
std::string check_text(const HealthCheck& h);
std::string dependency_text(const Dependency& d);  ///< "web (running)", "url http://x -> 200 (poll 1s, ...)"
std::string schedule_text(const Schedule& s);      ///< "08:00:00-18:00:00 mon-fri"
/// The whole version as JSON (keys as in the TOML file), for EffectiveConfig.
nlohmann::json process_json(const ProcessConfig& p);

}  // namespace procman::core
