// Small, careful file I/O for the client: bounded reads and atomic writes.
#pragma once

#include <sys/types.h>
#include <filesystem>
#include <string>

#include "core/result.h"

namespace custos::wallet {

// Reads a whole file, or standard input when path is "-". Refuses files
// larger than max_bytes ("too_large") so that a wrong argument cannot make
// the client read a disk image into memory.
Result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes);

enum class Overwrite { kRefuse, kReplace };

// Writes text to a temporary file beside `path`, fsyncs it, then moves it into
// place, so readers see the old content or the new, never a part. With
// kRefuse an existing `path` is an error ("file_exists"), checked atomically.
Status write_file_atomic(const std::filesystem::path& path, const std::string& text, mode_t mode,
                         Overwrite overwrite);

}  // namespace custos::wallet
