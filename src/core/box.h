// Box<T>: an optional value kept on the heap, with std::optional's interface.
//
// A ProcessConfig has many optional parts (six hooks, two health checks) that
// most processes leave unset. As std::optional they cost their full size inline
// whether set or not (~800 bytes per process); a Box costs one pointer until set.
// Copies are deep, so a copied config never shares a part with its original.
#pragma once

#include <memory>
#include <optional>
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

  friend bool operator==(const Box& a, const Box& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a.has_value() || *a == *b;
  }
  friend bool operator==(const Box& a, std::nullopt_t) { return !a.has_value(); }

 private:
  std::unique_ptr<T> p_;
};

}  // namespace procman::core
