// How to reach and log in to the configured mail servers, as mail/ takes it:
// the configuration's imap: and smtp: sections converted to mail::ImapOptions
// and mail::SmtpOptions. Shared by mailforumd (its workers) and mailforumctl
// (test-connection), so that a check connects exactly as the daemon will.
//
// Pure apart from the OAuth2 token source it makes (which fetches nothing
// before it is asked for a token). Thread-safety: functions over values.
#ifndef MAILFORUM_ENGINE_MAIL_OPTIONS_FROM_CONFIG_H_
#define MAILFORUM_ENGINE_MAIL_OPTIONS_FROM_CONFIG_H_

#include <string>

#include "config/config.h"
#include "mail/imap_session.h"
#include "mail/smtp_transport.h"

namespace engine {

// The IMAP options of mailbox `box`: server, TLS, credentials and, with
// `auth: oauth2`, a token source of its own (named "mailbox NAME" in its
// errors), to be shared by all of the mailbox's reconnects.
mail::ImapOptions ImapOptionsFor(const config::MailboxConfig& box);

// The SMTP options of `smtp`, with a token source of its own ("smtp") for `auth: oauth2`.
mail::SmtpOptions SmtpOptionsFor(const config::SmtpConfig& smtp);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_MAIL_OPTIONS_FROM_CONFIG_H_
