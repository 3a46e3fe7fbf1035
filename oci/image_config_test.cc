#include "oci/image_config.h"

#include "gtest/gtest.h"

namespace kiln::oci {
namespace {

TEST(ImageConfigTest, ParsesDockerStyleConfig) {
  auto c = ImageConfig::Parse(R"({
    "architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
    "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"User":"1000:1000",
      "ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"WorkingDir":"/srv",
      "Labels":{"a":"b"},"StopSignal":"SIGTERM",
      "Healthcheck":{"Test":["CMD","true"],"Interval":30000000000,"Retries":3}},
    "rootfs":{"type":"layers","diff_ids":[
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},
    "history":[{"created_by":"/bin/sh -c #(nop) CMD [\"sh\"]","empty_layer":true}],
    "container_config":{"Hostname":"ignored"}
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->config.user, "1000:1000");
  EXPECT_EQ(c->config.cmd, std::vector<std::string>{"sh"});
  EXPECT_FALSE(c->config.entrypoint.has_value());
  EXPECT_EQ(c->config.exposed_ports, std::vector<std::string>{"80/tcp"});
  EXPECT_EQ(c->config.healthcheck->retries, 3);
  EXPECT_EQ(c->diff_ids.size(), 1u);
  ASSERT_EQ(c->history.size(), 1u);
  EXPECT_TRUE(c->history[0].empty_layer);
}

TEST(ImageConfigTest, RoundTrip) {
  ImageConfig c;
  c.architecture = "arm64";
  c.os = "linux";
  c.variant = "v8";
  c.created = "1970-01-01T00:00:00Z";
  c.config.env = {"A=1"};
  c.config.entrypoint = std::vector<std::string>{};
  c.config.labels = {{"x", "y"}};
  c.diff_ids = {Digest::Of("a"), Digest::Of("b")};
  c.history = {{"1970-01-01T00:00:00Z", "RUN x", "", "", false}};
  std::string bytes = c.Serialize();
  auto back = ImageConfig::Parse(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Serialize(), bytes);
  EXPECT_TRUE(back->config.entrypoint.has_value());
}

TEST(ImageConfigTest, Rejects) {
  EXPECT_EQ(ImageConfig::Parse(R"({"os":"linux"})").status().message(),
            "image config: missing rootfs");
  EXPECT_FALSE(ImageConfig::Parse(R"({"rootfs":{"type":"layers","diff_ids":["nope"]}})").ok());
  EXPECT_FALSE(ImageConfig::Parse(R"({"rootfs":{"type":"other"}})").ok());
  EXPECT_EQ(
      ImageConfig::Parse(R"({"config":{"Env":"x"},"rootfs":{"type":"layers"}})").status().message(),
      "image config: field \"Env\": expected an array of strings");
}

}  // namespace
}  // namespace kiln::oci
