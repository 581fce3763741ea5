#include "forum/connection.h"

// The only file that calls libpq itself; everything else goes through libpqxx.
#include <dlfcn.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

// libpq's own name → id of an encoding (libpq exports it; libpq-fe.h does not declare it). -1 when unknown.
extern "C" int pg_char_to_encoding(const char* name);

namespace {

std::atomic<int64_t> broken_connection_encodings{0};

// The connections (libpq's handles) that carried a message of
// forum::kLargeMessageBytes or more, with the socket each had then: a
// Connection knows its socket, not its handle. Entries leave at PQfinish,
// so the map holds only open connections with large buffers.
std::mutex large_mutex;
std::unordered_map<const PGconn*, int> large_sockets;

// libpq's definition of `name`, which this program's own definition hides.
template <typename Function>
Function* Libpq(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) std::abort();  // linked without libpq: cannot happen in a program that connects
  return reinterpret_cast<Function*>(f);
}

// Bytes of the statement's parameters as libpq sends them: a text
// parameter's length is its strlen, a binary one's is given.
size_t ParameterBytes(int count, const char* const* values, const int* lengths, const int* formats) {
  size_t bytes = 0;
  for (int i = 0; values != nullptr && i < count; ++i) {
    if (values[i] == nullptr) continue;
    const bool binary = formats != nullptr && formats[i] != 0;
    bytes += binary && lengths != nullptr ? static_cast<size_t>(lengths[i]) : std::strlen(values[i]);
  }
  return bytes;
}

// Whether one row of `result` is a large message. A result smaller in all
// than the bar cannot hold one, so most are answered without a look at their rows.
bool HasLargeRow(const PGresult* result) {
  if (result == nullptr || PQresultMemorySize(result) < forum::kLargeMessageBytes) return false;
  const int rows = PQntuples(result);
  const int fields = PQnfields(result);
  for (int row = 0; row < rows; ++row) {
    size_t bytes = 0;
    for (int field = 0; field < fields; ++field)
      bytes += static_cast<size_t>(PQgetlength(result, row, field));
    if (bytes >= forum::kLargeMessageBytes) return true;
  }
  return false;
}

// Notes `conn` as holding large buffers when what it sent (`sent` bytes) or received was large.
PGresult* Noted(PGconn* conn, size_t sent, PGresult* result) {
  if (conn != nullptr && (sent >= forum::kLargeMessageBytes || HasLargeRow(result))) {
    std::lock_guard lock(large_mutex);
    large_sockets[conn] = PQsocket(conn);
  }
  return result;
}

}  // namespace

// Replaces libpq's PQclientEncoding for the whole program (see connection.h
// for why): the dynamic linker resolves libpqxx's calls to the executable's
// definition first. libpq keeps the encoding from the client_encoding
// parameter the server reports, SQL_ASCII (0) when it reports none or one
// it does not know, and answers it while the connection is CONNECTION_OK,
// -1 otherwise. This answers the same, except that a connection that is no
// longer OK keeps its encoding. Only a missing connection is -1.
extern "C" int PQclientEncoding(const PGconn* conn) {
  if (conn == nullptr) return -1;
  if (PQstatus(conn) != CONNECTION_OK) broken_connection_encodings.fetch_add(1, std::memory_order_relaxed);
  const char* name = PQparameterStatus(conn, "client_encoding");
  const int encoding = name == nullptr ? -1 : pg_char_to_encoding(name);
  return encoding < 0 ? 0 : encoding;
}

// The statements libpqxx sends, each noted (see connection.h) and then
// left to libpq's own function. libpqxx 6.4 sends through these four only
// (it uses no COPY and no pipeline here).
extern "C" PGresult* PQexec(PGconn* conn, const char* query) {
  static auto* const real = Libpq<PGresult*(PGconn*, const char*)>("PQexec");
  return Noted(conn, query == nullptr ? 0 : std::strlen(query), real(conn, query));
}

extern "C" PGresult* PQexecParams(PGconn* conn, const char* command, int n_params, const Oid* param_types,
                                  const char* const* param_values, const int* param_lengths,
                                  const int* param_formats, int result_format) {
  static auto* const real = Libpq<PGresult*(PGconn*, const char*, int, const Oid*, const char* const*,
                                            const int*, const int*, int)>("PQexecParams");
  const size_t sent = (command == nullptr ? 0 : std::strlen(command)) +
                      ParameterBytes(n_params, param_values, param_lengths, param_formats);
  return Noted(
      conn, sent,
      real(conn, command, n_params, param_types, param_values, param_lengths, param_formats, result_format));
}

extern "C" PGresult* PQexecPrepared(PGconn* conn, const char* statement, int n_params,
                                    const char* const* param_values, const int* param_lengths,
                                    const int* param_formats, int result_format) {
  static auto* const real =
      Libpq<PGresult*(PGconn*, const char*, int, const char* const*, const int*, const int*, int)>(
          "PQexecPrepared");
  const size_t sent = ParameterBytes(n_params, param_values, param_lengths, param_formats);
  return Noted(conn, sent,
               real(conn, statement, n_params, param_values, param_lengths, param_formats, result_format));
}

extern "C" PGresult* PQprepare(PGconn* conn, const char* statement, const char* query, int n_params,
                               const Oid* param_types) {
  static auto* const real = Libpq<PGresult*(PGconn*, const char*, const char*, int, const Oid*)>("PQprepare");
  return Noted(conn, query == nullptr ? 0 : std::strlen(query),
               real(conn, statement, query, n_params, param_types));
}

// A closed connection's buffers are freed with it.
extern "C" void PQfinish(PGconn* conn) {
  static auto* const real = Libpq<void(PGconn*)>("PQfinish");
  {
    std::lock_guard lock(large_mutex);
    large_sockets.erase(conn);
  }
  real(conn);
}

namespace forum {

Connection::Connection(const std::string& dsn) : pqxx::connection(dsn) {}

bool Connection::KeepsLargeBuffers() const {
  const int socket = sock();
  if (socket < 0) return false;
  std::lock_guard lock(large_mutex);
  for (const auto& [conn, noted_socket] : large_sockets) {
    if (noted_socket == socket) return true;
  }
  return false;
}

int64_t BrokenConnectionEncodings() { return broken_connection_encodings.load(std::memory_order_relaxed); }

}  // namespace forum
