// A raw-socket MLLP client for tests: connect, send any bytes (frames, halves of frames, junk),
// read one framed answer or see the connection closed, each with a bound on waiting.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace carerecord::testing {

class MllpClient {
 public:
  explicit MllpClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~MllpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  MllpClient(const MllpClient&) = delete;
  MllpClient& operator=(const MllpClient&) = delete;
  MllpClient(MllpClient&& other) noexcept : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
    other.fd_ = -1;
  }

  bool connected() const { return fd_ >= 0; }

  // Writes all of `bytes`; false when the connection is gone.
  bool SendRaw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  static std::string Frame(std::string_view message) {
    return "\x0b" + std::string(message) + "\x1c\x0d";
  }
  bool Send(std::string_view message) { return SendRaw(Frame(message)); }

  // The next frame's content; nullopt when the connection closed or `limit` passed first.
  std::optional<std::string> ReadFrame(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      size_t start = buffer_.find('\x0b');
      if (start != std::string::npos) {
        size_t stop = buffer_.find("\x1c\x0d", start);
        if (stop != std::string::npos) {
          std::string frame = buffer_.substr(start + 1, stop - start - 1);
          buffer_.erase(0, stop + 2);
          return frame;
        }
      }
      if (!Fill(end)) return std::nullopt;
    }
  }

  // Whether the server closed the connection within `limit` (bytes it sends meanwhile are
  // kept for ReadFrame).
  bool ClosedWithin(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (Fill(end)) {
    }
    return closed_;
  }

  // Sends and reads the answer.
  std::optional<std::string> Exchange(std::string_view message) {
    if (!Send(message)) return std::nullopt;
    return ReadFrame();
  }

 private:
  // Reads what is there (waiting until `end`); false on close or time out.
  bool Fill(std::chrono::steady_clock::time_point end) {
    if (closed_ || fd_ < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

// "MSA|AA|C1" of an ACK: the MSA segment's first two fields.
inline std::string MsaOf(const std::string& ack) {
  size_t at = ack.find("\rMSA|");
  if (at == std::string::npos) return "";
  size_t end = ack.find('\r', at + 1);
  std::string msa = ack.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  size_t third = msa.find('|', 4);
  third = third == std::string::npos ? std::string::npos : msa.find('|', third + 1);
  return msa.substr(0, third);
}

}  // namespace carerecord::testing
