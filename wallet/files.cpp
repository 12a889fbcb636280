#include "wallet/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

namespace custos::wallet {
namespace {

Error io_error(const std::string& what) {
  return make_error("io_error", what + ": " + std::strerror(errno));
}

void fsync_parent(const std::filesystem::path& path) {
  auto dir = path.parent_path();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes) {
  std::string text;
  auto read_all = [&](std::istream& in) {
    char buf[8192];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<std::size_t>(in.gcount()));
      if (text.size() > max_bytes) return false;
    }
    return true;
  };
  bool within;
  if (path == "-") {
    within = read_all(std::cin);
  } else {
    if (std::filesystem::is_directory(path)) {
      return make_error("io_error", path + " is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return io_error("cannot read " + path);
    within = read_all(in);
  }
  if (!within) {
    return make_error("too_large",
                      path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return text;
}

Status write_file_atomic(const std::filesystem::path& path, const std::string& text, mode_t mode,
                         Overwrite overwrite) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return io_error("cannot create " + tmp.string());
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 ::fsync(fd) == 0;
  written = ::close(fd) == 0 && written;
  if (!written) {
    auto err = io_error("cannot write " + tmp.string());
    ::unlink(tmp.c_str());
    return err;
  }
  // link() fails on an existing target, rename() replaces it; both are atomic.
  int rc = overwrite == Overwrite::kRefuse ? ::link(tmp.c_str(), path.c_str())
                                           : ::rename(tmp.c_str(), path.c_str());
  int saved = errno;
  ::unlink(tmp.c_str());  // after rename() it no longer exists; harmless
  if (rc != 0) {
    if (saved == EEXIST) {
      return make_error("file_exists", path.string() + " exists; refusing to overwrite it");
    }
    errno = saved;
    return io_error("cannot write " + path.string());
  }
  fsync_parent(path);
  return ok_status();
}

}  // namespace custos::wallet
