// A growable byte buffer with a read offset: the unit of I/O between sockets
// and protocol sessions.
//
// The layout is [consumed | readable | writable] in one heap block. A socket
// receive writes into prepare()d space and commit()s what arrived; a send takes
// readable() and consume()s what the kernel accepted. Space is reclaimed by
// sliding the readable bytes to the front only when that costs no more than the
// bytes already consumed, so prepare() is amortised O(1) per byte.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace wsb {

class ByteBuffer {
 public:
  // Allocates initial_capacity bytes up front (none for 0), so that a
  // connection that never receives anything costs no heap memory.
  explicit ByteBuffer(std::size_t initial_capacity = 0);

  // Buffers own memory that a connection must not silently duplicate, so they
  // move but do not copy. A moved-from buffer is empty with no capacity.
  ByteBuffer(ByteBuffer&& other) noexcept;
  ByteBuffer& operator=(ByteBuffer&& other) noexcept;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer() = default;

  // Number of unread bytes.
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  // First unread byte (nullptr when no memory was ever allocated).
  const char* data() const noexcept { return storage_.get() + begin_; }
  std::span<const char> readable() const noexcept { return {data(), size()}; }

  // Drops n unread bytes from the front. n > size() is a broken invariant and
  // aborts. Consuming everything rewinds both offsets to the start of the block.
  void consume(std::size_t n) noexcept;

  // Returns at least n writable bytes directly after the unread ones, sliding
  // or growing the block as needed (growth at least doubles the capacity). The
  // span stays valid until the next prepare(), append() or shrink_to_fit().
  // Throws std::length_error if size() + n overflows, std::bad_alloc on OOM.
  std::span<char> prepare(std::size_t n);

  // Declares that the first n bytes of the prepared space now hold data.
  // n larger than the writable space is a broken invariant and aborts.
  void commit(std::size_t n) noexcept;

  // Copies bytes to the back (prepare + memcpy + commit). The std::string and
  // C-string overloads exist so that neither is ambiguous between span and
  // string_view, and so that a string literal never drags its NUL along.
  void append(std::span<const char> bytes);
  void append(std::string_view bytes);
  void append(const std::string& bytes) { append(std::string_view(bytes)); }
  void append(const char* c_string) { append(std::string_view(c_string)); }

  // Drops every unread byte but keeps the memory.
  void clear() noexcept { begin_ = end_ = 0; }

  // Bytes in the heap block (readable + writable + already consumed).
  std::size_t capacity() const noexcept { return capacity_; }

  // Releases the memory when the buffer is empty, and otherwise reallocates it
  // to exactly size() bytes. Held idle connections must stay small: a server
  // calls this when a connection goes quiet after a large transfer.
  void shrink_to_fit();

 private:
  void reallocate(std::size_t new_capacity);

  std::unique_ptr<char[]> storage_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // offset of the first unread byte
  std::size_t end_ = 0;    // offset one past the last unread byte
};

}  // namespace wsb
