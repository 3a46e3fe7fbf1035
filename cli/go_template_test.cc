#include "cli/go_template.h"

#include "gtest/gtest.h"

namespace kiln::cli {
namespace {

TEST(RenderTemplateTest, FieldsJsonAndEscapes) {
  nlohmann::json data = {{"Repository", "app"},
                         {"Tag", "1"},
                         {"Config", {{"User", "app"}, {"Env", {"A=1", "B=2"}}}},
                         {"Labels", {{"k", "v"}}},
                         {"Size", 42}};
  EXPECT_EQ(*RenderTemplate("{{.Repository}}:{{.Tag}}", data), "app:1");
  EXPECT_EQ(*RenderTemplate("{{ .Config.User }}\\t{{.Size}}\\n", data), "app\t42\n");
  EXPECT_EQ(*RenderTemplate("{{.Config.Env}}", data), "[A=1 B=2]");
  EXPECT_EQ(*RenderTemplate("{{json .Config.Env}}", data), "[\"A=1\",\"B=2\"]");
  EXPECT_EQ(*RenderTemplate("{{.Labels}}", data), "map[k:v]");
  EXPECT_EQ(*RenderTemplate("plain", data), "plain");
}

TEST(RenderTemplateTest, WhatItCannotDoIsAnError) {
  nlohmann::json data = {{"A", 1}};
  EXPECT_EQ(RenderTemplate("{{.B}}", data).status().message(),
            "--format: no field \"B\" in {{.B}}");
  EXPECT_EQ(RenderTemplate("{{range .A}}", data).status().message(),
            "--format: unsupported template action {{range .A}}");
  EXPECT_FALSE(RenderTemplate("{{.A", data).ok());
}

TEST(HumanAgoTest, DockersUnits) {
  EXPECT_EQ(HumanAgo(0), "Less than a second ago");
  EXPECT_EQ(HumanAgo(30), "30 seconds ago");
  EXPECT_EQ(HumanAgo(90), "About a minute ago");
  EXPECT_EQ(HumanAgo(3600), "About an hour ago");
  EXPECT_EQ(HumanAgo(5 * 86400), "5 days ago");
  EXPECT_EQ(HumanAgo(21 * 86400), "3 weeks ago");
  EXPECT_EQ(HumanAgo(100 * 86400), "3 months ago");
  EXPECT_EQ(HumanAgo(int64_t{56} * 365 * 86400), "56 years ago");
}

}  // namespace
}  // namespace kiln::cli
