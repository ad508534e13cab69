#include "core/targets.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

namespace procman::core {

std::string url_problem(const std::string& text) {
  std::size_t host = 0;
  if (text.rfind("http://", 0) == 0) {
    host = 7;
  } else if (text.rfind("https://", 0) == 0) {
    host = 8;
  } else {
    return fmt::format("must start with http:// or https://, not '{}'", text);
  }
  if (host == text.size() || text[host] == '/' || text[host] == ':') {
    return fmt::format("has no host: '{}'", text);
  }
  if (text.find_first_of(" \t\r\n") != std::string::npos) {
    return fmt::format("must not contain white space: '{}'", text);
  }
  return "";
}

std::string split_host_port(const std::string& text, std::string* host, uint16_t* port) {
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string::npos) return fmt::format("'{}' has no closing ']'", text);
    *host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return fmt::format("expected \"[address]:port\", not '{}'", text);
    }
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      return fmt::format("expected \"host:port\" such as \"127.0.0.1:8080\", not '{}'", text);
    }
    *host = text.substr(0, colon);
    if (host->find(':') != std::string::npos) {
      return fmt::format("an IPv6 address needs brackets, such as \"[::1]:8080\", not '{}'", text);
    }
    port_text = text.substr(colon + 1);
  }
  if (host->empty()) return fmt::format("'{}' has no host", text);
  const bool digits =
      !port_text.empty() && port_text.size() <= 5 &&
      std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const unsigned long value = digits ? std::stoul(port_text) : 0;
  if (value < 1 || value > 65535) {
    return fmt::format("the port must be 1..65535, not '{}'", port_text);
  }
  *port = static_cast<uint16_t>(value);
  return "";
}

std::string regex_problem(const std::string& text) {
  try {
    std::regex check(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return fmt::format("'{}' is not a valid regex: {}", text, e.what());
  }
  return "";
}

}  // namespace procman::core
