// A plain-HTTP Direct Line client for checking a bot behind offline-directline by hand (and
// from the interop test): echo, the profile waterfall, and a proactive /api/notify.
//
// usage: node dl-client.js --dl http://127.0.0.1:PORT/directline --notify http://127.0.0.1:PORT/api/notify
//
// Prints each bot message it waits for; exits 1 as soon as one does not arrive in time.
'use strict';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const dl = opt('--dl', 'http://127.0.0.1:3000/directline');
const notifyUrl = opt('--notify', 'http://127.0.0.1:3978/api/notify');
const timeoutMs = Number(opt('--timeout-ms', '10000'));
const user = { id: 'dl-client-user', name: 'Direct Line client' };

async function json(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}`);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

async function main() {
  const { conversationId } = await json('POST', `${dl}/conversations`);
  const activities = `${dl}/conversations/${conversationId}/activities`;
  let watermark = 0;
  const pending = [];

  const say = (text) => json('POST', activities, { type: 'message', from: user, text, locale: 'en-US' });
  const expect = async (text) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = pending.findIndex((a) => a.type === 'message');
      if (i >= 0) {
        const message = pending[i];
        pending.splice(0, i + 1);
        if (message.text !== text) throw new Error(`expected ${JSON.stringify(text)}, got ${JSON.stringify(message.text)}`);
        console.log(`bot: ${message.text}`);
        return message;
      }
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms`);
      const page = await json('GET', `${activities}?watermark=${watermark}`);
      watermark = page.watermark;
      pending.push(...page.activities.filter((a) => !a.from || a.from.id !== user.id));
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
  };

  await say('hi');
  await expect('echo: hi');
  await say('profile');
  await expect('What is your name?');
  await say('Alice');
  await expect('How old are you?');
  await say('42');
  await expect('Thanks Alice, you are 42.');
  const { addresses } = await json('POST', notifyUrl, { text: 'proactive hello' });
  console.log(`notify: ${addresses} address(es)`);
  const proactive = await expect('proactive hello');
  if (proactive.replyToId) throw new Error('a proactive message should reply to nothing');
  console.log('PASS');
}

main().catch((e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
