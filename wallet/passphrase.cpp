#include "wallet/passphrase.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <cstdlib>

namespace custos::wallet {
namespace {

constexpr std::size_t kPassphraseBytesMax = 1024;

// Reads one line from the terminal with echo off, restoring the terminal mode
// whatever happens.
Result<std::string> prompt_tty(const std::string& prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return make_error("no_passphrase", "no passphrase: set CUSTOS_PASSPHRASE or run in a terminal");
  }
  termios saved{};
  bool have_termios = ::tcgetattr(fd, &saved) == 0;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n' && line.size() <= kPassphraseBytesMax) {
    if (c != '\r') line.push_back(c);
  }
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &saved);
  (void)!::write(fd, "\n", 1);
  ::close(fd);
  if (line.size() > kPassphraseBytesMax) {
    OPENSSL_cleanse(line.data(), line.size());
    return make_error("bad_passphrase", "passphrase longer than 1024 bytes");
  }
  return line;
}

}  // namespace

Result<std::string> obtain_passphrase(const std::string& prompt, bool confirm) {
  if (const char* env = std::getenv("CUSTOS_PASSPHRASE"); env != nullptr) {
    std::string p = env;
    if (p.empty()) return make_error("bad_passphrase", "CUSTOS_PASSPHRASE is empty");
    return p;
  }
  auto first = prompt_tty(prompt);
  if (!first) return first;
  if (first->empty()) return make_error("bad_passphrase", "the passphrase must not be empty");
  if (confirm) {
    auto second = prompt_tty("Repeat passphrase: ");
    if (!second) return second;
    bool same = *second == *first;
    OPENSSL_cleanse(second->data(), second->size());
    if (!same) return make_error("passphrase_mismatch", "the passphrases do not match");
  }
  return first;
}

}  // namespace custos::wallet
