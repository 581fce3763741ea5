#include "forum/connection.h"

// The only file that calls libpq itself; everything else goes through libpqxx.
#include <libpq-fe.h>

#include <atomic>

// libpq's own name → id of an encoding (libpq exports it; libpq-fe.h does not declare it). -1 when unknown.
extern "C" int pg_char_to_encoding(const char* name);

namespace {

std::atomic<int64_t> broken_connection_encodings{0};

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

namespace forum {

Connection::Connection(const std::string& dsn) : pqxx::connection(dsn) {}

int64_t BrokenConnectionEncodings() { return broken_connection_encodings.load(std::memory_order_relaxed); }

}  // namespace forum
