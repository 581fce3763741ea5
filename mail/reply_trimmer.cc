#include "mail/reply_trimmer.h"

#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mail {
namespace {

constexpr size_t kNpos = std::string_view::npos;

// A longer line is never an embedded-mail marker: markers are short, and the
// bound keeps the joining of wrapped markers linear.
constexpr size_t kMaxMarkerBytes = 1000;
// A longer line is never a mobile sign-off.
constexpr size_t kMaxSignOffBytes = 200;
// A wrapped marker spans at most this many line breaks (as in Discourse).
constexpr size_t kMaxMarkerLineBreaks = 4;
// Text after a marker and its quote is taken for a signature below this many lines.
constexpr size_t kMaxTrailingTextLines = 7;

// ---------------------------------------------------------------------------
// Byte-level helpers. Input is UTF-8 (not validated); only ASCII folds case.

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlpha(char c) { return Lower(c) >= 'a' && Lower(c) <= 'z'; }
bool IsNonAscii(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool IsWordByte(char c) { return IsAsciiAlpha(c) || IsDigit(c) || c == '_' || IsNonAscii(c); }
bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

unsigned ByteAt(std::string_view s, size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; }

// Length of the horizontal blank that starts at s[i], 0 if none: space, tab,
// or a Unicode space (no-break, en/em/thin, narrow no-break as French puts
// before a colon, ideographic), zero-width space or byte-order mark.
size_t BlankAt(std::string_view s, size_t i) {
  const unsigned c = ByteAt(s, i);
  if (c < 0x80) return (c == ' ' || c == '\t') ? 1 : 0;
  const unsigned c1 = ByteAt(s, i + 1);
  const unsigned c2 = ByteAt(s, i + 2);
  if (c == 0xC2 && c1 == 0xA0) return 2;
  if (c == 0xE2 && c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8B) || c2 == 0xAF)) return 3;
  if ((c == 0xE2 && c1 == 0x81 && c2 == 0x9F) || (c == 0xE3 && c1 == 0x80 && c2 == 0x80) ||
      (c == 0xEF && c1 == 0xBB && c2 == 0xBF) || (c == 0xE1 && c1 == 0x9A && c2 == 0x80)) {
    return 3;
  }
  return 0;
}

// Length of the blank that ends just before s[end], 0 if none.
size_t BlankBefore(std::string_view s, size_t end) {
  for (size_t n = 1; n <= 3 && n <= end; ++n) {
    if (BlankAt(s, end - n) == n) return n;
  }
  return 0;
}

// Index of the first byte at or after s[i] that is no ASCII space or tab.
// Every line is looked at by a dozen rules, and deeply nested lists or quotes
// render as lines of hundreds of leading spaces: this tight loop keeps those
// scans cheap beside BlankAt's byte-by-byte call.
size_t SkipAsciiBlanks(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return i;
}

size_t SkipBlanks(std::string_view s, size_t i) {
  while (true) {
    i = SkipAsciiBlanks(s, i);
    const size_t n = BlankAt(s, i);
    if (n == 0) return i;
    i += n;
  }
}

// Skips blanks and any of the ASCII `marks` from s[i].
size_t SkipBlanksAnd(std::string_view s, size_t i, std::string_view marks) {
  while (i < s.size()) {
    i = SkipAsciiBlanks(s, i);
    if (i == s.size()) break;
    if (size_t n = BlankAt(s, i)) {
      i += n;
      continue;
    }
    bool mark = false;
    for (char m : marks) mark = mark || s[i] == m;
    if (!mark) break;
    ++i;
  }
  return i;
}

std::string_view TrimBlanks(std::string_view s) {
  s.remove_prefix(SkipBlanks(s, 0));
  while (size_t n = BlankBefore(s, s.size())) s.remove_suffix(n);
  return s;
}

bool IsBlankLine(std::string_view s) { return SkipBlanksAnd(s, 0, "\r\v\f") == s.size(); }

bool ContainsDigit(std::string_view s) {
  for (char c : s) {
    if (IsDigit(c)) return true;
  }
  return false;
}

bool ContainsDigitRun(std::string_view s, size_t run) {
  size_t n = 0;
  for (char c : s) {
    n = IsDigit(c) ? n + 1 : 0;
    if (n >= run) return true;
  }
  return false;
}

bool ContainsWordByte(std::string_view s) {
  for (char c : s) {
    if (IsWordByte(c)) return true;
  }
  return false;
}

// Phrases below are matched case-insensitively (ASCII), with each space
// standing for one or more blanks. Phrases starting with a CJK character need
// no word boundary before them; the others do.
bool NeedsBoundary(std::string_view phrase) { return ByteAt(phrase, 0) < 0xE3; }

// End of `phrase` matched at s[i], or kNpos.
size_t MatchForward(std::string_view s, size_t i, std::string_view phrase) {
  for (char p : phrase) {
    if (p == ' ') {
      if (BlankAt(s, i) == 0) return kNpos;
      i = SkipBlanks(s, i);
    } else {
      if (i >= s.size() || Lower(s[i]) != Lower(p)) return kNpos;
      ++i;
    }
  }
  return i;
}

// Start of `phrase` matched so that it ends at s[end), or kNpos.
size_t MatchBackward(std::string_view s, size_t end, std::string_view phrase) {
  for (size_t k = phrase.size(); k-- > 0;) {
    if (phrase[k] == ' ') {
      if (BlankBefore(s, end) == 0) return kNpos;
      while (size_t n = BlankBefore(s, end)) end -= n;
    } else {
      if (end == 0 || Lower(s[end - 1]) != Lower(phrase[k])) return kNpos;
      --end;
    }
  }
  return end;
}

bool BoundaryBefore(std::string_view s, size_t i) { return i == 0 || !IsWordByte(s[i - 1]); }

// True when `s` ends with one of `phrases` as a whole word.
template <size_t N>
bool EndsWithPhrase(std::string_view s, const std::string_view (&phrases)[N]) {
  if (s.empty()) return false;
  for (std::string_view phrase : phrases) {
    if (Lower(s.back()) != Lower(phrase.back())) continue;
    const size_t start = MatchBackward(s, s.size(), phrase);
    if (start != kNpos && (!NeedsBoundary(phrase) || BoundaryBefore(s, start))) return true;
  }
  return false;
}

// True when `s` contains one of `phrases` as a whole word followed by a blank.
template <size_t N>
bool ContainsPhraseWord(std::string_view s, const std::string_view (&phrases)[N]) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!BoundaryBefore(s, i)) continue;
    for (std::string_view phrase : phrases) {
      if (Lower(s[i]) != Lower(phrase[0])) continue;
      const size_t end = MatchForward(s, i, phrase);
      if (end != kNpos && BlankAt(s, end) > 0) return true;
    }
  }
  return false;
}

// True when `s` starts with one of `words` followed by a blank.
template <size_t N>
bool StartsWithWord(std::string_view s, const std::string_view (&words)[N]) {
  if (s.empty()) return false;
  for (std::string_view word : words) {
    if (Lower(s[0]) != Lower(word[0])) continue;
    const size_t end = MatchForward(s, 0, word);
    if (end != kNpos && BlankAt(s, end) > 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Vocabulary: what mail clients (Gmail, Apple Mail, Outlook, Thunderbird,
// Yahoo, K-9, mobile apps) write, in the languages the corpus shows and their
// neighbours. Matched case-insensitively (ASCII), a space standing for any blanks.

// clang-format off

// Words that open an "On <date>, <someone> wrote:" line.
constexpr std::string_view kMarkerStartWords[] = {
    "On", "At", "In message", "Le", "Am", "Op", "Il", "Em", "El", "Dnia", "Dňa", "W dniu", "Dne", "Den", "在",
};
constexpr std::string_view kOnAt[] = {"On", "At"};

// Verbs that end an attribution line ("… wrote:").
constexpr std::string_view kWroteVerbs[] = {
    "wrote", "writes", "a écrit", "nous a dit", "schrieb", "schrieben Sie", "geschrieben",
    "het volgende geschreven", "schreef", "ha scritto", "escreveu", "escribió", "napisał", "napisał(a)",
    "napisała", "написал", "написала", "написал(а)", "написав", "пише", "skrev", "kirjoitti", "napsal",
    "napsal(a)", "napísal", "írta", "yazdı", "έγραψε", "写道", "寫道", "のメール", "書きました", "님이 작성",
};
// Weak verbs end an attribution only after "On"/"At".
constexpr std::string_view kSaidVerbs[] = {"says", "said"};
// Verbs that the sender follows ("Am <date> schrieb <someone>:").
constexpr std::string_view kVerbsBeforeName[] = {
    "schrieb", "schreef", "skrev", "wrote", "writes", "escribió", "escreveu", "napisał(a)", "napisał",
    "kirjoitti", "napsal(a)", "napsal", "написал", "написала",
};

// "-----Original Message-----" and its kin, between runs of dashes.
constexpr std::string_view kDashedForwardPhrases[] = {
    "Forwarded message", "Original Message", "Reply Message",
    "Message transféré", "Message d'origine",
    "Ursprüngliche Nachricht", "Weitergeleitete Nachricht", "Originalnachricht",
    "Mensaje original", "Mensaje reenviado",
    "Messaggio originale", "Messaggio inoltrato",
    "Oorspronkelijk bericht", "Origineel bericht", "Doorgestuurd bericht",
    "Mensagem original", "Mensagem encaminhada",
    "Ursprungligt meddelande", "Vidarebefordrat meddelande",
    "Originalmeddelelse", "Videresendt meddelelse", "Opprinnelig melding", "Videresendt melding",
    "Wiadomość oryginalna", "Oryginalna wiadomość", "Przekazana wiadomość",
    "Исходное сообщение", "Пересылаемое сообщение", "Пересланное сообщение",
    "Вихідне повідомлення", "Переслане повідомлення",
    "Původní zpráva", "Přeposlaná zpráva",
    "Alkuperäinen viesti", "Välitetty viesti",
    "Orijinal Mesaj", "İletilen Mesaj",
    "原始邮件", "原始郵件", "转发的邮件", "轉寄的郵件",
    "元のメッセージ", "転送されたメッセージ",
    "원본 메시지", "전달된 메시지",
};
// "Begin forwarded message:" and its translations (Apple Mail and others).
constexpr std::string_view kForwardIntros[] = {
    "Begin forwarded message",
    "Début du message transféré", "Début du message réexpédié",
    "Anfang der weitergeleiteten Nachricht",
    "Inizio messaggio inoltrato",
    "Comienzo del mensaje reenviado",
    "Início da mensagem reencaminhada", "Início da mensagem encaminhada",
    "Begin doorgestuurd bericht",
    "Vidarebefordrat brev",
    "Videresendt melding", "Videresendt besked",
    "Początek przekazywanej wiadomości",
    "Начало переадресованного сообщения",
};

// Headers of an embedded mail (Outlook's From/Sent/To/Subject block). A
// header's value must hold a word; a date header's value must hold a digit.
constexpr std::string_view kHeaderNames[] = {
    "From", "To", "Cc", "Bcc", "Reply-To", "Subject",                            // English
    "Fra", "Til", "Emne", "Kopi",                                                // Norwegian, Danish
    "De", "Expéditeur", "À", "Destinataire", "Répondre à", "Objet",              // French
    "Von", "An", "Betreff", "Antwort an",                                        // German
    "Para", "Assunto", "Asunto",                                                 // Portuguese, Spanish
    "Da", "Risposta", "A", "Oggetto",                                            // Italian
    "Van", "Beantwoorden - Aan", "Aan", "Onderwerp",                             // Dutch
    "Från", "Till", "Ämne", "Kopia",                                             // Swedish
    "Od", "Do", "Temat", "DW",                                                   // Polish
    "От", "Кому", "Тема", "Копия", "Від", "Копія",                               // Russian, Ukrainian
    "Lähettäjä", "Vastaanottaja", "Aihe",                                        // Finnish
    "Komu", "Předmět",                                                           // Czech
    "Kimden", "Kime", "Konu",                                                    // Turkish
    "发件人", "收件人", "主题", "抄送", "寄件者", "收件者", "主旨", "副本",      // Chinese
    "差出人", "宛先", "件名",                                                    // Japanese
    "보낸 사람", "받는 사람", "제목", "참조",                                    // Korean
};
constexpr std::string_view kDateHeaderNames[] = {
    "Sent", "Date", "Sendt", "Envoyé", "Le", "Gesendet", "Enviada em", "Enviado em", "Enviado el",
    "Enviado", "Fecha", "Inviato", "Data", "Verzonden", "Datum", "Skickat", "Wysłano", "Wysłane",
    "Отправлено", "Дата", "Надіслано", "Lähetetty", "Odesláno", "Gönderildi", "Tarih",
    "发送时间", "日期", "傳送時間", "寄件日期", "送信日時", "보낸 날짜",
};
// The colon closes a short name: a header's name is never longer.
constexpr size_t kMaxHeaderNameBytes = 24;

// Mobile sign-offs: a line starting with one of these (and saying more).
constexpr std::string_view kSignOffPrefixes[] = {
    "Get Outlook for ",
    "Envoyé depuis mon ", "Envoyé depuis Yahoo Mail", "Envoyé de mon ",
    "Gesendet von meinem ", "Gesendet von ", "Gesendet mit ",
    "Inviato da ",
    "Sendt fra min ", "Sendt fra ",
    "Enviado do meu ", "Enviado de meu ", "Enviado desde mi ", "Enviado desde ",
    "Verzonden met ", "Verstuurd vanaf mijn ", "Verzonden vanaf mijn ",
    "Skickat från min ", "Från min ",
    "Wysłane z ", "Wysłano z ",
    "Отправлено с ", "отправлено с ", "Надіслано з ", "надіслано з ",
    "Odesláno z ", "Lähetetty iPhonesta",
    "從我的 ", "从我的", "發自我的", "发自我的",
};
// Mobile sign-offs: a short line ending with one of these ("iPhoneから送信").
constexpr std::string_view kSignOffSuffixes[] = {"から送信", "에서 보냄"};
// "From my iPhone": "From my" and a device.
constexpr std::string_view kDevices[] = {
    "iPhone", "iPad", "iPod", "Android", "phone", "mobile", "cell", "smartphone", "tablet", "Samsung",
    "Galaxy", "BlackBerry", "HTC", "Nokia", "Pixel", "Huawei", "Xiaomi", "Windows",
};

// clang-format on

// ---------------------------------------------------------------------------
// Line classification.

enum class Kind : char {
  kEmpty = 'e',
  kDelimiter = 'd',
  kSignOff = 's',
  kEmbedded = 'b',  // a marker that an embedded mail follows: "On … wrote:", "-----Original Message-----"
  kHeader = 'h',    // a header line of an embedded mail: "From: …"
  kQuote = 'q',
  kText = 't',
};

struct Line {
  std::string_view text;  // into the body, or into Text::owned once rewritten
  bool code = false;      // inside a fenced or indented code block: always text
};

// The body's lines. Lines are views into the caller's body; the few that the
// trimmer rewrites (quote prefixes, joined markers) live in `owned`, whose
// elements never move.
struct Text {
  std::vector<Line> lines;
  std::deque<std::string> owned;

  std::string_view Own(std::string rewritten) { return owned.emplace_back(std::move(rewritten)); }
};

// "-- ", "____", "===", "ᐧ" — a line made only of separator characters.
bool IsDelimiter(std::string_view line) {
  const std::string_view s = TrimBlanks(line);
  size_t count = 0;
  bool wide = false;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '-' || c == '_' || c == ',' || c == '=' || c == '+' || c == '~' || c == '#' || c == '*') {
      ++i;
    } else if (s.substr(i, 3) == "\xE1\x90\xA7" || s.substr(i, 3) == "\xE2\x80\x94") {  // ᐧ, em dash
      i += 3;
      wide = true;
    } else if (size_t n = BlankAt(s, i)) {
      i += n;
      continue;
    } else {
      return false;
    }
    ++count;
  }
  // A lone "-" or "*" is a list bullet, not a separator.
  return count >= 2 || (count == 1 && wide);
}

// Removes Markdown links, keeping their text: "[mail](https://…)" -> "mail".
std::string StripMarkdownLinks(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') {
      const size_t close = s.find(']', i + 1);
      if (close != kNpos && close > i + 1 && ByteAt(s, close + 1) == '(') {
        const size_t paren = s.find(')', close + 2);
        if (paren != kNpos && paren > close + 2 && s.substr(i + 1, close - i - 1).find('[') == kNpos) {
          out.append(s.substr(i + 1, close - i - 1));
          i = paren;
          continue;
        }
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// A line that looks like a mobile sign-off ("Sent from my iPhone"). Whether
// it is taken for one also depends on its place (see Classify).
bool IsSignOffCandidate(std::string_view line) {
  const std::string_view trimmed = TrimBlanks(line);
  if (trimmed.empty() || trimmed.size() > kMaxSignOffBytes || trimmed[0] == '>') return false;
  const std::string unlinked = StripMarkdownLinks(trimmed);
  const std::string_view s = unlinked;

  // A prefix must be followed by more: "Sent from" alone is a sentence cut short.
  const auto says_more = [&s](size_t at, std::string_view prefix) {
    const size_t end = MatchForward(s, at, prefix);
    return end != kNpos && end < s.size();
  };
  // "Sent from/via/with/by …", also "(sent from a phone)" and "<<sent by galaxy>>".
  const size_t sent = MatchForward(s, s.find_first_not_of("(<"), "Sent ");
  if (sent != kNpos) {
    for (std::string_view how : {"from ", "via ", "with ", "by "}) {
      if (says_more(sent, how)) return true;
    }
  }
  for (std::string_view prefix : kSignOffPrefixes) {
    if (says_more(0, prefix)) return true;
  }
  // German: "Von meinem iPhone gesendet", "Diese Nachricht wurde von … gesendet."
  if ((says_more(0, "Von meinem ") || says_more(0, "Diese Nachricht wurde von ")) &&
      s.find(" gesendet") != kNpos) {
    return true;
  }
  // "From my iPhone 6": a device right after, and little else.
  const size_t from_my = MatchForward(s, 0, "From my ");
  if (from_my != kNpos && s.size() - from_my <= 24) {
    for (std::string_view device : kDevices) {
      if (MatchForward(s, from_my, device) != kNpos) return true;
    }
  }
  // "Nik from mobile": one word, then "from mobile".
  const size_t space = s.find(' ');
  const size_t mobile = space == kNpos || space == 0 ? kNpos : MatchForward(s, space, " from mobile");
  if (mobile != kNpos && TrimBlanks(s.substr(mobile)).find_first_not_of(".!)") == kNpos) return true;
  if (s.size() <= 60) {
    for (std::string_view suffix : kSignOffSuffixes) {
      if (s.ends_with(suffix)) return true;
    }
  }
  return false;
}

// Strips what may decorate a marker on its left: blanks, quote marks, dashes, asterisks.
std::string_view MarkerBody(std::string_view s) { return s.substr(SkipBlanksAnd(s, 0, "><-*")); }

// Strips what may end a marker: blanks, colons (also full-width), dots, dashes, '>' and '*'.
std::string_view MarkerTail(std::string_view s) {
  while (!s.empty()) {
    if (size_t n = BlankBefore(s, s.size())) {
      s.remove_suffix(n);
    } else if (s.ends_with("\xEF\xBC\x9A")) {  // full-width colon
      s.remove_suffix(3);
    } else if (const char c = s.back(); c == ':' || c == '.' || c == '-' || c == '>' || c == '*') {
      s.remove_suffix(1);
    } else {
      break;
    }
  }
  return s;
}

bool EndsWithColon(std::string_view s) {
  while (size_t n = BlankBefore(s, s.size())) s.remove_suffix(n);
  return (!s.empty() && s.back() == ':') || s.ends_with("\xEF\xBC\x9A");
}

// "вт, 5 …", "søn. 30. …", "понедельник, 6 …": a day's name (at most three
// letters and a dot or comma, or any word and a comma), then a number.
bool StartsWithDayAndNumber(std::string_view s) {
  constexpr int kMaxLetters = 20;
  size_t i = 0;
  int letters = 0;
  while (i < s.size() && letters <= kMaxLetters && (IsAsciiAlpha(s[i]) || IsNonAscii(s[i]))) {
    ++i;
    while (i < s.size() && IsContinuationByte(s[i])) ++i;
    ++letters;
  }
  if (letters == 0 || letters > kMaxLetters) return false;
  const size_t word_end = i;
  if (ByteAt(s, i) == '.' && letters <= 3) ++i;
  if (ByteAt(s, i) == ',') ++i;
  if (i == word_end) return false;  // "In 2019" is no day
  const size_t digit = SkipBlanks(s, i);
  return digit > i && IsDigit(static_cast<char>(ByteAt(s, digit)));
}

// A line opening with a date; "Le 4 janv. …" opens an attribution of another kind.
bool StartsWithDate(std::string_view body) {
  if (!body.empty() && IsDigit(body[0])) return true;
  return StartsWithDayAndNumber(body) && !StartsWithWord(body, kMarkerStartWords);
}

// "On <date> …", "Le <date> …", or a date with a year: how attributions open.
bool OpensAttribution(std::string_view body) {
  if (StartsWithWord(body, kMarkerStartWords)) return ContainsDigit(body);
  return StartsWithDate(body) && ContainsDigitRun(body, 4);
}

// "2013/10/2 someone <someone@example.com>", "2015-10-18 0:17 GMT+03:00 Matt <m@example.com>:",
// "вт, 5 янв. 2016 г. в 23:39, Erlend <e@example.com>:" (Gmail's attribution in many locales).
bool IsDateNameEmail(std::string_view body) {
  if (!StartsWithDate(body)) return false;
  std::string_view s = body;
  while (size_t n = BlankBefore(s, s.size())) s.remove_suffix(n);
  if (!s.empty() && s.back() == ':') s.remove_suffix(1);
  if (s.ends_with("\xEF\xBC\x9A")) s.remove_suffix(3);
  while (size_t n = BlankBefore(s, s.size())) s.remove_suffix(n);
  if (s.empty() || s.back() != '>') return false;
  const size_t open = s.rfind('<');
  if (open == kNpos) return false;
  const std::string_view address = s.substr(open);
  const size_t at = address.find('@');
  return at != kNpos && address.find('.', at) != kNpos && ContainsDigitRun(s.substr(0, open), 4);
}

// "2016-03-03 17:21 GMT+01:00 Some One" (Gmail, without an address).
bool IsIsoDateSomeone(std::string_view body) {
  constexpr std::string_view kTemplate = "20##-##-## ##:## GMT?##:## ";
  if (body.size() <= kTemplate.size()) return false;
  for (size_t i = 0; i < kTemplate.size(); ++i) {
    const char t = kTemplate[i];
    const char c = body[i];
    if (t == '#' ? !IsDigit(c) : t == '?' ? (c != '+' && c != '-') : c != t) return false;
  }
  for (size_t i = kTemplate.size(); i < body.size(); ++i) {
    if (!IsWordByte(body[i]) && BlankAt(body, i) == 0) return false;
  }
  return true;
}

// "Posted by someone on 01/21/2016".
bool IsPostedBy(std::string_view body) {
  const std::string_view s = TrimBlanks(body);
  if (MatchForward(s, 0, "Posted by ") == kNpos || s.find(" on ") == kNpos || s.size() < 10) return false;
  const std::string_view date = s.substr(s.size() - 10);
  for (size_t i = 0; i < date.size(); ++i) {
    if ((i == 2 || i == 5) ? date[i] != '/' : !IsDigit(date[i])) return false;
  }
  return true;
}

// "-----Original Message-----", "---------- Forwarded message ---------", "Begin forwarded message:".
bool IsForwardMarker(std::string_view line) {
  const size_t i = SkipBlanksAnd(line, 0, ">*");
  size_t dashes = 0;
  while (ByteAt(line, i + dashes) == '-') ++dashes;
  if (dashes >= 2) {
    const size_t start = SkipBlanks(line, i + dashes);
    for (std::string_view phrase : kDashedForwardPhrases) {
      const size_t end = MatchForward(line, start, phrase);
      if (end == kNpos) continue;
      const size_t after = SkipBlanks(line, end);
      if (ByteAt(line, after) == '-' && ByteAt(line, after + 1) == '-') return true;
    }
    return false;
  }
  if (line.find(':') == kNpos && line.find("\xEF\xBC\x9A") == kNpos) return false;
  for (std::string_view phrase : kForwardIntros) {
    const size_t end = MatchForward(line, i, phrase);
    if (end == kNpos) continue;
    const std::string_view rest = line.substr(SkipBlanks(line, end));
    if (rest.starts_with(':') || rest.starts_with("\xEF\xBC\x9A")) return true;
  }
  return false;
}

// A line saying that an embedded mail follows: an attribution ("On … wrote:"
// in many languages and word orders) or a forward marker.
bool IsEmbeddedMarker(std::string_view line) {
  if (line.size() > kMaxMarkerBytes) return false;
  if (IsForwardMarker(line)) return true;
  const std::string_view body = MarkerBody(line);
  if (body.empty()) return false;
  if (IsPostedBy(body) || IsIsoDateSomeone(body) || IsDateNameEmail(body)) return true;

  // An attribution opens with "On <date>" or a date, or names an address or a
  // list ("someone via Forum"); "In 2019 the CEO wrote:" is a sentence.
  const bool opens = OpensAttribution(body);
  const bool has_address = body.find('@') != kNpos;
  if (!opens && !has_address && body.find(" via ") == kNpos) return false;
  const std::string_view tail = MarkerTail(body);
  if (EndsWithPhrase(tail, kWroteVerbs)) return true;
  if (!ContainsDigit(body)) return false;
  if (StartsWithWord(body, kOnAt) && EndsWithPhrase(tail, kSaidVerbs)) return true;
  // "Am 03.02.2016 schrieb Max <max@example.com>:", "Max <max@…> schrieb am Fr., 28. Apr. 2017:".
  return EndsWithColon(body) && (opens || has_address) && ContainsPhraseWord(body, kVerbsBeforeName);
}

// A line that may begin an attribution that the client wrapped over several lines.
bool IsMarkerStart(std::string_view line) {
  if (line.size() > kMaxMarkerBytes) return false;
  const std::string_view body = MarkerBody(line);
  if (OpensAttribution(body)) return true;
  for (std::string_view words : {" schrieb am ", " wrote on "}) {
    const size_t at = body.find(words);
    if (at != kNpos) return ContainsDigit(body.substr(at));
  }
  return false;
}

// "From: …", "*Sent:* 2016-01-27", "Betreff: …" — one header of an embedded mail.
bool IsHeaderLine(std::string_view line) {
  const size_t start = SkipBlanksAnd(line, 0, "*");
  const std::string_view head = line.substr(start, kMaxHeaderNameBytes + 8);
  const size_t colon = std::min(head.find(':'), head.find("\xEF\xBC\x9A"));
  if (colon == kNpos) return false;
  const std::string_view value = line.substr(start + colon + (head[colon] == ':' ? 1 : 3));
  std::string_view name = head.substr(0, colon);
  while (!name.empty() && name.back() == '*') name.remove_suffix(1);
  name = TrimBlanks(name);
  if (name.empty()) return false;
  const auto named = [&name](std::string_view header) {
    return Lower(name[0]) == Lower(header[0]) && MatchForward(name, 0, header) == name.size();
  };
  for (std::string_view header : kHeaderNames) {
    if (named(header)) return ContainsWordByte(value);
  }
  for (std::string_view header : kDateHeaderNames) {
    if (named(header)) return ContainsDigit(value);
  }
  return false;
}

bool IsQuote(std::string_view line) { return ByteAt(line, SkipBlanks(line, 0)) == '>'; }

// Classifies every line; sign-offs count only at the end of their paragraph,
// so that a sentence like "Sent by courier, it arrives Monday." stays.
std::string Classify(const std::vector<Line>& lines) {
  std::string kinds(lines.size(), static_cast<char>(Kind::kText));
  std::vector<bool> sign_off(lines.size() + 1, false);
  for (size_t i = lines.size(); i-- > 0;) {
    const Line& line = lines[i];
    const bool paragraph_ends = i + 1 == lines.size() || IsBlankLine(lines[i + 1].text) || sign_off[i + 1];
    sign_off[i] = !line.code && paragraph_ends && IsSignOffCandidate(line.text);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view text = lines[i].text;
    Kind kind = Kind::kText;
    if (IsBlankLine(text)) {
      kind = Kind::kEmpty;
    } else if (lines[i].code) {
      kind = Kind::kText;
    } else if (IsDelimiter(text)) {
      kind = Kind::kDelimiter;
    } else if (sign_off[i]) {
      kind = Kind::kSignOff;
    } else if (IsEmbeddedMarker(text)) {
      kind = Kind::kEmbedded;
    } else if (IsHeaderLine(text)) {
      kind = Kind::kHeader;
    } else if (IsQuote(text)) {
      kind = Kind::kQuote;
    }
    kinds[i] = static_cast<char>(kind);
  }
  return kinds;
}

// ---------------------------------------------------------------------------
// Preparation: line ends, PGP armour, code blocks, quote styles, wrapped markers.

std::vector<Line> SplitLines(std::string_view body) {
  std::vector<Line> lines;
  lines.reserve(static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1);
  size_t start = 0;
  while (start < body.size()) {
    size_t end = start;
    while (end < body.size() && body[end] != '\n' && body[end] != '\r') ++end;
    lines.push_back(Line{body.substr(start, end - start)});
    if (end < body.size() && body[end] == '\r' && end + 1 < body.size() && body[end + 1] == '\n') ++end;
    start = end + 1;
  }
  return lines;
}

std::string_view TrimmedLine(const Line& line) { return TrimBlanks(line.text); }

// Drops the armour of a PGP clear-signed body: the header before the text and
// the signature block after it.
void DropPgpArmour(std::vector<Line>& lines) {
  size_t first = 0;
  while (first < lines.size() && IsBlankLine(lines[first].text)) ++first;
  size_t text_begin = 0;
  if (first < lines.size() && TrimmedLine(lines[first]) == "-----BEGIN PGP SIGNED MESSAGE-----") {
    text_begin = first + 1;
    while (text_begin < lines.size() && lines[text_begin].text.starts_with("Hash:")) ++text_begin;
    while (text_begin < lines.size() && IsBlankLine(lines[text_begin].text)) ++text_begin;
  }
  size_t sig_begin = kNpos;
  size_t sig_end = kNpos;
  for (size_t i = text_begin; i < lines.size() && sig_begin == kNpos; ++i) {
    if (lines[i].text.find("-----BEGIN PGP SIG") != kNpos &&
        TrimmedLine(lines[i]) == "-----BEGIN PGP SIGNATURE-----") {
      sig_begin = i;
    }
  }
  for (size_t i = lines.size(); sig_begin != kNpos && i-- > sig_begin + 1 && sig_end == kNpos;) {
    if (TrimmedLine(lines[i]) == "-----END PGP SIGNATURE-----") sig_end = i + 1;
  }
  if (sig_end == kNpos) sig_begin = kNpos;
  if (text_begin == 0 && sig_begin == kNpos) return;
  std::vector<Line> kept;
  kept.reserve(lines.size());
  for (size_t i = text_begin; i < lines.size(); ++i) {
    if (sig_begin == kNpos || i < sig_begin || i >= sig_end) kept.push_back(lines[i]);
  }
  lines = std::move(kept);
}

void DropOuterBlankLines(std::vector<Line>& lines) {
  while (!lines.empty() && IsBlankLine(lines.back().text)) lines.pop_back();
  size_t first = 0;
  while (first < lines.size() && IsBlankLine(lines[first].text)) ++first;
  lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(first));
}

size_t LeadingColumns(std::string_view s) {
  size_t columns = 0;
  for (char c : s) {
    if (c == ' ') {
      ++columns;
    } else if (c == '\t') {
      columns += 4 - columns % 4;
    } else {
      break;
    }
  }
  return columns;
}

// "```" or "```ruby" opens a fence: at most three spaces before, no backtick after.
bool IsFenceOpen(std::string_view s) {
  const size_t indent = s.find_first_not_of(' ');
  if (indent == kNpos || indent > 3 || s.substr(indent, 3) != "```") return false;
  return s.find('`', indent + 3) == kNpos;
}

bool IsFenceClose(std::string_view s) {
  const size_t indent = s.find_first_not_of(' ');
  if (indent == kNpos || indent > 3 || s.substr(indent, 3) != "```") return false;
  const size_t after = s.find_first_not_of('`', indent);
  return after == kNpos || IsBlankLine(s.substr(after));
}

// Marks fenced code blocks (only those that close) and indented code blocks
// (four columns of indentation after an empty line or more code).
void MarkCode(std::vector<Line>& lines) {
  bool fences_close = true;  // once a fence finds no end, no later fence can
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!fences_close || !IsFenceOpen(lines[i].text)) continue;
    size_t close = i + 1;
    while (close < lines.size() && !IsFenceClose(lines[close].text)) ++close;
    if (close == lines.size()) {
      fences_close = false;
      continue;
    }
    for (size_t k = i; k <= close; ++k) lines[k].code = true;
    i = close;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool after_break = i == 0 || IsBlankLine(lines[i - 1].text) || lines[i - 1].code;
    if (!lines[i].code && after_break && LeadingColumns(lines[i].text) >= 4 && !IsBlankLine(lines[i].text)) {
      lines[i].code = true;
    }
  }
}

// "Name> text", "C> text" and "| text" are quotes written in other styles;
// they become "> text" (nullopt: nothing to change). A line with more pipes is
// a table row and stays.
std::optional<std::string> NormalizeQuotePrefix(std::string_view s) {
  std::string prefix;
  size_t i = 0;
  while (true) {
    const size_t mark = SkipBlanks(s, i);
    size_t end = mark;
    while (end < s.size() && end - mark <= 20 && IsAsciiAlpha(s[end])) ++end;
    if (ByteAt(s, end) == '>') {
      const unsigned next = ByteAt(s, end + 1);
      if (end > mark && next != 0 && next != '>' && next != '|' && BlankAt(s, end + 1) == 0) break;
    } else if (end == mark && ByteAt(s, end) == '|') {
      if (s.find('|', end + 1) != kNpos) break;
    } else {
      break;
    }
    prefix.append(s.substr(i, mark - i));
    prefix.push_back('>');
    i = end + 1;
  }
  if (i == 0 || s.substr(0, i) == prefix) return std::nullopt;
  prefix.append(s.substr(i));
  return prefix;
}

// ">>>>" (or ">>> name >>>") … "<<<<" (or "<<< name <<<") encloses a quote:
// the fence lines go and the lines between become "> " quotes.
// Returns the fence's name ("" for ">>>>"), or nullopt if `line` is no fence of `mark`.
std::optional<std::string_view> EnclosureFence(std::string_view line, char mark) {
  if (ByteAt(line, SkipBlanks(line, 0)) != static_cast<unsigned char>(mark)) return std::nullopt;
  const std::string_view s = TrimBlanks(line);
  if (s.size() >= 4 && s.find_first_not_of(mark) == kNpos) return std::string_view();
  const std::string fence(3, mark);
  if (s.size() > 6 && s.starts_with(fence) && s.ends_with(fence))
    return TrimBlanks(s.substr(3, s.size() - 6));
  return std::nullopt;
}

void UnwrapEnclosedQuotes(Text& text) {
  std::vector<Line>& lines = text.lines;
  // For each opening fence, the nearest closing fence with the same name below it.
  std::vector<size_t> close_of(lines.size(), kNpos);
  std::unordered_map<std::string_view, size_t> nearest_close;
  bool any = false;
  for (size_t i = lines.size(); i-- > 0;) {
    if (lines[i].code) continue;
    if (const auto name = EnclosureFence(lines[i].text, '<')) {
      nearest_close[*name] = i;
    } else if (const auto opening = EnclosureFence(lines[i].text, '>')) {
      const auto found = nearest_close.find(*opening);
      if (found != nearest_close.end() && found->second >= i + 2) {
        close_of[i] = found->second;
        any = true;
      }
    }
  }
  if (!any) return;
  std::vector<Line> out;
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (close_of[i] == kNpos) {
      out.push_back(lines[i]);
      continue;
    }
    for (size_t k = i + 1; k < close_of[i]; ++k)
      out.push_back(Line{text.Own("> " + std::string(lines[k].text))});
    i = close_of[i];
  }
  lines = std::move(out);
}

std::string_view LeftTrimSpace(std::string_view s) { return s.substr(SkipBlanksAnd(s, 0, "\r\v\f")); }

// Joins an attribution that a client wrapped ("On Mon, … Some One <" /
// "some.one@example.com> wrote:") into one line: the shortest run of at most
// five lines that reads as a marker. Each line is looked at by at most four
// earlier lines, each join is bounded by kMaxMarkerBytes: linear time.
void JoinWrappedMarkers(Text& text) {
  std::vector<Line>& lines = text.lines;
  size_t out = 0;
  for (size_t i = 0; i < lines.size(); ++i, ++out) {
    size_t last = i;
    if (!lines[i].code && IsMarkerStart(lines[i].text) && !IsEmbeddedMarker(lines[i].text)) {
      std::string joined(lines[i].text);
      for (size_t next = i + 1; next <= i + kMaxMarkerLineBreaks && next < lines.size(); ++next) {
        const std::string_view continued = lines[next].text;
        if (lines[next].code || StartsWithWord(MarkerBody(continued), kMarkerStartWords)) break;
        if (IsBlankLine(continued)) continue;
        joined.push_back(' ');
        joined.append(LeftTrimSpace(continued));
        if (joined.size() > kMaxMarkerBytes) break;
        if (IsEmbeddedMarker(joined)) {
          lines[i].text = text.Own(std::move(joined));
          last = next;
          break;
        }
      }
    }
    lines[out] = lines[i];
    i = last;
  }
  lines.resize(out);
}

// ---------------------------------------------------------------------------
// The rules, applied to the string of line kinds (one letter per line) and the
// line numbers still in play. Every step is one pass: linear time.

class Outline {
 public:
  explicit Outline(std::string kinds) : kinds_(std::move(kinds)) {
    rows_.resize(kinds_.size());
    for (size_t i = 0; i < rows_.size(); ++i) rows_[i] = i;
  }

  const std::string& kinds() const { return kinds_; }
  const std::vector<size_t>& rows() const { return rows_; }

  void KeepFirst(size_t n) {
    kinds_.resize(n);
    rows_.resize(n);
  }
  void KeepFrom(size_t n) {
    kinds_.erase(0, n);
    rows_.erase(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  void Remove(Kind kind) {
    size_t out = 0;
    for (size_t i = 0; i < kinds_.size(); ++i) {
      if (kinds_[i] == static_cast<char>(kind)) continue;
      kinds_[out] = kinds_[i];
      rows_[out] = rows_[i];
      ++out;
    }
    KeepFirst(out);
  }
  void Set(size_t i, Kind kind) { kinds_[i] = static_cast<char>(kind); }

  // Removes the runs of `kind` that are at least `min_run` long; shorter ones become text.
  void RemoveRuns(Kind kind, size_t min_run) {
    const char k = static_cast<char>(kind);
    for (size_t i = 0; i < kinds_.size();) {
      size_t end = i;
      while (end < kinds_.size() && kinds_[end] == k) ++end;
      if (end - i < min_run) {
        for (size_t j = i; j < end; ++j) kinds_[j] = static_cast<char>(Kind::kText);
      }
      i = end == i ? i + 1 : end;
    }
    Remove(kind);
  }

 private:
  std::string kinds_;
  std::vector<size_t> rows_;
};

bool Is(char c, Kind kind) { return c == static_cast<char>(kind); }

// The reply sits below the quoted mail: "b…" then text only ("On … wrote:\n> …\n\nMy answer").
bool KeepReplyAtEnd(Outline& o) {
  const std::string& k = o.kinds();
  if (k.empty() || !Is(k[0], Kind::kEmbedded)) return false;
  const size_t first_text = k.find('t');
  if (first_text == kNpos || first_text < 2) return false;
  if (k.find_first_not_of("te", first_text) != kNpos) return false;
  o.KeepFrom(first_text);
  return true;
}

// Text, then a marker with no quote after it: the embedded mail follows unquoted.
void CutAtUnquotedEmbeddedMail(Outline& o) {
  const std::string& k = o.kinds();
  const size_t last_quote = k.rfind('q');
  for (size_t b = last_quote == kNpos ? 0 : last_quote + 1; b < k.size(); ++b) {
    if (!Is(k[b], Kind::kEmbedded)) continue;
    const size_t before = b == 0 ? kNpos : k.find_last_not_of('e', b - 1);
    if (before != kNpos && Is(k[before], Kind::kText)) {
      o.KeepFirst(before + 1);
      return;
    }
  }
}

// Text, then a marker and its quote, then at most a few lines (a signature):
// everything from the marker goes. More text after the quote is an answer
// written below it, and stays.
void CutAtQuotedEmbeddedMail(Outline& o) {
  const std::string& k = o.kinds();
  const size_t last_marker = k.find_last_of("qbh");
  if (last_marker == kNpos || last_marker == 0) return;
  const size_t text = k.rfind('t', last_marker - 1);
  if (text == kNpos) return;
  const size_t next = k.find_first_not_of('e', text + 1);
  if (next == kNpos || !Is(k[next], Kind::kEmbedded)) return;
  size_t trailing_text = 0;
  for (size_t i = last_marker + 1; i < k.size(); ++i) trailing_text += Is(k[i], Kind::kText);
  if (trailing_text < kMaxTrailingTextLines) o.KeepFirst(text + 1);
}

// The mail ends with quotes (and markers): they go, with the text line before them kept.
void CutTrailingQuote(Outline& o) {
  const std::string& k = o.kinds();
  if (k.empty() || k.find_last_of("qbe") != k.size() - 1) return;
  const size_t other = k.find_last_not_of("qbe");
  const size_t start = other == kNpos ? 0 : other + 1;
  const size_t keep = (start > 0 && Is(k[start - 1], Kind::kText)) ? start : start + 1;
  o.KeepFirst(keep);
}

// A header whose value wraps ("Subject: a long\nsubject") breaks a header
// block; the first block of headers, text and empty lines that ends with a
// header and an empty line becomes headers throughout.
void JoinWrappedHeaders(Outline& o) {
  const std::string& k = o.kinds();
  size_t run = 0;
  while (run < k.size()) {
    const size_t run_end = std::min(k.find_first_not_of("hte", run), k.size());
    const size_t first_header = k.find('h', run);
    if (first_header < run_end) {
      for (size_t i = run_end - 1; i > first_header + 2; --i) {
        if (Is(k[i], Kind::kEmpty) && Is(k[i - 1], Kind::kHeader)) {
          for (size_t j = first_header; j <= i; ++j) o.Set(j, Kind::kHeader);
          return;
        }
      }
    }
    run = run_end + 1;
  }
}

// Text, then at least three headers: an embedded mail starts there.
void CutAtHeaderBlock(Outline& o) {
  const std::string& k = o.kinds();
  for (size_t i = 0; i < k.size(); ++i) {
    if (!Is(k[i], Kind::kText)) continue;
    const size_t next = k.find_first_not_of("eq", i + 1);
    if (next != kNpos && k.compare(next, 3, "hhh") == 0) {
      o.KeepFirst(i + 1);
      return;
    }
    if (next != kNpos) i = next - 1;
  }
}

void ApplyRules(Outline& o) {
  if (const size_t delimiter = o.kinds().find('d'); delimiter != kNpos) o.KeepFirst(delimiter);
  o.Remove(Kind::kSignOff);
  if (KeepReplyAtEnd(o)) return;
  CutAtUnquotedEmbeddedMail(o);
  CutAtQuotedEmbeddedMail(o);
  CutTrailingQuote(o);
  o.Remove(Kind::kEmbedded);
  JoinWrappedHeaders(o);
  CutAtHeaderBlock(o);
  // What is left of header blocks goes; a lone "Subject: …" is the person's own text.
  o.RemoveRuns(Kind::kHeader, 2);
  // Quotes that end the mail go, unless the mail is only quotes.
  const std::string& k = o.kinds();
  if (k.find('t') != kNpos) {
    const size_t last = k.find_last_not_of("eq");
    o.KeepFirst(last == kNpos ? 0 : last + 1);
  }
}

// Joins lines with LF, without leading empty lines or trailing whitespace.
std::string JoinLines(const std::vector<std::string_view>& parts) {
  size_t first = 0;
  while (first < parts.size() && IsBlankLine(parts[first])) ++first;
  size_t size = 0;
  for (size_t i = first; i < parts.size(); ++i) size += parts[i].size() + 1;
  std::string out;
  out.reserve(size);
  for (size_t i = first; i < parts.size(); ++i) {
    if (i > first) out.push_back('\n');
    out.append(parts[i]);
  }
  while (!out.empty()) {
    if (size_t n = BlankBefore(out, out.size())) {
      out.resize(out.size() - n);
    } else if (out.back() == '\n' || out.back() == '\r' || out.back() == '\v' || out.back() == '\f') {
      out.pop_back();
    } else {
      break;
    }
  }
  return out;
}

}  // namespace

TrimResult TrimReply(std::string_view body) {
  Text text;
  text.lines = SplitLines(body);
  std::vector<Line>& lines = text.lines;
  DropPgpArmour(lines);
  DropOuterBlankLines(lines);
  MarkCode(lines);
  UnwrapEnclosedQuotes(text);
  for (Line& line : lines) {
    if (line.code) continue;
    if (std::optional<std::string> normalized = NormalizeQuotePrefix(line.text)) {
      line.text = text.Own(*std::move(normalized));
    }
  }
  JoinWrappedMarkers(text);

  Outline outline(Classify(lines));
  ApplyRules(outline);

  std::vector<bool> kept(lines.size(), false);
  for (size_t row : outline.rows()) kept[row] = true;
  std::vector<std::string_view> trimmed;
  std::vector<std::string_view> elided;
  trimmed.reserve(outline.rows().size());
  elided.reserve(lines.size() - outline.rows().size());
  for (size_t i = 0; i < lines.size(); ++i) (kept[i] ? trimmed : elided).push_back(lines[i].text);
  return TrimResult{JoinLines(trimmed), JoinLines(elided)};
}

}  // namespace mail
