#include "daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <string>

namespace mailforumd {
namespace {

void Notify(const std::string& state) { sd_notify(0, state.c_str()); }

std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

void NotifyReady(std::string_view status) { Notify("READY=1\nSTATUS=" + OneLine(status)); }
void NotifyReloading() { Notify("RELOADING=1"); }
void NotifyStopping() { Notify("STOPPING=1"); }
void NotifyStatus(std::string_view status) { Notify("STATUS=" + OneLine(status)); }
void NotifyWatchdog() { Notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

}  // namespace mailforumd
