// Destinations beyond HTTP, against real local implementations: an SQS queue on moto (a local AWS) with its
// authentication on, so a wrong signature or key fails the attempt as AWS would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { startWorker, startReceiver, eventually, freePort, ROOT } from "./harness.mjs";
import { loadSpec } from "./openapi.mjs";
import { client } from "./client.mjs";
import { startServiceBus } from "./fixtures/service-bus.mjs";
import { startPubSub } from "./fixtures/pubsub.mjs";
import { generateKeyPairSync } from "node:crypto";

const PYTHON = join(ROOT, ".tools", "moto", "bin", "python");
const MOTO = join(ROOT, ".tools", "moto", "bin", "moto_server");
const FIXTURE = join(ROOT, "tests", "fixtures", "moto.py");

let worker;
let receiver;
let moto;
let aws;
let key;
let c;
let bus;
let pubsub;
const rsa = () => generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
const ACCOUNT = { email: "edgehook@acme.iam.gserviceaccount.com", ...rsa() };
const BUS_KEY = { keyName: "RootManageSharedAccessKey", key: "RAKHASH12345678901234567890abcdefghijABCDEFG=" };

before(async () => {
  receiver = await startReceiver();
  bus = await startServiceBus({ ...BUS_KEY, entities: ["orders"] });
  pubsub = await startPubSub({ accounts: { [ACCOUNT.email]: ACCOUNT.publicKey }, topics: ["projects/acme/topics/deals"] });
  const port = await freePort();
  aws = `http://127.0.0.1:${port}`;
  // The first 3 calls (the fixture's IAM user, key and policy) go unauthenticated; every later one is checked.
  moto = spawn(MOTO, ["-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: "3" },
    stdio: "ignore",
    detached: true,
  });
  await eventually(async () => (await fetch(`${aws}/moto-api/`).catch(() => null))?.ok, { timeoutMs: 30000, what: "moto" });
  key = JSON.parse(execFileSync(PYTHON, [FIXTURE, "setup", aws], { encoding: "utf8" }));
  worker = await startWorker({ vars: { DELIVERY_TIMEOUT_SECONDS: "2" } });
  c = client(worker, await loadSpec(worker), receiver, "destinations");
});
after(async () => {
  await worker?.stop();
  await receiver?.close();
  await bus?.close();
  await pubsub?.close();
  if (moto) process.kill(-moto.pid, "SIGTERM");
});

/** A queue's messages, received with the IAM user's key (an authenticated call, as AWS would take it). */
const received = (queue = key.queueUrl) => JSON.parse(execFileSync(PYTHON, [FIXTURE, "receive", aws, JSON.stringify(key), queue], { encoding: "utf8" }));
const keys = () => ({ region: "us-east-1", accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, endpoint: aws });

function sqs(fields = {}) {
  return { type: "aws_sqs", queueUrl: key.queueUrl, region: "us-east-1", accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, endpoint: aws, ...fields };
}

async function sqsWebhook(o, destination, fields = {}) {
  const res = await c.api(o, "POST", "/api/webhooks", { name: "queue", events: ["deal.*"], retryAttempts: 0, destination, ...fields });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** The webhook's only delivery, once it has finished, with its attempts. */
async function finished(o, hook) {
  return eventually(async () => {
    const log = await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries`, undefined, { template: "/api/webhooks/{id}/deliveries" });
    const d = log.body.data[0];
    if (!d || d.status === "pending") return false;
    return (await c.api(o, "GET", `/api/webhooks/${hook.id}/deliveries/${d.id}`, undefined, { template: "/api/webhooks/{id}/deliveries/{deliveryId}" })).body;
  }, { timeoutMs: 30000, what: "the delivery to finish" });
}

test("a delivery to an SQS queue is one signed SendMessage: the exact body as the message, the webhook-* values as attributes that verify", async () => {
  const o = c.org();
  const hook = await sqsWebhook(o, sqs());
  assert.equal(hook.url, null);
  assert.deepEqual(hook.destination, { type: "aws_sqs", queueUrl: key.queueUrl, region: "us-east-1", endpoint: aws, accessKeyId: `${key.accessKeyId.slice(0, 4)}…${key.accessKeyId.slice(-4)}` });
  assert.ok(!JSON.stringify(hook).includes(key.secretAccessKey), "the secret key is never answered");
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"amount":12500.50,"name":"Ünïcode"}}' });
  assert.equal(res.status, 202);
  const delivery = await finished(o, hook);
  assert.equal(delivery.status, "succeeded", JSON.stringify(delivery.attempts));
  const messages = received();
  assert.equal(messages.length, 1);
  const [m] = messages;
  assert.ok(m.body.includes('"amount":12500.50') && m.body.includes("Ünïcode"), m.body);
  const headers = { "webhook-id": m.attributes["webhook-id"], "webhook-timestamp": m.attributes["webhook-timestamp"], "webhook-signature": m.attributes["webhook-signature"] };
  assert.equal(headers["webhook-id"], delivery.id);
  assert.equal(new Webhook(hook.secret).verify(m.body, headers).data.amount, 12500.5);
  const logged = JSON.stringify(delivery.attempts[0].requestHeaders);
  assert.ok(!logged.includes(key.accessKeyId) && !logged.includes(key.secretAccessKey) && logged.includes("Signature=••••••"), logged);
  assert.deepEqual(delivery.attempts[0].requestHeaders.slice(0, 2), [[":method", "POST"], [":url", `${aws}/`]], "the log names the call");
  // Send test event reaches the queue too.
  const sent = await c.api(o, "POST", `/api/webhooks/${hook.id}/test`, { eventType: "deal.won" }, { template: "/api/webhooks/{id}/test" });
  assert.equal(sent.body.success, true, JSON.stringify(sent.body));
  const tested = received();
  assert.equal(tested.length, 1);
  assert.equal(JSON.parse(tested[0].body).test, true);
});

test("SNS publishes the exact body with the webhook-* values as attributes; EventBridge puts it in detail.payload, with detail.webhook", async () => {
  const o = c.org();
  const sns = await sqsWebhook(o, { type: "aws_sns", topicArn: key.topicArn, ...keys() });
  const bus = await sqsWebhook(o, { type: "aws_eventbridge", eventBusName: "default", source: "com.example.crm", ...keys() });
  assert.deepEqual([sns.destination.topicArn, bus.destination.source], [key.topicArn, "com.example.crm"]);
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"amount":12500,"name":"Ünïcode"}}' });
  assert.equal((await res.json()).deliveries, 2);
  for (const hook of [sns, bus]) assert.equal((await finished(o, hook)).status, "succeeded", hook.destination.type);

  const publishedAll = await eventually(() => { const m = received(key.snsQueueUrl); return m.length > 0 && m; }, { what: "the SNS message" });
  assert.equal(publishedAll.length, 1, "published once");
  const [published] = publishedAll;
  const attributes = (m) => ({ "webhook-id": m.attributes["webhook-id"], "webhook-timestamp": m.attributes["webhook-timestamp"], "webhook-signature": m.attributes["webhook-signature"] });
  assert.ok(published.body.includes('"amount":12500') && published.body.includes("Ünïcode"), published.body);
  assert.equal(new Webhook(sns.secret).verify(published.body, attributes(published)).type, "deal.won");

  const putAll = await eventually(() => { const m = received(key.eventsQueueUrl); return m.length > 0 && m; }, { what: "the EventBridge event" });
  assert.equal(putAll.length, 1, "put once");
  const [put] = putAll;
  const event = JSON.parse(put.body);
  assert.deepEqual([event.source, event["detail-type"]], ["com.example.crm", "deal.won"]);
  const { payload, webhook } = event.detail;
  assert.equal(payload.data.name, "Ünïcode");
  // The signature covers the body as sent, which EventBridge carries as JSON: serialised again it is the same text.
  const headers = { "webhook-id": webhook.id, "webhook-timestamp": webhook.timestamp, "webhook-signature": webhook.signature };
  assert.equal(new Webhook(bus.secret).verify(JSON.stringify(payload), headers).data.amount, 12500);
});

test("S3 gets one object per event at <prefix>/<date>/<event id>.json: the exact body, the webhook-* values as metadata", async () => {
  const o = c.org();
  const hook = await sqsWebhook(o, { type: "s3", bucket: "crm-events", prefix: "edgehook/crm", ...keys() });
  assert.deepEqual([hook.destination.bucket, hook.destination.prefix], ["crm-events", "edgehook/crm"]);
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"id":"crm-42","type":"deal.won","data":{"amount":12500.50}}' });
  assert.equal(res.status, 202);
  assert.equal((await finished(o, hook)).status, "succeeded");
  const objects = JSON.parse(execFileSync(PYTHON, [FIXTURE, "objects", aws, JSON.stringify(key), "crm-events"], { encoding: "utf8" }));
  assert.equal(objects.length, 1);
  const [object] = objects;
  assert.match(object.key, /^edgehook\/crm\/\d{4}-\d{2}-\d{2}\/crm-42\.json$/);
  assert.ok(object.body.includes('"amount":12500.50'), object.body);
  const headers = { "webhook-id": object.metadata["webhook-id"], "webhook-timestamp": object.metadata["webhook-timestamp"], "webhook-signature": object.metadata["webhook-signature"] };
  assert.equal(new Webhook(hook.secret).verify(object.body, headers).id, "crm-42");
});

test("Azure Service Bus gets the exact body with the webhook-* values as properties, authorised by a SAS token the local server checks as Azure documents it", async () => {
  const o = c.org();
  const hook = await sqsWebhook(o, { type: "azure_service_bus", namespace: "contoso", entity: "orders", endpoint: bus.url, ...BUS_KEY });
  assert.deepEqual(hook.destination, { type: "azure_service_bus", namespace: "contoso", entity: "orders", keyName: BUS_KEY.keyName, endpoint: bus.url });
  const wrong = await sqsWebhook(o, { type: "azure_service_bus", namespace: "contoso", entity: "orders", endpoint: bus.url, keyName: BUS_KEY.keyName, key: "not-the-key" });
  const missing = await sqsWebhook(o, { type: "azure_service_bus", namespace: "contoso", entity: "returns", endpoint: bus.url, ...BUS_KEY });
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"amount":12500.50}}' });
  assert.equal((await res.json()).deliveries, 3);
  const delivery = await finished(o, hook);
  assert.equal(delivery.status, "succeeded", JSON.stringify(delivery.attempts));
  assert.equal(bus.messages.length, 1);
  const [m] = bus.messages;
  assert.ok(m.body.includes('"amount":12500.50'));
  assert.equal(new Webhook(hook.secret).verify(m.body, m.properties).type, "deal.won");
  assert.ok(!JSON.stringify(delivery.attempts[0].requestHeaders).includes(BUS_KEY.key));
  assert.match((await finished(o, wrong)).attempts[0].error, /Service Bus answered 401: .*InvalidSignature/);
  assert.match((await finished(o, missing)).attempts[0].error, /Service Bus answered 404: .*could not be found/);
  assert.equal(bus.messages.length, 1, "nothing else was accepted");
});

test("Google Pub/Sub gets the body as data with the webhook-* values as attributes, after an OAuth token for the service account's RS256 JWT", async () => {
  const o = c.org();
  const account = (privateKey) => ({ type: "service_account", project_id: "acme", private_key_id: "k1", private_key: privateKey, client_email: ACCOUNT.email, token_uri: `${pubsub.url}/token` });
  const hook = await sqsWebhook(o, { type: "gcp_pubsub", serviceAccount: account(ACCOUNT.privateKey), topic: "projects/acme/topics/deals", endpoint: pubsub.url });
  assert.deepEqual(hook.destination, { type: "gcp_pubsub", topic: "projects/acme/topics/deals", clientEmail: ACCOUNT.email, endpoint: pubsub.url });
  assert.ok(!JSON.stringify(hook).includes("PRIVATE KEY"));
  const forged = await sqsWebhook(o, { type: "gcp_pubsub", serviceAccount: account(rsa().privateKey), topic: "projects/acme/topics/deals", endpoint: pubsub.url });
  const missing = await sqsWebhook(o, { type: "gcp_pubsub", serviceAccount: account(ACCOUNT.privateKey), topic: "projects/acme/topics/nope", endpoint: pubsub.url });
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"amount":12500.50}}' });
  assert.equal((await res.json()).deliveries, 3);
  const delivery = await finished(o, hook);
  assert.equal(delivery.status, "succeeded", JSON.stringify(delivery.attempts));
  assert.equal(pubsub.messages.length, 1);
  const [m] = pubsub.messages;
  assert.ok(m.body.includes('"amount":12500.50'));
  assert.equal(new Webhook(hook.secret).verify(m.body, m.attributes).type, "deal.won");
  assert.match((await finished(o, forged)).attempts[0].error, /token endpoint answered 400: Invalid JWT Signature/);
  assert.match((await finished(o, missing)).attempts[0].error, /Pub\/Sub answered 404: Resource not found/);
  assert.equal(pubsub.messages.length, 1, "nothing else was published");
});

test("every service type: a timeout and a garbage answer each fail the attempt with a clear reason", async () => {
  const o = c.org();
  receiver.respond((r) => (r.url.startsWith("/stall") ? { status: 200, delayMs: 4000, body: "late" } : { status: 200, body: "<html>hello</html>" }));
  const account = (endpoint) => ({ type: "service_account", private_key: ACCOUNT.privateKey, client_email: ACCOUNT.email, token_uri: `${endpoint}/token` });
  const types = [
    ["aws_sqs", (endpoint) => sqs({ endpoint }), /no MessageId: not an SQS answer/],
    ["aws_sns", (endpoint) => ({ type: "aws_sns", topicArn: key.topicArn, ...keys(), endpoint }), /not an SNS answer/],
    ["aws_eventbridge", (endpoint) => ({ type: "aws_eventbridge", eventBusName: "default", source: "com.example.crm", ...keys(), endpoint }), /not an EventBridge answer/],
    ["s3", (endpoint) => ({ type: "s3", bucket: "crm-events", ...keys(), endpoint }), /no ETag: not an S3 answer/],
    ["azure_service_bus", (endpoint) => ({ type: "azure_service_bus", namespace: "contoso", entity: "orders", ...BUS_KEY, endpoint }), /Service Bus answered 200: <html>hello/],
    ["gcp_pubsub", (endpoint) => ({ type: "gcp_pubsub", serviceAccount: account(endpoint), topic: "projects/acme/topics/deals", endpoint }), /token endpoint answered 200: <html>hello/],
  ];
  // One organization for the stalls, one for the garbage: an organization holds at most 10 webhooks.
  const garbageOrg = c.org();
  const hooks = [];
  for (const [type, destination, garbage] of types) {
    hooks.push([o, type, await sqsWebhook(o, destination(`${receiver.url}/stall-${type}`)), /timed out after 2 s/]);
    hooks.push([garbageOrg, type, await sqsWebhook(garbageOrg, destination(`${receiver.url}/garbage-${type}`)), garbage]);
  }
  for (const org of [o, garbageOrg]) {
    const res = await worker.api("/api/events", { method: "POST", headers: org.auth(), body: '{"type":"deal.won","data":{"n":2}}' });
    assert.equal((await res.json()).deliveries, types.length);
  }
  for (const [org, type, hook, reason] of hooks) {
    const delivery = await finished(org, hook);
    assert.equal(delivery.status, "failed", type);
    assert.match(delivery.attempts[0].error, reason, type);
  }
});

test("a throttled call is retried later, not failed: the service's hint to slow down is honoured", async () => {
  const o = c.org();
  let calls = 0;
  receiver.respond((r) => {
    if (!r.url.startsWith("/throttle")) return { status: 200, body: "ok" };
    calls += 1;
    return calls === 1
      ? { status: 400, body: '{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}' }
      : { status: 200, body: '{"MessageId":"m-1","MD5OfMessageBody":"x"}' };
  });
  const hook = await sqsWebhook(o, sqs({ endpoint: `${receiver.url}/throttle` }), { retryAttempts: 3, retryDelaySeconds: 1 });
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"n":3}}' });
  assert.equal(res.status, 202);
  const delivery = await finished(o, hook);
  assert.equal(delivery.status, "succeeded");
  assert.equal(delivery.attempts.length, 2);
  assert.match(delivery.attempts[0].error, /ThrottlingException: Rate exceeded \(throttled: retried later\)/);
  const gap = Date.parse(delivery.attempts[1].createdAt) - Date.parse(delivery.attempts[0].createdAt);
  assert.ok(gap >= 4500, `the retry waited for the throttle (${gap} ms), not the 1 s schedule`);
});

test("wrong keys and a missing queue, topic, bus or bucket each fail the attempt with the service's reason; nothing reaches a queue", async () => {
  const o = c.org();
  const cases = [
    [sqs({ secretAccessKey: "not-the-secret-key" }), /SignatureDoesNotMatch/],
    [{ type: "aws_sns", topicArn: "arn:aws:sns:us-east-1:123456789012:missing", ...keys() }, /NotFound|does not exist/i],
    [{ type: "aws_eventbridge", eventBusName: "default", source: "com.example.crm", ...keys(), secretAccessKey: "wrong" }, /SignatureDoesNotMatch/],
    [{ type: "s3", bucket: "no-such-bucket", ...keys() }, /NoSuchBucket/],
    [{ type: "s3", bucket: "crm-events", ...keys(), secretAccessKey: "wrong" }, /SignatureDoesNotMatch/],
    [{ type: "aws_sns", topicArn: key.topicArn, ...keys(), secretAccessKey: "wrong" }, /SignatureDoesNotMatch/],
    [{ type: "aws_eventbridge", eventBusName: "no-such-bus", source: "com.example.crm", ...keys() }, /not exist|NotFound/i],
    [sqs({ accessKeyId: "AKIAUNKNOWNKEY000000" }), /InvalidClientTokenId|not valid|security token/i],
    [sqs({ queueUrl: `${aws}/123456789012/missing` }), /QueueDoesNotExist|NonExistentQueue|does not exist/i],
  ];
  receiver.respond((r) => (r.url.startsWith("/stall") ? { status: 200, delayMs: 4000, body: "late" } : r.url.startsWith("/garbage") ? { status: 200, body: "<html>hello</html>" } : { status: 200, body: "ok" }));
  const hooks = [];
  for (const [destination] of cases) hooks.push(await sqsWebhook(o, destination));
  const res = await worker.api("/api/events", { method: "POST", headers: o.auth(), body: '{"type":"deal.won","data":{"n":1}}' });
  assert.equal((await res.json()).deliveries, cases.length);
  for (const [i, [, reason]] of cases.entries()) {
    const delivery = await finished(o, hooks[i]);
    assert.equal(delivery.status, "failed");
    assert.match(delivery.attempts[0].error, reason);
  }
  assert.deepEqual([received(), received(key.snsQueueUrl)], [[], []], "nothing was queued");
  // Bad fields are 400s naming the field.
  for (const [destination, field] of [
    [sqs({ region: "nowhere" }), "destination.region"],
    [sqs({ queueUrl: "http://169.254.169.254/latest" }), "destination.queueUrl"],
    [{ type: "aws_sqs" }, "destination.region"],
  ]) {
    const bad = await c.api(o, "POST", "/api/webhooks", { name: "bad", events: ["*"], destination });
    assert.deepEqual([bad.status, bad.body.error.field], [400, field], JSON.stringify(destination));
  }
});
