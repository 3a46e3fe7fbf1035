// --ssh values, the relay a step's agent socket is, and an agent of the build's own with a
// real key (ssh-keygen, ssh-agent and ssh-add from openssh-client).
#include "builder/ssh_agent.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "base/file_util.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

UniqueFd Listen(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

// Connects through the directory's descriptor, so `path` may be longer than an address.
UniqueFd Dial(const std::string& path) {
  UniqueFd dir(::open(Dirname(path).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string name = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + Basename(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, name.c_str());
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
  return fd;
}

std::string Output(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

class SshAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp/kiln-ssh-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }
  std::optional<TempDir> dir_;
};

TEST_F(SshAgentTest, SshValues) {
  std::string sock = dir_->path() + "/agent.sock";
  UniqueFd listening = Listen(sock);
  std::string key = dir_->path() + "/id";
  ASSERT_TRUE(WriteFileAtomic(key, "not really a key").ok());
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "SSH_AUTH_SOCK") return sock;
    return std::nullopt;
  };
  auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  SshSources out;
  ASSERT_TRUE(AddSshSource("default", env, &out).ok());
  EXPECT_EQ(out["default"].socket, sock);
  ASSERT_TRUE(AddSshSource("gh=" + key, none, &out).ok());
  EXPECT_EQ(out["gh"].keys, std::vector<std::string>{key});
  ASSERT_TRUE(AddSshSource("both=" + key + "," + key, none, &out).ok());
  EXPECT_EQ(out["both"].keys.size(), 2u);
  EXPECT_FALSE(AddSshSource("default", none, &out).ok());  // no SSH_AUTH_SOCK
  EXPECT_FALSE(AddSshSource("x=" + sock + "," + key, none, &out).ok());
  EXPECT_FALSE(AddSshSource("x=/nonexistent", none, &out).ok());
  EXPECT_FALSE(AddSshSource("x=" + dir_->path(), none, &out).ok());  // a directory
  EXPECT_FALSE(AddSshSource("=" + key, none, &out).ok());
}

TEST_F(SshAgentTest, ForwardRelaysBothWaysWithItsOwnerAndMode) {
  std::string agent_path = dir_->path() + "/agent.sock";
  UniqueFd agent = Listen(agent_path);
  std::thread echo([&] {  // one connection: answers each read with "ack:" + what it read
    UniqueFd c(::accept(agent.get(), nullptr, nullptr));
    char buf[256];
    ssize_t n;
    while ((n = ::read(c.get(), buf, sizeof buf)) > 0) {
      std::string reply = "ack:" + std::string(buf, n);
      ASSERT_EQ(::write(c.get(), reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
    }
  });
  // Deeper than a socket address holds (107 bytes).
  std::string path = dir_->path() + "/" + std::string(120, 's') + "/ssh-0.sock";
  {
    auto forward = AgentForward::Start(agent_path, path, ::getuid(), ::getgid(), 0600);
    ASSERT_TRUE(forward.ok()) << forward.status();
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, ::getuid());
    UniqueFd c = Dial(path);
    ASSERT_EQ(::write(c.get(), "hello", 5), 5);
    char buf[64];
    ssize_t n = ::read(c.get(), buf, sizeof buf);
    EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "ack:hello");
    // The forward going closes what is still open: the step's end is the agent's too.
  }
  echo.join();
}

TEST_F(SshAgentTest, OwnAgentHoldsTheKeysGiven) {
  std::string key = dir_->path() + "/id_ed25519";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -C kiln-test -f " + key).c_str()), 0)
      << "ssh-keygen (openssh-client) is needed";
  std::string fingerprint = Output("ssh-keygen -lf " + key + ".pub | cut -d' ' -f2");
  ASSERT_FALSE(fingerprint.empty());
  std::string socket;
  {
    auto agent = OwnAgent::Start({key});
    ASSERT_TRUE(agent.ok()) << agent.status();
    socket = (*agent)->socket();
    std::string listed = Output("SSH_AUTH_SOCK=" + socket + " ssh-add -l");
    EXPECT_NE(listed.find(fingerprint.substr(0, fingerprint.size() - 1)), std::string::npos)
        << listed;
  }
  EXPECT_FALSE(PathExists(socket));  // stopped with the object

  std::string locked = dir_->path() + "/locked";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N passphrase -f " + locked).c_str()), 0);
  auto refused = OwnAgent::Start({locked});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("passphrase"), std::string::npos) << refused.status();
}

}  // namespace
}  // namespace kiln::builder
