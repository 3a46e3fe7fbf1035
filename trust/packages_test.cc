#include "trust/packages.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::trust {
namespace {

TEST(PackagesTest, DpkgStatusListsInstalledPackages) {
  auto pkgs = ParseDpkgStatus(R"(Package: libssl3
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 This package is part of the OpenSSL project's implementation.
 .
 Second paragraph.

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: bash
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Source: bash (5.2.15-2)
)");
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  ASSERT_EQ(pkgs->size(), 2u);
  EXPECT_EQ((*pkgs)[0].name, "libssl3");
  EXPECT_EQ((*pkgs)[0].version, "3.0.11-1~deb12u2");
  EXPECT_EQ((*pkgs)[0].source, "openssl");
  EXPECT_EQ((*pkgs)[1].source, "bash");
  std::map<std::string, std::string> os = {{"ID", "debian"}, {"VERSION_ID", "12"}};
  EXPECT_EQ(PackageUrl((*pkgs)[0], os),
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl");
  EXPECT_EQ(PackageUrl((*pkgs)[1], os),
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12");
  // status.d entries (distroless) have no Status field.
  auto one = ParseDpkgStatus("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST(PackagesTest, ApkInstalledAndOsRelease) {
  auto pkgs = ParseApkInstalled(
      "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:busybox\nV:1.36.1-r5\n"
      "A:x86_64\nL:GPL-2.0-only\n\nV:no-name\n");
  ASSERT_TRUE(pkgs.ok()) << pkgs.status();
  ASSERT_EQ(pkgs->size(), 2u);
  EXPECT_EQ((*pkgs)[1].license, "GPL-2.0-only");
  auto os = ParseOsRelease("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\n# c\n");
  EXPECT_EQ(os["NAME"], "Alpine Linux");
  EXPECT_EQ(PackageUrl((*pkgs)[0], os), "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4");
  EXPECT_EQ(PackageUrl((*pkgs)[0], {}), "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64");
}

TEST(PackagesTest, CapsHold) {
  EXPECT_FALSE(ParseDpkgStatus(std::string(kMaxPackageDbSize + 1, 'x')).ok());
  std::string many;
  for (size_t i = 0; i <= kMaxPackages; ++i) many += "P:a\nV:1\n\n";
  EXPECT_FALSE(ParseApkInstalled(many).ok());
}

TEST(PackagesTest, PythonAndNpm) {
  auto py = ParsePythonMetadata(
      "Metadata-Version: 2.1\nName: Zope.Interface_x\nVersion: 6.1\nLicense: ZPL-2.1\n\n"
      "Name: not-this\n");
  ASSERT_TRUE(py);
  EXPECT_EQ(py->name, "Zope.Interface_x");
  EXPECT_EQ(py->license, "ZPL-2.1");
  EXPECT_EQ(PackageUrl(*py, {}), "pkg:pypi/zope-interface-x@6.1");
  EXPECT_FALSE(ParsePythonMetadata("Metadata-Version: 2.1\nName: x\n"));
  auto npm = ParsePackageJson(R"({"name": "@types/node", "version": "20.1.0",
                                  "license": {"type": "MIT"}})");
  ASSERT_TRUE(npm);
  EXPECT_EQ(npm->license, "MIT");
  EXPECT_EQ(PackageUrl(*npm, {}), "pkg:npm/%40types/node@20.1.0");
  EXPECT_FALSE(ParsePackageJson("{\"name\": 1}"));
  EXPECT_FALSE(ParsePackageJson("not json"));
  EXPECT_EQ(PackageFileType("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"), "pypi");
  EXPECT_EQ(PackageFileType("x/y.egg-info/PKG-INFO"), "pypi");
  EXPECT_EQ(PackageFileType("app/node_modules/left-pad/package.json"), "npm");
  EXPECT_EQ(PackageFileType("app/node_modules/@types/node/package.json"), "npm");
  EXPECT_EQ(PackageFileType("app/package.json"), "");
  EXPECT_EQ(PackageFileType("app/node_modules/left-pad/lib/package.json"), "");
}

std::string Varint(size_t n) {
  std::string out;
  while (n >= 0x80) {
    out += static_cast<char>(0x80 | (n & 0x7f));
    n >>= 7;
  }
  return out + static_cast<char>(n);
}

// The layout Go 1.18+ writes: the 32-byte header, then length-prefixed version and module
// information (the latter between 16-byte sentinels).
std::string GoBuildInfo(const std::string& version, const std::string& mods) {
  std::string info = std::string(16, 'S') + mods + std::string(16, 'E');
  std::string out(kGoBuildInfoMagic);
  out += '\x08';
  out += '\x02';
  out += std::string(16, '\0');
  return out + Varint(version.size()) + version + Varint(info.size()) + info;
}

TEST(PackagesTest, GoBuildInfo) {
  std::string mods =
      "path\texample.com/app/cmd/app\nmod\texample.com/app\tv1.2.3\th1:a=\n"
      "dep\tgolang.org/x/sys\tv0.15.0\th1:b=\ndep\tgithub.com/a/b\tv1.0.0\th1:c=\n"
      "=>\tgithub.com/fork/b\tv1.0.1\th1:d=\nbuild\t-compiler=gc\n";
  std::vector<Package> pkgs = ParseGoBuildInfo(GoBuildInfo("go1.21.5", mods) + "trailing");
  ASSERT_EQ(pkgs.size(), 4u);
  EXPECT_EQ(pkgs[0].name, "stdlib");
  EXPECT_EQ(pkgs[0].version, "go1.21.5");
  EXPECT_EQ(pkgs[1].name, "example.com/app");
  EXPECT_EQ(pkgs[3].name, "github.com/fork/b");  // the replacement
  EXPECT_EQ(PackageUrl(pkgs[2], {}), "pkg:golang/golang.org/x/sys@v0.15.0");
  // No modules (GOPATH builds, as Debian's): the toolchain only.
  EXPECT_EQ(ParseGoBuildInfo(GoBuildInfo("go1.19.8", "path\tx\nbuild\tGOOS=linux\n")).size(), 1u);
  // Truncated, the old pointer layout, garbage: nothing.
  std::string whole = GoBuildInfo("go1.21.5", mods);
  for (size_t n : {size_t{0}, size_t{20}, size_t{33}, whole.size() / 2}) {
    std::vector<Package> partial = ParseGoBuildInfo(whole.substr(0, n));
    EXPECT_TRUE(partial.empty()) << n;
  }
  std::string old = whole;
  old[15] = '\0';
  EXPECT_TRUE(ParseGoBuildInfo(old).empty());
  EXPECT_TRUE(ParseGoBuildInfo(std::string(kGoBuildInfoMagic) + std::string(18, '\xff')).empty());
}

}  // namespace
}  // namespace kiln::trust
