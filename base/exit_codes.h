// Process exit codes of mailforumd and mailforumctl (BSD sysexits.h values,
// which systemd and operators know).
#ifndef MAILFORUM_BASE_EXIT_CODES_H_
#define MAILFORUM_BASE_EXIT_CODES_H_

namespace base {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;    // The command ran and found a problem (a test that failed, a bad file).
inline constexpr int kExitUsage = 64;     // Wrong command-line arguments.
inline constexpr int kExitDataErr = 65;   // The input data is not what it should be (not an email).
inline constexpr int kExitSoftware = 70;  // An internal error.
inline constexpr int kExitTempFail = 75;  // Try again later: a server is unreachable.
inline constexpr int kExitConfig = 78;    // The configuration (or the schema it points at) is wrong.

}  // namespace base

#endif  // MAILFORUM_BASE_EXIT_CODES_H_
