// Sparse<C>: a container or string that most processes leave empty. An empty
// std::map costs 48 bytes, an empty std::string 32 and an empty std::vector 24,
// in every ProcessConfig or UnitStatus; a Sparse costs one pointer until
// something is put in, and assigning an empty value gives the memory back.
// It reads as a `const C&` (begin/end, size, find, indexing, comparison);
// writing goes through assignment or edit().
//
// RareString is the string case: a failure reason, a health verdict, a STATUS=
// line, set for few processes at a time.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace procman::core {

template <class C>
class Sparse {
 public:
  using value_type = typename C::value_type;
  using size_type = typename C::size_type;
  using const_iterator = typename C::const_iterator;
  using iterator = const_iterator;

  Sparse() = default;
  Sparse(C c) { set(std::move(c)); }
  /// Anything that converts to C: `RareString s = "text"`.
  template <class U>
  requires(!std::is_same_v<std::remove_cvref_t<U>, Sparse> &&
           !std::is_same_v<std::remove_cvref_t<U>, C> && std::is_convertible_v<U&&, C>)
      Sparse(U&& u) {
    set(C(std::forward<U>(u)));
  }
  Sparse(const Sparse& o) { set(o.get()); }
  Sparse(Sparse&&) noexcept = default;
  Sparse& operator=(const Sparse& o) {
    if (this != &o) set(o.get());
    return *this;
  }
  Sparse& operator=(Sparse&&) noexcept = default;
  Sparse& operator=(C c) {
    set(std::move(c));
    return *this;
  }
  template <class U>
  requires(!std::is_same_v<std::remove_cvref_t<U>, Sparse> &&
           !std::is_same_v<std::remove_cvref_t<U>, C> && std::is_convertible_v<U&&, C>) Sparse&
  operator=(U&& u) {
    set(C(std::forward<U>(u)));
    return *this;
  }
  ~Sparse() = default;

  const C& get() const { return p_ ? *p_ : nothing(); }
  operator const C&() const { return get(); }
  /// For strings: read as a view too, where a function takes one.
  operator std::string_view() const requires std::is_convertible_v<const C&, std::string_view> {
    return get();
  }
  /// The container itself, created empty if there was none.
  C& edit() {
    if (!p_) p_ = std::make_unique<C>();
    return *p_;
  }

  bool empty() const { return !p_ || p_->empty(); }
  size_type size() const { return p_ ? p_->size() : 0; }
  const_iterator begin() const { return get().begin(); }
  const_iterator end() const { return get().end(); }
  template <class K>
  decltype(auto) operator[](const K& k) const {
    return get()[k];
  }
  template <class K>
  decltype(auto) at(const K& k) const {
    return get().at(k);
  }
  template <class K>
  size_type count(const K& k) const {
    return get().count(k);
  }
  template <class... A>
  decltype(auto) find(A&&... a) const {
    return get().find(std::forward<A>(a)...);
  }
  void clear() { p_.reset(); }

  friend bool operator==(const Sparse& a, const Sparse& b) { return a.get() == b.get(); }
  friend bool operator==(const Sparse& a, const C& b) { return a.get() == b; }
  /// `health == "healthy"` compares the string, without making a Sparse or a std::string.
  template <class U>
  requires(!std::is_same_v<U, Sparse> && !std::is_same_v<U, C> &&
           requires(const C& c, const U& u) { c == u; }) friend bool
  operator==(const Sparse& a, const U& b) {
    return a.get() == b;
  }
  friend std::ostream& operator<<(std::ostream& os, const Sparse& s) requires
      requires(std::ostream& o, const C& c) {
    o << c;
  }
  { return os << s.get(); }

 private:
  static const C& nothing() {
    static const C kEmpty;
    return kEmpty;
  }
  void set(C c) {
    if (c.empty())
      p_.reset();
    else if (p_)
      *p_ = std::move(c);  // keeps the block: a status line changes often
    else
      p_ = std::make_unique<C>(std::move(c));
  }

  std::unique_ptr<C> p_;
};

using RareString = Sparse<std::string>;

}  // namespace procman::core
