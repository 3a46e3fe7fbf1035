// The private network against the real slirp4netns (needs root). The test first moves itself
// into a network and mount namespace of its own, with an "outside" address 198.51.100.1 on a
// veth pair, a DNS server of the test's there, and /etc/resolv.conf pointing at it, so
// nothing here reaches beyond this machine: the step's "internet" is that namespace.
#include "builder/sandbox/network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

constexpr char kOutside[] = "198.51.100.1";

int Listen(int family, const char* addr, int port, int type = SOCK_STREAM) {
  int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << addr << ":" << port;
  if (type == SOCK_STREAM) ::listen(fd, 16);
  return fd;
}

// 0 when a TCP connection to addr:port is made within a second, else the errno.
int Connect(const char* addr, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p = {fd, POLLOUT, 0};
    if (::poll(&p, 1, 1000) != 1) {
      err = ETIMEDOUT;
    } else {
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
  }
  ::close(fd);
  return err;
}

// Runs `body` in a child inside the lent namespace; returns its exit status.
int InNetns(int netns_fd, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(250);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// Answers every A query with 198.51.100.7, until stopped.
class DnsServer {
 public:
  DnsServer() : fd_(Listen(AF_INET, kOutside, 53, SOCK_DGRAM)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~DnsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p = {fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      unsigned char q[512];
      sockaddr_in from;
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      unsigned char r[600];
      std::memcpy(r, q, n);
      r[2] = 0x81;         // a response, recursion desired
      r[3] = 0x80;         // recursion available, no error
      r[6] = 0, r[7] = 1;  // one answer
      size_t at = n;
      const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7};
      std::memcpy(r + at, answer, sizeof answer);
      ::sendto(fd_, r, at + sizeof answer, 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
  int fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The A record of `name` from the DNS server at `server` (198.51.100.7 expected), or "".
std::string Resolve(const char* server, const char* name) {
  unsigned char q[256] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t at = 12;
  const char* p = name;
  while (*p) {
    const char* dot = std::strchr(p, '.');
    size_t len = dot ? dot - p : std::strlen(p);
    q[at++] = static_cast<unsigned char>(len);
    std::memcpy(q + at, p, len);
    at += len;
    p += len + (dot ? 1 : 0);
  }
  q[at++] = 0;
  q[at++] = 0, q[at++] = 1, q[at++] = 0, q[at++] = 1;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  ::inet_pton(AF_INET, server, &sa.sin_addr);
  ::sendto(fd, q, at, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  pollfd pf = {fd, POLLIN, 0};
  unsigned char r[600];
  ssize_t n = ::poll(&pf, 1, 3000) == 1 ? ::recv(fd, r, sizeof r, 0) : -1;
  ::close(fd);
  if (n < 4) return "";
  char text[32];
  snprintf(text, sizeof text, "%d.%d.%d.%d", r[n - 4], r[n - 3], r[n - 2], r[n - 1]);
  return text;
}

class NetworkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0u) << "the network tests need root";
    ASSERT_EQ(::unshare(CLONE_NEWNET | CLONE_NEWNS), 0);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    ASSERT_EQ(std::system("ip link set lo up && ip link add kiln0 type veth peer name kiln1 && "
                          "ip addr add 198.51.100.1/24 dev kiln0 && ip link set kiln0 up && "
                          "ip link set kiln1 up && "
                          "ip route add default dev kiln0"),
              0);
    auto dir = MakeTempDir("/var/tmp/kiln-network-test-");
    ASSERT_TRUE(dir.ok());
    std::string resolv = *dir + "/resolv.conf";
    ASSERT_TRUE(WriteFileAtomic(resolv, "nameserver 198.51.100.1\nsearch example.test\n").ok());
    ASSERT_EQ(::mount(resolv.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr), 0);
  }
};

TEST_F(NetworkTest, OutboundWorksHostLoopbackAndAbstractSocketsDoNot) {
  int outside = Listen(AF_INET, kOutside, 8080);
  int loopback = Listen(AF_INET, "127.0.0.1", 8081);
  int abstract = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un = {};
  un.sun_family = AF_UNIX;
  const char kName[] = "\0kiln-network-test";
  std::memcpy(un.sun_path, kName, sizeof kName - 1);
  socklen_t un_len = offsetof(sockaddr_un, sun_path) + sizeof kName - 1;
  ASSERT_EQ(::bind(abstract, reinterpret_cast<sockaddr*>(&un), un_len), 0);
  ::listen(abstract, 4);

  NetworkPool pool(-1);
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  int netns = lease->netns_fd();
  EXPECT_EQ(InNetns(netns, [] { return Connect(kOutside, 8080); }), 0);
  EXPECT_NE(InNetns(netns, [] { return Connect("10.0.2.2", 8081); }), 0);  // the gateway
  EXPECT_NE(InNetns(netns, [] { return Connect("127.0.0.1", 8081); }), 0);
  EXPECT_NE(InNetns(netns,
                    [&] {
                      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
                      return ::connect(fd, reinterpret_cast<sockaddr*>(&un), un_len) == 0 ? 0
                                                                                          : errno;
                    }),
            0);
  // Only the namespace's own interfaces.
  EXPECT_EQ(InNetns(netns,
                    [] {
                      if (if_nametoindex("kiln0") != 0) return 1;
                      if (if_nametoindex("eth0") == 0) return 2;
                      if (if_nametoindex("lo") == 0) return 3;
                      return 0;
                    }),
            0);
  ::close(outside);
  ::close(loopback);
  ::close(abstract);
}

TEST_F(NetworkTest, NamesResolveThroughTheForwarder) {
  DnsServer dns;
  ASSERT_EQ(Resolve(kOutside, "outside.test"), "198.51.100.7");  // the server itself works
  NetworkPool pool(-1);
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(InNetns(lease->netns_fd(),
                    [] { return Resolve("10.0.2.3", "outside.test") == "198.51.100.7" ? 0 : 1; }),
            0);
}

TEST_F(NetworkTest, NamespacesAreLentOneStepAtATime) {
  NetworkPool pool(-1);
  int first_fd;
  {
    auto a = pool.Acquire();
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = pool.Acquire();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_NE(a->netns_fd(), b->netns_fd());  // two steps at once: two namespaces
    first_fd = a->netns_fd();
  }
  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->netns_fd(), first_fd);  // given back, lent again
}

TEST_F(NetworkTest, MissingSlirp4netnsIsOneClearError) {
  NetworkPool pool(-1, "slirp4netns-not-installed");
  auto lease = pool.Acquire();
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().message(),
            "the private network of RUN steps needs slirp4netns-not-installed (Debian package "
            "slirp4netns); or build with --network=none or --network=host");
}

TEST(PrivateResolvConfTest, KeepsSearchAndOptions) {
  EXPECT_EQ(PrivateResolvConf("# made by x\nnameserver 127.0.0.53\nsearch a.example b\n"
                              "options edns0 trust-ad\n"),
            "nameserver 10.0.2.3\nsearch a.example b\noptions edns0 trust-ad\n");
}

}  // namespace
}  // namespace kiln::builder::sandbox
