// Frame protection: AES-256-GCM sealing and opening in place, the header
// bound into the tag, the replay window, and a fuzz-style run of random
// mutations of valid encrypted frames, none of which may be accepted.
#include "dataplane/aead.h"

#include <cstring>
#include <random>
#include <vector>

#include "dataplane/replay_window.h"
#include "dataplane/wire.h"
#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

AeadKeyBytes KeyOf(uint8_t seed) {
  AeadKeyBytes k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + i);
  return k;
}

// A sealed frame as a worker sends it, and the plaintext it carries.
struct Sealed {
  std::vector<uint8_t> frame;
  std::vector<uint8_t> plain;
};

Sealed Seal(const AeadEngine& engine, const AeadKey& key, FrameType type,
            uint64_t pn, std::vector<uint8_t> plain) {
  Sealed s;
  s.plain = plain;
  s.frame.resize(FrameBytes(plain.size(), Protection::kAes256Gcm));
  if (!plain.empty())
    std::memcpy(s.frame.data() + kFrameOverhead, plain.data(), plain.size());
  WireHeader h = {};
  h.type = static_cast<uint8_t>(type);
  h.protection = static_cast<uint8_t>(Protection::kAes256Gcm);
  h.session_id = 5;
  h.stream_id = 2;
  h.packet_number = pn;
  h.seq = 9;
  h.offset = 4096;
  Endpoint a, b;
  a.mac = {2, 0, 0, 0, 0, 1};
  b.mac = {2, 0, 0, 0, 0, 2};
  a.ipv4 = 0x0a000001;
  b.ipv4 = 0x0a000002;
  b.udp_port = 7700;
  EncodeHeaders(a, b, 49152, h, plain, s.frame.data());
  EXPECT_TRUE(engine.Seal(key, absl::MakeSpan(s.frame)));
  return s;
}

std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 1);
  return v;
}

TEST(AeadTest, ASealedFrameParsesOpensAndGivesBackThePlaintext) {
  AeadEngine engine;
  AeadKey key(KeyOf(1));
  Sealed s = Seal(engine, key, FrameType::kData, 1, Pattern(1000));
  // Encrypted on the wire: the plaintext is nowhere in the frame.
  EXPECT_EQ(std::search(s.frame.begin(), s.frame.end(), s.plain.begin(),
                        s.plain.begin() + 16),
            s.frame.end());
  ParseError err;
  auto p = ParseFrame(s.frame, 7700, &err);
  ASSERT_TRUE(p.has_value()) << ParseErrorName(err);
  EXPECT_EQ(p->protection(), Protection::kAes256Gcm);
  EXPECT_EQ(p->header.payload_len, 1000u);
  EXPECT_EQ(p->header.session_token, 0u);  // no token under an AEAD
  ASSERT_TRUE(engine.Open(key, absl::MakeSpan(s.frame)));
  EXPECT_EQ(std::vector<uint8_t>(s.frame.begin() + kFrameOverhead,
                                 s.frame.begin() + kFrameOverhead + 1000),
            s.plain);
  EXPECT_STRNE(engine.implementation(), "");
}

TEST(AeadTest, EveryFlippedBitOfHeaderPayloadOrTagFailsAuthentication) {
  AeadEngine engine;
  AeadKey key(KeyOf(1));
  const Sealed s = Seal(engine, key, FrameType::kData, 3, Pattern(64));
  // From the vmigd header on: everything the receiver routes or orders on
  // is associated data, the payload is ciphertext, then the tag.
  for (size_t byte = kHeaderOffset; byte < s.frame.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> f = s.frame;
      f[byte] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(engine.Open(key, absl::MakeSpan(f)))
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(AeadTest, AnotherKeyOrAnotherDirectionCannotOpenAFrame) {
  AeadEngine engine;
  AeadKey mine(KeyOf(1)), other(KeyOf(2));
  Sealed s = Seal(engine, mine, FrameType::kAck, 1, Pattern(40));
  std::vector<uint8_t> f = s.frame;
  EXPECT_FALSE(engine.Open(other, absl::MakeSpan(f)));
  EXPECT_TRUE(engine.Open(mine, absl::MakeSpan(s.frame)));
}

TEST(AeadTest, TheSamePayloadUnderTwoPacketNumbersIsTwoCiphertexts) {
  // A retransmission is sealed under a new packet number: no nonce is
  // reused, and an observer cannot tell it is the same data.
  AeadEngine engine;
  AeadKey key(KeyOf(1));
  Sealed a = Seal(engine, key, FrameType::kData, 1, Pattern(256));
  Sealed b = Seal(engine, key, FrameType::kData, 2, Pattern(256));
  EXPECT_NE(
      std::vector<uint8_t>(a.frame.begin() + kFrameOverhead, a.frame.end()),
      std::vector<uint8_t>(b.frame.begin() + kFrameOverhead, b.frame.end()));
}

TEST(ReplayWindowTest, AcceptsEachNumberOnceInAnyOrderWithinTheWindow) {
  ReplayWindow w;
  EXPECT_EQ(w.Check(0), ReplayWindow::Verdict::kTooOld);  // numbers start at 1
  for (uint64_t pn : {5, 3, 4, 1, 2, 100, 50}) {
    ASSERT_EQ(w.Check(pn), ReplayWindow::Verdict::kFresh) << pn;
    w.Accept(pn);
    EXPECT_EQ(w.Check(pn), ReplayWindow::Verdict::kReplayed) << pn;
  }
  EXPECT_EQ(w.Check(99), ReplayWindow::Verdict::kFresh);
  w.Accept(100 + ReplayWindow::kBits);
  EXPECT_EQ(w.Check(100), ReplayWindow::Verdict::kTooOld);
  EXPECT_EQ(w.Check(101), ReplayWindow::Verdict::kFresh);  // inside, unseen
  EXPECT_EQ(w.Check(100 + ReplayWindow::kBits),
            ReplayWindow::Verdict::kReplayed);
  // A jump far ahead forgets everything behind it.
  w.Accept(1'000'000);
  EXPECT_EQ(w.Check(1'000'000 - 1), ReplayWindow::Verdict::kFresh);
  EXPECT_EQ(w.Check(1'000'000 - ReplayWindow::kBits),
            ReplayWindow::Verdict::kTooOld);
}

TEST(ReplayWindowTest, SlotsReusedAfterTheWindowMovesOnStartClear) {
  ReplayWindow w;
  for (uint64_t pn = 1; pn <= 3 * ReplayWindow::kBits; pn += 2) w.Accept(pn);
  // Every even number within the window is unseen; every odd one seen.
  const uint64_t top = w.top();
  for (uint64_t pn = top - ReplayWindow::kBits + 1; pn <= top; ++pn) {
    EXPECT_EQ(w.Check(pn), pn % 2 ? ReplayWindow::Verdict::kReplayed
                                  : ReplayWindow::Verdict::kFresh)
        << pn;
  }
}

// The receive path's checks, in a worker's order: parse, replay window,
// tag. True if a frame would be accepted.
bool Accepted(const AeadEngine& engine, const AeadKey& key, ReplayWindow& w,
              std::vector<uint8_t> f) {
  ParseError err;
  auto p = ParseFrame(f, 7700, &err);
  if (!p) return false;
  if (p->protection() != Protection::kAes256Gcm) return false;
  if (w.Check(p->header.packet_number) != ReplayWindow::Verdict::kFresh)
    return false;
  if (!engine.Open(key, absl::MakeSpan(f))) return false;
  w.Accept(p->header.packet_number);
  if (p->header.type == static_cast<uint8_t>(FrameType::kAck)) {
    AckPayload ack;
    return ParseAck(p->payload, &ack);
  }
  return true;
}

TEST(AeadFuzzTest, RandomMutationsOfValidEncryptedFramesAreNeverAccepted) {
  AeadEngine engine;
  AeadKey key(KeyOf(9));
  AckPayload ack = {};
  ack.cumulative = 4;
  ack.window_end = 1 << 20;
  std::vector<uint8_t> ack_bytes(AckPayloadBytes(0));
  std::memcpy(ack_bytes.data(), &ack, ack_bytes.size());
  const std::vector<Sealed> valid = {
      Seal(engine, key, FrameType::kData, 1, Pattern(1200)),
      Seal(engine, key, FrameType::kData, 2, Pattern(1)),
      Seal(engine, key, FrameType::kAck, 3, ack_bytes),
      Seal(engine, key, FrameType::kClose, 4, {}),
  };
  {
    // Unmutated, each is accepted exactly once.
    ReplayWindow w;
    for (const Sealed& s : valid) {
      EXPECT_TRUE(Accepted(engine, key, w, s.frame));
      EXPECT_FALSE(Accepted(engine, key, w, s.frame));
    }
  }
  std::mt19937_64 rng(20261201);
  int accepted = 0, runs = 0;
  for (int i = 0; i < 200000; ++i) {
    const Sealed& s = valid[rng() % valid.size()];
    std::vector<uint8_t> f = s.frame;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      if (f.size() <= kHeaderOffset + 1) break;  // nothing left to edit
      switch (rng() % 5) {
        case 0:  // flip a bit anywhere from the vmigd header on
          f[kHeaderOffset + rng() % (f.size() - kHeaderOffset)] ^=
              static_cast<uint8_t>(1 << (rng() % 8));
          break;
        case 1:  // a random byte
          f[kHeaderOffset + rng() % (f.size() - kHeaderOffset)] =
              static_cast<uint8_t>(rng());
          break;
        case 2:  // truncate
          f.resize(kHeaderOffset + rng() % (f.size() - kHeaderOffset));
          break;
        case 3:  // extend with garbage
          for (size_t k = rng() % 64 + 1; k > 0; --k)
            f.push_back(static_cast<uint8_t>(rng()));
          break;
        default:  // a header field the receiver routes on, set at random
          if (f.size() >= kFrameOverhead) {
            const size_t field = rng() % sizeof(WireHeader);
            f[kHeaderOffset + field] = static_cast<uint8_t>(rng());
          }
      }
    }
    // Edits that undid themselves, or only added bytes past the IP packet
    // (Ethernet padding, not part of the frame), change nothing.
    if (f.size() >= s.frame.size() &&
        std::equal(s.frame.begin(), s.frame.end(), f.begin())) {
      continue;
    }
    ++runs;
    // A fresh window each time: only the tag may refuse it.
    ReplayWindow w;
    if (Accepted(engine, key, w, f)) ++accepted;
  }
  EXPECT_GT(runs, 150000);
  EXPECT_EQ(accepted, 0);
}

}  // namespace
}  // namespace vmig::dataplane
