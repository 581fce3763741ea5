# What `cmake --install` lays out beside the binaries, and the Debian package (CPack DEB).
#
#   cmake --install build --prefix /usr      # binaries, units, sysusers/tmpfiles, example, docs
#   cpack --config build/CPackConfig.cmake   # build/mailforum_<version>_<arch>.deb
#
# The units name /usr/sbin/mailforumd and /usr/bin/mailforum{ctl,-web}: install with the prefix /usr (the
# package does). Runtime dependencies of the package come from dpkg-shlibdeps (Debian's own library
# packages); packaging/test-deb.sh builds it, runs lintian and installs it into a fresh root.
include(GNUInstallDirs)

set(MAILFORUM_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
  "Where the units go (relative to the prefix, or absolute); the package uses /lib/systemd/system")
set(MAILFORUM_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING "Where the sysusers.d entry goes")
set(MAILFORUM_TMPFILES_DIR "lib/tmpfiles.d" CACHE STRING "Where the tmpfiles.d entry goes")

install(FILES systemd/mailforumd.service systemd/mailforum-web.service
  DESTINATION ${MAILFORUM_SYSTEMD_UNIT_DIR})
install(FILES systemd/mailforum.sysusers DESTINATION ${MAILFORUM_SYSUSERS_DIR} RENAME mailforum.conf)
install(FILES systemd/mailforum.tmpfiles DESTINATION ${MAILFORUM_TMPFILES_DIR} RENAME mailforum.conf)
install(FILES systemd/mailforum.example.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples RENAME mailforum.yaml)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(FILES packaging/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Debian wants a compressed changelog in the package's doc folder (a native package: changelog.gz).
set(_changelog "${PROJECT_BINARY_DIR}/packaging/changelog")
string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${_changelog}" "mailforum (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
  "  * Built from the mailforum source tree (see README.md).\n\n"
  " -- mailforum maintainers <maintainers@mailforum.example.org>  ${_date}\n")
add_custom_command(OUTPUT "${_changelog}.gz"
  COMMAND gzip -9 -n -c "${_changelog}" > "${_changelog}.gz"
  DEPENDS "${_changelog}" VERBATIM)
add_custom_target(mailforum_changelog ALL DEPENDS "${_changelog}.gz")
install(FILES "${_changelog}.gz" DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME changelog.gz)

# Man pages from Markdown (go-md2man): docs/man/*.md, and mailforum.yaml(5) from docs/configuration.md itself
# (one source for the reference and its man page). packaging/test-man.sh checks them.
find_program(GO_MD2MAN go-md2man REQUIRED)
set(_man_out "${PROJECT_BINARY_DIR}/man")
set(_man_pages)
foreach(_page mailforumd.8 mailforum-web.8 mailforumctl.8 mailforum.yaml.5)
  if(_page STREQUAL "mailforum.yaml.5")
    set(_sources "${PROJECT_SOURCE_DIR}/docs/man/mailforum.yaml.5.head" "${PROJECT_SOURCE_DIR}/docs/configuration.md")
    set(_text "(cat '${PROJECT_SOURCE_DIR}/docs/man/mailforum.yaml.5.head'; sed 1d '${PROJECT_SOURCE_DIR}/docs/configuration.md')")
  else()
    set(_sources "${PROJECT_SOURCE_DIR}/docs/man/${_page}.md")
    set(_text "cat '${PROJECT_SOURCE_DIR}/docs/man/${_page}.md'")
  endif()
  add_custom_command(OUTPUT "${_man_out}/${_page}" "${_man_out}/${_page}.gz"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${_man_out}"
    COMMAND sh -c "${_text} | '${GO_MD2MAN}' > '${_man_out}/${_page}' && gzip -9 -n -c '${_man_out}/${_page}' > '${_man_out}/${_page}.gz'"
    DEPENDS ${_sources} VERBATIM)
  list(APPEND _man_pages "${_man_out}/${_page}.gz")
  string(REGEX MATCH "[0-9]$" _section "${_page}")
  install(FILES "${_man_out}/${_page}.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${_section}")
endforeach()
add_custom_target(mailforum_man ALL DEPENDS ${_man_pages})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mailforum)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "mailforum maintainers <maintainers@mailforum.example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "email-to-forum gateway: questions by mail become public threads")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "mailforumd watches a shared IMAP mailbox, turns each question into a thread\n"
  " stored in PostgreSQL, mails it to the people who can answer, takes their\n"
  " answers by plain email reply and mails them back to the asker, threaded\n"
  " under the question. mailforum-web serves the threads on the web.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, systemd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_SOURCE_IGNORE_FILES "/build.*/;/\\\\.git/")
include(CPack)
