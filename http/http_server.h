#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vigil::http {

struct Request {
  std::string method;
  std::string path;   // without the query string
  std::string query;  // without the '?'
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response text(int status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body), {}}; }
  static Response json(int status, std::string body) { return {status, "application/json", std::move(body), {}}; }
};

using Handler = std::function<Response(const Request&)>;

// A small HTTP/1.1 server (civetweb) that hands every request to one Handler,
// on a few worker threads: the handler must be thread-safe. Request bodies
// larger than kMaxBodyBytes are refused with 413 before the handler runs.
// Exceptions from the handler become a 500 and a log line. Stops on destruction.
class HttpServer {
 public:
  static constexpr std::size_t kMaxBodyBytes = 1 << 20;

  // `listen` is HOST:PORT; port 0 binds a free port. Logs "listening on HOST:PORT".
  static std::unique_ptr<HttpServer> start(const std::string& component, const std::string& listen,
                                           Handler handler, std::string& error);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }

  struct Context;  // civetweb state; defined in http_server.cc

 private:
  HttpServer() = default;

  std::unique_ptr<Context> context_;
  std::string host_;
  int port_ = 0;
};

// Splits "HOST:PORT" ("[::1]:80" too); false when malformed.
bool splitHostPort(const std::string& listen, std::string& host, int& port);

}  // namespace vigil::http
