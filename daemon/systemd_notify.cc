#include "daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

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
void NotifyReloading() {
  // systemd (Type=notify-reload, and `systemctl reload` since 253) matches the reload by this timestamp.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ull + now.tv_nsec / 1000;
  Notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}
void NotifyStopping() { Notify("STOPPING=1"); }
void NotifyStatus(std::string_view status) { Notify("STATUS=" + OneLine(status)); }
void NotifyWatchdog() { Notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

}  // namespace mailforumd
