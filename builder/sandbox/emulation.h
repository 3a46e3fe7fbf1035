// RUN steps for a platform the host cannot run: QEMU user-mode emulation through binfmt_misc.
//
// The host is never changed. Where the kernel allows it (Linux 6.7 and later), a step's PID 1
// mounts a binfmt_misc instance of the step's own user namespace (root's steps' namespace, or
// the one rootless kiln runs in; never the initial one) and registers Debian's qemu-user-static
// handlers there, with the F flag: the kernel opens the emulator at registration, from the
// host's file system, so the image needs no copy of it. Elsewhere (an older kernel, or
// --userns=host, where a mount would be the host's own instance) the host's registered
// handlers are used when they have the F flag, and otherwise the build fails saying what to
// install. Stateless; the host checks read /proc and /usr/lib/binfmt.d.
#ifndef KILN_BUILDER_SANDBOX_EMULATION_H_
#define KILN_BUILDER_SANDBOX_EMULATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/platform.h"

namespace kiln::builder::sandbox {

// True when `host` runs `platform`'s binaries itself (the same architecture; 386 on amd64).
bool RunsNatively(const oci::Platform& platform, const oci::Platform& host);

// QEMU's name for a platform's architecture: arm64 → aarch64, amd64 → x86_64, 386 → i386, ...
absl::StatusOr<std::string> QemuArch(const oci::Platform& platform);

// A binfmt_misc registration from a binfmt.d line (":name:M:offset:magic:mask:interpreter:
// flags"), renamed "kiln-<arch>" and with the F flag (the emulator opened when registered).
absl::StatusOr<std::string> PrivateRegistration(absl::string_view conf_line,
                                                absl::string_view arch);

// True when `entry` (the text of a /proc/sys/fs/binfmt_misc/<name> file) is an enabled
// handler of QEMU's emulator for `arch` with the F flag.
bool HandlesArch(absl::string_view entry, absl::string_view arch);

// True when this kernel gives a user namespace a binfmt_misc instance of its own (6.7+).
bool KernelHasPrivateBinfmt(absl::string_view release);

// What a step for `platform` needs, on this host: the register lines of a private instance, or
// none (the platform runs natively, or the host's handlers serve it). `private_allowed`: the
// step runs in a user namespace that is not the initial one. An error says what is missing.
absl::StatusOr<std::vector<std::string>> EmulationFor(const oci::Platform& platform,
                                                      bool private_allowed);

}  // namespace kiln::builder::sandbox

#endif  // KILN_BUILDER_SANDBOX_EMULATION_H_
