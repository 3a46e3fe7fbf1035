// What SIGINT, SIGTERM and SIGHUP do to kiln once Install() ran: the processes registered
// here (a sandbox's PID 1) are killed, the directories registered here (every TempDir: a
// build's run/build-*, a container's run/run-*) are removed, and kiln then dies of the signal,
// so a shell sees 130 or 143. Without Install() the signals keep their default action (the
// directories are then removed by the next TempDir of their prefix).
// Thread-safe. The handler only writes to a pipe; the work is done by a thread of its own.
#ifndef KILN_BASE_INTERRUPT_H_
#define KILN_BASE_INTERRUPT_H_

#include <sys/types.h>

#include <string>

namespace kiln::interrupt {

// Catches the signals from now on. Call once, after the last fork that is to go on running
// kiln (threads do not survive a fork).
void Install();

// Returns at once unless an interrupt has begun; then never returns (the cleanup ends the
// process), so a verb that failed because its work was killed neither reports that nor exits
// before the cleanup is done. main() calls it before it reports or returns.
void WaitIfInterrupted();

// `path` (and `path`.owner) is removed on an interrupt until RemovePath.
void AddPath(const std::string& path);
void RemovePath(const std::string& path);

// `pid` is sent SIGKILL on an interrupt until RemoveProcess; the cleanup waits (up to two
// seconds) for the registered processes to be reaped before it removes the paths.
void AddProcess(pid_t pid);
void RemoveProcess(pid_t pid);

}  // namespace kiln::interrupt

#endif  // KILN_BASE_INTERRUPT_H_
