// `make bench-tenants`: isolation between organizations. 50 organizations publish at once, each to its own endpoint,
// through the local Worker (each organization's data in its own Durable Object). The same paced load runs twice: the
// 48 ordinary organizations alone, then with one organization flooding at 10x their rate and one whose endpoint
// stalls every request past the attempt timeout. Prints the ordinary organizations' ingest→receipt p50 / p99 in both
// runs and how much the two added (issue 22's target: less than one attempt timeout), then checks that nothing of
// one organization is visible to another through the API. Bounded by a deadline.
import { startWorker, startReceiver, OK_WITH_LENGTH, token } from "../tests/harness.mjs";

const ORDINARY = Number(process.env.ORGS ?? 48);
const RATE = Number(process.env.RATE ?? 2); // events/s per ordinary organization
const FLOOD = 10; // the flooding organization's rate, as a multiple of RATE
const SECONDS = Number(process.env.SECONDS ?? 20);
const TIMEOUT_S = 10;
const STALL_MS = (TIMEOUT_S + 5) * 1000;
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 180000);

const receiver = await startReceiver();
const worker = await startWorker({ vars: { DELIVERY_TIMEOUT_SECONDS: String(TIMEOUT_S) } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const auth = (org) => ({ authorization: `Bearer ${token({ org })}`, "content-type": "application/json" });

async function subscribe(org) {
  const res = await worker.api("/api/webhooks", {
    method: "POST",
    headers: auth(org),
    body: JSON.stringify({ name: org, url: `${receiver.url}/${org}`, events: ["lead.created"] }),
  });
  if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${await res.text()}`);
  return res.json();
}

/** One run: `orgs` is [{ org, rate }]; answers the ordinary organizations' latencies (sorted) and what arrived. */
async function run(tag, orgs) {
  for (const { org } of orgs) await subscribe(org);
  // Each endpoint has answered once (a new endpoint starts in its lane until it answers quickly).
  await Promise.all(orgs.map(({ org }) => worker.api("/api/events", { method: "POST", headers: auth(org), body: JSON.stringify({ id: `${org}-warm`, type: "lead.created", data: {} }) })));
  const warm = Date.now();
  while (orgs.some(({ org, stalls }) => !stalls && !receiver.requests.some((r) => r.url === `/${org}`)) && Date.now() - warm < 30000) await sleep(100);
  const sentAt = new Map();
  const started = Date.now();
  const calls = [];
  // Every organization's events on its own schedule, interleaved in time order.
  const schedule = orgs.flatMap(({ org, rate }) => Array.from({ length: rate * SECONDS }, (_, n) => ({ org, n, at: (n / rate) * 1000 }))).sort((a, b) => a.at - b.at);
  for (const { org, n, at } of schedule) {
    if (started + at > Date.now()) await sleep(started + at - Date.now());
    const id = `${org}-${n}`;
    sentAt.set(id, Date.now());
    calls.push(worker.api("/api/events", { method: "POST", headers: auth(org), body: JSON.stringify({ id, type: "lead.created", data: { n } }) }).then(async (res) => {
      if (res.status !== 202) throw new Error(`${tag}: ingest failed with ${res.status}`);
      await res.arrayBuffer();
    }));
  }
  await Promise.all(calls);
  const ordinary = orgs.filter((o) => o.ordinary).map((o) => `/${o.org}`);
  const expected = orgs.filter((o) => o.ordinary).reduce((sum, o) => sum + o.rate * SECONDS, 0);
  const arrivals = () => receiver.requests.filter((r) => ordinary.includes(r.url) && sentAt.has(JSON.parse(r.body.toString()).id));
  while (new Set(arrivals().map((r) => JSON.parse(r.body.toString()).id)).size < expected && Date.now() - started < DEADLINE_MS) await sleep(200);
  const first = new Map();
  for (const r of arrivals()) {
    const id = JSON.parse(r.body.toString()).id;
    if (!first.has(id)) first.set(id, r.receivedAt - sentAt.get(id));
  }
  const latencies = [...first.values()].sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const flood = orgs.find((o) => o.flood);
  const floodDelivered = flood ? new Set(receiver.requests.filter((r) => r.url === `/${flood.org}`).map((r) => r.headers["webhook-id"])).size - 1 : 0;
  return { expected, received: latencies.length, p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1], floodDelivered, events: schedule.length, seconds: (Date.now() - started) / 1000 };
}

/** Each organization sees only its own webhooks and events through the API. */
async function isolated(orgs) {
  const problems = [];
  for (const { org } of orgs) {
    const hooks = await (await worker.api("/api/webhooks", { headers: auth(org) })).json();
    if (hooks.data.length !== 1 || hooks.data[0].name !== org) problems.push(`${org} lists webhooks ${hooks.data.map((w) => w.name).join(",")}`);
    const events = await (await worker.api("/api/events?limit=100", { headers: auth(org) })).json();
    const foreign = events.data.filter((e) => !e.id.startsWith(`${org}-`));
    if (foreign.length > 0) problems.push(`${org} lists events of others: ${foreign.map((e) => e.id).join(",")}`);
    const other = orgs.find((o) => o.org !== org);
    const theirs = await (await worker.api("/api/webhooks", { headers: auth(other.org) })).json();
    const peek = await worker.api(`/api/webhooks/${theirs.data[0].id}`, { headers: auth(org) });
    if (peek.status !== 404) problems.push(`${org} reads ${other.org}'s webhook: ${peek.status}`);
  }
  return problems;
}

try {
  const stallsOn = new Set();
  receiver.respond((r) => (stallsOn.has(r.url) ? { status: 200, delayMs: STALL_MS } : OK_WITH_LENGTH));
  const ordinary = (tag) => Array.from({ length: ORDINARY }, (_, i) => ({ org: `org_${tag}_${i}`, rate: RATE, ordinary: true }));
  const alone = await run("alone", ordinary("alone"));
  const noisy = [...ordinary("shared"), { org: "org_shared_flood", rate: RATE * FLOOD, flood: true }, { org: "org_shared_stall", rate: RATE, stalls: true }];
  stallsOn.add("/org_shared_stall");
  const shared = await run("shared", noisy);
  const problems = await isolated(noisy);

  console.log(`\n${ORDINARY} organizations at ${RATE} events/s each for ${SECONDS} s (single-event ingests, one endpoint each), alone and`);
  console.log(`with one organization flooding at ${RATE * FLOOD} events/s and one whose endpoint stalls every request ${STALL_MS / 1000} s (timeout ${TIMEOUT_S} s)\n`);
  console.log("| run | events | ordinary deliveries | ordinary p50 ms | ordinary p99 ms | max ms |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, r] of [["48 alone", alone], ["with the flood and the stalling endpoint", shared]]) {
    console.log(`| ${name} | ${r.events} | ${r.received} of ${r.expected} | ${r.p50} | ${r.p99} | ${r.max} |`);
  }
  const growth = shared.p99 - alone.p99;
  console.log(`\nThe ordinary organizations' p99 grew by ${growth} ms: ${growth < TIMEOUT_S * 1000 ? "within" : "OVER"} the target of one attempt timeout (${TIMEOUT_S * 1000} ms).`);
  console.log(`The flooding organization got ${shared.floodDelivered} of ${RATE * FLOOD * SECONDS} events delivered in that time.`);
  console.log(problems.length === 0 ? `Isolation: each of the ${noisy.length} organizations lists only its own webhook and events, and another's webhook is 404.` : `ISOLATION BROKEN:\n${problems.join("\n")}`);
  if (problems.length > 0 || alone.received < alone.expected || shared.received < shared.expected) process.exitCode = 1;
} finally {
  await worker.stop();
  await receiver.close();
}
