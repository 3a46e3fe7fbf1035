#include "builder/sandbox/capabilities.h"

#include <linux/capability.h>

#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

TEST(CapabilitiesTest, DefaultIsDockersSet) {
  EXPECT_EQ(CapabilitySet::Default().ToString(),
            "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_SETGID,CAP_SETUID,"
            "CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_SYS_CHROOT,CAP_MKNOD,"
            "CAP_AUDIT_WRITE,CAP_SETFCAP");
  // The bounding set a step had before: 0xa80425fb.
  EXPECT_EQ(CapabilitySet::Default().bits(), 0xa80425fbu);
}

TEST(CapabilitiesTest, NamesInEverySpelling) {
  EXPECT_EQ(CapabilityFromName("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
  EXPECT_EQ(CapabilityFromName("sys_admin"), CAP_SYS_ADMIN);
  EXPECT_EQ(CapabilityFromName("Net_Admin"), CAP_NET_ADMIN);
  EXPECT_EQ(CapabilityFromName("CAP_CHECKPOINT_RESTORE"), CAP_CHECKPOINT_RESTORE);
  EXPECT_EQ(CapabilityFromName("CAP_FLY"), -1);
  EXPECT_EQ(CapabilityName(CAP_BPF), "CAP_BPF");
  EXPECT_EQ(CapabilityName(99), "");
}

TEST(CapabilitiesTest, AddThenDrop) {
  auto set = CapabilitySet::FromFlags({"NET_ADMIN", "sys_ptrace"}, {"CAP_NET_RAW", "mknod"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->Has(CAP_NET_ADMIN));
  EXPECT_TRUE(set->Has(CAP_SYS_PTRACE));
  EXPECT_FALSE(set->Has(CAP_NET_RAW));
  EXPECT_FALSE(set->Has(CAP_MKNOD));
  EXPECT_TRUE(set->Has(CAP_CHOWN));

  auto none = CapabilitySet::FromFlags({}, {"ALL"});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->bits(), 0u);
  auto only = CapabilitySet::FromFlags({"all"}, {"SYS_ADMIN"});
  ASSERT_TRUE(only.ok());
  EXPECT_TRUE(only->Has(CAP_SYS_MODULE));
  EXPECT_FALSE(only->Has(CAP_SYS_ADMIN));
}

TEST(CapabilitiesTest, UnknownNameIsOneClearError) {
  auto set = CapabilitySet::FromFlags({"CAP_FLY"}, {});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(), "--cap-add: unknown capability \"CAP_FLY\"");
  EXPECT_EQ(CapabilitySet::FromFlags({}, {"x"}).status().message(),
            "--cap-drop: unknown capability \"x\"");
}

}  // namespace
}  // namespace kiln::builder::sandbox
