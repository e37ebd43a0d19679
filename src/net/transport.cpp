#include "net/transport.hpp"

#include <fmt/core.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <new>

#include "net/tls.hpp"

namespace count {

namespace {

// Past this many received bytes not yet served, a plain socket's receive is stopped until the
// session has served them (it has stopped reading: its client does not read its replies).
constexpr std::size_t kMaxReceivedBytes = std::size_t{64} * 1024;

SSL* make_tls(SSL_CTX* tls, int fd) {
  if (tls == nullptr) return nullptr;
  SSL* ssl = SSL_new(tls);
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    ERR_clear_error();
    throw std::bad_alloc();
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace

Transport::Transport(Socket socket, SSL_CTX* tls)
    : socket_(std::move(socket)), fd_(socket_->native_handle()), ssl_(make_tls(tls, fd_)) {}

Transport::Transport(int fd, SSL_CTX* tls, Ring& ring, RingTarget& owner)
    : fd_(fd), ring_(&ring), owner_(&owner) {
  try {
    ssl_ = make_tls(tls, fd_);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Transport::~Transport() {
  SSL_free(ssl_);
  if (ring_ != nullptr && fd_ >= 0) ::close(fd_);
}

void Transport::close() {
  if (socket_) {
    asio::error_code ignored;
    socket_->close(ignored);
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
}

void Transport::discard_input(std::size_t limit) {
  std::array<char, 4096> discard{};
  for (std::size_t taken = 0; taken < limit;) {
    const ssize_t n = ::recv(fd_, discard.data(), discard.size(), MSG_DONTWAIT);
    if (n <= 0) return;
    taken += static_cast<std::size_t>(n);
  }
}

void Transport::want_read() {
  if (ssl_ != nullptr) {
    arm_poll(POLLIN);
    return;
  }
  if (receive_armed_ || read_error_ != 0 || received_bytes_ >= kMaxReceivedBytes) return;
  io_uring_sqe* sqe = ring_->prepare(owner_, kReceive);
  io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = Ring::kBufferGroup;
  receive_armed_ = true;
  starved_ = false;
  ++in_flight_;
}

void Transport::want_write() {
  if (ssl_ != nullptr) arm_poll(POLLOUT);
}

void Transport::arm_poll(short events) {
  if ((poll_armed_ & events) != 0) return;
  if (poll_armed_ != 0) {
    // One poll at a time; a TLS connection that needs both waits for either (rare: a key
    // update while replies wait), and looks again at once.
    events = static_cast<short>(events | poll_armed_);
    io_uring_sqe* cancel = ring_->prepare_untracked();
    io_uring_prep_cancel64(cancel, reinterpret_cast<std::uint64_t>(owner_) | kPoll, 0);
  }
  io_uring_sqe* sqe = ring_->prepare(owner_, kPoll);
  io_uring_prep_poll_add(sqe, fd_, static_cast<unsigned>(events));
  poll_armed_ = events;
  ++in_flight_;
}

void Transport::on_completion(unsigned op, int result, std::uint32_t flags) {
  switch (op) {
    case kReceive: {
      if ((flags & IORING_CQE_F_MORE) == 0) {
        receive_armed_ = false;
        --in_flight_;
      }
      if (result > 0 && (flags & IORING_CQE_F_BUFFER) != 0) {
        ring_->took_buffer();
        const auto buffer = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (fd_ < 0) {
          ring_->give_back(buffer);  // the session has ended: nothing more is read
          return;
        }
        received_.push_back({buffer, 0, static_cast<std::uint32_t>(result)});
        received_bytes_ += static_cast<std::size_t>(result);
        if (received_bytes_ >= kMaxReceivedBytes && receive_armed_) {
          io_uring_sqe* cancel = ring_->prepare_untracked();
          io_uring_prep_cancel64(cancel, reinterpret_cast<std::uint64_t>(owner_) | kReceive, 0);
        }
      } else if (result == 0) {
        read_error_ = -1;
      } else if (result == -ENOBUFS) {
        starved_ = true;
      } else if (result < 0 && result != -ECANCELED) {
        read_error_ = -result;
      }
      return;
    }
    case kSend:
      --in_flight_;
      send_in_flight_ = false;
      if (result < 0) {
        send_failed_ = true;
        failure_ = std::strerror(-result);
        sending_.clear();
        return;
      }
      sent_ += static_cast<std::size_t>(result);
      if (sent_ < sending_.size() && fd_ >= 0) {
        submit_send();  // the socket took part of it: the rest goes at once
      } else if (sent_ >= sending_.size()) {
        sending_.clear();
        sent_ = 0;
        if (sending_.capacity() > kMaxReceivedBytes) sending_.shrink_to_fit();
      }
      return;
    case kPoll:
      --in_flight_;
      // A poll cancelled by arm_poll() was replaced by one still in flight.
      if (result != -ECANCELED) poll_armed_ = 0;
      return;
    default:
      return;
  }
}

void Transport::submit_send() {
  io_uring_sqe* sqe = ring_->prepare(owner_, kSend);
  io_uring_prep_send(sqe, fd_, sending_.data() + sent_, sending_.size() - sent_, MSG_NOSIGNAL);
  send_in_flight_ = true;
  ++in_flight_;
}

Transport::Result Transport::send_on_ring(std::string_view bytes) {
  if (send_failed_) return {Status::kFailed};
  if (send_in_flight_) return {Status::kWantWrite};
  // The bytes are copied: the kernel reads them when the socket has room, and by then the
  // session's queue may have moved.
  sending_.assign(bytes);
  sent_ = 0;
  submit_send();
  return {Status::kDone, bytes.size()};
}

Transport::Result Transport::read_received(std::span<char> into) {
  std::size_t taken = 0;
  if (kept_front_ < kept_.size()) {
    taken = std::min(into.size(), kept_.size() - kept_front_);
    std::memcpy(into.data(), kept_.data() + kept_front_, taken);
    kept_front_ += taken;
    received_bytes_ -= taken;
    if (kept_front_ == kept_.size()) {
      kept_ = std::string();  // an idle connection holds no buffer
      kept_front_ = 0;
    }
  }
  while (taken < into.size() && received_front_ < received_.size()) {
    Received& next = received_[received_front_];
    const std::size_t n = std::min<std::size_t>(into.size() - taken, next.length);
    std::memcpy(into.data() + taken, ring_->buffer(next.buffer, Ring::kBufferBytes).data() + next.offset,
                n);
    taken += n;
    next.offset += static_cast<std::uint32_t>(n);
    next.length -= static_cast<std::uint32_t>(n);
    received_bytes_ -= n;
    if (next.length == 0) {
      ring_->give_back(next.buffer);
      if (++received_front_ == received_.size()) {
        received_.clear();
        received_front_ = 0;
      }
    }
  }
  if (taken > 0) return {Status::kDone, taken};
  if (read_error_ == -1) return {Status::kEnd};
  if (read_error_ > 0) {
    failure_ = std::strerror(read_error_);
    return {Status::kFailed};
  }
  return {Status::kWantRead};
}

void Transport::keep_received() {
  if (received_front_ == received_.size()) return;
  if (kept_front_ > 0) {
    kept_.erase(0, kept_front_);
    kept_front_ = 0;
  }
  for (std::size_t i = received_front_; i < received_.size(); ++i) {
    const Received& next = received_[i];
    kept_.append(ring_->buffer(next.buffer, Ring::kBufferBytes).data() + next.offset, next.length);
    ring_->give_back(next.buffer);
  }
  received_.clear();
  received_front_ = 0;
}

void Transport::release_buffers() {
  if (ring_ == nullptr) return;
  for (std::size_t i = received_front_; i < received_.size(); ++i) {
    ring_->give_back(received_[i].buffer);
  }
  received_.clear();
  received_front_ = 0;
  kept_ = std::string();
  kept_front_ = 0;
  received_bytes_ = 0;
}

void Transport::cancel() {
  if (in_flight_ == 0 || fd_ < 0) return;
  io_uring_sqe* sqe = ring_->prepare_untracked();
  io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
}

Transport::Status Transport::handshake() {
  if (ssl_ == nullptr) return Status::kDone;
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) return Status::kDone;
  const Result result = tls_result(ret, 0);
  if (result.status == Status::kFailed || result.status == Status::kEnd) {
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      failure_ += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    }
    return Status::kFailed;
  }
  return result.status;
}

Transport::Result Transport::read_some(std::span<char> into) {
  if (ssl_ == nullptr) {
    if (ring_ != nullptr) return read_received(into);
    asio::error_code ec;
    const std::size_t n = socket_->read_some(asio::buffer(into.data(), into.size()), ec);
    if (!ec) return {Status::kDone, n};
    if (ec == asio::error::would_block) return {Status::kWantRead};
    if (ec == asio::error::eof) return {Status::kEnd};
    failure_ = ec.message();
    return {Status::kFailed};
  }
  // OpenSSL's error queue is empty here: every failure below takes what it queued.
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_, into.data(), into.size(), &n);
  return tls_result(ret, n);
}

Transport::Result Transport::write_some(std::string_view bytes) {
  if (ssl_ == nullptr) {
    if (ring_ != nullptr) return send_on_ring(bytes);
    asio::error_code ec;
    const std::size_t n = socket_->write_some(asio::buffer(bytes), ec);
    if (!ec) return {Status::kDone, n};
    if (ec == asio::error::would_block) return {Status::kWantWrite};
    failure_ = ec.message();
    return {Status::kFailed};
  }
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n);
  return tls_result(ret, n);
}

Transport::Result Transport::tls_result(int ret, std::size_t bytes) {
  if (ret == 1) return {Status::kDone, bytes};
  const int error = SSL_get_error(ssl_, ret);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return {Status::kWantRead};
    case SSL_ERROR_WANT_WRITE:
      return {Status::kWantWrite};
    case SSL_ERROR_ZERO_RETURN:
      return {Status::kEnd};
    default:
      failure_ = take_tls_error(error);
      return {Status::kFailed};
  }
}

void Transport::shutdown_send() {
  if (ssl_ != nullptr && SSL_is_init_finished(ssl_) == 1) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues and tries to send close_notify; no wait for the client's
    ERR_clear_error();
  }
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace count
