// A small Node.js receiver of Tocsin alerts signed with the Standard Webhooks scheme (the default),
// using only Node's http module and the standardwebhooks npm package.
//
//   npm install standardwebhooks
//   TOCSIN_WEBHOOK_SECRET=whsec_... PORT=8000 node examples/receivers/standard_webhooks.js
//
// It listens on 127.0.0.1 (HOST=0.0.0.0 for every interface; PORT=0 picks a free port).
// Point the endpoint at http://<this host>:8000/hooks/tocsin. A bad or missing signature, or a
// webhook-timestamp more than 5 minutes off (a replay), is answered 401; a webhook-id seen before
// (Tocsin retries with the same id) is answered 200 without being handled twice.
const http = require("http");
const { Webhook } = require("standardwebhooks");

const webhook = new Webhook(process.env.TOCSIN_WEBHOOK_SECRET);
const seen = new Set(); // keep this in Redis or a table with several processes

const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/hooks/tocsin") {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8"); // the exact bytes that were signed
    let payload;
    try {
      payload = webhook.verify(body, req.headers);
    } catch (error) {
      console.warn(`refused a request: ${error.message}`);
      res.writeHead(401, { "content-type": "application/json" }).end('{"ok": false}');
      return;
    }
    const id = req.headers["webhook-id"];
    const duplicate = seen.has(id);
    seen.add(id);
    if (!duplicate) {
      const alert = (payload.data || {}).alert || {};
      console.log(`[${payload.type}] ${alert.severity || "-"}: ${alert.message || ""} (webhook-id ${id})`);
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, duplicate }));
  });
});

server.listen(Number(process.env.PORT || 8000), process.env.HOST || "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
