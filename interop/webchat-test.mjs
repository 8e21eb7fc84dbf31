// The browser half of the Web Chat test (examples/tests/webchat.rs): the official Web Chat
// bundle, served from 127.0.0.1, in headless Chromium (Debian's, driven by playwright-core;
// no browser is downloaded), talking to the demo bot through offline-directline. It does what
// a person would do and checks what they would see.
//
// usage: node webchat-test.mjs --dl http://127.0.0.1:PORT/directline --texts '{...}'
//          [--chromium /usr/bin/chromium] [--artifacts DIR] [--timeout-ms 15000]
//
// --texts is the bot's wording as JSON (the Rust test passes the constants of the examples
// crate, so the two never drift): announce, survey, back, sizePrompt, sizes, size,
// toppingPrompt, topping, order, cardTrigger, cardIntro, heroTitle, heroButton, adaptiveTitle,
// submit, submitted.
//
// Prints one line per check, `PASS name: what was seen` or `FAIL name: why`, then
// `webchat: N passed, M failed`. Exit status: 0 all passed, 1 a check failed, 2 the browser
// (or the page server) could not start. Screenshots and the transcript go to --artifacts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { pageUrl, serveWebChat } from './webchat-server.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const dl = opt('--dl');
const texts = JSON.parse(opt('--texts', 'null'));
const executablePath = opt('--chromium', '/usr/bin/chromium');
const artifacts = path.resolve(opt('--artifacts', 'webchat-artifacts'));
const timeout = Number(opt('--timeout-ms', '15000'));
if (!dl || !texts) {
  console.error('usage: node webchat-test.mjs --dl http://127.0.0.1:PORT/directline --texts JSON');
  process.exit(2);
}
// The whole run is bounded (each wait is too): a hang anywhere fails instead of waiting.
const WHOLE_RUN_MS = 6 * timeout;
const watchdog = setTimeout(() => {
  console.log(`FAIL watchdog: the browser test did not finish within ${WHOLE_RUN_MS / 1000} s`);
  process.exit(1);
}, WHOLE_RUN_MS);

// As root on this machine: no sandbox, and nothing that calls out (the network is closed).
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const results = [];
const log = (line) => console.log(line);
let page;
let origin;
let shots = 0;

async function screenshot(name) {
  const file = path.join(artifacts, `${String(++shots).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file });
  } catch (e) {
    console.error(`webchat-test: screenshot ${file} failed: ${e.message}`);
  }
  return file;
}

async function check(name, body) {
  try {
    const detail = await body();
    results.push({ name, ok: true });
    log(`PASS ${name}: ${detail}`);
    return true;
  } catch (e) {
    results.push({ name, ok: false });
    log(`FAIL ${name}: ${e.message}`);
    await screenshot(`failed-${name}`);
    return false;
  }
}

function fail(message) {
  throw new Error(message);
}

// What the transcript shows, read from Web Chat's DOM: one entry per activity. Web Chat's
// markdown typesets quotes and ellipses and marks links with zero-width spaces: the text is
// turned back to plain ASCII punctuation so it compares with what the bot sent.
function readTranscript() {
  const plain = (s) =>
    s
      .replace(/[\u2018\u2019]/g, "'")
      .replace(/[\u201c\u201d]/g, '"')
      .replace(/\u2026/g, '...')
      .replace(/\u200b/g, '');
  return Array.from(document.querySelectorAll('article.webchat__basic-transcript__activity')).map((el) => ({
    fromUser: !!el.querySelector('.webchat__stacked-layout--from-user'),
    text: Array.from(el.querySelectorAll('.webchat__stacked-layout__message .webchat__bubble__content'))
      .map((b) => plain(b.innerText.trim()))
      .join('\n'),
    attachments: Array.from(el.querySelectorAll('.webchat__stacked-layout__attachment')).map((a) => a.innerText.trim()),
    // The visible time under the message (the screen-reader copy is not aria-hidden).
    time: Array.from(el.querySelectorAll('.webchat__activity-status [aria-hidden="true"]'))
      .map((s) => s.innerText.trim())
      .filter(Boolean)
      .join(' '),
  }));
}

const transcript = () => page.evaluate(readTranscript);

async function describeTranscript() {
  try {
    const lines = (await transcript()).map(
      (e) => `${e.fromUser ? 'user' : 'bot'}: ${JSON.stringify(e.text)}${e.attachments.length ? ` [${e.attachments.length} card(s)]` : ''}`,
    );
    return lines.length ? lines.join(' | ') : '(empty)';
  } catch (e) {
    return `(unreadable: ${e.message})`;
  }
}

// Bot activities as Web Chat received them (recorded by the page from Web Chat's store).
const botActivities = () =>
  page.evaluate(() => window.botcoreActivities.filter((a) => a.type === 'message' && a.from && a.from.role !== 'user'));

// Index of the transcript up to which the conversation has been consumed by expectBot.
let cursor = 0;

/** Waits for a bot message after the cursor whose text matches; moves the cursor past it. */
async function expectBot(what, matches = (text) => text === what) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const entries = await transcript();
    const i = entries.findIndex((e, i) => i >= cursor && !e.fromUser && matches(e.text));
    if (i >= 0) {
      cursor = i + 1;
      return { index: i, entry: entries[i], entries };
    }
    if (Date.now() > deadline) {
      fail(`no bot message ${JSON.stringify(what)} within ${timeout} ms; the transcript shows: ${await describeTranscript()}`);
    }
    await page.waitForTimeout(100);
  }
}

/** Types into Web Chat's send box and presses Enter, as a person would. */
async function say(text) {
  const box = page.locator('[data-id="webchat-sendbox-input"]');
  await box.fill(text, { timeout });
  await box.press('Enter', { timeout });
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  if (!fs.existsSync(executablePath)) {
    log(`FAIL browser: no Chromium at ${executablePath}; install Debian's with \`apt-get install -y chromium\` (scripts/test does)`);
    return 2;
  }
  let server;
  try {
    ({ server, origin } = await serveWebChat(0));
  } catch (e) {
    log(`FAIL page-server: cannot serve the Web Chat page: ${e.message}`);
    return 2;
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'botcore-webchat-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 900, height: 1100 },
      locale: 'en-US',
      timeout,
    });
  } catch (e) {
    log(`FAIL browser: Chromium (${executablePath}) could not start: ${e.message.split('\n')[0]} (its log is on stderr)`);
    console.error(e.message);
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
    return 2;
  }
  try {
    page = context.pages()[0] || (await context.newPage());
    page.on('pageerror', (e) => console.error(`webchat page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && console.error(`webchat console: ${m.text()}`));
    // Only 127.0.0.1 is reached: anything else is refused and reported.
    const refused = [];
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
      refused.push(url.href);
      return route.abort();
    });
    await run();
    if (refused.length) console.error(`webchat-test: refused requests off 127.0.0.1: ${refused.join(', ')}`);
    fs.writeFileSync(
      path.join(artifacts, 'activities.json'),
      JSON.stringify(await page.evaluate(() => window.botcoreActivities), null, 2),
    );
  } finally {
    await context.close().catch(() => {});
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.ok).length;
  log(`webchat: ${results.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

async function run() {
  const t = texts;
  const connected = await check('connect', async () => {
    await page.goto(pageUrl(origin, dl), { timeout });
    await page.locator('[data-id="webchat-sendbox-input"]').waitFor({ state: 'visible', timeout });
    // Web Chat's Direct Line connection is up (offline-directline started the conversation).
    await page.waitForFunction(() => window.botcoreStarted === true, null, { timeout, polling: 100 });
    await screenshot('connected');
    return 'Web Chat (botframework-webchat dist/webchat.js) loaded from 127.0.0.1 and started a Direct Line conversation';
  });
  if (!connected) return;

  // Cards first, while the bot is idle.
  await say(t.cardTrigger);
  let cards = null;
  await check('hero-card', async () => {
    const { index } = await expectBot(t.cardIntro);
    cards = index;
    const hero = page.locator('article.webchat__basic-transcript__activity').nth(index).locator('.webchat__stacked-layout__attachment').filter({ hasText: t.heroTitle });
    await hero.first().waitFor({ state: 'visible', timeout });
    const button = hero.first().getByRole('button', { name: t.heroButton });
    await button.waitFor({ state: 'visible', timeout });
    const sent = (await botActivities()).find((a) => a.text === t.cardIntro);
    const types = (sent?.attachments || []).map((a) => a.contentType);
    if (!types.includes('application/vnd.microsoft.card.hero')) fail(`the message carried ${JSON.stringify(types)}, no hero card`);
    await screenshot('cards');
    return `hero card "${t.heroTitle}" rendered with its "${t.heroButton}" button`;
  });
  let adaptive = null;
  await check('adaptive-card', async () => {
    if (cards === null) await expectBot(t.cardIntro);
    const card = page.locator('.webchat__stacked-layout__attachment').filter({ hasText: t.adaptiveTitle }).last();
    await card.waitFor({ state: 'visible', timeout });
    await card.locator('input.ac-textInput').waitFor({ state: 'visible', timeout });
    await card.locator('select.ac-choiceSetInput-compact').waitFor({ state: 'visible', timeout });
    await card.getByRole('button', { name: t.submit }).waitFor({ state: 'visible', timeout });
    const sent = (await botActivities()).find((a) => a.text === t.cardIntro);
    const types = (sent?.attachments || []).map((a) => a.contentType);
    if (!types.includes('application/vnd.microsoft.card.adaptive')) fail(`the message carried ${JSON.stringify(types)}, no Adaptive Card`);
    adaptive = card;
    return `Adaptive Card "${t.adaptiveTitle}" rendered with a text input, a choice and a "${t.submit}" button`;
  });
  await check('card-submit', async () => {
    if (!adaptive) fail('no Adaptive Card to submit');
    await adaptive.locator('input.ac-textInput').fill('Ann', { timeout });
    await adaptive.locator('select.ac-choiceSetInput-compact').selectOption('3', { timeout });
    await adaptive.getByRole('button', { name: t.submit }).click({ timeout });
    const { entry } = await expectBot(t.submitted, (text) => text.startsWith(t.submitted));
    // `Card submitted: card=feedback, name=Ann, rating=3`
    const got = Object.fromEntries(
      entry.text
        .slice(t.submitted.length)
        .split(',')
        .map((kv) => kv.trim().split('=')),
    );
    const want = { card: 'feedback', name: 'Ann', rating: '3' };
    for (const [k, v] of Object.entries(want)) {
      if (got[k] !== v) fail(`the bot got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
    await screenshot('card-submitted');
    return `submitting the form reached the bot, which answered ${JSON.stringify(entry.text)}`;
  });

  // The pizza order, the survey that interrupts it, and the resume.
  cursor = (await transcript()).length;
  await say('hi');
  const ordering = await check('order-starts', async () => {
    await expectBot(t.announce);
    await expectBot(t.sizePrompt, (text) => text.startsWith(t.sizePrompt));
    return `"hi" started the order: ${JSON.stringify(t.announce)}, then ${JSON.stringify(t.sizePrompt)}`;
  });
  if (!ordering) return;
  const clicked = await check('size-buttons', async () => {
    const toolbar = page.locator('[role="toolbar"][aria-label="Suggested actions"]');
    const prompt = page.locator('article.webchat__basic-transcript__activity').nth(cursor - 1);
    // Suggested actions (under the transcript) or a hero card's buttons (in the prompt).
    const found = async () => {
      for (const scope of [toolbar, prompt]) {
        const names = await scope.getByRole('button').allInnerTexts().catch(() => []);
        if (t.sizes.every((s) => names.map((n) => n.trim()).includes(s))) return scope;
      }
      return null;
    };
    let scope = null;
    const deadline = Date.now() + 2000;
    while (!(scope = await found()) && Date.now() < deadline) await page.waitForTimeout(100);
    if (!scope) {
      const entries = await transcript();
      fail(`the size prompt shows no ${JSON.stringify(t.sizes)} buttons (neither suggested actions nor card buttons); it reads ${JSON.stringify(entries[cursor - 1]?.text)}`);
    }
    await screenshot('size-buttons');
    await scope.getByRole('button', { name: t.size, exact: true }).click({ timeout });
    await expectBot(t.toppingPrompt);
    const entries = await transcript();
    if (!entries.some((e) => e.fromUser && e.text === t.size)) fail(`the click did not show "${t.size}" as the user's answer`);
    return `the size prompt shows buttons ${JSON.stringify(t.sizes)}; clicking "${t.size}" answered it (the bot asked ${JSON.stringify(t.toppingPrompt)})`;
  });
  if (!clicked) {
    // Without buttons, answer as a person would on a text channel, so the survey is still checked.
    await say(t.size);
    await expectBot(t.toppingPrompt).catch(() => {});
  }
  const toppingAt = cursor - 1;
  const interrupted = await check('survey-interrupts', async () => {
    const { index, entries } = await expectBot(t.survey);
    if (entries.slice(toppingAt + 1, index).some((e) => e.fromUser)) fail('the survey came after a user message, not on its own');
    const survey = (await botActivities()).find((a) => a.text === t.survey);
    if (survey?.replyToId) fail(`the survey replies to ${survey.replyToId}: it should arrive proactively`);
    await screenshot('survey-interrupts');
    return `the survey interrupted the order on its own (no user message, no replyToId): ${JSON.stringify(t.survey)}`;
  });
  if (interrupted) {
    await check('survey-resumes', async () => {
      await say('done');
      await expectBot(t.back);
      await expectBot(t.toppingPrompt);
      await screenshot('survey-resumed');
      await say(t.topping);
      await expectBot(t.order);
      await screenshot('order-done');
      return `"done" → ${JSON.stringify(t.back)}, ${JSON.stringify(t.toppingPrompt)} asked again; "${t.topping}" → ${JSON.stringify(t.order)}`;
    });
  }

  await check('timestamps', async () => {
    const bot = await botActivities();
    const now = Date.now();
    const unstamped = bot.filter((a) => !a.timestamp || Number.isNaN(Date.parse(a.timestamp)));
    if (unstamped.length) {
      fail(`${unstamped.length} of ${bot.length} bot messages carry no timestamp (first: ${JSON.stringify(unstamped[0].text)}), so Web Chat shows no time for them`);
    }
    const off = bot.find((a) => Math.abs(Date.parse(a.timestamp) - now) > 10 * 60 * 1000);
    if (off) fail(`the bot's timestamp ${off.timestamp} is far from the browser's clock (${new Date(now).toISOString()})`);
    const entries = await transcript();
    const shown = entries.filter((e) => !e.fromUser && e.time);
    if (!shown.length) fail('the bot messages carry timestamps but the transcript shows no time under them');
    // The time under the last bot message is that message's timestamp, as the browser shows times.
    const last = bot[bot.length - 1];
    const entry = entries.filter((e) => !e.fromUser && e.text === last.text).pop();
    const clock = await page.evaluate(
      (ts) => new Date(ts).toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit' }),
      last.timestamp,
    );
    if (!entry || !entry.time.includes(clock)) {
      fail(`the last bot message (${JSON.stringify(last.text)}, timestamp ${last.timestamp}) shows ${JSON.stringify(entry && entry.time)}, not ${clock}`);
    }
    await screenshot('timestamps');
    return `all ${bot.length} bot messages carry a timestamp; Web Chat shows it under ${shown.length} of them (the last: ${JSON.stringify(entry.time)} for ${last.timestamp})`;
  });
}

const code = await main().catch((e) => {
  log(`FAIL webchat-test: ${e.stack || e.message}`);
  return 1;
});
clearTimeout(watchdog);
process.exit(code);
