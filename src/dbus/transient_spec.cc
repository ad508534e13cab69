#include "dbus/transient_spec.h"

#include <fmt/format.h>

#include <vector>

#include "core/suggest.h"

namespace procman::dbus {
namespace {

Error invalid(std::string message) { return Error{kErrInvalidArgs, std::move(message)}; }

// Reads one property whose type was already checked.
template <typename T>
T value_of(const sdbus::Variant& v) {
  return v.get<T>();
}

}  // namespace

const std::map<std::string, std::string>& transient_property_types() {
  static const std::map<std::string, std::string> kTypes = {
      {"Command", "s"},          {"Argv", "as"},      {"Environment", "as"},
      {"WorkingDirectory", "s"}, {"Once", "b"},       {"DependsOn", "as"},
      {"Restart", "s"},          {"StopSignal", "s"}, {"StopTimeoutUSec", "t"},
      {"Metadata", "a{ss}"},     {"Unique", "b"},
  };
  return kTypes;
}

std::variant<TransientSpec, Error> spec_from_properties(
    const std::string& name, const std::map<std::string, sdbus::Variant>& props) {
  const auto& types = transient_property_types();

  // Names and types first, so a typo is reported as such rather than as a
  // missing Command.
  for (const auto& [key, value] : props) {
    auto it = types.find(key);
    if (it == types.end()) {
      std::vector<std::string> known;
      for (const auto& [k, t] : types) known.push_back(k);
      std::string message = fmt::format("unknown property '{}'", key);
      if (auto guess = core::closest_match(key, known)) {
        message += fmt::format(" (did you mean '{}'?)", *guess);
      } else {
        message += fmt::format("; known properties: {}", fmt::join(known, ", "));
      }
      return invalid(std::move(message));
    }
    std::string got = value.peekValueType();
    if (got != it->second) {
      return invalid(
          fmt::format("property '{}' must be of type '{}', got '{}'", key, it->second, got));
    }
  }

  bool has_command = props.count("Command") > 0;
  bool has_argv = props.count("Argv") > 0;
  if (has_command && has_argv) {
    return invalid("give either Command (a command line) or Argv (a list of arguments), not both");
  }
  if (!has_command && !has_argv) {
    return invalid(
        "a transient process needs Command (a command line) or Argv (a list of arguments)");
  }

  TransientSpec spec;
  spec.name = name;
  for (const auto& [key, value] : props) {
    if (key == "Command") {
      spec.command = value_of<std::string>(value);
      if (spec.command.find_first_not_of(" \t\n") == std::string::npos) {
        return invalid("property 'Command' must not be empty");
      }
    } else if (key == "Argv") {
      spec.argv = value_of<std::vector<std::string>>(value);
      if (spec.argv.empty() || spec.argv[0].empty()) {
        return invalid("property 'Argv' must start with the program to run");
      }
    } else if (key == "Environment") {
      spec.environment = value_of<std::vector<std::string>>(value);
      for (const auto& entry : spec.environment) {
        auto eq = entry.find('=');
        if (eq == std::string::npos) {
          return invalid(fmt::format("Environment entry '{}' is not KEY=VALUE (no '=')", entry));
        }
        if (eq == 0) {
          return invalid(fmt::format("Environment entry '{}' has an empty name", entry));
        }
      }
    } else if (key == "WorkingDirectory") {
      spec.work_dir = value_of<std::string>(value);
    } else if (key == "Once") {
      spec.once = value_of<bool>(value);
    } else if (key == "DependsOn") {
      spec.depends_on = value_of<std::vector<std::string>>(value);
    } else if (key == "Restart") {
      spec.restart = value_of<std::string>(value);
    } else if (key == "StopSignal") {
      spec.stop_signal = value_of<std::string>(value);
    } else if (key == "StopTimeoutUSec") {
      spec.stop_timeout_usec = value_of<uint64_t>(value);
    } else if (key == "Metadata") {
      spec.meta = value_of<std::map<std::string, std::string>>(value);
    } else if (key == "Unique") {
      spec.unique = value_of<bool>(value);
    }
  }
  return spec;
}

}  // namespace procman::dbus
