#pragma once
// One DNSSEC signing key of a zone: a combined signing key (CSK, DNSKEY flags
// 257) of algorithm 13 (ECDSA P-256 with SHA-256) or 15 (Ed25519), held by
// ldns. It knows its public DNSKEY record, its key tag, the DS its parent
// publishes, and the BIND key-file texts it is stored as (key_files.h).
//
// Thread-safety: const members may be called from any thread. Signing
// (signer.h) sets the key's validity window before each signature, so a key
// signs on one thread at a time (the snapshot builder's).
// Errors: KeyError (the file, empty when none, and the reason); thrown at the
// edges that create or load keys (`rotor keygen`, loading a zone's keys).

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct ldns_struct_key;
struct ldns_struct_rr;

namespace rotor::dnssec {

// The algorithms rotor signs with (RFC 8624: both are "MUST" for validators).
inline constexpr uint8_t kEcdsaP256Sha256 = 13;
inline constexpr uint8_t kEd25519 = 15;
// DNSKEY flags of a combined signing key: Zone Key and Secure Entry Point.
inline constexpr uint16_t kCskFlags = 257;
// The TTL of the DNSKEY, CDS and CDNSKEY records rotor writes and publishes.
inline constexpr uint32_t kDnskeyTtl = 3600;

bool is_supported_algorithm(int algorithm) noexcept;

struct KeyError : std::runtime_error {
  // what() reads "FILE: reason", or just "reason" when `file` is empty.
  KeyError(const std::string& file, const std::string& reason);
  std::string file;
  std::string reason;
};

class SigningKey {
 public:
  // A new key pair for `zone` (presentation form, e.g. "example.com."), with
  // `activate` (Unix seconds; nullopt: published only, never signs) and
  // `created` as its BIND timing metadata. Throws KeyError for a bad zone name
  // or an unsupported algorithm.
  static SigningKey generate(std::string_view zone, int algorithm, int64_t created,
                             std::optional<int64_t> activate);
  // The key stored in the BIND files' texts: `key_text` holds the DNSKEY
  // record, `private_text` the private key (and optional Activate metadata).
  // Checks that both halves belong together, the algorithm is 13 or 15, the
  // flags are a zone key's and the owner is `zone`. Throws KeyError naming
  // `file` (the .private file) and the reason.
  static SigningKey from_texts(std::string_view zone, std::string_view key_text,
                               std::string_view private_text, const std::string& file);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  uint16_t tag() const noexcept { return tag_; }
  uint8_t algorithm() const noexcept { return algorithm_; }
  uint16_t flags() const noexcept { return flags_; }
  // The zone's apex: lower-case wire form, and presentation form with the dot.
  const std::string& zone_wire() const noexcept { return zone_wire_; }
  const std::string& zone_text() const noexcept { return zone_text_; }
  // When the key starts signing (Unix seconds); nullopt: published only. A
  // key file without timing metadata (ldns-keygen's) reads as 0: active.
  std::optional<int64_t> activate() const noexcept { return activate_; }
  int64_t created() const noexcept { return created_; }

  // The DNSKEY RDATA (wire) and the record in presentation form.
  const std::string& dnskey_rdata() const noexcept { return dnskey_rdata_; }
  const std::string& dnskey_text() const noexcept { return dnskey_text_; }
  // The DS RDATA (wire) with a SHA-256 digest (digest type 2), and its record.
  const std::string& ds_rdata() const noexcept { return ds_rdata_; }
  const std::string& ds_text() const noexcept { return ds_text_; }
  // The key files' names without extension: "K<zone>.+<alg>+<tag>", as BIND
  // names them ("Kexample.com.+013+04711").
  std::string file_base() const;
  // The texts of the .key and .private files (BIND formats, private-key
  // format v1.3 with Created, Publish and, when set, Activate).
  std::string key_file_text() const;
  std::string private_file_text() const;

  // ldns's key, for the signer. Its flags are 256 (see signing_key.cc).
  ldns_struct_key* ldns() const noexcept { return key_.get(); }

 private:
  struct LdnsKeyFree {
    void operator()(ldns_struct_key* key) const noexcept;
  };
  SigningKey() = default;
  void describe(std::string_view zone_wire, uint16_t flags);

  std::unique_ptr<ldns_struct_key, LdnsKeyFree> key_;
  uint16_t tag_ = 0;
  uint8_t algorithm_ = 0;
  uint16_t flags_ = 0;
  std::string zone_wire_;
  std::string zone_text_;
  std::string dnskey_rdata_;
  std::string dnskey_text_;  // one line, with the newline
  std::string ds_rdata_;
  std::string ds_text_;
  int64_t created_ = 0;
  std::optional<int64_t> activate_;
};

// A record's RDATA in uncompressed wire form, as ldns writes it; empty when
// ldns cannot. Shared by the key (DNSKEY, DS) and the signer (RRSIG).
std::string rdata_wire(const ldns_struct_rr* rr);

// "20261201084513" (BIND's timing metadata, UTC) and back; nullopt when malformed.
std::string format_key_time(int64_t unix_seconds);
std::optional<int64_t> parse_key_time(std::string_view text);

}  // namespace rotor::dnssec
