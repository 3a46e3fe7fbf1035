#include "layers/rebase.h"

#include "gtest/gtest.h"
#include "oci/media_types.h"

namespace kiln::layers {
namespace {

// An image of layers named by `ids` (their DiffIDs are the digests of the names, their blobs
// of the names with a "z"), with one history entry each.
LoadedImage Image(const std::vector<std::string>& ids, const std::string& arch = "amd64") {
  LoadedImage img;
  img.config.os = "linux";
  img.config.architecture = arch;
  for (const std::string& id : ids) {
    img.config.diff_ids.push_back(oci::Digest::Of(id));
    oci::Descriptor d;
    d.media_type = oci::kDockerLayerGzip;
    d.digest = oci::Digest::Of(id + "z");
    d.size = 10;
    img.parsed.layers.push_back(d);
    img.config.history.push_back({"", "layer " + id, "", "", false});
  }
  return img;
}

TEST(RebaseTest, TheBasesLayersAndHistoryAreReplacedTheImagesKept) {
  LoadedImage image = Image({"b1", "b2", "app"});
  image.config.history.push_back({"", "ENV A=1", "", "", true});
  image.config.config.env = {"A=1"};
  absl::StatusOr<Rebased> r = Rebase(image, Image({"b1", "b2"}), Image({"n1"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->own_layers, 1u);
  ASSERT_EQ(r->config.diff_ids.size(), 2u);
  EXPECT_EQ(r->config.diff_ids[0], oci::Digest::Of("n1"));
  EXPECT_EQ(r->config.diff_ids[1], oci::Digest::Of("app"));
  ASSERT_EQ(r->layers.size(), 2u);
  EXPECT_EQ(r->layers[0].digest, oci::Digest::Of("n1z"));
  EXPECT_EQ(r->layers[1].digest, oci::Digest::Of("appz"));
  EXPECT_EQ(r->layers[1].media_type, oci::kOciLayerGzip);
  ASSERT_EQ(r->config.history.size(), 3u);
  EXPECT_EQ(r->config.history[0].created_by, "layer n1");
  EXPECT_EQ(r->config.history[1].created_by, "layer app");
  EXPECT_EQ(r->config.history[2].created_by, "ENV A=1");
  EXPECT_EQ(r->config.config.env, (std::vector<std::string>{"A=1"}));
}

TEST(RebaseTest, WhatTheImageInheritedFollowsTheBaseWhatItSetStays) {
  LoadedImage old_base = Image({"b1"}), new_base = Image({"n1"}), image = Image({"b1", "app"});
  old_base.config.config.env = {"PATH=/bin", "BASE_VERSION=1", "LANG=C"};
  new_base.config.config.env = {"PATH=/bin:/usr/bin", "BASE_VERSION=2", "LANG=C"};
  image.config.config.env = {"PATH=/bin", "BASE_VERSION=1", "LANG=C.UTF-8", "APP=1"};
  old_base.config.config.labels = {{"base", "1"}, {"vendor", "x"}};
  new_base.config.config.labels = {{"base", "2"}, {"vendor", "x"}};
  image.config.config.labels = {{"base", "1"}, {"vendor", "me"}, {"app", "yes"}};
  old_base.config.config.cmd = std::vector<std::string>{"sh"};
  new_base.config.config.cmd = std::vector<std::string>{"bash"};
  image.config.config.cmd = std::vector<std::string>{"sh"};
  old_base.config.config.working_dir = "/";
  image.config.config.working_dir = "/srv";
  new_base.config.config.exposed_ports = {"22/tcp"};
  image.config.config.exposed_ports = {"80/tcp"};
  absl::StatusOr<Rebased> r = Rebase(image, old_base, new_base);
  ASSERT_TRUE(r.ok()) << r.status();
  const oci::ContainerConfig& c = r->config.config;
  EXPECT_EQ(c.env, (std::vector<std::string>{"PATH=/bin:/usr/bin", "BASE_VERSION=2", "LANG=C.UTF-8",
                                             "APP=1"}));
  EXPECT_EQ(c.labels,
            (std::map<std::string, std::string>{{"app", "yes"}, {"base", "2"}, {"vendor", "me"}}));
  EXPECT_EQ(c.cmd, std::vector<std::string>{"bash"});
  EXPECT_EQ(c.working_dir, "/srv");
  EXPECT_EQ(c.exposed_ports, (std::vector<std::string>{"22/tcp", "80/tcp"}));
}

TEST(RebaseTest, TheOldBaseMustBeAPrefix) {
  absl::StatusOr<Rebased> r = Rebase(Image({"b1", "app"}), Image({"other"}), Image({"n1"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("layer 1"), std::string::npos) << r.status();
  r = Rebase(Image({"b1"}), Image({"b1", "b2"}), Image({"n1"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RebaseTest, TheNewBaseMustBeForTheImagesPlatform) {
  absl::StatusOr<Rebased> r = Rebase(Image({"b1", "app"}), Image({"b1"}), Image({"n1"}, "arm64"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("linux/arm64"), std::string::npos) << r.status();
}

TEST(RebaseTest, RebasingOntoTheSameBaseChangesNothing) {
  LoadedImage image = Image({"b1", "app"});
  for (auto& l : image.parsed.layers) l.media_type = oci::kOciLayerGzip;
  absl::StatusOr<Rebased> r = Rebase(image, Image({"b1"}), Image({"b1"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.Serialize(), image.config.Serialize());
}

}  // namespace
}  // namespace kiln::layers
