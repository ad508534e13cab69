// SmallVec<T, N>: a vector that keeps up to N elements inside itself.
//
// Per-process bookkeeping is mostly lists of one: the versions of an id, the
// instances of an id, the starts inside the start-limit window. A std::vector
// holding one pointer costs 24 bytes inline plus a 32-byte heap chunk; a
// SmallVec<T*, 1> costs 16 bytes and no allocation until a second element.
// Only for trivially copyable T (pointers, ints, time points), which keeps the
// storage a plain union.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <type_traits>

namespace procman::core {

template <class T, std::size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "SmallVec copies its elements with memcpy and never destroys them");
  static_assert(N >= 1 && N * sizeof(T) <= 64, "SmallVec is for a few small elements");

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVec() = default;
  SmallVec(std::initializer_list<T> init) {
    for (const T& v : init) push_back(v);
  }
  SmallVec(const SmallVec& o) { assign(o.begin(), o.end()); }
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) {
      clear();
      assign(o.begin(), o.end());
    }
    return *this;
  }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~SmallVec() { release(); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t capacity() const { return cap_; }
  /// True while the elements live inside the object (no heap block).
  bool is_inline() const { return cap_ == N; }

  T* data() { return is_inline() ? reinterpret_cast<T*>(inline_) : heap_; }
  const T* data() const { return is_inline() ? reinterpret_cast<const T*>(inline_) : heap_; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  void push_back(const T& v) {
    if (size_ == cap_) {
      const T copy = v;  // v may live in the block grow() frees
      grow(cap_ * 2);
      data()[size_++] = copy;
      return;
    }
    data()[size_++] = v;
  }
  void pop_back() { --size_; }
  /// Shrinks to n, or grows to n with copies of `fill`.
  void resize(std::size_t n, const T& fill = T()) {
    if (n > cap_) grow(n);
    for (std::size_t i = size_; i < n; ++i) data()[i] = fill;
    size_ = static_cast<uint32_t>(n);
  }
  /// Removes [first, last), keeping the order of the rest.
  T* erase(T* first, T* last) {
    std::memmove(static_cast<void*>(first), last,
                 static_cast<std::size_t>(end() - last) * sizeof(T));
    size_ -= static_cast<uint32_t>(last - first);
    return first;
  }
  T* erase(T* pos) { return erase(pos, pos + 1); }
  /// Empties it and gives back any heap block.
  void clear() {
    release();
    size_ = 0;
    cap_ = N;
  }

  friend bool operator==(const SmallVec& a, const SmallVec& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  void assign(const T* first, const T* last) {
    const auto n = static_cast<std::size_t>(last - first);
    if (n > cap_) grow(n);
    if (n) std::memcpy(static_cast<void*>(data()), first, n * sizeof(T));
    size_ = static_cast<uint32_t>(n);
  }
  void grow(std::size_t cap) {
    T* block = static_cast<T*>(std::malloc(cap * sizeof(T)));
    if (!block) throw std::bad_alloc();
    if (size_) std::memcpy(static_cast<void*>(block), data(), size_ * sizeof(T));
    release();
    heap_ = block;
    cap_ = static_cast<uint32_t>(cap);
  }
  void release() {
    if (!is_inline()) std::free(heap_);
  }
  // Leaves o empty and inline.
  void take(SmallVec& o) {
    size_ = o.size_;
    cap_ = o.cap_;
    if (o.is_inline())
      std::memcpy(static_cast<void*>(inline_), o.inline_, sizeof(inline_));
    else
      heap_ = o.heap_;
    o.size_ = 0;
    o.cap_ = N;
  }

  uint32_t size_ = 0;
  uint32_t cap_ = N;
  // Bytes rather than T[N]: T need not be trivially default-constructible (time points).
  union {
    alignas(T) unsigned char inline_[N * sizeof(T)];
    T* heap_;
  };
};

}  // namespace procman::core
