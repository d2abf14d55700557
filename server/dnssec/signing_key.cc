#include "server/dnssec/signing_key.h"

#include <ldns/ldns.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "zones/zone.h"

namespace rotor::dnssec {
namespace {

struct RrFree {
  void operator()(ldns_rr* rr) const noexcept { ldns_rr_free(rr); }
};
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;

// A zone name fit for a key file's name: letters, digits, '-' and '_' in
// labels of 1..63 octets, at most 253 characters; returned lower-case with the
// trailing dot. Anything else (escapes, '/', spaces, the root) is refused, so
// the file name is always the plain name.
std::optional<std::string> normalized_zone(std::string_view zone) {
  if (!zone.empty() && zone.back() == '.') zone.remove_suffix(1);
  if (zone.empty() || zone.size() > 253) return std::nullopt;
  std::string text;
  size_t label = 0;
  for (char c : zone) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      ++label;
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
      ++label;
    } else {
      return std::nullopt;
    }
    if (label > 63) return std::nullopt;
    text += c;
  }
  if (label == 0) return std::nullopt;
  return text + ".";
}

std::string record_text(const ldns_rr* rr) {
  char* text = ldns_rr2str_fmt(ldns_output_format_nocomments, rr);
  std::string line = text ? text : "";
  free(text);
  return line;
}

// The DNSKEY in a .key file: the first line that is not empty or a comment.
RrPtr parse_dnskey(std::string_view key_text, const std::string& file) {
  size_t start = 0;
  while (start < key_text.size()) {
    size_t end = key_text.find('\n', start);
    if (end == std::string_view::npos) end = key_text.size();
    std::string line(key_text.substr(start, end - start));
    start = end + 1;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == ';') continue;
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, line.c_str(), kDnskeyTtl, nullptr, nullptr) != LDNS_STATUS_OK ||
        ldns_rr_get_type(rr) != LDNS_RR_TYPE_DNSKEY) {
      ldns_rr_free(rr);
      throw KeyError(file, "the .key file's record is not a DNSKEY: " + line);
    }
    return RrPtr(rr);
  }
  throw KeyError(file, "the .key file holds no DNSKEY record");
}

// The value of "Name: value" in a .private file, or nullopt.
std::optional<std::string> private_field(std::string_view text, std::string_view name) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':') {
      line.remove_prefix(name.size() + 1);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      return std::string(line);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> time_field(std::string_view text, std::string_view name,
                                  const std::string& file) {
  const auto value = private_field(text, name);
  if (!value) return std::nullopt;
  const auto time = parse_key_time(*value);
  if (!time) {
    throw KeyError(file, std::string(name) + ": '" + *value + "' is not a time YYYYMMDDHHMMSS");
  }
  return time;
}

}  // namespace

bool is_supported_algorithm(int algorithm) noexcept {
  return algorithm == kEcdsaP256Sha256 || algorithm == kEd25519;
}

KeyError::KeyError(const std::string& file_name, const std::string& why)
    : std::runtime_error(file_name.empty() ? why : file_name + ": " + why),
      file(file_name),
      reason(why) {}

void SigningKey::LdnsKeyFree::operator()(ldns_struct_key* key) const noexcept {
  ldns_key_deep_free(key);
}

SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

// Fills in what follows from the ldns key: owner, flags, DNSKEY and tag. The
// tag is that of the published DNSKEY (flags 257); the ldns key then keeps
// flags 256, because ldns_sign_public skips keys with the SEP bit for every
// RRset but DNSKEY in some ldns versions. An RRSIG names only the tag, the
// algorithm and the signer, so the flags the signer sees change nothing in it.
void SigningKey::describe(std::string_view zone_wire, uint16_t flags) {
  zone_wire_ = std::string(zone_wire);
  zone_text_ = zones::name_to_text(zone_wire_);
  flags_ = flags;
  algorithm_ = static_cast<uint8_t>(ldns_key_algorithm(key_.get()));
  ldns_key_set_pubkey_owner(
      key_.get(), ldns_dname_new_frm_data(zone_wire_.size(), zone_wire_.data()));
  ldns_key_set_flags(key_.get(), flags_);
  const RrPtr dnskey(ldns_key2rr(key_.get()));
  if (!dnskey) throw KeyError("", "ldns cannot derive the public key");
  ldns_rr_set_ttl(dnskey.get(), kDnskeyTtl);
  dnskey_rdata_ = rdata_wire(dnskey.get());
  dnskey_text_ = record_text(dnskey.get());
  tag_ = ldns_calc_keytag(dnskey.get());
  const RrPtr ds(ldns_key_rr2ds(dnskey.get(), LDNS_SHA256));
  if (!ds) throw KeyError("", "ldns cannot compute the DS record");
  ds_rdata_ = rdata_wire(ds.get());
  ds_text_ = record_text(ds.get());
  ldns_key_set_keytag(key_.get(), tag_);
  ldns_key_set_flags(key_.get(), LDNS_KEY_ZONE_KEY);
}

SigningKey SigningKey::generate(std::string_view zone, int algorithm, int64_t created,
                                std::optional<int64_t> activate) {
  const auto text = normalized_zone(zone);
  if (!text) {
    throw KeyError("", "'" + std::string(zone) +
                           "' is not a zone name (letters, digits, '-' and '_' in dot-separated labels)");
  }
  if (!is_supported_algorithm(algorithm)) {
    throw KeyError("", "algorithm " + std::to_string(algorithm) +
                           " is not supported (13 ECDSA P-256 or 15 Ed25519)");
  }
  SigningKey key;
  key.key_.reset(ldns_key_new_frm_algorithm(static_cast<ldns_signing_algorithm>(algorithm), 0));
  if (!key.key_) throw KeyError("", "ldns could not generate a key of algorithm " + std::to_string(algorithm));
  key.describe(*zones::lower_name_from_text(*text), kCskFlags);
  key.created_ = created;
  key.activate_ = activate;
  return key;
}

SigningKey SigningKey::from_texts(std::string_view zone, std::string_view key_text,
                                  std::string_view private_text, const std::string& file) {
  const auto zone_wire = zones::lower_name_from_text(zone);
  if (!zone_wire) throw KeyError(file, "'" + std::string(zone) + "' is not a zone name");
  const RrPtr published = parse_dnskey(key_text, file);
  const std::string owner(reinterpret_cast<const char*>(ldns_rdf_data(ldns_rr_owner(published.get()))),
                          ldns_rdf_size(ldns_rr_owner(published.get())));
  if (zones::lower_name_from_text(zones::name_to_text(owner)) != zone_wire) {
    throw KeyError(file, "the key is for " + zones::name_to_text(owner) + ", not for zone " +
                             zones::name_to_text(*zone_wire));
  }
  const uint16_t flags = ldns_rdf2native_int16(ldns_rr_rdf(published.get(), 0));
  if (!(flags & LDNS_KEY_ZONE_KEY) || (flags & LDNS_KEY_REVOKE_KEY)) {
    throw KeyError(file, "DNSKEY flags " + std::to_string(flags) +
                             " are not a zone key's (256 or 257, not revoked)");
  }
  const int algorithm = ldns_rdf2native_int8(ldns_rr_rdf(published.get(), 2));
  if (!is_supported_algorithm(algorithm)) {
    throw KeyError(file, "algorithm " + std::to_string(algorithm) +
                             " is not supported (13 ECDSA P-256 or 15 Ed25519)");
  }
  SigningKey key;
  ldns_key* parsed = nullptr;
  const std::string private_copy(private_text);
  FILE* stream = fmemopen(const_cast<char*>(private_copy.data()), private_copy.size(), "r");
  const ldns_status status = stream ? ldns_key_new_frm_fp(&parsed, stream) : LDNS_STATUS_FILE_ERR;
  if (stream) std::fclose(stream);
  if (status != LDNS_STATUS_OK) {
    throw KeyError(file, std::string("ldns cannot read the private key: ") +
                             ldns_get_errorstr_by_id(status));
  }
  key.key_.reset(parsed);
  if (ldns_key_algorithm(parsed) != algorithm) {
    throw KeyError(file, "the private key's algorithm differs from the .key file's");
  }
  key.describe(*zone_wire, flags);
  if (key.dnskey_rdata_ != rdata_wire(published.get())) {
    throw KeyError(file, "the private key does not match the public key in the .key file");
  }
  const auto created = time_field(private_text, "Created", file);
  const auto publish = time_field(private_text, "Publish", file);
  key.created_ = created.value_or(0);
  key.activate_ = time_field(private_text, "Activate", file);
  // A file without any timing metadata (ldns-keygen's, BIND's before 9.7)
  // is active, as BIND takes it; one with metadata but no Activate is not.
  if (!key.activate_ && !created && !publish) key.activate_ = 0;
  return key;
}

std::string SigningKey::file_base() const {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "+%03u+%05u", static_cast<unsigned>(algorithm_),
                static_cast<unsigned>(tag_));
  return "K" + zone_text_ + suffix;
}

std::string SigningKey::key_file_text() const {
  std::string text = "; This is a combined signing key (CSK), keyid " + std::to_string(tag_) +
                     ", for " + zone_text_ + "\n";
  text += "; Created: " + format_key_time(created_) + "\n";
  if (activate_) text += "; Activate: " + format_key_time(*activate_) + "\n";
  return text + dnskey_text();
}

std::string SigningKey::private_file_text() const {
  char* body = ldns_key2str(key_.get());
  std::string text = body ? body : "";
  free(body);
  // ldns writes format v1.2; v1.3 is the same plus the timing metadata below.
  const std::string v12 = "Private-key-format: v1.2";
  if (text.rfind(v12, 0) == 0) text.replace(0, v12.size(), "Private-key-format: v1.3");
  text += "Created: " + format_key_time(created_) + "\n";
  text += "Publish: " + format_key_time(created_) + "\n";
  if (activate_) text += "Activate: " + format_key_time(*activate_) + "\n";
  return text;
}

std::string format_key_time(int64_t unix_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[20];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &utc);
  return text;
}

std::optional<int64_t> parse_key_time(std::string_view text) {
  if (text.size() != 14) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const auto number = [&](size_t at, size_t length) {
    return std::stoi(std::string(text.substr(at, length)));
  };
  std::tm utc{};
  utc.tm_year = number(0, 4) - 1900;
  utc.tm_mon = number(4, 2) - 1;
  utc.tm_mday = number(6, 2);
  utc.tm_hour = number(8, 2);
  utc.tm_min = number(10, 2);
  utc.tm_sec = number(12, 2);
  if (utc.tm_mon > 11 || utc.tm_mday < 1 || utc.tm_mday > 31 || utc.tm_hour > 23 ||
      utc.tm_min > 59 || utc.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&utc));
}

std::string rdata_wire(const ldns_rr* rr) {
  ldns_buffer* buffer = ldns_buffer_new(512);
  std::string wire;
  if (ldns_rr_rdata2buffer_wire(buffer, rr) == LDNS_STATUS_OK) {
    wire.assign(reinterpret_cast<const char*>(ldns_buffer_begin(buffer)),
                ldns_buffer_position(buffer));
  }
  ldns_buffer_free(buffer);
  return wire;
}

}  // namespace rotor::dnssec
