// kiln save IMAGE... [-o FILE] and kiln load [-i FILE]: images to and from docker-archive
// files as `docker save`/`docker load` (and podman's) read and write them. save puts every
// image in one archive under all the names given; load takes a docker-archive's RepoTags or
// an oci-archive's ref names (org.opencontainers.image.ref.name) as the store's names. Without
// -o/-i they use stdout/stdin, which must not be a terminal.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/io.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "cli/common.h"
#include "layers/archive_file.h"
#include "layers/docker_archive.h"
#include "layers/layout_transport.h"
#include "nlohmann/json.hpp"
#include "oci/json_util.h"
#include "oci/manifest.h"
#include "transfer/transports.h"

namespace kiln::cli {
namespace {

struct SaveOptions {
  std::vector<std::string> images;
  std::string output, platform;
};

struct LoadOptions {
  std::string input;
  bool quiet = false;
};

absl::Status CopyFd(int from, int to) {
  FdReader in(from);
  char buf[1 << 16];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, in.Read(buf, sizeof buf));
    if (n == 0) return absl::OkStatus();
    RETURN_IF_ERROR(WriteAll(to, absl::string_view(buf, n)));
  }
}

absl::Status RunSave(const Globals& g, const SaveOptions& o) {
  if (o.output.empty() && ::isatty(STDOUT_FILENO)) {
    return absl::InvalidArgumentError("stdout is a terminal: give -o FILE or redirect it");
  }
  oci::Platform platform = oci::Platform::Host();
  if (!o.platform.empty()) {
    ASSIGN_OR_RETURN(platform, oci::Platform::Parse(o.platform));
  }
  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  std::optional<TempDir> tmp;
  std::string file = o.output;
  if (file.empty()) {
    ASSIGN_OR_RETURN(TempDir made, TempDir::Create(layers::TempRoot() + "/kiln-save-"));
    tmp.emplace(std::move(made));
    file = tmp->path() + "/archive.tar";
  }
  ASSIGN_OR_RETURN(auto writer, layers::DockerArchiveWriter::Open(file));
  for (const std::string& name : o.images) {
    ASSIGN_OR_RETURN_CTX(oci::Descriptor desc, store->Resolve(name), name);
    auto source = transfer::NewStoreSource(store.get(), desc, {});
    // A name is saved as its RepoTag; an image ID as an image without one.
    std::vector<std::string> tags;
    if (layers::Store::CanonicalName(name).ok() && !absl::StartsWith(name, "sha256:")) {
      tags.push_back(name);
    }
    layers::CopyOptions copy;
    copy.platform = platform;
    RETURN_IF_ERROR_CTX(writer->Add(*source, tags, copy), "saving ", name);
  }
  RETURN_IF_ERROR(writer->Finish());
  if (!tmp) return absl::OkStatus();
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + file);
  return CopyFd(fd.get(), STDOUT_FILENO);
}

// One image from `loc` into the store under `names` ("Loaded image: NAME" each); without
// names, "Loaded image ID: sha256:…".
absl::Status LoadOne(layers::Store& store, layers::ImageSource& source,
                     const std::vector<std::string>& names, bool quiet) {
  if (names.empty()) {
    ASSIGN_OR_RETURN(layers::LoadedImage image, layers::LoadAnyImage(source));
    auto sink = layers::NewBlobStoreDestination(
        &store.blobs(), [](const oci::Descriptor&) { return absl::OkStatus(); });
    RETURN_IF_ERROR(layers::CopyImage(source, *sink, {}).status());
    if (!quiet) std::printf("Loaded image ID: %s\n", image.parsed.config.digest.str().c_str());
    return absl::OkStatus();
  }
  transfer::ImageLocation dst{transfer::Transport::kStore, "", names[0]};
  ASSIGN_OR_RETURN(auto sink, transfer::OpenImageDestination(dst, &store));
  ASSIGN_OR_RETURN(oci::ManifestData top, layers::CopyImage(source, *sink, {}));
  for (size_t i = 1; i < names.size(); ++i) {
    RETURN_IF_ERROR(store.Tag(names[i], top.ToDescriptor()));
  }
  if (!quiet) {
    for (const std::string& n : names) std::printf("Loaded image: %s\n", n.c_str());
  }
  return absl::OkStatus();
}

// An oci-archive's images by their ref names, read from its index.json.
absl::Status LoadOciArchive(layers::Store& store, const std::string& file, bool quiet) {
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create(layers::TempRoot() + "/kiln-load-"));
  RETURN_IF_ERROR(layers::UnpackArchiveFile(file, dir.path()));
  ASSIGN_OR_RETURN(std::string text, ReadFile(dir.path() + "/index.json", oci::kMaxManifestSize));
  ASSIGN_OR_RETURN(oci::Index index, oci::Index::Parse(text));
  for (const oci::Descriptor& d : index.manifests) {
    auto ref = d.annotations.find("org.opencontainers.image.ref.name");
    transfer::ImageLocation loc{transfer::Transport::kOciLayout, dir.path(),
                                ref == d.annotations.end() ? d.digest.str() : ref->second};
    std::vector<std::string> names;
    if (ref != d.annotations.end()) names.push_back(ref->second);
    ASSIGN_OR_RETURN(auto source, transfer::OpenImageSource(loc, &store));
    RETURN_IF_ERROR_CTX(LoadOne(store, *source, names, quiet), file);
  }
  return absl::OkStatus();
}

absl::Status RunLoad(const Globals& g, const LoadOptions& o) {
  std::optional<TempDir> tmp;
  std::string file = o.input;
  if (file.empty()) {
    if (::isatty(STDIN_FILENO)) {
      return absl::InvalidArgumentError("stdin is a terminal: give -i FILE or redirect it");
    }
    ASSIGN_OR_RETURN(TempDir made, TempDir::Create(layers::TempRoot() + "/kiln-load-"));
    tmp.emplace(std::move(made));
    file = tmp->path() + "/archive.tar";
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError("create " + file);
    RETURN_IF_ERROR_CTX(CopyFd(STDIN_FILENO, fd.get()), "reading stdin");
  }
  ASSIGN_OR_RETURN(auto store, OpenStore(g));
  // Unpacked once for all its images.
  absl::StatusOr<std::unique_ptr<layers::DockerArchive>> archive =
      layers::DockerArchive::Open(file);
  if (!archive.ok()) {
    // Not a docker-archive: an oci-archive, or neither (that error is the one to see).
    absl::Status oci = LoadOciArchive(*store, file, o.quiet);
    if (oci.ok()) return oci;
    return absl::InvalidArgumentError(absl::StrCat(file, ": neither a docker-archive (",
                                                   archive.status().message(),
                                                   ") nor an oci-archive (", oci.message(), ")"));
  }
  for (size_t i = 0; i < (*archive)->tags().size(); ++i) {
    ASSIGN_OR_RETURN(auto source, (*archive)->Image(i));
    RETURN_IF_ERROR_CTX(LoadOne(*store, *source, (*archive)->tags()[i], o.quiet), file);
  }
  return absl::OkStatus();
}

}  // namespace

void AddSaveLoadCommands(CLI::App& app, Globals& g) {
  auto s = std::make_shared<SaveOptions>();
  CLI::App* save = app.add_subcommand(
      "save", "Write images to a docker-archive (docker save): every image, every name given");
  save->add_option("IMAGE", s->images, "Image names or IDs")->required();
  save->add_option("-o,--output", s->output, "Archive file (default: stdout)");
  save->add_option("--platform", s->platform, "Platform of multi-platform images");
  save->callback([&g, s] { g.run = [&g, s] { return RunSave(g, *s); }; });

  auto l = std::make_shared<LoadOptions>();
  CLI::App* load = app.add_subcommand(
      "load", "Read images from a docker-archive or oci-archive (docker load), with its names");
  load->add_option("-i,--input", l->input, "Archive file (default: stdin)");
  load->add_flag("-q,--quiet", l->quiet, "Print nothing");
  load->callback([&g, l] { g.run = [&g, l] { return RunLoad(g, *l); }; });
}

}  // namespace kiln::cli
