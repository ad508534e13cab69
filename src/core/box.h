// Box<T>: an optional value kept on the heap, with std::optional's interface.
//
// A ProcessConfig has many optional parts (six hooks, two health checks, a user,
// a cron spec...) that most processes leave unset. As std::optional they cost
// their full size inline whether set or not (~1 KiB per process); a Box costs
// one pointer until set.
// Copies are deep, so a copied config never shares a part with its original.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace procman::core {

template <class T>
class Box {
 public:
  Box() = default;
  // The conversions are implicit, as std::optional's are: `cfg.before = Hook{...}` and
  // `cfg.before = parse_hook(...)` work unchanged.
  Box(std::nullopt_t) {}
  Box(const T& v) : p_(std::make_unique<T>(v)) {}
  Box(T&& v) : p_(std::make_unique<T>(std::move(v))) {}
  Box(const std::optional<T>& o) {
    if (o) p_ = std::make_unique<T>(*o);
  }
  Box(std::optional<T>&& o) {
    if (o) p_ = std::make_unique<T>(std::move(*o));
  }
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  /// Like std::optional: `timeout = 2s` sets a Box<milliseconds>.
  template <class U>
  requires(!std::is_same_v<std::remove_cvref_t<U>, Box> &&
           !std::is_same_v<std::remove_cvref_t<U>, std::nullopt_t> &&
           !std::is_same_v<std::remove_cvref_t<U>, std::optional<T>> &&
           std::is_constructible_v<T, U&&>) Box&
  operator=(U&& v) {
    p_ = std::make_unique<T>(std::forward<U>(v));
    return *this;
  }
  Box& operator=(std::nullopt_t) {
    p_.reset();
    return *this;
  }
  ~Box() = default;

  bool has_value() const { return p_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }
  T& value() {
    if (!p_) throw std::bad_optional_access();
    return *p_;
  }
  const T& value() const {
    if (!p_) throw std::bad_optional_access();
    return *p_;
  }
  template <class... Args>
  T& emplace(Args&&... args) {
    p_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *p_;
  }
  void reset() { p_.reset(); }
  template <class U>
  T value_or(U&& fallback) const {
    return p_ ? *p_ : static_cast<T>(std::forward<U>(fallback));
  }
  /// A copy as a std::optional, for the places that keep one (a unit's status, a spawn).
  operator std::optional<T>() const { return p_ ? std::optional<T>(*p_) : std::nullopt; }

  friend bool operator==(const Box& a, const Box& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a.has_value() || *a == *b;
  }
  friend bool operator==(const Box& a, std::nullopt_t) { return !a.has_value(); }
  friend bool operator==(const Box& a, const std::optional<T>& o) {
    if (a.has_value() != o.has_value()) return false;
    return !a.has_value() || *a == *o;
  }
  /// Like std::optional: equal to a value only when set to an equal one.
  template <class U>
  requires(!std::is_same_v<U, Box> && !std::is_same_v<U, std::nullopt_t> &&
           !std::is_same_v<U, std::optional<T>>) friend bool
  operator==(const Box& a, const U& v) {
    return a.has_value() && *a == v;
  }

 private:
  std::unique_ptr<T> p_;
};

}  // namespace procman::core
