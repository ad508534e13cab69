// RareString: a string that is empty for most processes most of the time (a
// failure reason, a health verdict, a STATUS= line). It costs one pointer
// while empty instead of std::string's 32 bytes, and reads as a
// `const std::string&` everywhere. Assigning "" gives the memory back.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace procman::core {

class RareString {
 public:
  RareString() = default;
  RareString(std::string s) { set(std::move(s)); }
  RareString(const char* s) { set(std::string(s)); }
  RareString(const RareString& o) { set(o.str()); }
  RareString(RareString&&) noexcept = default;
  RareString& operator=(const RareString& o) {
    if (this != &o) set(o.str());
    return *this;
  }
  RareString& operator=(RareString&&) noexcept = default;
  RareString& operator=(std::string s) {
    set(std::move(s));
    return *this;
  }
  RareString& operator=(const char* s) {
    set(std::string(s));
    return *this;
  }
  ~RareString() = default;

  const std::string& str() const { return p_ ? *p_ : empty_string(); }
  operator const std::string&() const { return str(); }
  operator std::string_view() const { return str(); }
  bool empty() const { return !p_; }
  std::size_t size() const { return str().size(); }
  void clear() { p_.reset(); }
  std::size_t find(std::string_view what, std::size_t pos = 0) const {
    return str().find(what, pos);
  }

  friend bool operator==(const RareString& a, const RareString& b) { return a.str() == b.str(); }
  friend bool operator==(const RareString& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const RareString& a, const char* b) { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& os, const RareString& s) { return os << s.str(); }

 private:
  static const std::string& empty_string() {
    static const std::string kEmpty;
    return kEmpty;
  }
  void set(std::string s) {
    if (s.empty())
      p_.reset();
    else if (p_)
      *p_ = std::move(s);
    else
      p_ = std::make_unique<std::string>(std::move(s));
  }

  std::unique_ptr<std::string> p_;
};

}  // namespace procman::core
