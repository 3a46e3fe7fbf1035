#include "cli/sandbox_flags.h"

namespace kiln::cli {

builder::SandboxOptions SandboxFlags::Options() const {
  builder::SandboxOptions out = sandbox;
  out.network = network == "none"   ? builder::StepNetwork::kNone
                : network == "host" ? builder::StepNetwork::kHost
                                    : builder::StepNetwork::kDefault;
  out.userns_host = userns == "host";
  out.memory = memory;
  out.memory_swap = memory_swap;
  out.shm_size = shm_size;
  return out;
}

void AddSandboxFlags(CLI::App* cmd, SandboxFlags* f, const std::string& who) {
  cmd->add_option(
         "--network", f->network,
         "Network of " + who + ": default (private, outbound only; docker's bridge), none or host")
      ->check(CLI::IsMember({"default", "bridge", "none", "host"}));
  cmd->add_option("--userns", f->userns,
                  "private: root in " + who +
                      " maps to an unprivileged host range (default when kiln runs as root); "
                      "host: the host's ids")
      ->check(CLI::IsMember({"private", "host"}));
  cmd->add_option("--security-opt", f->sandbox.security_opts,
                  "seccomp=unconfined or seccomp=PROFILE.json (Docker's format)")
      ->allow_extra_args(false);
  cmd->add_option("--cap-add", f->sandbox.cap_add, "Capabilities added to " + who + " (or ALL)")
      ->allow_extra_args(false)
      ->delimiter(',');
  cmd->add_option("--cap-drop", f->sandbox.cap_drop, "Capabilities taken from " + who + " (or ALL)")
      ->allow_extra_args(false)
      ->delimiter(',');
  cmd->add_option("--ulimit", f->sandbox.ulimits, "NAME=SOFT[:HARD] for " + who + " (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--add-host", f->sandbox.add_hosts,
                  "NAME:IP added to the /etc/hosts of " + who + " (IP may be host-gateway)")
      ->allow_extra_args(false);
  cmd->add_option("--hostname", f->sandbox.hostname, "Hostname of " + who + " (default kiln)");
  cmd->add_option("--shm-size", f->shm_size, "Size of /dev/shm in " + who + " (default 64m)");
  cmd->add_option("-m,--memory", f->memory, "Memory limit of " + who + " (e.g. 512m)");
  cmd->add_option("--memory-swap", f->memory_swap,
                  "Memory plus swap of " + who + "; -1 for unlimited swap");
  cmd->add_option("--cpu-shares", f->sandbox.cpu_shares, "Relative CPU weight of " + who);
  cmd->add_option("--cpus", f->sandbox.cpus, "CPU time " + who + " may use, in CPUs");
  cmd->add_option("--pids-limit", f->sandbox.pids_limit,
                  "Processes and threads of " + who + " (default 4096; -1: unlimited)");
}

}  // namespace kiln::cli
