import { startWorker, startReceiver, token } from "../tests/harness.mjs";
const receiver = await startReceiver();
const worker = await startWorker();
const auth = { authorization: `Bearer ${token({ org: "o" })}`, "content-type": "application/json" };
for (let i = 0; i < 3; i++) await worker.api("/api/webhooks", { method: "POST", headers: auth, body: JSON.stringify({ name: "b", url: `${receiver.url}/e${i}`, events: ["lead.created"] }) });
for (let n = 0; n < 20; n++) { const t = Date.now(); const r = await worker.api("/api/events", { method: "POST", headers: auth, body: JSON.stringify({ type: "lead.created", data: { n } }) }); await r.text(); console.log("ingest ms", Date.now() - t); }
await new Promise((r) => setTimeout(r, 3000));
console.log(worker.log().split("\n").filter((l) => l.includes("TIMING")).slice(-10).join("\n"));
await worker.stop(); await receiver.close();
