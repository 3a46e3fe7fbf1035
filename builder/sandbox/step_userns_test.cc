#include "builder/sandbox/step_userns.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

constexpr char kPasswd[] = "root:x:0:0:root:/root:/bin/sh\nme:x:1000:1000::/home/me:/bin/sh\n";
constexpr char kGroup[] = "root:x:0:\nme:x:1000:\n";

TEST(ChooseStepIdsTest, RootsOwnRangeWins) {
  auto r =
      ChooseStepIds(kPasswd, kGroup, "me:100000:65536\nroot:300000:70000\n", "0:400000:65536\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->uid_base, 300000u);
  EXPECT_EQ(r->gid_base, 400000u);
  EXPECT_EQ(r->count, 65536u);
}

TEST(ChooseStepIdsTest, DefaultRangeWhenRootHasNone) {
  auto r = ChooseStepIds(kPasswd, kGroup, "me:100000:65536\n", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->uid_base, kDefaultStepIdBase);
  EXPECT_EQ(r->gid_base, kDefaultStepIdBase);
  EXPECT_EQ(r->count, kStepIdCount);
}

TEST(ChooseStepIdsTest, DefaultRangeMustBeUnused) {
  std::string passwd = std::string(kPasswd) + "svc:x:1879048200:100::/:/bin/false\n";
  auto r = ChooseStepIds(passwd, kGroup, "", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "RUN steps run as host ids 1879048192-1879113727, but user svc (1879048200) is in "
            "that range; give root a range of its own in /etc/subuid and /etc/subgid (a line "
            "\"root:START:65536\" in each), or build with --userns=host");
  EXPECT_FALSE(ChooseStepIds(kPasswd, "g:x:1879050000:\n", "", "").ok());
  EXPECT_FALSE(ChooseStepIds(kPasswd, kGroup, "me:1879000000:100000\n", "").ok());
  EXPECT_FALSE(ChooseStepIds(kPasswd, kGroup, "", "me:1879100000:65536\n").ok());
  EXPECT_TRUE(ChooseStepIds(kPasswd, kGroup, "me:1879113728:65536\n", "").ok());
}

TEST(StepUserNamespaceTest, MapsTheRangeAndIdmapsTrees) {
  ASSERT_EQ(::geteuid(), 0u);
  auto ns = StepUserNamespace::Create({1879048192, 1879048192, 65536});
  ASSERT_TRUE(ns.ok()) << ns.status();
  // A process that joins it sees the mapping.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setns((*ns)->fd(), CLONE_NEWUSER) != 0) ::_exit(1);
    int fd = ::open("/proc/self/uid_map", O_RDONLY);
    char buf[128];
    ssize_t n = ::read(fd, buf, sizeof buf);
    (void)!::write(fds[1], buf, n > 0 ? n : 0);
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[128] = {};
  ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  ASSERT_GT(n, 0);
  EXPECT_STREQ(buf, "         0 1879048192      65536\n");

  // Files of a tree seen through the idmapped copy: on-disk 1000 is host 1879049192.
  auto dir = TempDir::Create("/var/tmp/kiln-userns-test-");
  ASSERT_TRUE(dir.ok());
  std::string file = dir->path() + "/f";
  ASSERT_TRUE(WriteFileAtomic(file, "x").ok());
  ASSERT_EQ(::chown(file.c_str(), 1000, 1000), 0);
  auto tree = DetachedTree(dir->path(), (*ns)->fd(), MOUNT_ATTR_NODEV);
  ASSERT_TRUE(tree.ok()) << tree.status();
  struct stat st;
  ASSERT_EQ(::fstatat(tree->get(), "f", &st, 0), 0);
  EXPECT_EQ(st.st_uid, 1879049192u);
  EXPECT_EQ(st.st_gid, 1879049192u);
  // Without an idmap the copy shows the ids as they are.
  auto plain = DetachedTree(dir->path(), -1, 0);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_EQ(::fstatat(plain->get(), "f", &st, 0), 0);
  EXPECT_EQ(st.st_uid, 1000u);
}

}  // namespace
}  // namespace kiln::builder::sandbox
