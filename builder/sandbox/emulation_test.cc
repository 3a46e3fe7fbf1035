#include "builder/sandbox/emulation.h"

#include "gtest/gtest.h"

namespace kiln::builder::sandbox {
namespace {

oci::Platform P(const char* text) { return *oci::Platform::Parse(text); }

TEST(EmulationTest, NativePlatforms) {
  EXPECT_TRUE(RunsNatively(P("linux/amd64"), P("linux/amd64")));
  EXPECT_TRUE(RunsNatively(P("linux/amd64/v3"), P("linux/amd64")));
  EXPECT_TRUE(RunsNatively(P("linux/386"), P("linux/amd64")));
  EXPECT_FALSE(RunsNatively(P("linux/arm64"), P("linux/amd64")));
  EXPECT_FALSE(RunsNatively(P("linux/amd64"), P("linux/arm64")));
  EXPECT_TRUE(RunsNatively(P("linux/arm64/v8"), P("linux/arm64")));
}

TEST(EmulationTest, QemuNames) {
  EXPECT_EQ(*QemuArch(P("linux/arm64")), "aarch64");
  EXPECT_EQ(*QemuArch(P("linux/arm/v7")), "arm");
  EXPECT_EQ(*QemuArch(P("linux/amd64")), "x86_64");
  EXPECT_EQ(*QemuArch(P("linux/386")), "i386");
  EXPECT_EQ(*QemuArch(P("linux/mips64le")), "mips64el");
  EXPECT_FALSE(QemuArch(P("linux/vax")).ok());
  EXPECT_FALSE(QemuArch(P("windows/arm64")).ok());
}

TEST(EmulationTest, PrivateRegistrationRenamesAndFixes) {
  // Debian's /usr/lib/binfmt.d/qemu-aarch64.conf, as written.
  const char debian[] =
      ":qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
      "\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff"
      "\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OCP\n";
  auto reg = PrivateRegistration(debian, "aarch64");
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(reg->rfind(":kiln-aarch64:M::\\x7fELF", 0), 0u) << *reg;
  EXPECT_EQ(reg->substr(reg->size() - 47), ":/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OCPF");
  // Already fixed: kept as is.
  auto fixed = PrivateRegistration(":q:M::\\x7f:\\xff:/usr/bin/qemu-arm-static:F", "arm");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(*fixed, ":kiln-arm:M::\\x7f:\\xff:/usr/bin/qemu-arm-static:F");
  // Another delimiter.
  auto other = PrivateRegistration("|q|M||\\x7f|\\xff|/usr/bin/qemu-arm-static|", "arm");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, "|kiln-arm|M||\\x7f|\\xff|/usr/bin/qemu-arm-static|F");
  EXPECT_FALSE(PrivateRegistration(":q:E::exe::/usr/bin/wine:", "x").ok());   // by extension
  EXPECT_FALSE(PrivateRegistration(":q:M::\\x7f:\\xff:qemu:F", "arm").ok());  // no path
  EXPECT_FALSE(PrivateRegistration(":q:M::\\x7f", "arm").ok());
  EXPECT_FALSE(PrivateRegistration("", "arm").ok());
}

TEST(EmulationTest, HostHandlerEntries) {
  const char entry[] =
      "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n"
      "magic 7f454c460201010000000000000000000200b700\n";
  EXPECT_TRUE(HandlesArch(entry, "aarch64"));
  EXPECT_FALSE(HandlesArch(entry, "arm"));
  EXPECT_TRUE(HandlesArch("enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: F\n", "arm"));
  // Without F the emulator would have to be inside the image.
  EXPECT_FALSE(HandlesArch("enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: P\n", "arm"));
  EXPECT_FALSE(HandlesArch("disabled\ninterpreter /usr/bin/qemu-arm-static\nflags: F\n", "arm"));
}

TEST(EmulationTest, KernelVersions) {
  EXPECT_TRUE(KernelHasPrivateBinfmt("6.7.0"));
  EXPECT_TRUE(KernelHasPrivateBinfmt("6.18.44-fc-v1045"));
  EXPECT_TRUE(KernelHasPrivateBinfmt("7.0-rc1"));
  EXPECT_FALSE(KernelHasPrivateBinfmt("6.6.30-generic"));
  EXPECT_FALSE(KernelHasPrivateBinfmt("5.15.0"));
  EXPECT_FALSE(KernelHasPrivateBinfmt("garbage"));
}

TEST(EmulationTest, NativeNeedsNothing) {
  auto none = EmulationFor(oci::Platform::Host(), /*private_allowed=*/false);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace kiln::builder::sandbox
