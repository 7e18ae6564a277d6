// Verifies one request that a real Tocsin delivery sent, with code that is not Tocsin's.
// stdin: {"secret", "headers", "body_base64"}. `node verify.js` checks it with the standardwebhooks
// npm package; `node verify.js snippet.js` with the `verify` function that file exports (the
// endpoint page's Node.js snippet). Prints {"ok": true} or {"ok": false, "error": "..."}.
const fs = require("fs");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const body = Buffer.from(input.body_base64, "base64");
let result;
try {
  if (process.argv[2]) {
    const verify = require(require("path").resolve(process.argv[2]));
    result = { ok: verify(input.secret, input.headers, body) === true };
  } else {
    const { Webhook } = require("standardwebhooks");
    const payload = new Webhook(input.secret).verify(body.toString("utf8"), input.headers);
    result = { ok: true, type: payload.type };
  }
} catch (error) {
  result = { ok: false, error: String(error && error.message) };
}
process.stdout.write(JSON.stringify(result));
