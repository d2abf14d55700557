#pragma once
// ASCII case folding for text that is compared without case: domain names in
// presentation form, media types, hex digests. Locale-free (std::tolower
// depends on the C locale; DNS names compare by ASCII only, RFC 4343). Pure
// functions. Wire-format names are lowered by dns::lowercase_name.

#include <string>

namespace rotor {

inline std::string ascii_lowercase(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// A name in presentation form as rotor shows it: lower case, fully qualified
// ("WWW.Example.com" -> "www.example.com."). The empty text stays empty.
inline std::string canonical_text_name(std::string text) {
  text = ascii_lowercase(std::move(text));
  if (!text.empty() && text.back() != '.') text += '.';
  return text;
}

}  // namespace rotor
