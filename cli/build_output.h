// `kiln build --output` values: kiln's transport syntax (oci:DIR[:TAG], oci-archive:FILE,
// docker-archive:FILE[:REF], docker://REF, a store name) or BuildKit's CSV form
// (type=oci|docker,dest=FILE[,name=REF]; type=image,name=REF[,push=true];
// type=registry,name=REF), each turned into locations and checked before the build runs, so
// that a bad output stops a build that has not started rather than one that has finished.
#ifndef KILN_CLI_BUILD_OUTPUT_H_
#define KILN_CLI_BUILD_OUTPUT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "builder/files_output.h"

namespace kiln::cli {

// The transport locations `value` asks for (two for type=image,push=true). `tags` are the
// build's -t names: a type=docker archive without a name is tagged with the first. Checks
// that names parse and that a file's or layout's directory exists.
absl::StatusOr<std::vector<std::string>> BuildOutputLocations(const std::string& value,
                                                              const std::vector<std::string>& tags);

// An output to standard output, as `docker buildx build` takes it: `-` (a tar of the image's
// files) or a CSV value with `dest=-` (type=tar, oci or docker). Returns `value` writing to
// `file` instead (kiln copies it to stdout after the build); nullopt for other values. A
// type=local output cannot go to stdout.
absl::StatusOr<std::optional<std::string>> StdoutOutput(const std::string& value,
                                                        const std::string& file);

// BuildKit's type=local,dest=DIR and type=tar,dest=FILE (the image's files, not an image),
// checked; nullopt for a value that asks for an image.
absl::StatusOr<std::optional<builder::FilesOutput>> BuildFilesOutput(const std::string& value);

}  // namespace kiln::cli

#endif  // KILN_CLI_BUILD_OUTPUT_H_
