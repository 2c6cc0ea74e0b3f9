// The metrics page over HTTP: GET /metrics answers with what `render`
// returns, in the Prometheus text format. Served by libmicrohttpd (Debian's
// libmicrohttpd12: small, maintained, and what embedded exporters use)
// rather than a hand-written server, on one thread of its own, with a
// bound on connections and on how long one may idle.
#ifndef VMIGD_METRICS_HTTP_ENDPOINT_H_
#define VMIGD_METRICS_HTTP_ENDPOINT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct MHD_Daemon;

namespace vmig::metrics {

class HttpEndpoint {
 public:
  // At most this many connections at once; the rest wait in the backlog.
  static constexpr unsigned kMaxConnections = 16;
  static constexpr unsigned kIdleTimeoutSeconds = 10;

  // `address`: "HOST:PORT" with a numeric IPv4 host, or "[IPv6]:PORT";
  // port 0 takes a free one (port() says which).
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(
      const std::string& address, std::function<std::string()> render);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  uint16_t port() const { return port_; }

 private:
  explicit HttpEndpoint(std::function<std::string()> render)
      : render_(std::move(render)) {}

  const std::function<std::string()> render_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;

  friend struct HttpEndpointAccess;
};

// The address as Start() takes it, checked: "" if valid, else why not
// (the configuration check names the field with it).
std::string CheckListenAddress(const std::string& address);

}  // namespace vmig::metrics

#endif  // VMIGD_METRICS_HTTP_ENDPOINT_H_
