// NKey public keys (base32, prefix byte, CRC16) and nonce signatures, checked against values
// made by the nkeys reference implementation (Python nkeys 0.2.1, seed bytes 0..31).
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "protocol/nkey.hpp"
#include "server/auth.hpp"

namespace {

namespace nk = jb::protocol::nkey;

// nkeys.encode_seed(bytes(range(32)), PREFIX_BYTE_USER) and its public keys as a user and as an account.
constexpr const char* user_key = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
constexpr const char* account_key = "AAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3QPZV";
constexpr const char* nonce = "K8eurc7-H--kwFo";
// The seed's signature of `nonce`, unpadded URL base64 and padded standard base64.
constexpr const char* sig_raw_url =
    "CyVoS5OiPIZGA4t4Lf_-D1XFKMcx5h4H6xzXw_aeXPmb-h_tgW0j88Aze0SEMYlPG1l6NZmcl43nB3idP0-MBQ";
constexpr const char* sig_std =
    "CyVoS5OiPIZGA4t4Lf/+D1XFKMcx5h4H6xzXw/aeXPmb+h/tgW0j88Aze0SEMYlPG1l6NZmcl43nB3idP0+MBQ==";

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(NkeyCrc16, XmodemCheckValue) {
  // CRC-16/XMODEM's catalogue check value.
  EXPECT_EQ(nk::crc16(bytes("123456789")), 0x31C3);
  EXPECT_EQ(nk::crc16({}), 0);
}

TEST(NkeyBase32, RoundTripAndGoLengthRules) {
  const std::string data = "any carnal pleas";
  const std::string enc = nk::base32_encode(bytes(data));
  EXPECT_EQ(enc, "MFXHSIDDMFZG4YLMEBYGYZLBOM");  // RFC 4648 alphabet, no padding
  auto dec = nk::base32_decode(enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ(std::string(dec->begin(), dec->end()), data);
  EXPECT_FALSE(nk::base32_decode("MFXHSIDDMFZG4YLMEBYGYZLBOM=").has_value());  // padding
  EXPECT_FALSE(nk::base32_decode("mfxhsiddmfzg4ylmebygyzlbom").has_value());   // lower case
  EXPECT_FALSE(nk::base32_decode("MFXHSIDDM").has_value());                    // 9 % 8 == 1
  EXPECT_FALSE(nk::base32_decode("MFX").has_value());                          // 3 characters
}

TEST(NkeyDecode, AcceptsAValidUserKey) {
  EXPECT_TRUE(nk::is_valid_public_user_key(user_key));
  auto k = nk::decode_user_key(user_key);
  ASSERT_TRUE(k);
  // The Ed25519 public key of the seed 00 01 02 ... 1f starts 03 a1 07 bf.
  EXPECT_EQ((*k)[0], 0x03);
  EXPECT_EQ((*k)[1], 0xa1);
  EXPECT_EQ((*k)[2], 0x07);
  EXPECT_EQ((*k)[3], 0xbf);
  EXPECT_EQ(nk::encode(nk::prefix_user, *k), user_key);
  EXPECT_EQ(nk::encode(nk::prefix_account, *k), account_key);
}

TEST(NkeyDecode, RejectsWhatNatsServerRejects) {
  std::string bad_crc = user_key;
  bad_crc.back() = bad_crc.back() == 'A' ? 'B' : 'A';
  for (const std::string& k : {std::string(account_key),               // another role's prefix
                               bad_crc,                                // checksum
                               std::string(user_key).substr(0, 50),    // truncated
                               std::string("X") + user_key,            // extra character
                               std::string("UDX3lbidtfyle2f6krpc3zcyngnp3yntudzbds7z3lhohysl4zkt6wzp"),
                               std::string("SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"),  // a seed
                               std::string("UFOO"), std::string()}) {
    EXPECT_FALSE(nk::is_valid_public_user_key(k)) << k;
    EXPECT_FALSE(nk::decode_user_key(k).has_value()) << k;
  }
}

TEST(NkeyNonce, ElevenRandomBytesInFifteenUrlCharacters) {
  const std::string a = jb::server::make_nonce(), b = jb::server::make_nonce();
  EXPECT_EQ(a.size(), 15u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
  const std::array<std::uint8_t, 3> raw{0xfb, 0xff, 0xbf};
  EXPECT_EQ(nk::base64_raw_url_encode(raw), "-_-_");
}

TEST(NkeySignature, DecodesRawUrlThenPaddedStandard) {
  auto a = nk::decode_signature(sig_raw_url);
  auto b = nk::decode_signature(sig_std);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(*a, *b);
  // Padded URL alphabet and unpadded standard alphabet (with '+' or '/') are neither.
  EXPECT_FALSE(nk::decode_signature(std::string(sig_raw_url) + "==").has_value());
  EXPECT_FALSE(nk::decode_signature(std::string(sig_std).substr(0, 86)).has_value());
  EXPECT_FALSE(nk::decode_signature("abcde").has_value());  // 5 % 4 == 1
}

TEST(NkeySignature, VerifiesOnlyTheSignedNonceUnderItsKey) {
  auto sig = nk::decode_signature(sig_raw_url);
  ASSERT_TRUE(sig);
  EXPECT_TRUE(jb::server::verify_nkey_signature(user_key, nonce, *sig));
  EXPECT_FALSE(jb::server::verify_nkey_signature(user_key, "K8eurc7-H--kwFp", *sig));
  auto flipped = *sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(jb::server::verify_nkey_signature(user_key, nonce, flipped));
  EXPECT_FALSE(jb::server::verify_nkey_signature(account_key, nonce, *sig));  // not a user key
  EXPECT_FALSE(jb::server::verify_nkey_signature(user_key, nonce, std::span(*sig).first(63)));
  const std::string other = "UDX3LBIDTFYLE2F6KRPC3ZCYNGNP3YNTUDZBDS7Z3LHOHYSL4ZKT6WZP";
  EXPECT_FALSE(jb::server::verify_nkey_signature(other, nonce, *sig));
}

}  // namespace
