#include "builder/secrets.h"

#include <string>

#include "base/file_util.h"
#include "gtest/gtest.h"

namespace kiln::builder {
namespace {

std::optional<std::string> Env(const std::string& name) {
  if (name == "API_TOKEN") return "from-env";
  if (name == "BIG") return std::string(kMaxSecretSize + 1, 'x');
  return std::nullopt;
}

absl::StatusOr<Secrets> Parse(absl::string_view spec) {
  Secrets out;
  absl::Status s = AddSecret(spec, Env, &out);
  if (!s.ok()) return s;
  return out;
}

TEST(SecretsTest, FileEnvAndTheIdAsVariable) {
  auto dir = TempDir::Create("/tmp/kiln-secrets-");
  ASSERT_TRUE(dir.ok());
  std::string file = dir->path() + "/creds";
  ASSERT_TRUE(WriteFileAtomic(file, "s3cr3t\n").ok());

  auto s = Parse("id=aws,src=" + file);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("aws"), "s3cr3t\n");
  s = Parse("id=aws,source=" + file + ",type=file");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("aws"), "s3cr3t\n");
  s = Parse("src=" + file);  // the id is the file's name
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("creds"), "s3cr3t\n");

  s = Parse("id=tok,env=API_TOKEN");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("tok"), "from-env");
  s = Parse("id=tok,type=env,src=API_TOKEN");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("tok"), "from-env");
  s = Parse("id=API_TOKEN");  // neither: the variable named like the id
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("API_TOKEN"), "from-env");
  s = Parse("env=API_TOKEN");  // the id is the variable's name
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->at("API_TOKEN"), "from-env");
}

TEST(SecretsTest, BadValuesAreOneClearError) {
  for (const char* spec :
       {"", "id=", "id=x,env=NOT_SET", "id=x,src=/nonexistent/file", "id=x,src=a,env=b",
        "id=x,type=ssh", "id=x,colour=red", "justaword", "id=x,env=BIG"}) {
    auto s = Parse(spec);
    EXPECT_FALSE(s.ok()) << spec;
    if (!s.ok() && std::string(spec) != "id=x,src=/nonexistent/file") {
      EXPECT_NE(s.status().message().find("--secret"), std::string::npos) << s.status();
    }
  }
}

TEST(SecretsTest, AFileOverTheLimitIsRefused) {
  auto dir = TempDir::Create("/tmp/kiln-secrets-");
  ASSERT_TRUE(dir.ok());
  std::string file = dir->path() + "/big";
  ASSERT_TRUE(WriteFileAtomic(file, std::string(kMaxSecretSize + 1, 'x')).ok());
  EXPECT_FALSE(Parse("id=big,src=" + file).ok());
  ASSERT_TRUE(WriteFileAtomic(file, std::string(kMaxSecretSize, 'x')).ok());
  EXPECT_TRUE(Parse("id=big,src=" + file).ok());
}

TEST(SecretsTest, NamesThatLookLikeSecrets) {
  for (const char* name : {"API_TOKEN", "GITHUB_TOKEN", "DB_PASSWORD", "aws_secret_access_key",
                           "SSH_KEY", "NPM_AUTH", "apikey", "my-secret", "PASS"}) {
    EXPECT_TRUE(LooksLikeSecret(name)) << name;
  }
  for (const char* name :
       {"MONKEY", "KEYBOARD_LAYOUT", "PUBLIC_KEY", "VERSION", "PATH", "TOKENIZER", "PASSAGE", ""}) {
    EXPECT_FALSE(LooksLikeSecret(name)) << name;
  }
  EXPECT_NE(SecretNameWarning("ARG", "API_TOKEN").find("--secret"), std::string::npos);
}

}  // namespace
}  // namespace kiln::builder
