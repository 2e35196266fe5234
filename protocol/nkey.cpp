#include "protocol/nkey.hpp"

#include <algorithm>

namespace jb::protocol::nkey {
namespace {

constexpr std::string_view b32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view b64_std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view b64_url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b32_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

int b64_value(char c, std::string_view alphabet) noexcept {
  auto p = alphabet.find(c);
  return p == std::string_view::npos ? -1 : static_cast<int>(p);
}

// Go's decoders skip line breaks anywhere in the input.
std::string without_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

// Decodes base64 characters (no padding) into bytes; a final group of one character is an error.
std::optional<std::vector<std::uint8_t>> b64_groups(std::string_view s, std::string_view alphabet) {
  if (s.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(s.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = b64_value(c, alphabet);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::uint16_t crc16(std::span<const std::uint8_t> data) noexcept {
  std::uint16_t crc = 0;
  for (std::uint8_t b : data) {
    crc ^= static_cast<std::uint16_t>(b) << 8;
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
  const std::string s = without_newlines(text);
  switch (s.size() % 8) {
    case 1: case 3: case 6: return std::nullopt;
    default: break;
  }
  std::vector<std::uint8_t> out;
  out.reserve(s.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = b32_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

namespace {

// RFC 4648 encoding without padding: the bytes as a big-endian bit string cut into `width`-bit
// symbols of `alphabet` (base32: 5, base64: 6), the last one zero-filled.
std::string encode_bits(std::span<const std::uint8_t> data, int width, std::string_view alphabet) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  const std::uint32_t mask = (1u << width) - 1;
  for (std::uint8_t b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= width) {
      bits -= width;
      out += alphabet[(acc >> bits) & mask];
    }
  }
  if (bits > 0) out += alphabet[(acc << (width - bits)) & mask];
  return out;
}

}  // namespace

std::string base32_encode(std::span<const std::uint8_t> data) { return encode_bits(data, 5, b32_alphabet); }

std::optional<std::vector<std::uint8_t>> decode(std::uint8_t prefix, std::string_view key) {
  auto raw = base32_decode(key);
  if (!raw || raw->size() < 4) return std::nullopt;
  const std::size_t n = raw->size() - 2;
  const std::uint16_t want = static_cast<std::uint16_t>((*raw)[n] | ((*raw)[n + 1] << 8));
  if (crc16(std::span(raw->data(), n)) != want) return std::nullopt;
  if ((*raw)[0] != prefix) return std::nullopt;
  return std::vector<std::uint8_t>(raw->begin() + 1, raw->begin() + static_cast<std::ptrdiff_t>(n));
}

std::optional<std::array<std::uint8_t, 32>> decode_user_key(std::string_view key) {
  auto payload = decode(prefix_user, key);
  if (!payload || payload->size() != 32) return std::nullopt;
  std::array<std::uint8_t, 32> out{};
  std::copy(payload->begin(), payload->end(), out.begin());
  return out;
}

bool is_valid_public_user_key(std::string_view key) { return decode(prefix_user, key).has_value(); }

std::string encode(std::uint8_t prefix, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> raw;
  raw.reserve(payload.size() + 3);
  raw.push_back(prefix);
  raw.insert(raw.end(), payload.begin(), payload.end());
  const std::uint16_t crc = crc16(raw);
  raw.push_back(static_cast<std::uint8_t>(crc & 0xff));
  raw.push_back(static_cast<std::uint8_t>(crc >> 8));
  return base32_encode(raw);
}

std::string base64_raw_url_encode(std::span<const std::uint8_t> data) { return encode_bits(data, 6, b64_url); }

std::optional<std::vector<std::uint8_t>> decode_signature(std::string_view sig) {
  const std::string s = without_newlines(sig);
  if (auto raw = b64_groups(s, b64_url)) return raw;
  // Padded standard base64: whole groups of four, '=' only to fill the last one.
  if (s.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  return b64_groups(std::string_view(s).substr(0, s.size() - pad), b64_std);
}

}  // namespace jb::protocol::nkey
