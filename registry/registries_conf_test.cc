#include "registry/registries_conf.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::registry {
namespace {

std::vector<std::string> Sources(const RegistriesConf& conf, const std::string& ref) {
  auto parsed = oci::Reference::Parse(ref);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  auto sources = conf.PullSources(*parsed);
  if (!sources.ok()) return {std::string(sources.status().message())};
  std::vector<std::string> out;
  for (const PullSource& s : *sources) {
    out.push_back(
        absl::StrCat(s.ref.String(), s.mirror ? " mirror" : "", s.insecure ? " insecure" : ""));
  }
  return out;
}

constexpr char kConf[] = R"(# a registries.conf as Podman ships one, plus mirrors
unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "mirror.local:5000"
insecure = true

[[registry.mirror]]
location = "mirror2.local/hub"  # a path in the mirror

[[registry]]
prefix = "example.com/team"
location = "internal.example:5000/team-mirror"
mirror-by-digest-only = true
[[registry.mirror]]
location = 'digest.mirror'

[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "tags.mirror"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "*.blocked.example"
blocked = true

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
)";

TEST(RegistriesConfTest, MirrorsFirstThenTheRegistry) {
  auto conf = RegistriesConf::Parse(kConf, "registries.conf");
  ASSERT_TRUE(conf.ok()) << conf.status();
  ASSERT_EQ(conf->entries().size(), 4u);
  EXPECT_EQ(Sources(*conf, "alpine:3"),
            (std::vector<std::string>{"mirror.local:5000/library/alpine:3 mirror insecure",
                                      "mirror2.local/hub/library/alpine:3 mirror",
                                      "docker.io/library/alpine:3"}));
}

TEST(RegistriesConfTest, PrefixRewritesAndDigestOnlyMirrors) {
  auto conf = RegistriesConf::Parse(kConf, "registries.conf");
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(Sources(*conf, "example.com/team/app:1"),
            (std::vector<std::string>{"internal.example:5000/team-mirror/app:1"}));
  const std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(Sources(*conf, "example.com/team/app@" + digest),
            (std::vector<std::string>{"digest.mirror/app@" + digest + " mirror",
                                      "internal.example:5000/team-mirror/app@" + digest}));
  // Prefixes match at a boundary only.
  EXPECT_EQ(Sources(*conf, "example.com/teamwork/app:1"),
            (std::vector<std::string>{"example.com/teamwork/app:1"}));
  // tag-only mirrors are skipped for digests.
  EXPECT_EQ(Sources(*conf, "quay.io/x/y:1"),
            (std::vector<std::string>{"tags.mirror/x/y:1 mirror", "quay.io/x/y:1"}));
  EXPECT_EQ(Sources(*conf, "quay.io/x/y@" + digest),
            (std::vector<std::string>{"quay.io/x/y@" + digest}));
}

TEST(RegistriesConfTest, BlockedAndUnmatched) {
  auto conf = RegistriesConf::Parse(kConf, "registries.conf");
  ASSERT_TRUE(conf.ok()) << conf.status();
  auto ref = oci::Reference::Parse("a.blocked.example/x:1");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(conf->PullSources(*ref).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Sources(*conf, "ghcr.io/o/r:1"), (std::vector<std::string>{"ghcr.io/o/r:1"}));
}

TEST(RegistriesConfTest, CommandLineMirrorsComeFirst) {
  auto conf = RegistriesConf::Parse(kConf, "registries.conf");
  ASSERT_TRUE(conf.ok()) << conf.status();
  ASSERT_TRUE(conf->AddMirror("http://one.local:5000").ok());
  ASSERT_TRUE(conf->AddMirror("two.local").ok());
  ASSERT_TRUE(conf->AddMirror("ghcr.io=three.local/gh/").ok());
  auto s = Sources(*conf, "busybox");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0], "one.local:5000/library/busybox:latest mirror insecure");
  EXPECT_EQ(s[1], "two.local/library/busybox:latest mirror");
  EXPECT_EQ(Sources(*conf, "ghcr.io/o/r:1"),
            (std::vector<std::string>{"three.local/gh/o/r:1 mirror", "ghcr.io/o/r:1"}));
  EXPECT_FALSE(conf->AddMirror("x=").ok());
  EXPECT_FALSE(conf->AddMirror("ftp://a").ok());
  EXPECT_FALSE(conf->AddMirror("Bad Host").ok());
}

TEST(RegistriesConfTest, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* want;
  };
  for (const Case& c : std::vector<Case>{
           {"[[registry]]\nlocation = \"a\"\ninsecure = \"yes\"\n", "f:3: insecure: want true"},
           {"[[registry]]\nlocation = \"unterminated\n", "f:2: unterminated string"},
           {"[[registry.mirror]]\nlocation = \"a\"\n", "f:1: [[registry.mirror]] before"},
           {"[registry]\nlocation = \"a\"\n", "f:1: [registry] must be written"},
           {"[[registry]]\nprefix = \"*.x.io\"\nlocation = \"y\"\n", "wildcard prefix"},
           {"[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\ninsecure = true\n",
            "needs a location"},
           {"[[registry]]\nlocation = \"a\"\nmirror-by-digest-only = true\n[[registry.mirror]]\n"
            "location = \"m\"\npull-from-mirror = \"tag-only\"\n",
            "cannot be used together"},
           {"[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"m\"\n"
            "pull-from-mirror = \"sometimes\"\n",
            "f:5: pull-from-mirror"},
           {"x = 1.5\n", "f:1: unexpected"},
           {"x = 2020-01-01\n", "f:1: unsupported value"},
           {"x = [\"a\" \"b\"]\n", "want , or ]"},
           {"[[registry]]\n", "needs a prefix or location"},
           {"x = \"a\" y\n", "f:1: unexpected"},
       }) {
    auto conf = RegistriesConf::Parse(c.text, "f");
    ASSERT_FALSE(conf.ok()) << c.text;
    EXPECT_NE(conf.status().message().find(c.want), std::string::npos)
        << c.text << " -> " << conf.status();
  }
}

TEST(RegistriesConfTest, TomlItReadsAndCaps) {
  auto conf = RegistriesConf::Parse(
      "a.b = { c = [1, [2, 3]], 'd' = \"\\u00e9\" }\n\"quoted key\" = [\n  \"x\",\n  \"y\",\n]\n"
      "[[registry]]\n  location = \"esc\\\\aped\"\n",
      "f");
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(conf->entries()[0].location, "esc\\aped");
  EXPECT_FALSE(RegistriesConf::Parse(std::string(kMaxRegistriesConfSize + 1, '#'), "f").ok());
  EXPECT_FALSE(
      RegistriesConf::Parse("x = " + std::string(100, '[') + std::string(100, ']'), "f").ok());
}

}  // namespace
}  // namespace kiln::registry
