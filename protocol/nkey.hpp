#pragma once
// NATS nkeys, the text form of Ed25519 public keys (github.com/nats-io/nkeys): a prefix byte
// naming the key's role, the 32-byte key and a CRC16 (XModem, little-endian), all in RFC 4648
// base32 without padding. A user key starts with 'U'. Also the base64 forms used around them:
// the INFO nonce and the CONNECT signature. Pure: no I/O, no crypto (server/auth.cpp verifies).
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jb::protocol::nkey {

inline constexpr std::uint8_t prefix_account = 0;         // 'A'
inline constexpr std::uint8_t prefix_cluster = 2 << 3;    // 'C'
inline constexpr std::uint8_t prefix_server = 13 << 3;    // 'N'
inline constexpr std::uint8_t prefix_operator = 14 << 3;  // 'O'
inline constexpr std::uint8_t prefix_private = 15 << 3;   // 'P'
inline constexpr std::uint8_t prefix_seed = 18 << 3;      // 'S'
inline constexpr std::uint8_t prefix_user = 20 << 3;      // 'U'

// CRC-16/XMODEM (polynomial 0x1021, initial value 0), the nkeys checksum.
[[nodiscard]] std::uint16_t crc16(std::span<const std::uint8_t> data) noexcept;

// RFC 4648 base32 (upper-case alphabet, no padding), decoded as Go's decoder does: a trailing
// group of 1, 3 or 6 characters, or any character outside A-Z2-7, is an error.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);
[[nodiscard]] std::string base32_encode(std::span<const std::uint8_t> data);

// The bytes after the prefix of an encoded key whose checksum holds and whose prefix byte is
// `prefix`; nullopt otherwise. Like nkeys.Decode, the payload length is not checked.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> decode(std::uint8_t prefix, std::string_view key);
// The 32-byte Ed25519 key of a public user key ("U..."), or nullopt.
[[nodiscard]] std::optional<std::array<std::uint8_t, 32>> decode_user_key(std::string_view key);
// nkeys.IsValidPublicUserKey: what nats-server accepts as `nkey` of a configured user.
[[nodiscard]] bool is_valid_public_user_key(std::string_view key);
// Encodes `payload` under `prefix` with its checksum (the inverse of decode).
[[nodiscard]] std::string encode(std::uint8_t prefix, std::span<const std::uint8_t> payload);

// base64 with the URL alphabet and no padding (Go's RawURLEncoding): the INFO nonce.
[[nodiscard]] std::string base64_raw_url_encode(std::span<const std::uint8_t> data);
// A CONNECT `sig` as nats-server reads it: unpadded URL-alphabet base64, else padded standard
// base64. Like Go's (non-strict) decoders, line breaks are skipped and the unused bits of the
// last character are not checked.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> decode_signature(std::string_view sig);

}  // namespace jb::protocol::nkey
