# Finds every third-party library as an IMPORTED target. Each one is linked
# PRIVATE to the single folder that wraps it (see the folder CMakeLists.txt).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# yaml-cpp ships a CMake config; the target is plain `yaml-cpp`.
find_package(yaml-cpp REQUIRED)

# libetpan: only a .pc whose Libs leak Debian's no-pie specs, so find it by hand
# (shared/TESTENV.md) and link GnuTLS ourselves.
find_path(LIBETPAN_INCLUDE_DIR libetpan/libetpan.h REQUIRED)
find_library(LIBETPAN_LIBRARY etpan REQUIRED)
add_library(mf::etpan UNKNOWN IMPORTED)
set_target_properties(mf::etpan PROPERTIES
  IMPORTED_LOCATION ${LIBETPAN_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LIBETPAN_INCLUDE_DIR})

pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
# libcurl (GnuTLS flavour): the OAuth2 token client, mail/oauth2.cc only.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)

# vmime: its .pc puts /usr/include/vmime/ on the include path; include <vmime/...> instead.
find_path(VMIME_INCLUDE_DIR vmime/vmime.hpp REQUIRED)
find_library(VMIME_LIBRARY vmime REQUIRED)
add_library(mf::vmime UNKNOWN IMPORTED)
set_target_properties(mf::vmime PROPERTIES
  IMPORTED_LOCATION ${VMIME_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${VMIME_INCLUDE_DIR})

# libpqxx 6.4 (use only what 7.x also has, except forum/connection.h's connection policy, which avoids a
# leak of 6.4), and libpq itself, whose event API forum/connection.cc uses for that.
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)

pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(GUMBO REQUIRED IMPORTED_TARGET gumbo)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)

if(MAILFORUM_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# Boost.Beast and Asio (header-only) for web/http_server.cc only: Debian's
# libboost1.81-dev (libboost-dev is 1.74, whose Beast is older). EXACT so that a
# stray 1.74 config is never picked up.
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG)
# zlib for gzip of web responses (web/gzip.cc).
find_package(ZLIB REQUIRED)
# libdeflate: the gzip of web responses (web/gzip.cc), ~3x zlib's speed at level 1.
pkg_check_modules(LIBDEFLATE REQUIRED IMPORTED_TARGET libdeflate)
