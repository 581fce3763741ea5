// Tells systemd how the daemon is doing (sd_notify; a no-op outside systemd).
// libsystemd lives only in daemon/systemd_notify.cc.
// Thread-safety: every function may be called from any thread.
#ifndef MAILFORUM_DAEMON_SYSTEMD_NOTIFY_H_
#define MAILFORUM_DAEMON_SYSTEMD_NOTIFY_H_

#include <chrono>
#include <optional>
#include <string_view>

namespace mailforumd {

void NotifyReady(std::string_view status);
// RELOADING=1 with MONOTONIC_USEC= (now); NotifyReady ends the reload.
void NotifyReloading();
void NotifyStopping();
void NotifyStatus(std::string_view status);
// Pets the watchdog (WatchdogSec= in the unit).
void NotifyWatchdog();
// The watchdog interval systemd expects, when WatchdogSec= is set.
std::optional<std::chrono::microseconds> WatchdogInterval();

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_SYSTEMD_NOTIFY_H_
