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

}  // namespace
}  // namespace kiln::trust
