// Private to forum/: the database connection behind every Store and Reader,
// a libpqxx 6.4 connection that does not leak when PostgreSQL breaks it.
//
// The leak: libpqxx 6.4 takes each result libpq returns in
// connection_base::make_result, whose argument list asks the connection's
// client encoding (encoding_id()) before the result is owned by anyone.
// libpq's PQclientEncoding answers -1 once the connection is no longer
// CONNECTION_OK; libpqxx then throws pqxx::broken_connection and the
// PGresult it was handed (about 2.2 KB: the error that says the server
// ended the session) is never freed. Every query that meets a connection
// PostgreSQL ended (pg_terminate_backend, a restart, an idle timeout)
// leaks so, whether the break came before the query or during it: a daemon
// that reconnects for months would leak on every reconnection.
//
// Why not free the result afterwards: libpq 15 returns the error result of
// a connection lost during a query without firing its result events
// (PGEVT_RESULTCREATE), so nothing outside libpq ever sees that pointer.
//
// The fix (connection.cc): this program's own PQclientEncoding, which the
// dynamic linker binds libpqxx to instead of libpq's, answers the
// encoding the connection had (its client_encoding parameter, as libpq
// itself does) also after the connection broke. make_result then owns the
// result, and check_result, which runs next, sees the connection closed,
// throws pqxx::broken_connection as before, and frees the result as it
// unwinds. Nothing else changes: the answer for a working connection is
// libpq's.
//
// Second, libpq never shrinks a connection's input and output buffers: each
// stays as large as the largest single message the connection ever received
// or sent (a multi-row INSERT with its values, a row with a large body), for
// the connection's life. A pool that keeps connections for months keeps,
// in each, the largest mail it ever carried. So connection.cc also watches
// every statement libpqxx sends and every result it takes (the same way: its
// own PQexec, PQexecParams, PQexecPrepared and PQprepare, which call libpq's)
// and remembers the connections that carried a message of kLargeMessageBytes
// or more; KeepsLargeBuffers() tells a pool to close such a connection
// rather than keep it (daemon/mailbox_database.cc, the outbox worker,
// web/site.cc). Only libpq's public API is used: its internal struct, which
// holds the buffers' sizes, may change in any release.
//
// Thread-safety: as pqxx::connection, one thread at a time per Connection;
// BrokenConnectionEncodings may be called from any thread.
#ifndef MAILFORUM_FORUM_CONNECTION_H_
#define MAILFORUM_FORUM_CONNECTION_H_

#include <cstdint>
#include <pqxx/pqxx>
#include <string>

#include "forum/model.h"

#if PQXX_VERSION_MAJOR >= 7
#error "libpqxx 7 owns a result before it asks the encoding: drop the PQclientEncoding of connection.cc"
#endif

namespace forum {

// A libpqxx connection to `dsn` (a libpq connection string), opened at
// once. Open every connection of the program as a Connection: its
// constructor lives in connection.cc, so a program that connects links the
// fix above. Throws what pqxx::connection's constructor throws
// (pqxx::broken_connection when the server cannot be reached).
class Connection : public pqxx::connection {
 public:
  explicit Connection(const std::string& dsn);

  // True once this connection (its current session: libpqxx may open a new
  // one after a break) sent or received one message of kLargeMessageBytes or
  // more: libpq keeps buffers that large until the connection is closed. No
  // round trip; false for a closed connection.
  bool KeepsLargeBuffers() const;
};

// How many times, in this process, the client encoding of a connection that
// was no longer working was asked: each time, libpqxx 6.4 alone would have
// thrown there and, when it was taking a query's result, leaked it. Tests
// read it to know that the case happened.
int64_t BrokenConnectionEncodings();

}  // namespace forum

#endif  // MAILFORUM_FORUM_CONNECTION_H_
