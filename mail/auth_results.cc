#include "mail/auth_results.h"

#include <strings.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "mail/mime_parser_fields.h"

namespace mail {
namespace {

// The lexical pieces of an Authentication-Results value once comments and
// white space are gone (RFC 8601 §2.2 with RFC 5322 CFWS).
enum class TokenKind { kWord, kQuoted, kSemicolon, kEquals, kSlash };

struct Token {
  TokenKind kind;
  std::string text;  // kQuoted: without the quotes, escapes resolved.
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Characters that end a word. ')' is not one: a stray ')' is kept inside a
// word, so that every word is at least one character long.
bool EndsWord(char c) { return IsSpace(c) || c == '(' || c == '"' || c == ';' || c == '=' || c == '/'; }

bool SameAscii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// The index just after the comment that opens at text[i] == '('. Comments
// nest and may hold quoted pairs; an unterminated one runs to the end.
size_t SkipComment(std::string_view text, size_t i) {
  int depth = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      return i + 1;
    }
  }
  return text.size();
}

std::vector<Token> Lex(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (IsSpace(c)) {
      ++i;
    } else if (c == '(') {
      i = SkipComment(text, i);
    } else if (c == '"') {
      Token quoted{TokenKind::kQuoted, {}};
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        quoted.text += text[i];
      }
      ++i;  // The closing quote (or past the end of an unterminated string).
      tokens.push_back(std::move(quoted));
    } else if (c == ';' || c == '=' || c == '/') {
      const TokenKind kind = c == ';'   ? TokenKind::kSemicolon
                             : c == '=' ? TokenKind::kEquals
                                        : TokenKind::kSlash;
      tokens.push_back({kind, std::string(1, c)});
      ++i;
    } else {
      size_t end = i + 1;
      while (end < text.size() && !EndsWord(text[end])) ++end;
      tokens.push_back({TokenKind::kWord, std::string(text.substr(i, end - i))});
      i = end;
    }
  }
  return tokens;
}

// What a dmarc resinfo says: `dmarc [/ version] = result` and then reasons
// and properties, of which header.from (the domain DMARC evaluated) counts.
struct DmarcResinfo {
  std::string_view result;
  std::vector<std::string_view> header_from;  // every header.from value, in order
};

// The dmarc resinfo in `resinfo` (the tokens between two ';'); nullopt for
// other methods, the "none" no-result, and anything unreadable.
std::optional<DmarcResinfo> ReadDmarcResinfo(std::span<const Token> resinfo) {
  if (resinfo.empty() || resinfo[0].kind != TokenKind::kWord || !SameAscii(resinfo[0].text, "dmarc")) {
    return std::nullopt;
  }
  size_t i = 1;
  if (i < resinfo.size() && resinfo[i].kind == TokenKind::kSlash) i += 2;
  if (i + 1 >= resinfo.size() || resinfo[i].kind != TokenKind::kEquals ||
      resinfo[i + 1].kind != TokenKind::kWord) {
    return std::nullopt;
  }
  DmarcResinfo out{resinfo[i + 1].text, {}};
  for (i += 2; i + 2 < resinfo.size(); ++i) {
    if (resinfo[i].kind == TokenKind::kWord && SameAscii(resinfo[i].text, "header.from") &&
        resinfo[i + 1].kind == TokenKind::kEquals &&
        (resinfo[i + 2].kind == TokenKind::kWord || resinfo[i + 2].kind == TokenKind::kQuoted)) {
      out.header_from.push_back(resinfo[i + 2].text);
    }
  }
  return out;
}

// The domain of an address ("local@domain", also "@domain"): what follows the
// last '@'; "" when there is none.
std::string_view DomainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

// Why the message's From: cannot carry a DMARC result, or "" when it can:
// exactly one From field holding exactly one address with a domain.
// `*domain` is set to that domain.
std::string FromProblem(const Message& message, std::string* domain) {
  const HeaderField* from = nullptr;
  size_t fields = 0;
  for (const HeaderField& h : message.headers) {
    if (!SameAscii(h.name, "From")) continue;
    ++fields;
    from = &h;
  }
  if (fields == 0) return "no From field";
  if (fields > 1) return std::to_string(fields) + " From fields";
  // Counted from the raw value: an encoded word in a display name may decode
  // to a comma, and must not change how many addresses there are.
  const std::vector<Address> addresses = internal::ParseAddressList(from->raw_value);
  if (addresses.size() != 1) return "From holds " + std::to_string(addresses.size()) + " addresses";
  const std::string_view found = DomainOf(addresses.front().address);
  if (found.empty()) return "the From address has no domain";
  if (!message.from || !SameAscii(message.from->address, addresses.front().address)) {
    return "the From address could not be read";  // the parser disagrees: trust neither
  }
  *domain = std::string(found);
  return "";
}

constexpr std::pair<DmarcVerdict, std::string_view> kVerdictNames[] = {
    {DmarcVerdict::kPass, "pass"},           {DmarcVerdict::kFail, "fail"},
    {DmarcVerdict::kNone, "none"},           {DmarcVerdict::kTempError, "temperror"},
    {DmarcVerdict::kPermError, "permerror"},
};

DmarcVerdict VerdictOf(std::string_view word) {
  for (const auto& [verdict, name] : kVerdictNames) {
    if (SameAscii(word, name)) return verdict;
  }
  return DmarcVerdict::kNone;
}

bool IsTrusted(std::string_view authserv_id, const std::vector<std::string>& trusted_authserv_ids) {
  return std::any_of(trusted_authserv_ids.begin(), trusted_authserv_ids.end(),
                     [&](const std::string& id) { return SameAscii(id, authserv_id); });
}

bool IsSemicolon(const Token& token) { return token.kind == TokenKind::kSemicolon; }

}  // namespace

std::string_view DmarcVerdictName(DmarcVerdict verdict) {
  for (const auto& [value, name] : kVerdictNames) {
    if (value == verdict) return name;
  }
  return "?";
}

DmarcEvidence ReadTrustedDmarc(const Message& message, const std::vector<std::string>& trusted_authserv_ids) {
  if (trusted_authserv_ids.empty()) return {DmarcVerdict::kNone, "no trusted authserv-id is configured"};
  for (const HeaderField& field : message.headers) {
    if (!SameAscii(field.name, "Authentication-Results")) continue;
    const std::vector<Token> tokens = Lex(field.raw_value);
    // authserv-id [version] then ";"-separated resinfos (RFC 8601 §2.2).
    if (tokens.empty() || (tokens[0].kind != TokenKind::kWord && tokens[0].kind != TokenKind::kQuoted))
      continue;
    // The topmost field alone decides, whatever it says; when another host wrote it, nothing is proven.
    if (!IsTrusted(tokens[0].text, trusted_authserv_ids)) {
      return {DmarcVerdict::kNone, "the topmost Authentication-Results field is from " + tokens[0].text +
                                       ", not a trusted authserv-id"};
    }
    const std::string source = " from " + tokens[0].text;
    std::optional<DmarcResinfo> dmarc;
    auto begin = std::find_if(tokens.begin(), tokens.end(), IsSemicolon);
    while (begin != tokens.end() && !dmarc) {
      auto end = std::find_if(begin + 1, tokens.end(), IsSemicolon);
      dmarc = ReadDmarcResinfo(std::span<const Token>(begin + 1, end));
      begin = end;
    }
    if (!dmarc) return {DmarcVerdict::kNone, "no dmarc result in the topmost trusted field" + source};
    const std::string said = "dmarc=" + std::string(dmarc->result);
    const DmarcVerdict verdict = VerdictOf(dmarc->result);
    if (verdict == DmarcVerdict::kNone) return {DmarcVerdict::kNone, said + source};
    std::string domain;
    if (std::string problem = FromProblem(message, &domain); !problem.empty()) {
      return {DmarcVerdict::kNone, said + source + " ignored: " + problem};
    }
    for (std::string_view checked : dmarc->header_from) {
      // Some MTAs write the whole address; the domain is what DMARC checked.
      const std::string_view checked_domain =
          checked.find('@') == std::string_view::npos ? checked : DomainOf(checked);
      if (!SameAscii(checked_domain, domain)) {
        return {DmarcVerdict::kNone, said + source + " ignored: header.from=" + std::string(checked) +
                                         " is not the From domain " + domain};
      }
    }
    return {verdict, said + source};
  }
  return {DmarcVerdict::kNone, "no trusted Authentication-Results field"};
}

DmarcVerdict TrustedDmarc(const Message& message, const std::vector<std::string>& trusted_authserv_ids) {
  return ReadTrustedDmarc(message, trusted_authserv_ids).verdict;
}

}  // namespace mail
