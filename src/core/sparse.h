// Sparse<C>: a container that most processes leave empty (`meta`, `limits`,
// `sockets`). An empty std::map costs 48 bytes and an empty std::vector 24 in
// every ProcessConfig; a Sparse costs one pointer until something is put in.
// It reads as a `const C&` (begin/end, size, indexing, comparison); writing
// goes through assignment or edit().
#pragma once

#include <memory>
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
  ~Sparse() = default;

  const C& get() const { return p_ ? *p_ : nothing(); }
  operator const C&() const { return get(); }
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
  void clear() { p_.reset(); }

  friend bool operator==(const Sparse& a, const Sparse& b) { return a.get() == b.get(); }
  friend bool operator==(const Sparse& a, const C& b) { return a.get() == b; }

 private:
  static const C& nothing() {
    static const C kEmpty;
    return kEmpty;
  }
  void set(C c) {
    if (c.empty())
      p_.reset();
    else
      p_ = std::make_unique<C>(std::move(c));
  }

  std::unique_ptr<C> p_;
};

}  // namespace procman::core
