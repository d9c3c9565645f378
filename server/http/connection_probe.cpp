#include "server/http/connection_probe.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace xq {
namespace {

bool AddressMatches(const sockaddr_storage& addr, socklen_t len, const std::string& host,
                    int port) {
  char host_buf[NI_MAXHOST];
  char port_buf[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host_buf, sizeof(host_buf),
                    port_buf, sizeof(port_buf), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  return std::atoi(port_buf) == port && (host.empty() || host == host_buf);
}

int FindSocket(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
      continue;
    }
    if (!AddressMatches(peer, peer_len, remote_addr, remote_port)) continue;
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        !AddressMatches(local, local_len, "", local_port)) {
      continue;
    }
    found = static_cast<int>(fd);
    break;
  }
  ::closedir(dir);
  return found;
}

}  // namespace

bool SocketPeerClosed(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    // Readable: either a pipelined request (alive) or end of stream (closed).
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

ConnectionProbe::ConnectionProbe(const std::string& remote_addr, int remote_port, int local_port)
    : fd_(FindSocket(remote_addr, remote_port, local_port)) {}

bool ConnectionProbe::PeerClosed() const { return fd_ >= 0 && SocketPeerClosed(fd_); }

}  // namespace xq
