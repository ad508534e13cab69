// RunTransient's a{sv} properties turned into a TransientSpec, with errors
// precise enough to fix the call from the message alone.
#pragma once

#include <sdbus-c++/Types.h>

#include <map>
#include <string>
#include <variant>

#include "dbus/backend.h"

namespace procman::dbus {

/// The properties RunTransient takes, with their D-Bus signatures, in the order
/// docs/dbus-api.md lists them: Command s, Argv as, Environment as,
/// WorkingDirectory s, Once b, DependsOn as, Restart s, StopSignal s,
/// StopTimeoutUSec t, Metadata a{ss}, Unique b.
const std::map<std::string, std::string>& transient_property_types();

/// Builds the spec for `name` from `props`, or an org.procman.Error.InvalidArgs
/// naming the first problem: an unknown property ("unknown property 'Comand'
/// (did you mean 'Command'?)"), a wrong type ("property 'Once' must be of type 'b',
/// got 's'"), both or neither of Command and Argv, an empty Command or Argv, an
/// Environment entry without '=' or with an empty key. Values are not checked
/// further here (restart modes, signal names, ids): the backend does that.
std::variant<TransientSpec, Error> spec_from_properties(
    const std::string& name, const std::map<std::string, sdbus::Variant>& props);

}  // namespace procman::dbus
