// The dashboard and customer portal in headless Chromium, against the real Worker under `wrangler dev` (Workers
// Static Assets, local D1, KV and Queues) and a real receiver on 127.0.0.1. Elements are found by role and
// accessible name, the names the issue fixes. Each page is saved as a screenshot under test-results/dashboard/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startWorker, startReceiver, token, eventually, ROOT } from "./harness.mjs";

const SHOTS = join(ROOT, "test-results", "dashboard");
const FRAMER = "https://app.crm.example";
const XSS = "<img src=x onerror=alert(1)>";

let worker;
let receiver;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [worker, receiver] = await Promise.all([startWorker({ vars: { PORTAL_FRAME_ANCESTORS: FRAMER } }), startReceiver()]);
  receiver.respond(() => ({ status: 200, body: '{"received":true}', headers: { "content-type": "application/json" } }));
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await receiver?.close();
  await worker?.stop();
});

/** Calls the API as the vendor (an admin JWT of `org` unless a bearer is given); answers { status, body }. */
async function api(method, path, body, { bearer, org = "org_test", role = "admin" } = {}) {
  const auth = bearer ?? token({ org, role });
  const res = await worker.api(path, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function portalLink(options = {}, org = "org_test") {
  const res = await api("POST", "/api/portal/sessions", options, { org });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function webhookVia(org, fields) {
  const res = await api("POST", "/api/webhooks", { url: `${receiver.url}/api`, events: ["*"], retryAttempts: 0, ...fields }, { org });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** A fresh browser context (its own sessionStorage), a page, and what ran on it that should not have. */
async function open(url, { width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const trouble = { dialogs: [], errors: [] };
  page.on("dialog", (d) => {
    trouble.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on("pageerror", (e) => trouble.errors.push(e.message));
  // The browser logs every non-2xx answer as a console error; those are expected (and shown on the page).
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && trouble.errors.push(m.text()));
  if (url) await page.goto(url);
  return { page, context, trouble };
}

const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

test("a portal link opens the dashboard with strict headers; the token leaves the address bar", async () => {
  const res = await worker.api("/portal");
  assert.equal(res.status, 200);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /style-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, new RegExp(`frame-ancestors ${FRAMER}$`));
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.equal((await worker.api("/assets/missing-file.js")).status, 404);

  const link = await portalLink({}, "org_empty");
  assert.match(link.url, /\/portal#token=ehp_/);
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
  await page.getByText("No webhooks yet").waitFor();
  assert.equal(new URL(page.url()).hash, "", "the token is dropped from the URL");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("edgehook.portal.token")), link.token);
  await page.getByRole("button", { name: "Add Webhook" }).waitFor();
  await shot(page, "01-webhooks-empty");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Add Webhook: a private URL is refused next to its field; the saved webhook has what the form said", async () => {
  const link = await portalLink();
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("button", { name: "Add Webhook" }).click();
  await page.getByRole("heading", { name: "Add webhook" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill("CRM sync");
  await page.getByLabel("Description", { exact: true }).fill("Leads into the warehouse");
  await page.getByLabel("URL", { exact: true }).fill("http://10.0.0.1/hooks");
  await page.getByRole("checkbox", { name: /All lead events/ }).check();
  await page.getByRole("checkbox", { name: "deal.won" }).check();
  await page.getByRole("button", { name: "+ Add header" }).click();
  await page.getByLabel("Header 1 name", { exact: true }).fill("X-Tenant");
  await page.getByLabel("Header 1 value", { exact: true }).fill("acme");
  await page.getByLabel("Retry attempts", { exact: true }).fill("2");
  await page.getByLabel("Retry delay (seconds)", { exact: true }).fill("1");
  await page.getByRole("button", { name: "Save" }).click();

  const url = page.getByLabel("URL", { exact: true });
  await eventually(async () => (await url.getAttribute("aria-invalid")) === "true", { what: "the URL field marked invalid" });
  const error = page.locator("#field-url-error");
  assert.match(await error.textContent(), /private|reserved|not allowed|refused|loopback|internal/i);
  assert.equal(await url.getAttribute("aria-describedby"), "field-url-error");
  await shot(page, "02-form-url-refused");
  assert.equal((await api("GET", "/api/webhooks")).body.data.filter((w) => w.name === "CRM sync").length, 0);

  await url.fill(`${receiver.url}/crm`);
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /CRM sync/, level: 1 }).waitFor();
  await page.getByRole("status").getByText("Webhook created").waitFor();
  const saved = (await api("GET", "/api/webhooks")).body.data.find((w) => w.name === "CRM sync");
  assert.ok(saved, "the webhook exists");
  assert.deepEqual(
    { url: saved.url, events: [...saved.events].sort(), headers: saved.headers, retryAttempts: saved.retryAttempts,
      retryDelaySeconds: saved.retryDelaySeconds, isActive: saved.isActive, description: saved.description },
    { url: `${receiver.url}/crm`, events: ["deal.won", "lead.*"], headers: { "X-Tenant": "acme" }, retryAttempts: 2,
      retryDelaySeconds: 1, isActive: true, description: "Leads into the warehouse" },
  );
  await shot(page, "03-webhook-detail-new");

  // Edit, then Delete with its confirmation.
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Name", { exact: true }).fill("CRM sync (old)");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /CRM sync \(old\)/, level: 1 }).waitFor();
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Delete this webhook?" });
  await dialog.waitFor();
  await shot(page, "04-delete-confirm");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await api("GET", `/api/webhooks/${saved.id}`)).status, 200, "cancel deletes nothing");
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await dialog.getByRole("button", { name: "Delete webhook" }).click();
  await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
  await eventually(async () => (await api("GET", `/api/webhooks/${saved.id}`)).status === 404, { what: "the deletion" });
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Send Test Event shows the receiver's status, duration and body; an ingested event shows in the log and its detail", async () => {
  const hook = await webhookVia("org_test", { name: "Warehouse", url: `${receiver.url}/warehouse`, events: ["lead.*"] });
  const link = await portalLink();
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("link", { name: "Warehouse" }).click();
  await page.getByRole("heading", { name: /Warehouse/, level: 1 }).waitFor();
  await page.getByLabel("Test event type", { exact: true }).selectOption("lead.converted");
  await page.getByRole("button", { name: "Send Test Event" }).click();
  const result = page.getByTestId("test-result");
  await result.getByText("Delivered").waitFor();
  assert.match(await result.textContent(), /Status 200/);
  assert.match(await result.textContent(), /"received": true/);
  const sent = receiver.requests.find((r) => r.url === "/warehouse");
  assert.equal(JSON.parse(sent.body).type, "lead.converted");
  assert.equal(JSON.parse(sent.body).test, true);
  await shot(page, "05-test-event");

  const ingest = await api("POST", "/api/events", { type: "lead.created", data: { name: "Ada Lovelace", score: 1.50 } });
  assert.equal(ingest.status, 202);
  await eventually(() => receiver.requests.some((r) => r.url === "/warehouse" && JSON.parse(r.body).type === "lead.created"), { what: "the delivery" });
  const log = page.getByRole("region", { name: "Delivery log" });
  await eventually(async () => {
    await log.getByRole("button", { name: "Refresh" }).click();
    const row = log.getByRole("row").filter({ hasText: "lead.created" });
    return (await row.count()) === 1 && /Succeeded/.test(await row.textContent());
  }, { what: "the ingested event in the log" });
  await page.getByRole("region", { name: "Last 24 hours" }).locator("canvas").first().waitFor();
  // The sending addresses, for an endpoint behind a firewall: Cloudflare's published ranges, behind a disclosure.
  const egress = page.getByRole("region", { name: "Sending IP addresses" });
  await egress.getByText(/15 IPv4 and 7 IPv6 ranges/).click();
  assert.match(await egress.getByTestId("egress-ranges").textContent(), /^173\.245\.48\.0\/20\n[\s\S]*2606:4700::\/32/);
  await shot(page, "06-webhook-detail-with-log");

  await log.getByRole("link", { name: "lead.created" }).click();
  await page.getByRole("button", { name: "Retry" }).waitFor();
  const payload = await page.getByRole("region", { name: "Payload" }).textContent();
  assert.match(payload, /"name": "Ada Lovelace"/, "pretty-printed payload");
  const headers = await page.getByRole("region", { name: "Request headers" }).textContent();
  assert.match(headers, /webhook-signature\s*v1,/);
  assert.match(headers, /webhook-id\s*dlv_/);
  const secret = (await api("GET", `/api/webhooks/${hook.id}/secret`)).body.secret;
  assert.ok(!(await page.content()).includes(secret), "the signing secret is never on the page");
  const attempts = page.getByRole("region", { name: "Attempts" });
  await attempts.getByText("Attempt 1").waitFor();
  assert.match(await attempts.textContent(), /200/);
  await shot(page, "07-delivery-detail");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("a failed delivery is found with the Status filter and Retry delivers it", async () => {
  const hook = await webhookVia("org_test", { name: "Flaky", url: `${receiver.url}/flaky`, events: ["deal.won"] });
  let failing = true;
  receiver.respond((r) =>
    r.url === "/flaky" && failing ? { status: 500, body: "database is down" } : { status: 200, body: '{"received":true}' });
  assert.equal((await api("POST", "/api/events", { type: "deal.won", data: { id: "deal_9" } })).status, 202);
  await eventually(async () => {
    const list = await api("GET", `/api/webhooks/${hook.id}/deliveries?status=failed`);
    return list.body.total === 1;
  }, { what: "the failed delivery" });

  const link = await portalLink();
  const { page, context, trouble } = await open(new URL(`/portal/webhooks/${hook.id}#token=${link.token}`, worker.url).href);
  const log = page.getByRole("region", { name: "Delivery log" });
  await log.getByLabel("Status", { exact: true }).selectOption("failed");
  const row = log.getByRole("row").filter({ hasText: "deal.won" });
  await row.waitFor();
  assert.match(await row.textContent(), /Failed/);
  await log.getByLabel("Status", { exact: true }).selectOption("succeeded");
  await log.getByText("No deliveries match these filters").waitFor();
  await log.getByLabel("Status", { exact: true }).selectOption("failed");
  await log.getByRole("link", { name: "deal.won" }).click();
  await page.getByRole("region", { name: "Attempts" }).getByText("database is down").waitFor();
  await shot(page, "08-delivery-failed");

  failing = false;
  await page.getByRole("button", { name: "Retry" }).click();
  await page.getByRole("status").getByText(/Retry delivered/).waitFor();
  await page.getByRole("region", { name: "Attempts" }).getByText("Attempt 2").waitFor();
  await page.getByRole("heading", { level: 1 }).getByText("Succeeded").waitFor();
  const detail = (await api("GET", `/api/webhooks/${hook.id}/deliveries?status=succeeded`)).body;
  assert.equal(detail.total, 1);
  await shot(page, "09-delivery-retried");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Reveal shows the secret; Regenerate secret asks first, shows the new one once and until when the old one signs", async () => {
  const hook = await webhookVia("org_test", { name: "Secrets" });
  const link = await portalLink();
  const { page, context, trouble } = await open(new URL(`/portal/webhooks/${hook.id}#token=${link.token}`, worker.url).href);
  const card = page.getByRole("region", { name: "Signing secret" });
  const value = card.getByTestId("secret-value");
  await value.waitFor();
  assert.ok(!(await value.textContent()).includes(hook.secret), "masked at first");
  await card.getByRole("button", { name: "Reveal" }).click();
  await eventually(async () => (await value.textContent()) === hook.secret, { what: "the revealed secret" });
  await card.getByRole("button", { name: "Hide" }).click();
  await card.getByRole("button", { name: "Regenerate secret" }).click();
  const dialog = page.getByRole("dialog", { name: "Regenerate the signing secret?" });
  await dialog.getByRole("button", { name: "Regenerate" }).click();
  const fresh = card.getByTestId("new-secret");
  await fresh.waitFor();
  const shown = await fresh.textContent();
  assert.match(shown, /^whsec_/);
  assert.notEqual(shown, hook.secret);
  assert.equal((await api("GET", `/api/webhooks/${hook.id}/secret`)).body.secret, shown);
  assert.match(await card.textContent(), /previous secret keeps signing requests until/);
  await shot(page, "10-secret-regenerated");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Payload filter: Try it on the last events shows which would be delivered; a bad filter is shown at its field; the saved filter shows on the page", async () => {
  const org = "org_filter_ui";
  const hook = await webhookVia(org, { name: "Big deals", events: ["deal.*"] });
  for (const amount of [500, 25000, 40000]) {
    assert.equal((await api("POST", "/api/events", { type: "deal.won", data: { amount } }, { org })).status, 202);
  }
  const link = await portalLink({}, org);
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("link", { name: "Big deals" }).click();
  await page.getByRole("button", { name: "Edit" }).click();
  const filter = page.getByLabel("Payload filter", { exact: true });
  await filter.fill('{"data": {"amount": {"$gte": "lots"}}');
  await page.getByRole("button", { name: "Try it on the last events" }).click();
  await eventually(async () => (await filter.getAttribute("aria-invalid")) === "true", { what: "the JSON error at the field" });
  assert.match(await page.locator("#field-filter-error").textContent(), /not valid JSON/);
  await filter.fill('{"data": {"amount": {"$gte": true}}}');
  await page.getByRole("button", { name: "Try it on the last events" }).click();
  await eventually(async () => /\/data\/amount\/\$gte/.test((await page.locator("#field-filter-error").textContent()) ?? ""), { what: "the API's position" });
  await filter.fill('{"data": {"amount": {"$gte": 10000}}}');
  await page.getByRole("button", { name: "Try it on the last events" }).click();
  const preview = page.getByTestId("filter-preview");
  await preview.getByText("2 of the last 3 events match.").waitFor();
  assert.equal(await preview.getByText("Left out").count(), 1);
  await shot(page, "12-filter-preview");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /Big deals/, level: 1 }).waitFor();
  assert.deepEqual((await api("GET", `/api/webhooks/${hook.id}`, undefined, { org })).body.filter, { data: { amount: { $gte: 10000 } } });
  assert.match(await page.getByRole("region", { name: "Settings" }).textContent(), /\{"data":\{"amount":\{"\$gte":10000\}\}\}/);
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("a read-only session shows no mutating buttons, and the API refuses its writes with 403", async () => {
  const hook = await webhookVia("org_test", { name: "Read only view" });
  await api("POST", `/api/webhooks/${hook.id}/test`, {});
  const delivery = (await api("GET", `/api/webhooks/${hook.id}/deliveries`)).body.data[0];
  const link = await portalLink({ readOnly: true, expiresInSeconds: 600 });
  assert.equal(link.readOnly, true);
  const { page, context, trouble } = await open(link.url);
  await page.getByText("Read-only access").waitFor();
  await page.getByRole("link", { name: "Read only view" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Add Webhook" }).count(), 0);
  await page.getByRole("link", { name: "Read only view" }).click();
  await page.getByRole("region", { name: "Delivery log" }).getByRole("row").nth(1).waitFor();
  for (const name of ["Edit", "Send Test Event", "Regenerate secret", "Reveal", "Copy", "Delete"]) {
    assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, `no ${name} button`);
  }
  // Reading stays: the sending addresses can be copied from a read-only session too.
  assert.equal(await page.getByRole("button", { name: "Copy ranges" }).count(), 1);
  await shot(page, "11-read-only-detail");
  await page.goto(new URL(`/portal/webhooks/${hook.id}/deliveries/${delivery.id}`, worker.url).href);
  await page.getByRole("region", { name: "Payload" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Retry" }).count(), 0);

  const bearer = link.token;
  const writes = [
    ["POST", "/api/webhooks", { url: `${receiver.url}/x`, events: ["*"] }],
    ["PATCH", `/api/webhooks/${hook.id}`, { name: "changed" }],
    ["DELETE", `/api/webhooks/${hook.id}`],
    ["POST", `/api/webhooks/${hook.id}/regenerate-secret`],
    ["GET", `/api/webhooks/${hook.id}/secret`],
    ["POST", `/api/webhooks/${hook.id}/test`, {}],
    ["POST", `/api/webhooks/${hook.id}/deliveries/${delivery.id}/retry`],
    ["POST", "/api/events", { type: "lead.created", data: {} }],
    ["POST", "/api/portal/sessions", {}],
    ["GET", "/api/keys"],
  ];
  for (const [method, path, body] of writes) {
    const res = await api(method, path, body, { bearer });
    assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
  }
  assert.equal((await api("GET", `/api/webhooks/${hook.id}`)).body.name, "Read only view");
  // A read-write session may manage webhooks but never reaches the vendor's own routes either.
  const writer = (await portalLink()).token;
  assert.equal((await api("GET", "/api/keys", undefined, { bearer: writer })).status, 403);
  assert.equal((await api("POST", "/api/portal/sessions/revoke", undefined, { bearer: writer })).status, 403);
  assert.equal((await api("POST", "/api/events", { type: "lead.created", data: {} }, { bearer: writer })).status, 403);
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("whatever a receiver or caller controls is shown as text: markup in a name, a payload and a response runs nothing", async () => {
  const hook = await webhookVia("org_test", { name: `Evil ${XSS}`, url: `${receiver.url}/evil`, events: ["lead.created"],
    description: "<script>window.__xss = 1</script>" });
  receiver.respond((r) =>
    r.url === "/evil" ? { status: 200, body: XSS, headers: { "content-type": "text/html" } } : { status: 200, body: "ok" });
  assert.equal((await api("POST", "/api/events", { type: "lead.created", data: { name: XSS } })).status, 202);
  await eventually(async () => (await api("GET", `/api/webhooks/${hook.id}/deliveries?status=succeeded`)).body.total === 1, { what: "the delivery" });
  const link = await portalLink();
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("link", { name: `Evil ${XSS}` }).click();
  await page.getByRole("heading", { level: 1 }).getByText(`Evil ${XSS}`).waitFor();
  await page.getByText("<script>window.__xss = 1</script>").waitFor();
  await page.getByRole("button", { name: "Send Test Event" }).click();
  await page.getByTestId("test-result").getByText(XSS).waitFor();
  const ingested = (await api("GET", `/api/webhooks/${hook.id}/deliveries?status=succeeded`)).body.data.find((d) => !d.test);
  await page.getByRole("region", { name: "Delivery log" }).getByRole("link", { name: "lead.created" }).first().waitFor();
  await page.goto(new URL(`/portal/webhooks/${hook.id}/deliveries/${ingested.id}`, worker.url).href);
  await page.getByRole("region", { name: "Attempts" }).getByText(XSS).waitFor();
  assert.match(await page.getByRole("region", { name: "Payload" }).textContent(), /<img src=x onerror=alert\(1\)>/);
  await shot(page, "12-markup-as-text");
  assert.equal(await page.locator("main img").count(), 0, "no <img> was created");
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(trouble.dialogs, [], "no alert ran");
  assert.deepEqual(trouble.errors, []);
  await context.close();
});

test("expired, revoked, forged and missing tokens get the signed-out screen; another organization's webhook stays hidden", async () => {
  const secretHook = await webhookVia("org_test", { name: "Org test only" });
  // Expired: a real session whose end has passed.
  const expired = await portalLink({ expiresInSeconds: 60 });
  const hash = createHash("sha256").update(expired.token).digest("hex");
  worker.sql(`UPDATE portal_sessions SET expires_at = ${Date.now() - 1000} WHERE token_hash = '${hash}'`);
  let { page, context, trouble } = await open(expired.url);
  await page.getByRole("heading", { name: "Your session has expired" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("edgehook.portal.token")), null, "the dead token is forgotten");
  assert.ok(!(await page.content()).includes("Org test only"));
  await shot(page, "13-session-expired");
  await context.close();

  // Revoked while open: the next request ends the session on the page.
  const live = await portalLink();
  ({ page, context, trouble } = await open(live.url));
  await page.getByRole("link", { name: "Org test only" }).waitFor();
  const revoked = await api("POST", "/api/portal/sessions/revoke");
  assert.equal(revoked.status, 200);
  assert.ok(revoked.body.revoked >= 1);
  await page.getByRole("link", { name: "Org test only" }).click();
  await page.getByRole("heading", { name: "Your session has expired" }).waitFor();
  assert.equal((await api("GET", "/api/webhooks", undefined, { bearer: live.token })).status, 401);
  await context.close();

  // Forged: a well-formed token nobody issued.
  ({ page, context } = await open(new URL(`/portal#token=ehp_${"A".repeat(43)}`, worker.url).href));
  await page.getByRole("heading", { name: "Your session has expired" }).waitFor();
  await context.close();

  // Missing: no link at all.
  ({ page, context } = await open(new URL("/portal", worker.url).href));
  await page.getByRole("heading", { name: "Sign-in link needed" }).waitFor();
  await context.close();

  // Another organization's session cannot open this organization's webhook.
  const other = await portalLink({}, "org_other");
  ({ page, context, trouble } = await open(new URL(`/portal/webhooks/${secretHook.id}#token=${other.token}`, worker.url).href));
  await page.getByText("This webhook does not exist").waitFor();
  assert.ok(!(await page.content()).includes("Org test only"));
  assert.equal((await api("GET", `/api/webhooks/${secretHook.id}`, undefined, { bearer: other.token })).status, 404);
  assert.deepEqual(trouble.dialogs, []);
  await context.close();
});

test("keyboard alone and a mobile-width frame: Add Webhook is reached with Tab, the pages fit 390 px", async () => {
  const link = await portalLink();
  const { page, context, trouble } = await open(link.url, { width: 390, height: 844 });
  await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
  await page.getByRole("table").waitFor();
  let reached = false;
  for (let i = 0; i < 15 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === "Add Webhook");
  }
  assert.ok(reached, "Add Webhook is reachable with Tab");
  await shot(page, "14-mobile-webhooks");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Add webhook" }).waitFor();
  await page.getByLabel("Name", { exact: true }).focus();
  await page.keyboard.type("Typed by keyboard");
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 390, `no horizontal scrolling (${scrollWidth} px)`);
  await shot(page, "15-mobile-form");
  await page.goBack();
  await page.getByRole("link").filter({ hasText: "Warehouse" }).first().click();
  await page.getByRole("region", { name: "Delivery log" }).waitFor();
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390);
  await shot(page, "16-mobile-detail");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("after an outage: Recover and Replay missing on the webhook page; the Events page shows an event exactly as published", async () => {
  const hook = await webhookVia("org_test", { name: "Outage", url: `${receiver.url}/outage`, events: ["deal.won"] });
  let down = true;
  receiver.respond((r) => (r.url === "/outage" && down ? { status: 500, body: "down" } : { status: 200, body: '{"received":true}' }));
  assert.equal((await api("POST", "/api/events", { type: "deal.won", data: { id: "deal_1" } })).status, 202);
  await eventually(async () => (await api("GET", `/api/webhooks/${hook.id}/deliveries?status=failed`)).body.total === 1, { what: "the failed delivery" });
  down = false;

  const link = await portalLink();
  const { page, context, trouble } = await open(new URL(`/portal/webhooks/${hook.id}#token=${link.token}`, worker.url).href);
  const recovery = page.getByRole("region", { name: "After an outage" });
  await recovery.getByRole("button", { name: "Recover" }).click();
  const dialog = page.getByRole("dialog", { name: "Recover failed deliveries" });
  await dialog.getByLabel("Since", { exact: true }).waitFor();
  await shot(page, "17-recover-dialog");
  await dialog.getByRole("button", { name: "Recover" }).click();
  await recovery.getByTestId("recovery-result").getByText("1 failed delivery is being sent again.").waitFor();
  await eventually(() => receiver.requests.filter((r) => r.url === "/outage").length === 2, { what: "the recovered delivery" });
  await eventually(async () => (await api("GET", `/api/webhooks/${hook.id}/deliveries?status=succeeded`)).body.total === 1, { what: "its success" });

  // Inactive for a while: an event goes by; re-activating in the form says what was missed, Replay missing sends it.
  assert.equal((await api("PATCH", `/api/webhooks/${hook.id}`, { isActive: false })).status, 200);
  const missedEvent = await worker.api("/api/events", {
    method: "POST",
    headers: { authorization: `Bearer ${token({ org: "org_test", role: "service" })}`, "content-type": "application/json" },
    body: '{"type":"deal.won","data":{"id":"deal_2","amount":1.50}}',
  });
  const missedId = (await missedEvent.json()).id;
  await page.reload();
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByRole("checkbox", { name: "Active" }).check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("This webhook missed 1 event while it was inactive.").waitFor();
  await shot(page, "18-missed-events");
  await page.getByRole("region", { name: "After an outage" }).getByRole("button", { name: "Replay missing" }).click();
  await page.getByRole("dialog", { name: "Replay missed events" }).getByRole("button", { name: "Replay" }).click();
  await page.getByTestId("recovery-result").getByText(/1 missed event is being delivered/).waitFor();
  await eventually(() => receiver.requests.some((r) => r.url === "/outage" && r.body.toString().includes('"amount":1.50')), { what: "the replayed event" });

  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Events" }).click();
  await page.getByRole("heading", { name: "Events", level: 1 }).waitFor();
  const row = page.getByRole("row").filter({ hasText: missedId });
  await row.waitFor();
  await shot(page, "19-events");
  await row.getByRole("link").click();
  const data = page.getByRole("region", { name: "Data" });
  await data.waitFor();
  assert.match(await data.textContent(), /"amount": 1\.50/, "the number as published, not 1.5");
  await page.getByRole("region", { name: "Deliveries" }).getByRole("link", { name: "Outage" }).waitFor();
  await shot(page, "20-event-detail");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
  receiver.respond(() => ({ status: 200, body: '{"received":true}', headers: { "content-type": "application/json" } }));
});

test("an Ed25519 webhook is created from the form and shows its public key, never a secret", async () => {
  const link = await portalLink();
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("button", { name: "Add Webhook" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Signed with Ed25519");
  await page.getByLabel("URL", { exact: true }).fill(`${receiver.url}/ed`);
  await page.getByRole("checkbox", { name: "Select all" }).check();
  await page.getByLabel("Signature", { exact: true }).selectOption("ed25519");
  await page.getByRole("button", { name: "Save" }).click();
  const card = page.getByRole("region", { name: "Public key" });
  await card.waitFor();
  const shown = await card.getByTestId("public-key").textContent();
  assert.match(shown, /^whpk_/);
  const saved = (await api("GET", "/api/webhooks")).body.data.find((w) => w.name === "Signed with Ed25519");
  assert.equal(saved.signature, "ed25519");
  assert.equal(saved.publicKey, shown);
  assert.equal(await card.getByRole("button", { name: "Reveal" }).count(), 0);
  await shot(page, "21-ed25519-webhook");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("a rate limit is set from the form; an open circuit shows on the webhook list and page", async () => {
  const link = await portalLink();
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("button", { name: "Add Webhook" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Paced");
  await page.getByLabel("URL", { exact: true }).fill(`${receiver.url}/paced`);
  await page.getByRole("checkbox", { name: "Select all" }).check();
  const rate = page.getByLabel("Rate limit (requests per second)");
  await rate.fill("0");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("#field-rate-limit-error").getByText("rateLimitPerSecond must be an integer from 1 to 10000").waitFor();
  assert.equal(await rate.getAttribute("aria-invalid"), "true");
  await rate.fill("5");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("region", { name: "Settings" }).getByText("5 per second").waitFor();
  const saved = (await api("GET", "/api/webhooks")).body.data.find((w) => w.name === "Paced");
  assert.equal(saved.rateLimitPerSecond, 5);

  // An endpoint nobody listens on: five unreachable attempts in a row open its circuit (30 s cool-down here).
  const down = await webhookVia("org_test", { name: "Nobody home", url: "http://127.0.0.1:1/down", events: ["lead.created"], retryAttempts: 5, retryDelaySeconds: 1 });
  for (let n = 0; n < 6; n++) assert.equal((await api("POST", "/api/events", { type: "lead.created", data: { n } }, { role: "service" })).status, 202);
  await eventually(async () => (await api("GET", `/api/webhooks/${down.id}`)).body.circuit.state === "open", { timeoutMs: 60000, intervalMs: 250, what: "the circuit to open" });
  await page.goto(link.url);
  const row = page.getByRole("row").filter({ hasText: "Nobody home" });
  await row.getByText("Circuit open").waitFor();
  await shot(page, "22-circuit-open-list");
  await row.getByRole("link", { name: "Nobody home" }).click();
  await page.getByText("The endpoint keeps failing, so its circuit is open.").waitFor();
  await page.getByRole("region", { name: "Settings" }).getByText(/^Open since/).waitFor();
  await shot(page, "23-circuit-open-webhook");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Event catalogue: the organization's types show with schema and example; the picker shows descriptions; the form turns on schema validation; Send Test Event sends the example", async () => {
  const org = "org_catalogue_ui";
  const schema = { type: "object", required: ["invoiceId", "amount"], properties: { invoiceId: { type: "string" }, amount: { type: "number", minimum: 0 } } };
  const example = { invoiceId: "inv_42", amount: 99.5 };
  const created = await api("POST", "/api/event-types", { name: "invoice.paid", description: "An invoice was paid in full.", schema, example }, { org });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await api("PATCH", "/api/event-types/lead.deleted", { deprecated: true }, { org })).status, 200);
  const hook = await webhookVia(org, { name: "Billing", events: ["invoice.*"] });
  const link = await portalLink({}, org);
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("link", { name: "Event catalogue" }).click();
  await page.getByRole("heading", { name: "Event catalogue", level: 1 }).waitFor();
  const invoice = page.getByTestId("event-type-invoice.paid");
  assert.match(await invoice.textContent(), /An invoice was paid in full\./);
  assert.equal(await invoice.getByText("Schema", { exact: true }).count(), 1);
  await invoice.getByText("Schema and example").click();
  assert.match(await invoice.getByLabel("Example of invoice.paid").textContent(), /"invoiceId": "inv_42"/);
  assert.match(await invoice.getByLabel("Schema of invoice.paid").textContent(), /"minimum": 0/);
  assert.equal(await page.getByTestId("event-type-lead.deleted").getByText("Deprecated").count(), 1);
  await page.getByLabel("Find an event type").fill("invoice");
  assert.equal(await page.getByTestId("event-type-lead.created").count(), 0);
  await shot(page, "24-event-catalogue");

  await page.getByRole("link", { name: "Webhooks", exact: true }).click();
  await page.getByRole("link", { name: "Billing" }).click();
  await page.getByRole("button", { name: "Edit" }).click();
  // The picker lists the organization's type under its resource, with its description.
  const picker = page.getByRole("group", { name: "invoice" });
  assert.match(await picker.textContent(), /An invoice was paid in full\./);
  await page.getByLabel("Validate events against their schema").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /Billing/, level: 1 }).waitFor();
  assert.equal((await api("GET", `/api/webhooks/${hook.id}`, undefined, { org })).body.validateSchema, true);
  const refused = await api("POST", "/api/events", { type: "invoice.paid", data: { invoiceId: "x", amount: -5 } }, { org });
  assert.deepEqual([refused.status, refused.body.error.field], [400, "data/amount"]);

  await page.getByLabel("Test event type").selectOption("invoice.paid");
  const before = receiver.requests.length;
  await page.getByRole("button", { name: "Send Test Event" }).click();
  await page.getByTestId("test-result").waitFor();
  await eventually(() => receiver.requests.length > before, { what: "the test event at the receiver" });
  assert.deepEqual(JSON.parse(receiver.requests.at(-1).body).data, example);
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Polling endpoint: created from the form without a URL; its page shows the reader's position and lag, creates a token once and revokes it", async () => {
  const org = "org_poll_ui";
  const link = await portalLink({}, org);
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("button", { name: "Add Webhook" }).first().click();
  await page.getByLabel("Name", { exact: true }).fill("Warehouse poller");
  await page.getByLabel("Destination").selectOption("poll");
  assert.equal(await page.getByLabel("URL", { exact: true }).count(), 0, "a poller has no URL field");
  await page.getByLabel("Select all").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /Warehouse poller/, level: 1 }).waitFor();
  const hook = (await api("GET", "/api/webhooks", undefined, { org })).body.data.find((w) => w.name === "Warehouse poller");
  assert.deepEqual([hook.url, hook.destination.type], [null, "poll"]);
  assert.equal(await page.getByRole("button", { name: "Send Test Event" }).count(), 0, "nothing to send a test to");

  await page.getByRole("button", { name: "Create token" }).click();
  const shown = await page.getByTestId("new-poll-token").textContent();
  assert.match(shown, /^ehpl_/);
  for (const n of [1, 2, 3]) assert.equal((await api("POST", "/api/events", { type: "lead.created", data: { n } }, { org })).status, 202);
  const read = await worker.api(`/api/poll/${hook.id}?limit=1`, { headers: { authorization: `Bearer ${shown}` } });
  const first = await read.json();
  assert.equal(first.data.length, 1);
  await worker.api(`/api/poll/${hook.id}?after=${first.next}`, { headers: { authorization: `Bearer ${shown}` } });
  await page.getByRole("region", { name: "Polling" }).getByRole("button", { name: "Refresh" }).click();
  // Create token's own reload may still be answering from before the events: wait for the position after the read.
  const position = page.getByTestId("poll-position");
  const expected = new RegExp(`Acknowledged up to${first.next} \\(latest message \\d+\\)Waiting2 messages`);
  await eventually(async () => expected.test((await position.textContent()) ?? ""), { what: "the reader's position and lag" });
  await shot(page, "25-polling-endpoint");
  await page.getByRole("button", { name: /Revoke token/ }).click();
  await page.getByText("No token yet").waitFor();
  assert.equal((await worker.api(`/api/poll/${hook.id}`, { headers: { authorization: `Bearer ${shown}` } })).status, 401);
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Amazon SQS destination: the form asks for the queue and its keys, the secret key in a password field; the page shows the queue, never the keys", async () => {
  const org = "org_sqs_ui";
  const link = await portalLink({}, org);
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("button", { name: "Add Webhook" }).first().click();
  await page.getByLabel("Name", { exact: true }).fill("Orders queue");
  await page.getByLabel("Destination").selectOption("aws_sqs");
  const queueUrl = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders";
  await page.getByLabel("Queue URL").fill(queueUrl);
  await page.getByLabel("Region").fill("eu-west-1");
  await page.getByLabel("Access key ID").fill("AKIAIOSFODNN7EXAMPLE");
  const secret = page.getByLabel("Secret access key");
  assert.equal(await secret.getAttribute("type"), "password");
  await secret.fill("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  await page.getByLabel("Select all").check();
  await shot(page, "26-sqs-form");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /Orders queue/, level: 1 }).waitFor();
  assert.match(await page.locator(".url").first().textContent(), new RegExp(`Amazon SQS: ${queueUrl}`));
  const hook = (await api("GET", "/api/webhooks", undefined, { org })).body.data[0];
  assert.deepEqual(hook.destination, { type: "aws_sqs", queueUrl, region: "eu-west-1", accessKeyId: "AKIA…MPLE" });
  const html = await page.content();
  assert.ok(!html.includes("wJalrXUtnFEMI") && !html.includes("AKIAIOSFODNN7EXAMPLE"), "no key on the page");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});

test("Transformation: the Slack preset fills the program, the preview shows its body on the catalogue's example, a broken program is shown at its field; the delivery shows the body sent", async () => {
  const org = "org_jq_ui";
  const hook = await webhookVia(org, { name: "Team chat", events: ["deal.*"] });
  const link = await portalLink({}, org);
  const { page, context, trouble } = await open(link.url);
  await page.getByRole("link", { name: "Team chat" }).click();
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Transformation", { exact: true }).selectOption("slack");
  const program = page.getByLabel("jq program");
  const presets = (await api("GET", "/api/transformation-presets", undefined, { org })).body.data;
  assert.equal(await program.inputValue(), presets.find((p) => p.name === "slack").jq);
  await page.getByRole("button", { name: "Preview on a sample event" }).click();
  const preview = page.getByTestId("transformation-preview");
  await preview.waitFor();
  const shown = JSON.parse(await preview.getByLabel("Body the program makes").textContent());
  assert.match(shown.text, /^deal\./, "Slack's text names the event type");
  assert.ok(Array.isArray(shown.blocks));
  await shot(page, "27-transformation-preview");
  await program.fill("{text: .type,");
  await page.getByRole("button", { name: "Preview on a sample event" }).click();
  await eventually(async () => (await program.getAttribute("aria-invalid")) === "true", { what: "the program's error at its field" });
  assert.match(await page.locator("#field-transformation-error").textContent(), /^line 1, column \d+/);
  await program.fill('{text: "\\(.type) for \\(.data.amount)"}');
  assert.equal(await page.getByLabel("Transformation", { exact: true }).inputValue(), "custom");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: /Team chat/, level: 1 }).waitFor();
  assert.deepEqual((await api("GET", `/api/webhooks/${hook.id}`, undefined, { org })).body.transformation, { jq: '{text: "\\(.type) for \\(.data.amount)"}' });
  assert.equal(await page.getByTestId("transformation").textContent(), '{text: "\\(.type) for \\(.data.amount)"}');

  assert.equal((await api("POST", "/api/events", { type: "deal.won", data: { amount: 25000 } }, { org })).status, 202);
  const delivery = await eventually(async () => {
    const list = (await api("GET", `/api/webhooks/${hook.id}/deliveries`, undefined, { org })).body.data;
    return list.find((d) => d.status === "succeeded");
  }, { what: "the transformed delivery" });
  await page.goto(new URL(`/portal/webhooks/${hook.id}/deliveries/${delivery.id}`, worker.url).href);
  const card = page.getByRole("region", { name: "Body sent" });
  await card.waitFor();
  assert.deepEqual(JSON.parse(await card.getByLabel("Body sent").textContent()), { text: "deal.won for 25000" });
  assert.match(await card.getByLabel("Event").textContent(), /"amount": 25000/);
  await shot(page, "28-transformed-delivery");
  assert.deepEqual(trouble, { dialogs: [], errors: [] });
  await context.close();
});
