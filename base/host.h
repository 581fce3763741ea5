// Host names and addresses: the one loopback check that decides where
// plaintext (tls: none) may go. Config validation, the IMAP session and the
// SMTP transport all use it, so they can never disagree.
// Thread-safety: pure functions.
#ifndef MAILFORUM_BASE_HOST_H_
#define MAILFORUM_BASE_HOST_H_

#include <string>
#include <string_view>

namespace base {

// True for "localhost" (any case, with or without the trailing dot), an IPv4
// address in 127.0.0.0/8, "::1", and IPv4-mapped 127.x addresses
// ("::ffff:127.0.0.1"). Any other name is not loopback, whatever it resolves
// to; callers that resolve a name must check the resolved addresses too.
bool IsLoopbackHost(std::string_view host);

// Why `url` may not carry secrets (an OAuth2 token endpoint): it must be
// https://HOST..., or http://HOST... with HOST loopback. Empty when it may.
std::string SecretUrlProblem(std::string_view url);

}  // namespace base

#endif  // MAILFORUM_BASE_HOST_H_
