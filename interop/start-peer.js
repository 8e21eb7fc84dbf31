// Runs offline-directline (a Direct Line + Bot Connector emulator) bound to 127.0.0.1 only.
//
// usage: node start-peer.js --bot http://127.0.0.1:3978/api/messages [--port 0] [--stamp-client-activities]
//
// --stamp-client-activities gives each activity a client posts a `timestamp` on arrival, as the
// real Direct Line service does (offline-directline leaves it out, so Web Chat would show no
// time under the user's messages). The bot's own activities are never stamped here: their
// timestamps are the bot's.
//
// --port 0 (the default) picks a free port. Once listening, one line goes to stdout:
//   offline-directline listening on http://127.0.0.1:PORT bot=URL
// Clients use http://127.0.0.1:PORT/directline; the bot gets serviceUrl http://127.0.0.1:PORT.
'use strict';
const express = require('express');
const directline = require('offline-directline');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(opt('--port', '0'));
const botUrl = opt('--bot', 'http://127.0.0.1:3978/api/messages');
const stampClientActivities = args.includes('--stamp-client-activities');

// offline-directline forwards to the bot without handling a failed fetch; keep the emulator
// alive (the client's request then stays unanswered, as upstream) instead of crashing.
process.on('unhandledRejection', (e) => console.error('offline-directline: bot unreachable:', e && e.message));

const app = express();
if (stampClientActivities) {
  app.post('/directline/conversations/:conversationId/activities', express.json(), (req, res, next) => {
    if (req.body && typeof req.body === 'object') req.body.timestamp = new Date().toISOString();
    next();
  });
}
const server = app.listen(port, '127.0.0.1', () => {
  const serviceUrl = `http://127.0.0.1:${server.address().port}`;
  // The serviceUrl advertised to the bot needs the real port, so the routes are mounted
  // once it is known (express resolves routes per request).
  app.use(directline.getRouter(serviceUrl, botUrl, true));
  console.log(`offline-directline listening on ${serviceUrl} bot=${botUrl}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
