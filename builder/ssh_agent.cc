#include "builder/ssh_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/status_macros.h"

extern char** environ;

namespace kiln::builder {
namespace {

// The program `name` on $PATH, or "".
std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Starts `argv` with `env` added, stdin and stdout on /dev/null, stderr to `err_fd` (or
// /dev/null); it is killed if kiln dies.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env, int err_fd) {
  std::vector<std::string> env_storage = env;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return ErrnoError("open /dev/null");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(devnull);
    return ErrnoError("fork");
  }
  if (pid == 0) {  // only async-signal-safe calls from here
    ::setsid();    // no controlling terminal: nothing prompts
    ::signal(SIGPIPE, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(err_fd >= 0 ? err_fd : devnull, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(devnull);
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The address of the socket at `path`, named through `dir` (its directory, opened O_PATH)
// as /proc/self/fd/N/NAME: a socket address holds 107 bytes, a store's paths may be longer.
absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path, UniqueFd* dir) {
  *dir = UniqueFd(::open(Dirname(path).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir->valid()) return ErrnoError("open " + Dirname(path));
  std::string name = absl::StrCat("/proc/self/fd/", dir->get(), "/", Basename(path));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket name too long: ", path));
  }
  std::memcpy(addr.sun_path, name.c_str(), name.size() + 1);
  return addr;
}

absl::StatusOr<UniqueFd> Connect(const std::string& path) {
  UniqueFd dir;
  ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path, &dir));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError("connect to the ssh agent at " + path);
  }
  return fd;
}

// Copies what is readable on `from` to `to`; false at the end of the stream or an error.
bool Pump(int from, int to) {
  char buf[16384];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) return false;
  for (ssize_t done = 0; done < n;) {
    ssize_t w = ::send(to, buf + done, n - done, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += w;
  }
  return true;
}

}  // namespace

absl::Status AddSshSource(
    absl::string_view spec,
    const std::function<std::optional<std::string>(const std::string&)>& getenv, SshSources* out) {
  std::pair<std::string, std::string> kv = absl::StrSplit(spec, absl::MaxSplits('=', 1));
  const std::string& id = kv.first;
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat("--ssh \"", spec, "\": no id"));
  std::vector<std::string> paths = absl::StrSplit(kv.second, ',', absl::SkipEmpty());
  if (paths.empty()) {
    std::optional<std::string> sock = getenv("SSH_AUTH_SOCK");
    if (!sock || sock->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--ssh ", id, ": SSH_AUTH_SOCK is not set (give ", id, "=SOCKET or ", id, "=KEYFILE)"));
    }
    paths = {*sock};
  }
  SshSource source;
  for (const std::string& path : paths) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return ErrnoError(absl::StrCat("--ssh ", id, ": ", path));
    }
    if (S_ISSOCK(st.st_mode)) {
      if (paths.size() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--ssh ", id, ": an agent socket cannot be given with other paths"));
      }
      source.socket = path;
    } else if (S_ISREG(st.st_mode)) {
      source.keys.push_back(path);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--ssh ", id, ": ", path, " is neither an agent socket nor a key file"));
    }
  }
  (*out)[id] = std::move(source);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OwnAgent>> OwnAgent::Start(const std::vector<std::string>& keys) {
  std::string agent = FindProgram("ssh-agent"), add = FindProgram("ssh-add");
  if (agent.empty() || add.empty()) {
    return absl::FailedPreconditionError(
        "--ssh with key files needs ssh-agent and ssh-add (Debian: apt-get install "
        "openssh-client)");
  }
  // ssh-agent binds the path itself: a short one, in a directory only kiln can enter.
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("/tmp/kiln-ssh-agent-"));
  if (::chmod(dir.path().c_str(), 0700) != 0) return ErrnoError("chmod " + dir.path());
  std::string socket = dir.path() + "/agent.sock";
  ASSIGN_OR_RETURN(pid_t pid, Spawn({agent, "-D", "-a", socket}, {}, -1));
  std::unique_ptr<OwnAgent> own(new OwnAgent(std::move(dir), socket, pid));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Connect(socket).ok()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("the ssh agent for --ssh did not start");
    }
    ::usleep(10'000);
  }
  std::vector<std::string> argv = {add, "-q"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  // No terminal and no askpass: a key with a passphrase fails rather than prompting.
  ASSIGN_OR_RETURN(pid_t adder,
                   Spawn(argv, {"SSH_AUTH_SOCK=" + socket, "SSH_ASKPASS_REQUIRE=never"}, -1));
  if (int rc = Wait(adder); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ssh: ssh-add could not load ", absl::StrJoin(keys, ", "), " (exit ", rc,
        "; a key with a passphrase needs an agent of yours: --ssh ID=$SSH_AUTH_SOCK)"));
  }
  return own;
}

OwnAgent::~OwnAgent() {
  ::kill(pid_, SIGTERM);
  Wait(pid_);
}

absl::StatusOr<std::unique_ptr<AgentForward>> AgentForward::Start(const std::string& agent,
                                                                  const std::string& path,
                                                                  uint32_t uid, uint32_t gid,
                                                                  uint32_t mode) {
  RETURN_IF_ERROR(MakeDirs(Dirname(path), 0755));
  UniqueFd dir;
  ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path, &dir));
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.valid()) return ErrnoError("socket");
  (void)::unlink(path.c_str());
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError("bind " + path);
  }
  if (::chown(path.c_str(), uid, gid) != 0) return ErrnoError("chown " + path);
  if (::chmod(path.c_str(), mode & 07777) != 0) return ErrnoError("chmod " + path);
  if (::listen(listener.get(), 16) != 0) return ErrnoError("listen " + path);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
  std::unique_ptr<AgentForward> f(
      new AgentForward(agent, std::move(listener), UniqueFd(fds[0]), UniqueFd(fds[1])));
  f->server_ = std::thread([p = f.get()] { p->Serve(); });
  return f;
}

AgentForward::AgentForward(std::string agent, UniqueFd listener, UniqueFd stop_read,
                           UniqueFd stop_write)
    : agent_(std::move(agent)),
      listener_(std::move(listener)),
      stop_read_(std::move(stop_read)),
      stop_write_(std::move(stop_write)) {}

AgentForward::~AgentForward() {
  stop_write_.Reset();  // every poller sees the pipe hang up
  if (server_.joinable()) server_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (std::thread& t : relays_) t.join();
}

void AgentForward::Serve() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    relays_.emplace_back([this, c = std::move(client)]() mutable { Relay(std::move(c)); });
  }
}

void AgentForward::Relay(UniqueFd client) {
  absl::StatusOr<UniqueFd> agent = Connect(agent_);
  if (!agent.ok()) return;  // the step sees its connection closed
  while (true) {
    pollfd fds[3] = {
        {client.get(), POLLIN, 0}, {agent->get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[2].revents != 0) return;
    if (fds[0].revents != 0 && !Pump(client.get(), agent->get())) return;
    if (fds[1].revents != 0 && !Pump(agent->get(), client.get())) return;
  }
}

}  // namespace kiln::builder
