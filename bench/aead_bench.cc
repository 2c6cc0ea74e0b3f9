// The AEAD that protects frames, per core, next to the CRC32C it replaces:
// sealing and opening a whole frame in place (ipsec-mb, the data path's
// choice), OpenSSL's EVP AES-256-GCM for the comparison that chose it, and
// CRC32C over the same payloads. Payloads of a 9000-byte and a 64000-byte
// MTU frame (9 KB and 64 KB).
#include <openssl/evp.h>

#include <cstring>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "dataplane/aead.h"
#include "dataplane/crc32c.h"
#include "dataplane/wire.h"

namespace vmig::dataplane {
namespace {

void FrameSizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {8926, 63926}) b->Arg(n);
}

AeadKeyBytes TestKey() {
  AeadKeyBytes k;
  std::mt19937 r(7);
  for (auto& b : k) b = static_cast<uint8_t>(r());
  return k;
}

std::vector<uint8_t> Frame(size_t payload, WireHeader& h) {
  std::vector<uint8_t> f(FrameBytes(payload, Protection::kAes256Gcm));
  std::mt19937 r(1);
  for (auto& b : f) b = static_cast<uint8_t>(r());
  h = {};
  h.type = static_cast<uint8_t>(FrameType::kData);
  h.protection = static_cast<uint8_t>(Protection::kAes256Gcm);
  h.stream_id = 1;
  Endpoint a, b;
  EncodeHeaders(a, b, 49152, h,
                absl::MakeConstSpan(f.data() + kFrameOverhead, payload),
                f.data());
  return f;
}

void SetPacketNumber(std::vector<uint8_t>& f, uint64_t pn) {
  std::memcpy(f.data() + kHeaderOffset + offsetof(WireHeader, packet_number),
              &pn, sizeof(pn));
}

void BM_AeadSeal(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  AeadEngine engine;
  AeadKey key(TestKey());
  WireHeader h;
  std::vector<uint8_t> f = Frame(n, h);
  uint64_t pn = 0;
  for (auto _ : state) {
    SetPacketNumber(f, ++pn);
    (void)engine.Seal(key, absl::MakeSpan(f));
    benchmark::DoNotOptimize(f.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
  state.SetLabel(engine.implementation());
}
BENCHMARK(BM_AeadSeal)->Apply(FrameSizes);

void BM_AeadOpen(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  AeadEngine engine;
  AeadKey key(TestKey());
  WireHeader h;
  std::vector<uint8_t> f = Frame(n, h);
  SetPacketNumber(f, 1);
  (void)engine.Seal(key, absl::MakeSpan(f));
  const std::vector<uint8_t> sealed = f;
  for (auto _ : state) {
    // Opening decrypts in place: each round opens the sealed frame anew.
    std::memcpy(f.data() + kFrameOverhead, sealed.data() + kFrameOverhead, n);
    if (!engine.Open(key, absl::MakeSpan(f)))
      state.SkipWithError("did not open");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
  state.SetLabel("includes a payload memcpy");
}
BENCHMARK(BM_AeadOpen)->Apply(FrameSizes);

void BM_OpensslGcmSeal(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const AeadKeyBytes k = TestKey();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, k.data(), nullptr);
  WireHeader h;
  std::vector<uint8_t> f = Frame(n, h);
  uint8_t iv[12] = {};
  uint64_t pn = 0;
  for (auto _ : state) {
    ++pn;
    std::memcpy(iv + 4, &pn, sizeof(pn));
    int len = 0;
    uint8_t* p = f.data() + kFrameOverhead;
    EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv);
    EVP_EncryptUpdate(ctx, nullptr, &len, f.data() + kHeaderOffset,
                      sizeof(WireHeader));
    EVP_EncryptUpdate(ctx, p, &len, p, static_cast<int>(n));
    EVP_EncryptFinal_ex(ctx, p + n, &len);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, p + n);
    benchmark::DoNotOptimize(f.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_OpensslGcmSeal)->Apply(FrameSizes);

void BM_Crc32cFrame(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  WireHeader h;
  std::vector<uint8_t> f = Frame(n, h);
  for (auto _ : state) {
    benchmark::DoNotOptimize(Crc32c(f.data() + kFrameOverhead, n, 0));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_Crc32cFrame)->Apply(FrameSizes);

}  // namespace
}  // namespace vmig::dataplane
