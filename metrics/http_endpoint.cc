#include "metrics/http_endpoint.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "metrics/text_writer.h"

namespace vmig::metrics {
namespace {

struct Parsed {
  sockaddr_storage addr{};
  bool v6 = false;
};

// "" and `out` filled, or why the address is not one.
std::string Parse(const std::string& address, Parsed& out) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() ||
        address[close + 1] != ':')
      return "expected [IPv6]:PORT";
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return "expected HOST:PORT";
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int p = -1;
  if (!absl::SimpleAtoi(port, &p) || p < 0 || p > 65535)
    return absl::StrCat("port '", port, "' is not 0-65535");
  std::memset(&out.addr, 0, sizeof(out.addr));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    out.v6 = false;
    return "";
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    out.v6 = true;
    return "";
  }
  return absl::StrCat("'", host,
                      "' is not a numeric IPv4 or IPv6 address (names are "
                      "not resolved)");
}

MHD_Result Reply(MHD_Connection* c, unsigned code, const std::string& body,
                 const char* type) {
  MHD_Response* r = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  const MHD_Result ok = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ok;
}

}  // namespace

struct HttpEndpointAccess {
  static MHD_Result Handle(void* cls, MHD_Connection* c, const char* url,
                           const char* method, const char*, const char*,
                           size_t* upload_size, void** state) {
    // The first call per request only announces it; answer on the second
    // (after any body, which is not wanted and is discarded).
    if (*state == nullptr) {
      *state = c;
      return MHD_YES;
    }
    if (*upload_size) {
      *upload_size = 0;
      return MHD_YES;
    }
    const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                     std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get) {
      return Reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                   "only GET and HEAD are served\n", "text/plain");
    }
    if (std::strcmp(url, "/metrics") != 0) {
      return Reply(c, MHD_HTTP_NOT_FOUND, "the metrics are at /metrics\n",
                   "text/plain");
    }
    auto* self = static_cast<HttpEndpoint*>(cls);
    return Reply(c, MHD_HTTP_OK, self->render_(), kContentType);
  }
};

std::string CheckListenAddress(const std::string& address) {
  Parsed p;
  return Parse(address, p);
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    const std::string& address, std::function<std::string()> render) {
  Parsed p;
  if (std::string why = Parse(address, p); !why.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': ", why));
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint(std::move(render)));
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (p.v6) flags |= MHD_USE_IPv6;
  e->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &HttpEndpointAccess::Handle, e.get(),
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&p.addr),
      MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
      MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds, MHD_OPTION_END);
  if (!e->daemon_) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", address,
                     " (in use, or not an address of this host?)"));
  }
  const MHD_DaemonInfo* info =
      MHD_get_daemon_info(e->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  e->port_ = info ? info->port : 0;
  return e;
}

HttpEndpoint::~HttpEndpoint() {
  if (daemon_) MHD_stop_daemon(daemon_);
}

}  // namespace vmig::metrics
