#include "http/http_server.h"

#include <civetweb.h>

#include <cctype>
#include <exception>
#include <mutex>

#include "common/log.h"

namespace vigil::http {

struct HttpServer::Context {
  std::string component;
  Handler handler;
  mg_context* ctx = nullptr;
  ~Context() {
    if (ctx != nullptr) mg_stop(ctx);
  }
};

namespace {

const char* reasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

// A response to HEAD has the headers of the GET and no body.
void send(mg_connection* conn, const Response& r, bool head_only = false) {
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reasonPhrase(r.status) + "\r\n";
  head += "Content-Type: " + r.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "Connection: close\r\n\r\n";
  mg_write(conn, head.data(), head.size());
  if (!head_only && !r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
}

int onRequest(mg_connection* conn, void* data) {
  auto* context = static_cast<HttpServer::Context*>(data);
  const mg_request_info* info = mg_get_request_info(conn);
  try {
    Request req;
    req.method = info->request_method ? info->request_method : "";
    req.path = info->local_uri ? info->local_uri : "";
    req.query = info->query_string ? info->query_string : "";
    for (int i = 0; i < info->num_headers; ++i) {
      std::string name = info->http_headers[i].name;
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = info->http_headers[i].value;
    }
    if (info->content_length > static_cast<long long>(HttpServer::kMaxBodyBytes)) {
      send(conn, Response::text(413, "request body too large\n"));
      return 413;
    }
    char buf[8192];
    for (;;) {
      const int n = mg_read(conn, buf, sizeof buf);
      if (n <= 0) break;
      req.body.append(buf, static_cast<std::size_t>(n));
      if (req.body.size() > HttpServer::kMaxBodyBytes) {
        send(conn, Response::text(413, "request body too large\n"));
        return 413;
      }
    }
    const Response r = context->handler(req);
    send(conn, r, req.method == "HEAD");
    return r.status;
  } catch (const std::exception& e) {
    VIGIL_LOG(kError, context->component) << "http handler failed: " << e.what();
    send(conn, Response::text(500, "internal error\n"));
    return 500;
  }
}

int onLog(const mg_connection*, const char* message) {
  VIGIL_LOG(kDebug, "http") << message;
  return 1;
}

}  // namespace

bool splitHostPort(const std::string& listen, std::string& host, int& port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  host = listen.substr(0, colon);
  const std::string p = listen.substr(colon + 1);
  if (p.size() > 5) return false;
  for (const char c : p) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  port = std::stoi(p);
  return port <= 65535;
}

std::unique_ptr<HttpServer> HttpServer::start(const std::string& component,
                                              const std::string& listen, Handler handler,
                                              std::string& error) {
  std::string host;
  int port = 0;
  if (!splitHostPort(listen, host, port)) {
    error = "listen: expected HOST:PORT, got \"" + listen + "\"";
    return nullptr;
  }
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  std::unique_ptr<HttpServer> server(new HttpServer());
  server->context_ = std::make_unique<Context>();
  server->context_->component = component;
  server->context_->handler = std::move(handler);

  const std::string ports = listen;
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "4",
                           "request_timeout_ms", "10000", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = onLog;
  mg_init_data init_data{};
  init_data.callbacks = &callbacks;
  init_data.user_data = server->context_.get();
  init_data.configuration_options = options;
  mg_error_data error_data{};
  char error_text[256] = {0};
  error_data.text = error_text;
  error_data.text_buffer_size = sizeof error_text;
  server->context_->ctx = mg_start2(&init_data, &error_data);
  if (server->context_->ctx == nullptr) {
    error = "cannot listen on " + listen + ": " + (error_text[0] ? error_text : "unknown error");
    return nullptr;
  }
  mg_set_request_handler(server->context_->ctx, "/", onRequest, server->context_.get());

  mg_server_port bound[4];
  const int n = mg_get_server_ports(server->context_->ctx, 4, bound);
  server->host_ = host;
  server->port_ = n > 0 ? bound[0].port : port;
  VIGIL_LOG(kInfo, component) << "listening on " << host << ":" << server->port_;
  return server;
}

HttpServer::~HttpServer() = default;

}  // namespace vigil::http
