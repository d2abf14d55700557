#include "server/dnssec/key_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "zones/zone.h"

namespace rotor::dnssec {
namespace {

namespace fs = std::filesystem;

std::string ascii_lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::string errno_text() { return std::strerror(errno); }

// Creates `path` exclusively with `mode` and writes `text`; throws KeyError.
void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) throw KeyError(path, "exists already; rotor keygen never overwrites a key");
    throw KeyError(path, "cannot create: " + errno_text());
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(path.c_str());
      throw KeyError(path, "cannot write: " + why);
    }
    written += static_cast<size_t>(n);
  }
  // The umask may have removed bits; set exactly the mode asked for.
  const bool ok = ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  const std::string why = errno_text();
  if (::close(fd) != 0 || !ok) {
    ::unlink(path.c_str());
    throw KeyError(path, "cannot write: " + why);
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError(path, "cannot read: " + errno_text());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The index of the key that signs at `now`: the latest Activate not after it.
std::optional<size_t> active_key(const std::vector<SigningKey>& keys, int64_t now) {
  std::optional<size_t> active;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto activate = keys[i].activate();
    if (!activate || *activate > now) continue;
    if (!active || *activate > *keys[*active].activate()) active = i;
  }
  return active;
}

}  // namespace

KeyFilePaths write_key_files(const std::string& dir, const SigningKey& key) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw KeyError(dir, "is not a directory");
  const std::string base = (fs::path(dir) / key.file_base()).string();
  KeyFilePaths paths{base + ".key", base + ".private"};
  if (fs::exists(paths.key, error)) {
    throw KeyError(paths.key, "exists already; rotor keygen never overwrites a key");
  }
  write_new_file(paths.private_file, key.private_file_text(), 0600);
  try {
    write_new_file(paths.key, key.key_file_text(), 0644);
  } catch (const KeyError&) {
    ::unlink(paths.private_file.c_str());
    throw;
  }
  return paths;
}

ZoneKeys load_zone_keys(const std::string& dir, std::string_view zone, int64_t now) {
  const auto zone_wire = zones::lower_name_from_text(zone);
  if (!zone_wire) throw KeyError(dir, "'" + std::string(zone) + "' is not a zone name");
  const std::string prefix = "K" + zones::name_to_text(*zone_wire) + "+";
  // BIND writes the zone name as it was given; match it without regard to case.
  const std::string lower_prefix = ascii_lower(prefix);
  std::vector<std::string> private_files;
  std::error_code error;
  fs::directory_iterator entries(dir, error);
  if (error) throw KeyError(dir, "cannot read the key directory: " + error.message());
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (ascii_lower(name).rfind(lower_prefix, 0) == 0 && name.size() > 8 &&
        name.compare(name.size() - 8, 8, ".private") == 0) {
      private_files.push_back(entry.path().string());
    }
  }
  std::sort(private_files.begin(), private_files.end());
  ZoneKeys zone_keys;
  for (const std::string& private_file : private_files) {
    const std::string key_file = private_file.substr(0, private_file.size() - 8) + ".key";
    if (!fs::exists(key_file, error)) {
      throw KeyError(private_file, "has no matching .key file (" + key_file + ")");
    }
    zone_keys.keys.push_back(SigningKey::from_texts(zone, read_text(key_file),
                                                    read_text(private_file), private_file));
  }
  if (zone_keys.keys.empty()) {
    throw KeyError(dir, "holds no key for " + zones::name_to_text(*zone_wire) + " (" + prefix +
                            "*.private)");
  }
  const auto active = active_key(zone_keys.keys, now);
  if (!active) {
    throw KeyError(dir, "no key for " + zones::name_to_text(*zone_wire) +
                            " is active: none has an Activate time that has passed");
  }
  zone_keys.active = *active;
  return zone_keys;
}

}  // namespace rotor::dnssec
