#include "daemon/config_checks.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/bounded.h"

namespace vmig::daemon {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status CheckEnumsUnder(const Message& m, const std::string& path) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string name =
        path.empty() ? f->name() : absl::StrCat(path, ".", f->name());
    const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const std::string at =
          f->is_repeated() ? absl::StrCat(name, "[", i, "]") : name;
      if (f->type() == FieldDescriptor::TYPE_ENUM) {
        const int v = f->is_repeated() ? r->GetRepeatedEnumValue(m, f, i)
                                       : r->GetEnumValue(m, f);
        if (f->enum_type()->FindValueByNumber(v) == nullptr) {
          std::vector<std::string> names;
          for (int k = 0; k < f->enum_type()->value_count(); ++k) {
            const auto* e = f->enum_type()->value(k);
            if (e->number() != 0) names.push_back(e->name());
          }
          return absl::InvalidArgumentError(absl::StrCat(
              at, ": ", v, " is not one of ", absl::StrJoin(names, ", ")));
        }
      } else if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
        const Message& sub = f->is_repeated() ? r->GetRepeatedMessage(m, f, i)
                                              : r->GetMessage(m, f);
        if (absl::Status s = CheckEnumsUnder(sub, at); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckEnumValues(const google::protobuf::Message& config) {
  return CheckEnumsUnder(config, "");
}

absl::Status CheckPemFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read ", Bounded(path)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Bounded(path), " is not a regular file"));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read ", Bounded(path)));
  }
  // PEM files are small; a certificate chain or key past 1 MiB is not one.
  std::string text(1 << 20, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.find("-----BEGIN ") == std::string::npos ||
      text.find("-----END ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(Bounded(path), " is not PEM (no -----BEGIN block)"));
  }
  return absl::OkStatus();
}

absl::Status CheckMemifArgs(absl::string_view args) {
  static const std::set<std::string, std::less<>> kKeys = {
      "id",  "role",   "bsize",     "rsize",     "socket",   "socket-abstract",
      "mac", "secret", "zero-copy", "owner-uid", "owner-gid"};
  for (absl::string_view kv : absl::StrSplit(args, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> p =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    const absl::string_view key = p.first, value = p.second;
    if (!kKeys.count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown memif argument ", Bounded(key, 32),
                       " (id, role, bsize, rsize, socket, socket-abstract, "
                       "mac, secret, zero-copy, owner-uid, owner-gid)"));
    }
    auto bad = [&](absl::string_view want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "memif ", key, "=", Bounded(value, 32), ": must be ", want));
    };
    uint64_t n = 0;
    if (key == "role" && value != "server" && value != "client")
      return bad("server or client");
    if ((key == "zero-copy" || key == "socket-abstract") && value != "yes" &&
        value != "no") {
      return bad("yes or no");
    }
    if ((key == "id" || key == "bsize" || key == "rsize" ||
         key == "owner-uid" || key == "owner-gid") &&
        !absl::SimpleAtoi(value, &n)) {
      return bad("a number");
    }
    if (key == "rsize" && (n < 1 || n > 14)) return bad("1 to 14 (log2)");
    if (key == "bsize" && (n < 64 || n > 65535)) return bad("64 to 65535");
    if (key == "socket" && (value.empty() || value.size() > 107))
      return bad("a socket path of 1 to 107 bytes");
  }
  return absl::OkStatus();
}

absl::Status CheckFilePrefix(absl::string_view prefix) {
  if (prefix.empty() || prefix.size() > 64 || prefix == "." || prefix == "..") {
    return absl::InvalidArgumentError("must be 1 to 64 characters");
  }
  for (char ch : prefix) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '-' &&
        ch != '_' && ch != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat(Bounded(prefix),
                       " is not a plain name of "
                       "[A-Za-z0-9._-] (no path)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFrameFaults(const v1::FrameFaults& faults) {
  const std::pair<const char*, double> each[] = {
      {"drop", faults.drop()},
      {"duplicate", faults.duplicate()},
      {"reorder", faults.reorder()},
      {"corrupt", faults.corrupt()},
      {"delay", faults.delay()}};
  double sum = 0;
  for (const auto& [name, p] : each) {
    // (Written so that NaN fails too.)
    if (!(p >= 0 && p <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", p, " is not a probability (0 to 1)"));
    }
    sum += p;
  }
  if (sum > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the probabilities add up to ", sum,
                     " > 1 (each frame meets at most one fault)"));
  }
  return absl::OkStatus();
}

}  // namespace vmig::daemon
