// The MLLP listener: accepts HL7 v2 senders over TCP (or TLS), reads MLLP frames, commits each
// message to the Inbox and only then answers it: original mode AA/AE/AR, enhanced mode (MSH-15/16)
// the accept ACK CA/CE/CR and, once the message is processed, the application ACK MSH-16 asks for
// (AA/AE/AR), each connection's answers in the order its messages came. A
// connection has at most max_in_flight messages at the inbox at once, so a flooding sender takes
// a bounded share of each group commit and cannot starve the rest. Start, Stop and the destructor
// from one thread; the listener must be stopped before the Inbox is destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "feeds/application_acks.h"
#include "feeds/inbox.h"
#include "hl7v2/ack.h"

namespace carerecord::feeds {

struct MllpListenerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; Start() returns the one bound
  int io_threads = 1;
  size_t max_message_bytes = size_t{64} << 20;  // a larger frame is answered AR and skipped
  // Closed when nothing arrives for idle_timeout between messages, or a message (or the TLS
  // handshake) takes longer than read_timeout to arrive whole. Checked about once a second.
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(10);
  std::chrono::milliseconds read_timeout = std::chrono::seconds(60);
  int max_connections = 1000;  // one more is closed at once
  // Messages of one connection at the inbox at once. Most MLLP senders wait for each ACK and so
  // have one; a sender that pipelines gets up to this many into one group commit.
  size_t max_in_flight = 8;
  // Frames decoded ahead of those at the inbox before the connection stops reading; it
  // also stops once they hold max_message_bytes. With the decoder's own buffer, a connection
  // holds at most about three largest messages.
  size_t max_frames_ahead = 16;
  // Bytes outside any frame tolerated on a connection before it is closed as not speaking MLLP.
  size_t max_junk_bytes = size_t{1} << 20;
  // TLS: both set, PEM files; the listener then speaks only TLS.
  std::string tls_certificate_file;
  std::string tls_private_key_file;
  hl7v2::Responder responder;  // MSH-3/4 of our ACKs
  // Enhanced-mode application ACKs (application_acks.h): when set, a message whose MSH-16 asks
  // for one is answered AA/AE/AR on its connection once it has been processed, after its accept
  // ACK. Null: none are sent.
  ApplicationAcks* application_acks = nullptr;
};

class MllpListener {
 public:
  MllpListener(MllpListenerOptions options, Inbox& inbox);
  ~MllpListener();  // stops
  MllpListener(const MllpListener&) = delete;
  MllpListener& operator=(const MllpListener&) = delete;

  // Binds and starts serving; returns the bound port, or an error (address in use, bad TLS
  // files).
  base::Result<uint16_t> Start();
  // Stops accepting, closes every connection (a message already at the inbox is committed, its
  // ACK unsent: the sender resends it and the resend is answered as a duplicate) and joins the
  // threads. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carerecord::feeds
