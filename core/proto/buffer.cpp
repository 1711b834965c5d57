#include "proto/buffer.hpp"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

namespace wsb {

ByteBuffer::ByteBuffer(std::size_t initial_capacity) {
  if (initial_capacity > 0) reallocate(initial_capacity);
}

ByteBuffer::ByteBuffer(ByteBuffer&& other) noexcept
    : storage_(std::move(other.storage_)),
      capacity_(std::exchange(other.capacity_, 0)),
      begin_(std::exchange(other.begin_, 0)),
      end_(std::exchange(other.end_, 0)) {}

ByteBuffer& ByteBuffer::operator=(ByteBuffer&& other) noexcept {
  if (this != &other) {
    storage_ = std::move(other.storage_);
    capacity_ = std::exchange(other.capacity_, 0);
    begin_ = std::exchange(other.begin_, 0);
    end_ = std::exchange(other.end_, 0);
  }
  return *this;
}

void ByteBuffer::consume(std::size_t n) noexcept {
  // Consuming more than is there would corrupt the offsets for every later
  // call; that is a caller bug, not a run-time condition.
  if (n > size()) std::abort();
  begin_ += n;
  // Rewinding when empty is free and makes the common "send everything" case
  // reuse the block from its start without ever sliding bytes.
  if (begin_ == end_) begin_ = end_ = 0;
}

std::span<char> ByteBuffer::prepare(std::size_t n) {
  if (capacity_ - end_ >= n) return {storage_.get() + end_, capacity_ - end_};

  const std::size_t used = size();
  if (n > std::numeric_limits<std::size_t>::max() - used) {
    throw std::length_error("wsb::ByteBuffer::prepare: size overflow");
  }
  const std::size_t needed = used + n;
  // Sliding the unread bytes to the front costs `used` bytes of copying; it is
  // only done when at least as many bytes were consumed, so the copy is paid
  // for by bytes that already went through the buffer (amortised O(1)).
  if (needed <= capacity_ && begin_ >= used) {
    std::memmove(storage_.get(), storage_.get() + begin_, used);
    begin_ = 0;
    end_ = used;
  } else {
    std::size_t grown = capacity_ > std::numeric_limits<std::size_t>::max() / 2
                            ? std::numeric_limits<std::size_t>::max()
                            : capacity_ * 2;
    reallocate(grown > needed ? grown : needed);
  }
  return {storage_.get() + end_, capacity_ - end_};
}

void ByteBuffer::commit(std::size_t n) noexcept {
  if (n > capacity_ - end_) std::abort();
  end_ += n;
}

void ByteBuffer::append(std::span<const char> bytes) {
  if (bytes.empty()) return;
  std::span<char> space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  end_ += bytes.size();
}

void ByteBuffer::append(std::string_view bytes) {
  append(std::span<const char>(bytes));
}

void ByteBuffer::shrink_to_fit() {
  if (empty()) {
    storage_.reset();
    capacity_ = begin_ = end_ = 0;
  } else if (capacity_ > size()) {
    reallocate(size());
  }
}

// Moves the unread bytes to the start of a new block of exactly new_capacity
// bytes (new_capacity >= size()). The block is not value-initialised: only
// committed bytes are ever read.
void ByteBuffer::reallocate(std::size_t new_capacity) {
  const std::size_t used = size();
  std::unique_ptr<char[]> block = std::make_unique_for_overwrite<char[]>(new_capacity);
  if (used > 0) std::memcpy(block.get(), storage_.get() + begin_, used);
  storage_ = std::move(block);
  capacity_ = new_capacity;
  begin_ = 0;
  end_ = used;
}

}  // namespace wsb
