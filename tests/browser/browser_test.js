// The browser half of the real browser test (tests/browser/run.sh starts the
// servers and mailforumd, then this): Debian's headless Chromium, driven by
// playwright-core, reads the forum that the fixtures made and checks
//   - the pages a reader uses (list, category, thread with the accepted answer,
//     folded history and an attachment, search) and their screenshots;
//   - accessibility: axe-core on every page, no serious or critical violation;
//   - privacy: a private category and its thread are 404 on page, API and feed,
//     and not found by search; no author address and no Message-ID of any
//     fixture in any page, JSON document or feed;
//   - hostile mail renders as inert text: no dialog, no console error, no
//     request leaving the origin, no script / event handler / javascript: URL /
//     embedded frame or style from content in the DOM, bidi overrides isolated,
//     valid UTF-8 everywhere, attachments downloaded and never rendered.
// Plain node, no framework: prints every failure (URL, rule, element) and a
// summary; exits 1 on any failure.
//
// env (set by run.sh): MF_BASE_URL, MF_MANIFEST (fixture -> outcome, thread),
// MF_SHOTS (screenshot folder), MF_NODE_MODULES, MF_CHROMIUM, MF_PROFILE.
'use strict';

const fs = require('fs');
const path = require('path');

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`browser_test: ${name} is not set (run tests/browser/run.sh)`);
    process.exit(2);
  }
  return value;
}

const BASE = env('MF_BASE_URL').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const { fixtures: MANIFEST, message_ids: MESSAGE_IDS } = JSON.parse(fs.readFileSync(env('MF_MANIFEST'), 'utf8'));
const SHOTS = env('MF_SHOTS');
const NODE_MODULES = env('MF_NODE_MODULES');
const { chromium } = require(path.join(NODE_MODULES, 'playwright-core'));
const AXE_SOURCE = fs.readFileSync(path.join(NODE_MODULES, 'axe-core', 'axe.min.js'), 'utf8');

// Strings that must never appear on any surface: every fixture's From address
// is leak-check-XXXX@example.org and its Message-ID <msgid-leak-NAME@client.example>;
// the posts' own (outbound) Message-IDs come from the database.
const LEAKS = ['leak-check-', 'msgid-leak-', ...MESSAGE_IDS.filter((id) => id && id.length > 8)];
const BIDI = /[\u202A-\u202E\u2066-\u2069]/;

const T0 = Date.now();
const failures = [];
let checks = 0;
function check(ok, url, rule, detail = '') {
  checks++;
  if (!ok) {
    failures.push({ url, rule, detail: String(detail).slice(0, 400) });
    console.log(`  FAIL ${url}  [${rule}] ${String(detail).slice(0, 400)}`);
  }
  return ok;
}

const short = (u) => (u.startsWith(ORIGIN) ? u.slice(ORIGIN.length) || '/' : u);
const isSameOrigin = (u) => {
  try {
    return new URL(u).origin === ORIGIN;
  } catch {
    return false;
  }
};

function validUtf8(buffer) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    return true;
  } catch {
    return false;
  }
}

// Checks shared by every body we get from the server (HTML, JSON, Atom).
function checkBody(url, buffer) {
  check(validUtf8(buffer), url, 'invalid-utf8', `${buffer.length} bytes`);
  const text = buffer.toString('utf8');
  for (const leak of LEAKS) {
    const at = text.indexOf(leak);
    check(at < 0, url, 'address-or-message-id-leak', at < 0 ? '' : text.slice(Math.max(0, at - 60), at + 60));
  }
  check(!text.includes('\u0000'), url, 'nul-in-output');
  return text;
}

function checkSecurityHeaders(url, headers) {
  const csp = headers['content-security-policy'] || '';
  check(csp.includes("default-src 'none'"), url, 'csp-header', csp || 'missing');
  check((headers['x-content-type-options'] || '') === 'nosniff', url, 'nosniff-header', headers['x-content-type-options']);
}

// Runs in the page: what content could have injected, if anything was ever rendered as markup.
function inspectDom() {
  const found = [];
  const show = (el) => el.outerHTML.replace(/\s+/g, ' ').slice(0, 200);
  const urlAttributes = ['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'data', 'background', 'srcset'];
  for (const el of document.querySelectorAll('*')) {
    for (const attribute of el.attributes) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith('on')) found.push(['event-handler-attribute', show(el)]);
      if (name === 'style' && attribute.value.trim() !== '') found.push(['inline-style-attribute', show(el)]);
      if (!urlAttributes.includes(name)) continue;
      let url;
      try {
        url = new URL(attribute.value.trim(), document.baseURI);
      } catch {
        found.push(['unparsable-url', show(el)]);
        continue;
      }
      if (!['http:', 'https:', 'mailto:'].includes(url.protocol)) {
        found.push([`url-scheme-${url.protocol}`, show(el)]);
      } else if (url.protocol !== 'mailto:' && url.origin !== location.origin) {
        if (el.tagName !== 'A') {
          found.push(['resource-from-other-origin', show(el)]);
        } else {
          const rel = (el.getAttribute('rel') || '').toLowerCase().split(/\s+/);
          for (const want of ['nofollow', 'ugc', 'noopener']) {
            if (!rel.includes(want)) found.push([`external-link-without-rel-${want}`, show(el)]);
          }
        }
      }
    }
  }
  const injected = 'script, iframe, frame, frameset, object, embed, applet, style, base, meta[http-equiv], svg, math, ' +
                   'video, audio, form[action]:not([action^="/"])';
  for (const el of document.querySelectorAll(injected)) found.push([`element-${el.tagName.toLowerCase()}`, show(el)]);
  for (const sheet of document.styleSheets) {
    if (!sheet.href || new URL(sheet.href).origin !== location.origin) {
      found.push(['stylesheet-not-from-origin', sheet.ownerNode ? show(sheet.ownerNode) : String(sheet.href)]);
    }
  }
  // CSS injection would hide or cover the page.
  const main = document.querySelector('main');
  if (!main || main.getBoundingClientRect().height === 0 || getComputedStyle(document.body).display === 'none') {
    found.push(['main-content-hidden', main ? show(main).slice(0, 120) : 'no <main>']);
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 2) {
    found.push(['horizontal-overflow', `scrollWidth ${document.documentElement.scrollWidth} > ${window.innerWidth}`]);
  }
  // A bidi control from content must sit inside an isolating element (<bdi>, dir=, unicode-bidi: isolate),
  // so that it cannot reorder the page's own text around it.
  const bidi = /[\u202A-\u202E\u2066-\u2069]/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!bidi.test(node.data)) continue;
    let isolated = false;
    for (let el = node.parentElement; el && el !== document.body && !isolated; el = el.parentElement) {
      const mode = getComputedStyle(el).unicodeBidi;
      isolated = el.tagName === 'BDI' || el.hasAttribute('dir') || mode.includes('isolate') || mode === 'plaintext';
    }
    if (!isolated) found.push(['bidi-control-not-isolated', JSON.stringify(node.data.slice(0, 120))]);
  }
  if (bidi.test(document.title)) found.push(['bidi-control-in-title', JSON.stringify(document.title.slice(0, 120))]);
  return found;
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A browser of its own with a new, empty profile. `bypassCSP` only for the accessibility pass (axe is
// injected as a script, which the site's Content-Security-Policy rightly forbids).
async function launch(name, bypassCSP) {
  const profile = path.join(env('MF_PROFILE'), name);
  fs.rmSync(profile, { recursive: true, force: true });
  fs.mkdirSync(profile, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env('MF_CHROMIUM'), headless: true, args: ARGS, bypassCSP,
    viewport: { width: 1200, height: 900 }, acceptDownloads: true, serviceWorkers: 'block',
  });
  context.setDefaultTimeout(30000);
  // Nothing may leave the origin: such a request fails the test and is aborted before it goes anywhere.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isSameOrigin(url)) return route.continue();
    check(false, short(route.request().frame()?.url?.() || '?'), 'request-leaves-origin', url);
    return route.abort();
  });
  return context;
}

// Opens `url` in a fresh page with listeners for dialogs, console errors, page errors and requests.
async function open(context, url, { status = 200 } = {}) {
  const page = await context.newPage();
  const where = short(url);
  console.log(`  ${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s  open ${where}`);
  page.on('dialog', async (dialog) => {
    check(false, where, 'dialog', `${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const expected404 = status === 404 && /status of 404/.test(message.text());
    if (!expected404) check(false, where, 'console-error', message.text());
  });
  page.on('pageerror', (error) => check(false, where, 'page-error', error.message));
  page.on('request', (request) => {
    if (!isSameOrigin(request.url())) check(false, where, 'request-leaves-origin', request.url());
  });
  const response = await page.goto(url, { waitUntil: 'load' });
  check(response && response.status() === status, where, `status-${status}`, response ? response.status() : 'none');
  if (response) {
    checkSecurityHeaders(where, response.headers());
    checkBody(where, await response.body());
  }
  return { page, response, where };
}

async function axe(context, url, status = 200) {
  const { page, where } = await open(context, url, { status });
  await page.addScriptTag({ content: AXE_SOURCE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.html}`) }));
  });
  for (const v of result) {
    const bad = v.impact === 'serious' || v.impact === 'critical';
    if (bad) check(false, where, `axe:${v.id} (${v.impact})`, `${v.help}; ${v.nodes.join(' | ')}`);
    else console.log(`  note ${where} [axe:${v.id} (${v.impact})] ${v.help}`);
  }
  checks++;
  await page.close();
  return result.length;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

const threadLinks = (page) => page.$$eval('main a[href]', (as) => as.map((a) => a.getAttribute('href'))
  .filter((h) => /^(\/|https?:\/\/[^/]+\/)t\/\d+$/.test(h)).map((h) => h.replace(/^https?:\/\/[^/]+/, '')));

function thread(name) {
  const entry = MANIFEST[name];
  if (!check(entry && entry.outcome === 'posted' && entry.thread, `fixture ${name}`, 'fixture-posted',
             entry ? `${entry.outcome}: ${entry.reason}` : 'no inbound row')) {
    return null;
  }
  return entry.thread;
}

// The page of a thread is cached; the reply address is filled in shortly after the thread is made. Waits
// (polling, with a deadline) until the thread's JSON carries it.
async function waitForReplyAddress(context, id) {
  const deadline = Date.now() + 60000;
  let last = '';
  while (Date.now() < deadline) {
    const r = await context.request.get(`${BASE}/api/threads/${id}`);
    if (r.ok()) {
      try {
        const doc = JSON.parse(await r.text());
        if (doc.reply_address) return doc.reply_address;
        last = 'reply_address empty';
      } catch (e) {
        last = `bad JSON: ${e.message}`;
      }
    } else {
      last = `HTTP ${r.status()}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  check(false, `/api/threads/${id}`, 'reply-address-filled', last);
  return '';
}

// JSON and Atom of a thread (and the lists): parse, no leaks.
async function checkMachineSurfaces(context, page, id, status = 200) {
  for (const [url, kind] of [[`/api/threads/${id}`, 'json'], [`/t/${id}/feed.atom`, 'atom']]) {
    const r = await context.request.get(BASE + url);
    check(r.status() === status, url, `status-${status}`, r.status());
    checkSecurityHeaders(url, r.headers());
    const text = checkBody(url, await r.body());
    if (status !== 200) continue;
    if (kind === 'json') {
      try {
        JSON.parse(text);
        checks++;
      } catch (e) {
        check(false, url, 'json-parses', e.message);
      }
    } else {
      check(!/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(text), url, 'atom-xml-chars');
      const error = await page.evaluate((xml) => {
        const doc = new DOMParser().parseFromString(xml, 'application/xml');
        const e = doc.querySelector('parsererror');
        return e ? e.textContent.slice(0, 300) : '';
      }, text);
      check(error === '', url, 'atom-well-formed', error);
    }
  }
}

async function main() {
  const started = Date.now();
  fs.mkdirSync(SHOTS, { recursive: true });
  const strict = await launch('strict', false);
  const a11y = await launch('a11y', true);
  let axeNotes = 0;
  try {
    check(MESSAGE_IDS.length >= Object.keys(MANIFEST).length, 'manifest', 'message-ids-known', MESSAGE_IDS.length);
    const question = thread('question');
    const privateThread = thread('private');
    check(MANIFEST.private?.category === 'staff', 'fixture private', 'routed-to-private-category',
          JSON.stringify(MANIFEST.private));
    const hostile = {};
    for (const name of Object.keys(MANIFEST).filter((n) => n.startsWith('hostile-') || n.endsWith('-attachment'))) {
      hostile[name] = thread(name);
    }

    // --- the thread list ---
    {
      const { page, where } = await open(strict, `${BASE}/`);
      await shot(page, 'list');
      await reportDom(page, where);
      const links = await threadLinks(page);
      check(question && links.includes(`/t/${question}`), where, 'list-shows-question', links.join(' '));
      check(!links.includes(`/t/${privateThread}`), where, 'list-hides-private-thread', links.join(' '));
      const html = await page.content();
      check(!html.includes('Payroll') && !html.includes('/c/staff') && !html.includes('Staff only'), where,
            'list-hides-private-category');
      // A 200 KB subject is cut to a sane length in lists.
      const longest = await page.$$eval('main a[href]', (as) => Math.max(0, ...as.map((a) => a.textContent.length)));
      check(longest < 2000, where, 'list-title-truncated', `longest link text ${longest} chars`);
      await page.close();
    }
    // --- a category ---
    {
      const { page, where } = await open(strict, `${BASE}/c/general`);
      await shot(page, 'category');
      await reportDom(page, where);
      check((await page.textContent('main')).includes('Printers, laptops and everything else.'), where,
            'category-description');
      check((await threadLinks(page)).includes(`/t/${question}`), where, 'category-lists-question');
      await page.close();
    }
    // --- an author without a display name is shown by a masked address ---
    {
      const id = thread('no-name');
      if (id) {
        const { page, where } = await open(strict, `${BASE}/t/${id}`);
        await reportDom(page, where);
        const text = await page.innerText('main');
        check(text.includes('Nonamemarker'), where, 'question-shown');
        check(/le…@example\.org/.test(text), where, 'author-masked', text.slice(0, 300));
        await page.close();
      }
    }
    // --- the thread: question, accepted answer next, folded history, attachment, reply address ---
    if (question) {
      const replyAddress = await waitForReplyAddress(strict, question);
      const { page, where } = await open(strict, `${BASE}/t/${question}`);
      await shot(page, 'thread');
      await reportDom(page, where);
      const text = await page.innerText('main');
      const at = (s) => text.indexOf(s);
      check(at('flibbertigibbet') >= 0, where, 'question-shown');
      check(/accepted answer/i.test(text), where, 'accepted-answer-marked');
      check(at('Acceptedanswerword') >= 0 && at('Acceptedanswerword') < at('power-cycling'), where,
            'accepted-answer-shown-next', `accepted at ${at('Acceptedanswerword')}, other reply at ${at('power-cycling')}`);
      check(at('flibbertigibbet') < at('Acceptedanswerword'), where, 'question-first');
      const folded = await page.$$eval('main details', (ds) => ds.map((d) => ({ open: d.open, text: d.textContent })));
      const history = folded.find((d) => d.text.includes('Quotedonlyzebra'));
      check(history && !history.open, where, 'quoted-history-folded', JSON.stringify(folded).slice(0, 300));
      check(folded.some((d) => d.text.includes('Facilities desk')), where, 'signature-folded');
      const attachments = await page.$$eval('main a[href*="/attachments/"]', (as) =>
        as.map((a) => ({ href: a.getAttribute('href'), text: a.closest('li,p,div,tr')?.textContent || a.textContent })));
      const log = attachments.find((a) => a.text.includes('spooler-log.txt'));
      check(log, where, 'attachment-listed', JSON.stringify(attachments));
      if (log) {
        check(/text\/plain/.test(log.text) && /\d\s*(B|bytes|KB|KiB)/i.test(log.text), where, 'attachment-size-and-type',
              log.text.trim());
        const r = await strict.request.get(new URL(log.href, BASE).href);
        check(r.status() === 200 && (await r.text()).includes('job 18 stalled'), log.href, 'attachment-downloads',
              r.status());
        check(/^attachment/.test(r.headers()['content-disposition'] || ''), log.href, 'attachment-disposition',
              r.headers()['content-disposition']);
      }
      const mailto = await page.$$eval('main a[href^="mailto:"]', (as) => as.map((a) => a.getAttribute('href')));
      check(replyAddress && mailto.some((m) => decodeURIComponent(m).includes(replyAddress)), where,
            'answer-by-email-mailto', `${mailto.join(' ')} (reply address ${replyAddress})`);
      check(mailto.some((m) => /subject=/i.test(m) && decodeURIComponent(m).includes('Re: Printer queue')), where,
            'mailto-subject', mailto.join(' '));
      await checkMachineSurfaces(strict, page, question);
      await page.close();
    }
    // --- search: a word of a body finds the thread; a word only in quoted history finds nothing ---
    {
      const { page, where } = await open(strict, `${BASE}/search?q=flibbertigibbet`);
      await shot(page, 'search');
      await reportDom(page, where);
      const links = await threadLinks(page);
      check(links[0] === `/t/${question}`, where, 'search-finds-body-word', links.join(' '));
      check((await page.$$('main mark')).length > 0, where, 'search-highlights');
      check(await page.$('main form input[name="q"]'), where, 'search-form');
      await page.close();
      // A word in one thread's subject and another's body: the subject's thread ranks first.
      const ranked = await open(strict, `${BASE}/search?q=intranet`);
      const html = MANIFEST['html-attachment']?.thread;
      const rankedLinks = await threadLinks(ranked.page);
      check(html && rankedLinks[0] === `/t/${html}` && rankedLinks.length >= 2, ranked.where, 'search-subject-ranks-first',
            rankedLinks.join(' '));
      await ranked.page.close();
      for (const [q, rule] of [['Quotedonlyzebra', 'search-ignores-quoted-history'],
                               ['Secretplatypus', 'search-hides-private']]) {
        const r = await open(strict, `${BASE}/search?q=${q}`);
        check((await threadLinks(r.page)).length === 0, r.where, rule, (await threadLinks(r.page)).join(' '));
        await r.page.close();
        const api = await strict.request.get(`${BASE}/api/search?q=${q}`);
        const body = checkBody(`/api/search?q=${q}`, await api.body());
        check(api.ok() && !body.includes('/t/'), `/api/search?q=${q}`, rule, body.slice(0, 200));
      }
    }
    // --- the private category and its thread: 404 everywhere ---
    {
      const { page, where } = await open(strict, `${BASE}/c/staff`, { status: 404 });
      await shot(page, 'private-category');
      check(!(await page.content()).includes('Payroll'), where, 'private-404-shows-nothing');
      if (privateThread) {
        const t = await open(strict, `${BASE}/t/${privateThread}`, { status: 404 });
        await shot(t.page, 'private-thread');
        check(!(await t.page.content()).includes('Secretplatypus'), t.where, 'private-404-shows-nothing');
        await checkMachineSurfaces(strict, t.page, privateThread, 404);
        await t.page.close();
      }
      const api = await strict.request.get(`${BASE}/api/threads?category=staff`);
      check(api.status() === 404 && !(await api.text()).includes('Payroll'), '/api/threads?category=staff',
            'status-404', api.status());
      const feed = await strict.request.get(`${BASE}/c/staff/feed.atom`);
      check(feed.status() === 404, '/c/staff/feed.atom', 'status-404', feed.status());
      if (privateThread && MANIFEST.private.post) {
        const url = `/t/${privateThread}/attachments/${MANIFEST.private.post}/0`;
        const r = await strict.request.get(BASE + url);
        check(r.status() === 404, url, 'status-404', r.status());
        check(!(await r.text()).includes('Secretplatypus'), url, 'private-404-shows-nothing');
      }
      await page.close();
    }
    // --- list-wide JSON and feeds: no leaks, nothing private ---
    for (const url of ['/api/threads', '/feed.atom', '/c/general/feed.atom']) {
      const r = await strict.request.get(BASE + url);
      check(r.status() === 200, url, 'status-200', r.status());
      const body = checkBody(url, await r.body());
      check(!body.includes('Secretplatypus') && !body.includes('Payroll'), url, 'hides-private');
    }

    // --- hostile threads: inert text ---
    const expectText = {
      'hostile-script': ["<script>alert('body')</script>", "</pre></details></main><script>alert('break out')</script>"],
      'hostile-handlers': ["<img src=x onerror=alert('img')>", "<svg onload=alert('svg')>"],
      'hostile-urls': ["javascript:alert('plain')", "<a href=\"javascript:alert('anchor')\">click me</a>"],
      'hostile-css': ['</style><style>*{display:none !important}', '<link rel="stylesheet"'],
      'hostile-long-subject': ['Longsubjectmarker'],
      'hostile-rlo': ['Please open invoice'],
      'hostile-bytes': ['Bytesmarker', 'QP NUL:'],
      'html-attachment': ['page.html'],
      'svg-attachment': ['logo.svg'],
    };
    for (const [name, id] of Object.entries(hostile)) {
      if (!id) continue;
      const { page, where } = await open(strict, `${BASE}/t/${id}`);
      await shot(page, name);
      await reportDom(page, where);
      const text = await page.innerText('body');
      for (const want of expectText[name] || []) check(text.includes(want), where, 'shown-as-text', want);
      await checkMachineSurfaces(strict, page, id);
      // Attachments: downloaded (Content-Disposition: attachment), never HTML or SVG, and the browser does not render them.
      const hrefs = await page.$$eval('main a[href*="/attachments/"]', (as) => as.map((a) => a.getAttribute('href')));
      if (name.endsWith('-attachment')) check(hrefs.length > 0, where, 'attachment-listed');
      for (const href of hrefs) {
        const url = new URL(href, BASE).href;
        const r = await strict.request.get(url);
        const type = r.headers()['content-type'] || '';
        check(r.status() === 200, href, 'status-200', r.status());
        check(/^attachment/.test(r.headers()['content-disposition'] || ''), href, 'attachment-disposition',
              r.headers()['content-disposition']);
        check(type === 'application/octet-stream' || /^text\/plain;\s*charset=utf-8$/i.test(type), href,
              'attachment-content-type', type);
        checkSecurityHeaders(href, r.headers());
        const tab = await strict.newPage();
        tab.on('dialog', async (d) => {
          check(false, href, 'dialog', d.message());
          await d.dismiss().catch(() => {});
        });
        console.log(`  ${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s  download ${href}`);
        const download = tab.waitForEvent('download', { timeout: 10000 }).catch(() => null);
        await tab.goto(url).catch(() => {});  // "Download is starting": navigation ends in a download
        const d = await download;
        check(d !== null, href, 'attachment-is-download-not-rendered', tab.url());
        if (d) await d.delete().catch(() => {});
        await tab.close();
      }
      await page.close();
    }

    // --- accessibility: axe-core on each page ---
    const pages = [['/', 200], ['/c/general', 200], [`/t/${question}`, 200], ['/search?q=flibbertigibbet', 200],
                   ['/search', 200], ['/c/staff', 404]];
    for (const id of Object.values(hostile)) if (id) pages.push([`/t/${id}`, 200]);
    for (const [url, status] of pages) axeNotes += await axe(a11y, BASE + url, status);
  } finally {
    await strict.close().catch(() => {});
    await a11y.close().catch(() => {});
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`browser_test: ${checks} checks (${LEAKS.length} strings that must not leak), ${failures.length} failed, ` +
              `${axeNotes} axe findings (all impacts) ` +
              `in ${seconds} s; screenshots in ${SHOTS}`);
  if (failures.length > 0) {
    const byRule = groupBy(failures.map((f) => [f.rule, f.url]));
    console.log('browser_test: FAILED rules:');
    for (const [rule, urls] of Object.entries(byRule)) console.log(`  ${rule}: ${[...new Set(urls)].join(' ')}`);
    process.exit(1);
  }
}

function groupBy(pairs) {
  const out = {};
  for (const [key, value] of pairs) (out[key] ||= []).push(value);
  return out;
}

async function reportDom(page, where) {
  for (const [rule, found] of Object.entries(groupBy(await page.evaluate(inspectDom)))) {
    check(false, where, rule, found.join(' | '));
  }
  checks++;
}

main().catch((error) => {
  console.error(`browser_test: ${error.stack || error}`);
  process.exit(1);
});
