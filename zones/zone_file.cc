#include "zones/zone_file.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "server/dns/wire.h"

namespace rotor::zones {

namespace {

// Without $TTL, ldns gives TTL-less records this default. BIND would take the
// previous record's TTL and NSD the SOA MINIMUM; every zone we ship sets $TTL,
// and RFC 2308 4 asks zone files to, so a plain hour is enough.
constexpr uint32_t kDefaultTtl = 3600;
// Deeper $INCLUDE chains than this are surely a mistake, loop or not.
constexpr size_t kMaxIncludeDepth = 16;

struct FileCloser {
  void operator()(FILE* f) const noexcept { std::fclose(f); }
};
struct RrFree {
  void operator()(ldns_rr* rr) const noexcept { ldns_rr_free(rr); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;

// An rdf slot that ldns reads and replaces through an ldns_rdf** (the
// previous owner), so it cannot be a unique_ptr.
class RdfSlot {
 public:
  RdfSlot() = default;
  RdfSlot(const RdfSlot&) = delete;
  RdfSlot& operator=(const RdfSlot&) = delete;
  ~RdfSlot() {
    if (rdf_ != nullptr) ldns_rdf_deep_free(rdf_);
  }
  void reset(ldns_rdf* rdf) noexcept {
    if (rdf_ != nullptr) ldns_rdf_deep_free(rdf_);
    rdf_ = rdf;
  }
  ldns_rdf** slot() noexcept { return &rdf_; }
  ldns_rdf* get() const noexcept { return rdf_; }

 private:
  ldns_rdf* rdf_ = nullptr;
};

std::string_view rdf_bytes(const ldns_rdf* rdf) {
  return {reinterpret_cast<const char*>(ldns_rdf_data(rdf)), ldns_rdf_size(rdf)};
}

ldns_rdf* make_dname(const std::string& wire) {
  return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, wire.size(), wire.data());
}

// A directive's name argument: absolute when it ends in an unescaped dot,
// else relative to the current origin (RFC 1035 5.1).
std::optional<std::string> directive_name(const std::string& text, const std::string& origin) {
  if (text == "@") return origin.empty() ? std::nullopt : std::optional(origin);
  std::optional<std::string> wire = name_from_text(text);
  if (!wire) return std::nullopt;
  size_t backslashes = 0;
  for (size_t i = text.size() - 1; i > 0 && text[i - 1] == '\\'; --i) ++backslashes;
  const bool absolute = text.back() == '.' && backslashes % 2 == 0;
  if (absolute || *wire == std::string(1, '\0')) return wire;
  if (origin.empty()) return std::nullopt;
  wire->pop_back();
  *wire += origin;
  if (wire->size() > dns::kMaxNameLength) return std::nullopt;
  return wire;
}

// Splits a directive line into words, dropping a trailing comment.
std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::string word;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == ';') {
      break;
    } else if (!quoted && (c == ' ' || c == '\t' || c == '\r')) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
      if (c == '\\' && i + 1 < line.size()) word += line[++i];
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

class Loader {
 public:
  // `origin` is the zone's wire name, or empty to take the SOA owner.
  explicit Loader(const std::string& origin) {
    if (!origin.empty()) builder_.emplace(origin);
  }

  // Reads one file; `origin` is the wire origin in force at its start, or
  // empty when none is known yet. Problems opening it are reported at
  // `from`:`from_line`, the $INCLUDE that named it, when there is one.
  void read(const std::string& path, const std::string& origin, const std::string& from = "",
            int from_line = 0) {
    const auto fail = [&](const std::string& reason) {
      if (from_line > 0) throw ZoneFileError(from, from_line, "$INCLUDE " + path + ": " + reason);
      throw ZoneFileError(path, 0, reason);
    };
    std::error_code ec;
    std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) canonical = path;
    if (std::find(open_files_.begin(), open_files_.end(), canonical) != open_files_.end())
      fail("include loop");
    if (open_files_.size() > kMaxIncludeDepth) fail("includes nested too deeply");

    // Reading the whole file first lets us look at each line before ldns
    // does, and count lines exactly however ldns consumes them.
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(std::string("cannot open: ") + std::strerror(errno));
    std::string text;
    try {
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::ios_base::failure& error) {
      // libstdc++'s filebuf throws on a read error whatever the stream's
      // exception mask: a directory opens, then fails here with EISDIR.
      fail("cannot read: " + error.code().message());
    }
    if (in.bad()) fail(std::string("cannot read: ") + std::strerror(errno));
    if (text.empty()) return;
    FilePtr stream(fmemopen(text.data(), text.size(), "r"));
    if (!stream) fail(std::string("cannot read: ") + std::strerror(errno));

    open_files_.push_back(canonical);
    File file{path, text, stream.get(), origin};
    if (!origin.empty()) file.ldns_origin.reset(make_dname(origin));
    read_lines(file);
    open_files_.pop_back();
  }

  std::shared_ptr<const Zone> finish(const std::string& path) {
    if (!builder_) throw ZoneFileError(path, 0, "no origin given and the file has no SOA record");
    std::shared_ptr<const Zone> zone;
    if (auto error = builder_->finish(zone)) throw ZoneFileError(path, 0, *error);
    return zone;
  }

 private:
  struct File {
    const std::string& path;
    const std::string& text;
    FILE* stream;
    std::string origin;  // wire, case as written; empty when not known yet
    RdfSlot ldns_origin;
    RdfSlot previous_owner;
    size_t counted_to = 0;  // text offset up to which newlines are counted
    int line = 1;           // line number at counted_to

    int line_at(size_t offset) {
      line += static_cast<int>(std::count(text.begin() + counted_to, text.begin() + offset, '\n'));
      counted_to = offset;
      return line;
    }
  };

  void read_lines(File& file) {
    while (true) {
      const long at = std::ftell(file.stream);
      if (at < 0 || static_cast<size_t>(at) >= file.text.size()) return;
      const auto start = static_cast<size_t>(at);
      const int line = file.line_at(start);
      size_t end = file.text.find('\n', start);
      end = end == std::string::npos ? file.text.size() : end;
      const std::string_view text = std::string_view(file.text).substr(start, end - start);
      const size_t first = text.find_first_not_of(" \t\r");
      if (first == std::string_view::npos || text[first] == ';') {
        std::fseek(file.stream, static_cast<long>(std::min(end + 1, file.text.size())), SEEK_SET);
        continue;
      }
      if (text[0] == '$') {
        directive(file, line, words(text));
        std::fseek(file.stream, static_cast<long>(std::min(end + 1, file.text.size())), SEEK_SET);
        continue;
      }
      record(file, line);
      // ldns always consumes what it parses; stopping here guards against a
      // release that does not, which would otherwise loop forever.
      if (std::ftell(file.stream) == at) throw ZoneFileError(file.path, line, "cannot parse the record");
    }
  }

  void directive(File& file, int line, const std::vector<std::string>& args) {
    std::string name = args[0];
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto fail = [&](const std::string& reason) {
      throw ZoneFileError(file.path, line, reason);
    };
    if (name == "$TTL") {
      if (args.size() != 2) fail("$TTL needs one value");
      const char* end = nullptr;
      const uint32_t ttl = ldns_str2period(args[1].c_str(), &end);
      if (end == nullptr || *end != '\0') fail("bad $TTL value: " + args[1]);
      default_ttl_ = ttl;
    } else if (name == "$ORIGIN") {
      if (args.size() != 2) fail("$ORIGIN needs one name");
      std::optional<std::string> origin = directive_name(args[1], file.origin);
      if (!origin) fail("bad $ORIGIN name: " + args[1]);
      file.origin = *origin;
      file.ldns_origin.reset(make_dname(*origin));
    } else if (name == "$INCLUDE") {
      if (args.size() < 2 || args.size() > 3) fail("$INCLUDE needs a file name and optionally an origin");
      std::string origin = file.origin;
      if (args.size() == 3) {
        std::optional<std::string> given = directive_name(args[2], file.origin);
        if (!given) fail("bad $INCLUDE origin: " + args[2]);
        origin = *given;
      }
      std::filesystem::path included = args[1];
      if (included.is_relative()) included = std::filesystem::path(file.path).parent_path() / included;
      read(included.string(), origin, file.path, line);
    } else {
      fail("unknown directive " + name);
    }
  }

  void record(File& file, int line) {
    ldns_rr* raw = nullptr;
    uint32_t ttl = default_ttl_;
    int ldns_line = 0;
    const ldns_status status = ldns_rr_new_frm_fp_l(&raw, file.stream, &ttl, file.ldns_origin.slot(),
                                                    file.previous_owner.slot(), &ldns_line);
    RrPtr rr(raw);
    if (status == LDNS_STATUS_SYNTAX_EMPTY) return;
    if (status != LDNS_STATUS_OK || !rr)
      throw ZoneFileError(file.path, line, ldns_get_errorstr_by_id(status));

    const std::string owner = dns::lowercase_name(rdf_bytes(ldns_rr_owner(rr.get())));
    const uint16_t type = ldns_rr_get_type(rr.get());
    if (!builder_) {
      if (type != dns::type::SOA)
        throw ZoneFileError(file.path, line, "no origin given and the first record is not a SOA");
      builder_.emplace(owner);
      // The zone name is the origin of the names that follow (RFC 1035 5.1).
      if (file.origin.empty()) {
        file.origin = rdf_bytes(ldns_rr_owner(rr.get()));
        file.ldns_origin.reset(make_dname(file.origin));
      }
    }
    std::string rdata;
    for (size_t i = 0; i < ldns_rr_rd_count(rr.get()); ++i) rdata += rdf_bytes(ldns_rr_rdf(rr.get(), i));
    if (auto error = builder_->add(owner, type, static_cast<uint16_t>(ldns_rr_get_class(rr.get())),
                                   ldns_rr_ttl(rr.get()), rdata))
      throw ZoneFileError(file.path, line, *error);
  }

  std::optional<ZoneBuilder> builder_;
  uint32_t default_ttl_ = kDefaultTtl;
  std::vector<std::filesystem::path> open_files_;
};

}  // namespace

ZoneFileError::ZoneFileError(const std::string& file, int line, const std::string& reason)
    : std::runtime_error(line > 0 ? file + ":" + std::to_string(line) + ": " + reason
                                  : file + ": " + reason),
      file(file),
      line(line),
      reason(reason) {}

std::shared_ptr<const Zone> load_zone_file(const std::string& path, const std::string& origin) {
  std::string origin_wire;
  if (!origin.empty()) {
    std::optional<std::string> wire = name_from_text(origin);
    if (!wire) throw ZoneFileError(path, 0, "malformed zone name: " + origin);
    origin_wire = *wire;
  }
  Loader loader(origin_wire);
  loader.read(path, origin_wire);
  return loader.finish(path);
}

}  // namespace rotor::zones
