// The session key agreement: both sides derive the same keys, one per
// direction, fresh for every session; a bad key share is refused.
#include "daemon/session_keys.h"

#include <string>

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

TEST(SessionKeysTest, BothSidesDeriveTheSameKeyForEachDirection) {
  auto src = KeyShare::Generate();
  auto dst = KeyShare::Generate();
  ASSERT_TRUE(src.ok() && dst.ok());
  ASSERT_EQ(src->public_key().size(), 32u);
  auto s = src->Derive(dst->public_key(), "m1", KeyShare::Side::kSource);
  auto d = dst->Derive(src->public_key(), "m1", KeyShare::Side::kDestination);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(s->send, d->receive);  // data, source to destination
  EXPECT_EQ(s->receive, d->send);  // acks, destination to source
  EXPECT_NE(s->send, s->receive);  // each direction its own key
  EXPECT_NE(s->send, dataplane::AeadKeyBytes{});
}

TEST(SessionKeysTest, EverySessionGetsFreshKeys) {
  auto a = KeyShare::Generate();
  auto b = KeyShare::Generate();
  auto c = KeyShare::Generate();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_NE(a->public_key(), b->public_key());
  auto k1 = a->Derive(b->public_key(), "m1", KeyShare::Side::kSource);
  auto k2 = a->Derive(b->public_key(), "m2", KeyShare::Side::kSource);
  auto k3 = c->Derive(b->public_key(), "m1", KeyShare::Side::kSource);
  ASSERT_TRUE(k1.ok() && k2.ok() && k3.ok());
  EXPECT_NE(k1->send, k2->send);  // bound to the session id
  EXPECT_NE(k1->send, k3->send);  // and to the key pairs
}

TEST(SessionKeysTest, AMalformedOrLowOrderKeyShareIsRefused) {
  auto a = KeyShare::Generate();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->Derive("", "m1", KeyShare::Side::kSource).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a->Derive(std::string(31, 'x'), "m1", KeyShare::Side::kSource)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // The all-zero point has order 1: its shared secret is zero.
  EXPECT_EQ(a->Derive(std::string(32, '\0'), "m1", KeyShare::Side::kSource)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmig::daemon
