// Exits 0 when every dependency of package.json is installed in node_modules at the version
// package.json pins, 1 otherwise (listing what is missing or different): scripts/test and the
// Rust tests run `npm ci` only then.
'use strict';
const fs = require('fs');
const path = require('path');

const { dependencies = {} } = require('./package.json');
const wrong = [];
for (const [name, want] of Object.entries(dependencies)) {
  const file = path.join(__dirname, 'node_modules', name, 'package.json');
  let have = null;
  try {
    have = JSON.parse(fs.readFileSync(file, 'utf8')).version;
  } catch (_) {
    // not installed
  }
  if (have !== want) wrong.push(`${name}: want ${want}, have ${have || 'none'}`);
}
if (wrong.length) {
  console.log(`interop: npm packages not installed as locked (${wrong.join('; ')})`);
  process.exit(1);
}
