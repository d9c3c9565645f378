// SocketPeerClosed: whether the client of a connection has gone away, so a request can be
// cancelled while it waits on the engine. Checked from the handler's thread on the socket the
// transport owns, without reading from it.
#pragma once

namespace xq {

// Polls for hang-up, or an orderly close seen by peeking (pipelined bytes mean the client is
// still there). A half-close reads the same as a close: TCP cannot tell them apart.
bool SocketPeerClosed(int fd);

}  // namespace xq
