#include "mail/auth_results.h"

#include <strings.h>

#include <algorithm>
#include <optional>
#include <span>
#include <utility>

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

// The result word of a resinfo (the tokens between two ';') when its method is
// DMARC: `dmarc [/ version] = result ...`; nullopt for other methods, the
// "none" no-result, and anything unreadable.
std::optional<std::string_view> DmarcResultWord(std::span<const Token> resinfo) {
  if (resinfo.empty() || resinfo[0].kind != TokenKind::kWord || !SameAscii(resinfo[0].text, "dmarc")) {
    return std::nullopt;
  }
  size_t i = 1;
  if (i < resinfo.size() && resinfo[i].kind == TokenKind::kSlash) i += 2;
  if (i + 1 >= resinfo.size() || resinfo[i].kind != TokenKind::kEquals ||
      resinfo[i + 1].kind != TokenKind::kWord) {
    return std::nullopt;
  }
  return resinfo[i + 1].text;
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

DmarcVerdict TrustedDmarc(const Message& message, const std::vector<std::string>& trusted_authserv_ids) {
  if (trusted_authserv_ids.empty()) return DmarcVerdict::kNone;
  for (std::string_view value : message.Headers("Authentication-Results")) {
    const std::vector<Token> tokens = Lex(value);
    // authserv-id [version] then ";"-separated resinfos (RFC 8601 §2.2).
    if (tokens.empty() || (tokens[0].kind != TokenKind::kWord && tokens[0].kind != TokenKind::kQuoted))
      continue;
    if (!IsTrusted(tokens[0].text, trusted_authserv_ids)) continue;
    auto begin = std::find_if(tokens.begin(), tokens.end(), IsSemicolon);
    while (begin != tokens.end()) {
      auto end = std::find_if(begin + 1, tokens.end(), IsSemicolon);
      if (auto word = DmarcResultWord(std::span<const Token>(begin + 1, end))) return VerdictOf(*word);
      begin = end;
    }
  }
  return DmarcVerdict::kNone;
}

}  // namespace mail
