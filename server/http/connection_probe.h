// ConnectionProbe: tells whether the client of a request has gone away, so a request can be
// cancelled while it waits on the engine. cpp-httplib 0.11 does not expose the socket, so it is
// found by matching the request's addresses against the process's open sockets.
#pragma once

#include <string>

namespace xq {

class ConnectionProbe {
 public:
  // The addresses as cpp-httplib reports them (numeric host, port).
  ConnectionProbe(const std::string& remote_addr, int remote_port, int local_port);

  // True once the peer closed or reset the connection. Only meaningful while the server thread
  // that owns the connection is still serving this request. False when the socket is unknown.
  bool PeerClosed() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The same check on a socket descriptor: poll for hang-up, or an orderly close seen by peeking.
bool SocketPeerClosed(int fd);

}  // namespace xq
