// The built carerecord binary, run as a command (its exit status and output) or as a server in
// a child process (its port, stopped with SIGTERM), for tests of the command line from outside.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace carerecord::testing {

inline std::filesystem::path TempPath(const std::string& prefix) {
  std::random_device random;
  return std::filesystem::temp_directory_path() /
         (prefix + std::to_string(random()) + std::to_string(random()));
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of `name=VALUE` in a command's output ("client_id=..."), up to a space or line end;
// empty when absent.
inline std::string OutputValue(const std::string& out, const std::string& name) {
  const size_t at = out.find(name + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + name.size() + 1;
  return out.substr(start, out.find_first_of(" \n", start) - start);
}

struct CommandResult {
  int status = -1;  // exit status; -1 when it did not exit normally
  std::string out;
  std::string err;
};

// Runs `carerecord ARGS` with `input` on stdin (a file, so stdin is never a terminal; empty
// input is an empty file), waiting at most 60 s.
inline CommandResult RunCarerecord(const std::string& args, const std::string& input = "") {
  const auto base = TempPath("carerecord-run-");
  const auto in = base.string() + ".in", out = base.string() + ".out", err = base.string() + ".err";
  std::ofstream(in, std::ios::binary) << input;
  const std::string command =
      "timeout 60 " CARERECORD_BINARY " " + args + " <" + in + " >" + out + " 2>" + err;
  const int status = std::system(command.c_str());
  CommandResult result;
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  for (const auto& path : {in, out, err}) std::filesystem::remove(path);
  return result;
}

// `carerecord serve --data DIR --http 127.0.0.1:0 --no-fsync [EXTRA...]` in a child process.
class ServerProcess {
 public:
  explicit ServerProcess(const std::filesystem::path& data_dir,
                         const std::vector<std::string>& extra = {}) {
    log_ = TempPath("carerecord-serve-").string() + ".log";
    std::vector<std::string> args = {CARERECORD_BINARY, "serve",  "--data",
                                     data_dir.string(), "--http", "127.0.0.1:0",
                                     "--no-fsync"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
      execv(CARERECORD_BINARY, argv.data());
      _exit(127);
    }
    // The server prints "port N" once it listens (after loading a demo region, when asked: a
    // bound on waiting while it runs, not a timing assertion).
    for (int i = 0; i < 2400 && port_ == 0 && Running(); ++i) {
      std::istringstream lines(ReadFile(log_));
      for (std::string line; std::getline(lines, line);) {
        if (line.rfind("port ", 0) == 0) port_ = static_cast<uint16_t>(std::stoi(line.substr(5)));
      }
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ServerProcess() {
    Stop();
    std::filesystem::remove(log_);
  }
  // 0 when it did not start listening.
  uint16_t port() const { return port_; }
  std::string log() const { return ReadFile(log_); }
  // SIGTERM (or `signal`, e.g. SIGKILL for a crash), then its exit status (-1 when killed).
  int Stop(int signal = SIGTERM) {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_status_;
  }

 private:
  bool Running() {
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    return pid_ > 0;
  }

  pid_t pid_ = -1;
  int exit_status_ = -1;
  uint16_t port_ = 0;
  std::string log_;
};

// Polls `condition` every 50 ms until it holds or `limit` passes; whether it held. For what
// another process does in its own time (a server's sync): a bound on waiting, not a timing
// assertion.
template <typename Condition>
bool Eventually(Condition condition, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

}  // namespace carerecord::testing
