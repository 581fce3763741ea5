// mailforumctl parse and trim: what mailforum makes of one message or body.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "base/exit_codes.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "mail/classifier.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"

namespace ctl {
namespace {

using nlohmann::json;

json AddressJson(const mail::Address& a) { return json{{"name", a.name}, {"address", a.address}}; }

json AddressListJson(const std::vector<mail::Address>& list) {
  json out = json::array();
  for (const auto& a : list) out.push_back(AddressJson(a));
  return out;
}

json MessageJson(const mail::Message& m) {
  const mail::TrimResult trimmed = mail::TrimReply(m.text_body);
  const mail::Classification kind = mail::Classify(m);
  json attachments = json::array();
  for (const auto& a : m.attachments) {
    attachments.push_back({{"filename", a.filename},
                           {"content_type", a.content_type},
                           {"size", a.size},
                           {"sha256", a.sha256},
                           {"content_id", a.content_id},
                           {"inline", a.is_inline}});
  }
  json failed = json::array();
  for (const auto& f : kind.failed) {
    failed.push_back({{"address", f.address},
                      {"status", f.status},
                      {"reply_code", f.reply_code},
                      {"bounce", f.hard ? "hard" : "soft"},
                      {"reason", f.reason},
                      {"diagnostic", f.diagnostic}});
  }
  json classification = {{"kind", mail::MessageKindName(kind.kind)}, {"why", kind.why}};
  if (kind.kind == mail::MessageKind::kBounce) classification["failed_recipients"] = failed;
  if (kind.kind == mail::MessageKind::kFeedback) classification["feedback_type"] = kind.feedback_type;

  return json{
      {"message_id", m.message_id},
      {"in_reply_to", m.in_reply_to},
      {"references", m.references},
      {"from", m.from ? AddressJson(*m.from) : json(nullptr)},
      {"reply_to", AddressListJson(m.reply_to)},
      {"to", AddressListJson(m.to)},
      {"cc", AddressListJson(m.cc)},
      {"delivered_to", m.delivered_to},
      {"subject", m.subject},
      {"date", m.date ? json(UtcTime(*m.date, "%Y-%m-%dT%H:%M:%SZ")) : json(nullptr)},
      {"text", m.text_body},
      {"text_from_html", m.text_from_html},
      {"trimmed", trimmed.trimmed},
      {"elided", trimmed.elided},
      {"attachments", attachments},
      {"classification", classification},
      {"size", m.raw_size},
      {"truncated", m.truncated},
      {"warnings", m.warnings},
  };
}

// Reads, parses and prints; any exception escapes to ParseFile.
int PrintParsed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "mailforumctl parse: cannot read %s\n", path.c_str());
    return base::kExitDataErr;
  }
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!mail::LooksLikeEmail(raw)) {
    std::fprintf(stderr, "mailforumctl parse: %s is not an email: no header fields before the body\n",
                 path.c_str());
    return base::kExitDataErr;
  }
  // Every string the parser, trimmer and classifier produce is valid UTF-8
  // (mail/charset.h, tested over the corpora); replacing invalid bytes is
  // only the last line of defence should that promise ever break. The output
  // is built completely before anything is printed, so a failure never
  // leaves half a JSON document on stdout.
  const std::string out = MessageJson(mail::ParseMessage(raw)).dump(2, ' ', false, json::error_handler_t::replace);
  std::cout << out << "\n";
  return base::kExitOk;
}

}  // namespace

int ParseFile(const std::string& path) {
  // Hostile mail must never make the tool abort: whatever goes wrong (even
  // running out of memory on a huge file) becomes a message and EX_DATAERR.
  try {
    return PrintParsed(path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailforumctl parse: %s: cannot parse: %s\n", path.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "mailforumctl parse: %s: cannot parse: unknown error\n", path.c_str());
  }
  return base::kExitDataErr;
}

int TrimStdin() {
  std::ostringstream body;
  body << std::cin.rdbuf();
  std::cout << mail::TrimReply(body.str()).trimmed << "\n";
  return base::kExitOk;
}

}  // namespace ctl
