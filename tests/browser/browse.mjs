// browse.mjs — a caseworker's visit to the jobcentre web page in Debian's
// headless chromium, driven by puppeteer-core (tests/integration/
// test_web_browser.c starts the real server, seeds it and runs this):
// sign in with the token, read the overview, open a grant, download its
// CSV and compare it with the JSON API, print, sign out. Fails on a CSP
// violation, any request that leaves loopback, any console error, or a
// page that does not show the rows and statuses it should.
//
// Then another jobcentre's caseworker signs in (ML_TOKEN_B): none of the
// first one's grants on the overview, nor by the first one's grant URL.
//
// Environment: ML_URL (https://127.0.0.1:PORT), ML_TOKEN (jobcentre token),
// ML_TOKEN_B (another jobcentre's token),
// ML_FINGERPRINT (the server certificate's SHA-256, hex), ML_OUT (artifact
// directory: screenshots, the PDF, the download), ML_GRANTS (rows the
// overview must show), ML_CHROMIUM (default /usr/bin/chromium).
// Exit: 0 passed, 1 failed (the reason on stderr).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const URL0 = process.env.ML_URL;
const TOKEN = process.env.ML_TOKEN;
const TOKEN_B = process.env.ML_TOKEN_B;
const FP = (process.env.ML_FINGERPRINT || '').toLowerCase();
const OUT = process.env.ML_OUT;
const GRANTS = Number(process.env.ML_GRANTS || '0');
const CHROMIUM = process.env.ML_CHROMIUM || '/usr/bin/chromium';
const base = new URL(URL0);

function fail(msg) {
  console.error(`browse: FAILED: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}
function check(cond, msg) { if (!cond) fail(msg); }

// The API, pinned to the server's certificate (self-signed).
function api(p) {
  return new Promise((resolve, reject) => {
    const req = https.get({
      host: base.hostname, port: base.port, path: p,
      headers: { Authorization: `Bearer ${TOKEN}`, Accept: 'application/json' },
      rejectUnauthorized: false,
      checkServerIdentity: (_h, cert) => {
        const got = cert.fingerprint256.replace(/:/g, '').toLowerCase();
        return got === FP ? undefined : new Error(`certificate ${got} is not the pinned ${FP}`);
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
}

function csvRows(text) {
  // RFC 4180, CRLF rows; enough for the report's fields
  const rows = [];
  let row = [], field = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') q = false;
      else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\r') { /* the LF ends the row */ }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else field += c;
  }
  return rows;
}

const problems = [];
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  acceptInsecureCerts: true, // the test server's self-signed certificate, on loopback only
  args: [
    '--no-sandbox', '--headless=new',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-default-apps', '--disable-extensions', '--disable-domain-reliability',
    '--disable-client-side-phishing-detection', '--no-first-run', '--no-default-browser-check',
    '--no-pings', '--metrics-recording-only', '--disable-features=Translate,OptimizationHints,MediaRouter',
    // nothing but loopback resolves
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--lang=da-DK',
  ],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  await page.setExtraHTTPHeaders({ 'Accept-Language': 'da-DK,da;q=0.9' });
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const u = new URL(r.url());
    // data: URLs never leave the machine: Chromium draws a date field's
    // calendar icon from one (its own stylesheet, not the page's)
    if (u.protocol === 'data:') {
      r.continue();
      return;
    }
    if (u.hostname !== '127.0.0.1' || u.port !== base.port) {
      problems.push(`a request left the server: ${r.url()}`);
      r.abort();
    } else r.continue();
  });
  page.on('console', (m) => {
    const t = m.text();
    if (/Content.Security.Policy|Refused to/i.test(t)) problems.push(`CSP: ${t}`);
    else if (m.type() === 'error') problems.push(`console error: ${t}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: OUT, eventsEnabled: true });

  // 1. the sign-in form
  let res = await page.goto(`${URL0}/jobcentre/`, { waitUntil: 'load' });
  check(res.status() === 200, `sign-in page: ${res.status()}`);
  const h = res.headers();
  check(/default-src 'none'/.test(h['content-security-policy'] || ''), 'no CSP on the sign-in page');
  check(h['x-content-type-options'] === 'nosniff', 'no nosniff');
  check(h['cache-control'] === 'no-store', 'no no-store');
  check((await page.$eval('html', (e) => e.lang)) === 'da', 'the page is not Danish');
  check(await page.$('label[for=token]'), 'no label for the token field');
  const bg = await page.$eval('header.top', (e) => getComputedStyle(e).backgroundColor);
  check(bg === 'rgb(18, 53, 91)', `the stylesheet did not apply (header ${bg})`);
  await page.screenshot({ path: path.join(OUT, 'signin.png'), fullPage: true });

  // 2. sign in: the overview
  await page.type('#token', TOKEN);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form.signin button')]);
  check(new URL(page.url()).pathname === '/jobcentre/', `after sign-in at ${page.url()}`);
  const cookies = await browser.cookies();
  const sc = cookies.find((c) => c.name === 'mlsession');
  check(sc && sc.httpOnly && sc.secure && sc.sameSite === 'Strict' && sc.path === '/jobcentre',
        `session cookie flags: ${JSON.stringify(sc)}`);
  const rows = await page.$$eval('table.overview tbody tr', (trs) => trs.map((tr) => ({
    ref: tr.querySelector('th.ref').textContent,
    mentor: tr.querySelector('td.mentor').textContent,
    statuses: [...tr.querySelectorAll('ol.strip li .lbl')].map((s) => s.textContent),
    weeks: [...tr.querySelectorAll('ol.strip li .wk')].map((s) => s.textContent),
    href: tr.querySelector('th.ref a').getAttribute('href'),
  })));
  check(rows.length === GRANTS, `overview shows ${rows.length} grants, want ${GRANTS}`);
  const labels = new Set(rows.flatMap((r) => r.statuses));
  for (const l of labels)
    check(['MET', 'MISSED', 'MISSED_WITH_ATTEMPTS', 'PENDING', 'NOT_ASSESSABLE'].includes(l), `label ${l}`);
  check(labels.has('MET') && labels.has('MISSED'), `statuses shown: ${[...labels]}`);
  check(rows.every((r) => r.weeks.every((w) => /^uge \d+(–\d+)?$/.test(w))), 'week labels are not "uge N"');
  check(rows.some((r) => r.mentor.includes('<script>')), 'the mentor name is not shown as text');
  check(!(await page.$('main script')), 'a script element in the page');
  const footer = await page.$eval('footer', (e) => e.textContent);
  check(/kontrolpunkt/.test(footer) && (await page.$('footer .cp-root')), 'no checkpoint in the footer');
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  check(sw <= 1280, `the overview is ${sw} px wide at 1280`);
  await page.screenshot({ path: path.join(OUT, 'overview.png'), fullPage: true });
  // narrow window and print (A4): still the rows and labels
  await page.setViewport({ width: 420, height: 800 });
  await page.screenshot({ path: path.join(OUT, 'overview-narrow.png'), fullPage: true });
  await page.setViewport({ width: 1280, height: 800 });
  await page.emulateMediaType('print');
  const navShown = await page.$eval('header nav', (e) => getComputedStyle(e).display);
  check(navShown === 'none', 'the menu prints');
  await page.pdf({ path: path.join(OUT, 'overview.pdf'), format: 'A4', landscape: true, printBackground: true });
  await page.screenshot({ path: path.join(OUT, 'overview-print.png'), fullPage: true });
  await page.emulateMediaType('screen');

  // 3. the filters, by their plain links: each shows exactly the grants with
  // a period of that status on the unfiltered overview (MISSED: some;
  // MISSED_WITH_ATTEMPTS: this data has none, so an ignored filter fails)
  for (const [st, sel] of [['MISSED', 'a[href*="status=MISSED"]:not([href*="WITH"])'],
                           ['MISSED_WITH_ATTEMPTS', 'a[href*="status=MISSED_WITH_ATTEMPTS"]']]) {
    await page.goto(`${URL0}/jobcentre/`, { waitUntil: 'load' });
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(`nav.controls ${sel}`)]);
    const shown = await page.$$eval('table.overview tbody tr', (trs) => trs.map((tr) =>
      [...tr.querySelectorAll('ol.strip li .lbl')].map((s) => s.textContent)));
    const want = rows.filter((r) => r.statuses.includes(st)).length;
    check(shown.length === want, `the ${st} filter shows ${shown.length} grants, want ${want}`);
    check(shown.every((ls) => ls.includes(st)), `the ${st} filter shows a grant without ${st}`);
  }
  check(rows.some((r) => r.statuses.includes('MISSED')), 'no MISSED period to filter by');

  // 3b. a range, chosen in the form (a GET): one day, today, so every grant
  // shown has the one period that holds it; the links keep the range
  const day = new Date().toISOString().slice(0, 10);
  await page.goto(`${URL0}/jobcentre/`, { waitUntil: 'load' });
  for (const name of ['from', 'to'])
    await page.$eval(`form.range input[name=${name}]`, (e, v) => { e.value = v; }, day);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form.range button')]);
  const ranged = new URL(page.url());
  check(ranged.searchParams.get('from') === day && ranged.searchParams.get('to') === day,
        `the range form sent ${ranged.search}`);
  const strips = await page.$$eval('table.overview tbody tr', (trs) => trs.map((tr) =>
    tr.querySelectorAll('ol.strip li').length));
  check(strips.length > 0, 'no grant meets today');
  check(strips.every((k) => k === 1), `a grant shows ${strips.join(',')} periods for one day`);
  check((await page.$eval('form.range input[name=from]', (e) => e.value)) === day, 'the form forgot the range');
  const sortHref = await page.$eval('nav.controls a[href*="sort=mentor"]', (a) => a.getAttribute('href'));
  check(sortHref.includes(`from=${day}`) && sortHref.includes(`to=${day}`), `a sort link drops the range: ${sortHref}`);
  await page.screenshot({ path: path.join(OUT, 'overview-range.png'), fullPage: true });

  // 4. a grant
  const target = rows[0];
  await page.goto(`${URL0}${target.href}`, { waitUntil: 'load' });
  check((await page.$eval('h1', (e) => e.textContent)).includes(target.ref), 'the grant page is another grant');
  const contacts = await page.$$eval('table.contacts tbody tr', (trs) => trs.length);
  check(contacts > 0, 'no contacts on the grant page');
  const idx = await page.$$eval('table.contacts .log-index', (ds) => ds.map((d) => d.getAttribute('value')));
  check(idx.length === contacts, 'a contact without its log index');
  await page.screenshot({ path: path.join(OUT, 'grant.png'), fullPage: true });

  // 5. its CSV, downloaded by the link, against the JSON API
  const file = path.join(OUT, 'contacts.csv');
  fs.rmSync(file, { force: true }); // an earlier run's
  const done = new Promise((resolve) => {
    const t = setTimeout(() => resolve('timed out (30 s)'), 30000);
    cdp.on('Browser.downloadProgress', (e) => {
      if (e.state === 'completed' || e.state === 'canceled') { clearTimeout(t); resolve(e.state); }
    });
  });
  await page.click('p.download a');
  const dl = await done;
  check(dl === 'completed', `the CSV download did not complete: ${dl}`);
  check(fs.existsSync(file), 'no contacts.csv downloaded');
  const csv = csvRows(fs.readFileSync(file, 'utf8'));
  const grantId = target.href.split('/').pop().split('?')[0];
  const j = await api(`/v1/jobcentre/grants/${grantId}/contacts`);
  check(j.status === 200, `API contacts: ${j.status}`);
  const doc = JSON.parse(j.body);
  check(csv.length - 1 === doc.contacts.length && doc.contacts.length === contacts,
        `CSV ${csv.length - 1} rows, JSON ${doc.contacts.length}, page ${contacts}`);
  const hd = csv[0];
  const col = (n) => hd.indexOf(n);
  for (let i = 0; i < doc.contacts.length; i++) {
    const c = doc.contacts[i], r = csv[i + 1];
    check(r[col('record_id')] === c.record_id && Number(r[col('minutes')]) === c.minutes &&
          Number(r[col('log_index')]) === c.log_index && r[col('channel')] === c.channel,
          `CSV row ${i + 1} differs from the JSON contact`);
  }
  check(r0(csv, col('checkpoint_size')) === String(doc.checkpoint.size), 'CSV and JSON name other checkpoints');

  // 6. English by the link, then sign out
  await page.click('header nav a[hreflang=en]');
  await page.waitForSelector('html[lang=en]');
  await page.goto(`${URL0}/jobcentre/`, { waitUntil: 'load' });
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form.signout button')]);
  check(await page.$('label[for=token]'), 'signed out: no sign-in form');
  check(!(await browser.cookies()).some((c) => c.name === 'mlsession' && c.value), 'the cookie survived sign-out');
  res = await page.goto(`${URL0}${target.href}`, { waitUntil: 'load' });
  check(await page.$('label[for=token]'), 'a grant page after sign-out');
  await page.screenshot({ path: path.join(OUT, 'signed-out.png'), fullPage: true });

  // 7. another jobcentre's caseworker: none of these grants, not even by URL
  check(TOKEN_B, 'ML_TOKEN_B unset');
  await page.goto(`${URL0}/jobcentre/`, { waitUntil: 'load' });
  await page.type('#token', TOKEN_B);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form.signin button')]);
  check(await page.$('form.signout'), 'the other jobcentre could not sign in');
  const other = await page.$$eval('table.overview tbody tr th.ref', (ths) => ths.map((t) => t.textContent));
  const theirs = new Set(rows.map((r) => r.ref));
  check(!other.some((r) => theirs.has(r)), `the other jobcentre sees ${other.filter((r) => theirs.has(r))}`);
  const body = await page.$eval('body', (e) => e.textContent);
  check(![...theirs].some((r) => body.includes(r)), 'a reference of the first jobcentre on the other one\'s overview');
  await page.screenshot({ path: path.join(OUT, 'other-jobcentre.png'), fullPage: true });
  const before404 = problems.length; // the 404 asked for is logged as a failed load: not a problem
  res = await page.goto(`${URL0}${target.href}`, { waitUntil: 'load' });
  check(res.status() === 404, `the first jobcentre's grant page answered ${res.status()} to the other one`);
  for (let i = problems.length - 1; i >= before404; i--)
    if (/status of 404/.test(problems[i])) problems.splice(i, 1);
  check(!(await page.$eval('body', (e) => e.textContent)).includes(target.ref),
        'the first jobcentre\'s grant reference on the other one\'s page');
  await page.goto(`${URL0}/jobcentre/`, { waitUntil: 'load' });
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('form.signout button')]);

  check(problems.length === 0, problems.join('; '));
  console.log(`browse: ok: ${rows.length} grants, ${contacts} contacts, statuses ${[...labels].join(' ')}`);
} catch (e) {
  if (!process.exitCode) { console.error(`browse: FAILED: ${e.stack || e}`); process.exitCode = 1; }
  if (problems.length) console.error(`browse: also: ${problems.join('; ')}`);
} finally {
  await browser.close();
}

function r0(rows, c) { return rows.length > 1 ? rows[1][c] : undefined; }
