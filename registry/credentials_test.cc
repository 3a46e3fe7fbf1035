#include "registry/credentials.h"

#include <sys/stat.h>

#include <cstdlib>

#include "base/file_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kiln::registry {
namespace {

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create(std::string(std::getenv("TEST_TMPDIR")) + "/cred-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    path_ = dir_->path() + "/config.json";
  }
  std::optional<TempDir> dir_;
  std::string path_;
};

TEST_F(CredentialsTest, MissingFileHasNoCredentials) {
  auto f = AuthFile::Load(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = f->Lookup("localhost:5000");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
}

TEST_F(CredentialsTest, ReadsDockerFormat) {
  // "dXNlcjpwYTpzcw==" is "user:pa:ss" (a password may hold ':').
  auto f = AuthFile::Parse(R"({"auths":{"localhost:5000":{"auth":"dXNlcjpwYTpzcw=="},
      "https://index.docker.io/v1/":{"identitytoken":"refresh"},
      "http://old.example/v1/":{"auth":"YTpi"}}})",
                           "x");
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = f->Lookup("localhost:5000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->username, "user");
  EXPECT_EQ(c->password, "pa:ss");
  auto hub = f->Lookup("docker.io");
  ASSERT_TRUE(hub.ok());
  EXPECT_EQ(hub->identity_token, "refresh");
  auto old = f->Lookup("old.example");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->username, "a");
  EXPECT_TRUE(f->Lookup("other:1")->empty());
}

TEST_F(CredentialsTest, RejectsBadFiles) {
  EXPECT_FALSE(AuthFile::Parse("[1]", "x").ok());
  EXPECT_FALSE(AuthFile::Parse(R"({"auths":[]})", "x").ok());
  auto f = AuthFile::Parse(R"({"auths":{"h":{"auth":"bm9jb2xvbg=="}}})", "x");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->Lookup("h").ok());  // "nocolon"
}

TEST_F(CredentialsTest, StoreKeepsOtherKeysAndIsPrivate) {
  ASSERT_TRUE(WriteFileAtomic(path_, R"({"psFormat":"table","auths":{"a":{"auth":"YTpi"}}})").ok());
  auto f = AuthFile::Load(path_);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Store("localhost:5000", {"me", "secret", ""}).ok());
  ASSERT_TRUE(f->Store("docker.io", {"hub", "pw", ""}).ok());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto text = ReadFile(path_, 1 << 20);
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["psFormat"], "table");
  EXPECT_EQ(j["auths"]["a"]["auth"], "YTpi");
  EXPECT_EQ(j["auths"]["localhost:5000"]["auth"], "bWU6c2VjcmV0");
  EXPECT_EQ(j["auths"]["https://index.docker.io/v1/"]["auth"], "aHViOnB3");

  auto again = AuthFile::Load(path_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Lookup("localhost:5000")->password, "secret");
  ASSERT_TRUE(again->Erase("localhost:5000").ok());
  EXPECT_TRUE(AuthFile::Load(path_)->Lookup("localhost:5000")->empty());
  EXPECT_TRUE(absl::IsNotFound(again->Erase("localhost:5000")));
}

TEST_F(CredentialsTest, CredentialHelperProtocol) {
  // A helper speaking docker-credential-helpers' protocol, keeping its secrets in a file.
  std::string bin = dir_->path() + "/bin";
  ASSERT_TRUE(MakeDirs(bin).ok());
  std::string store = dir_->path() + "/helper-store";
  std::string script = "#!/bin/sh\nstore=" + store + R"(
case "$1" in
  get) read url; if [ -f "$store" ] && grep -q "\"ServerURL\":\"$url\"" "$store"; then
         sed 's/"ServerURL":"[^"]*",//' "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) cat > "$store" ;;
  erase) read url; rm -f "$store" ;;
esac
)";
  ASSERT_TRUE(WriteFileAtomic(bin + "/docker-credential-kilntest", script, 0755).ok());
  std::string path = std::string(std::getenv("PATH"));
  setenv("PATH", (bin + ":" + path).c_str(), 1);

  auto f = AuthFile::Parse(R"({"credHelpers":{"reg.example:5000":"kilntest"}})", path_);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->Lookup("reg.example:5000")->empty());
  ASSERT_TRUE(f->Store("reg.example:5000", {"u", "p", ""}).ok());
  auto c = f->Lookup("reg.example:5000");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->password, "p");
  // Not the helper's registry: nothing.
  EXPECT_TRUE(f->Lookup("other.example")->empty());
  ASSERT_TRUE(f->Erase("reg.example:5000").ok());
  EXPECT_TRUE(f->Lookup("reg.example:5000")->empty());

  auto missing = AuthFile::Parse(R"({"credsStore":"kiln-no-such-helper"})", path_);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->Lookup("x").ok());
  setenv("PATH", path.c_str(), 1);
}

}  // namespace
}  // namespace kiln::registry
