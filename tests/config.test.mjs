// wrangler.toml's environments: wrangler carries no vars or bindings into an environment, so each repeats the top
// level's. These checks read the file with wrangler's own reader, as `wrangler deploy --env <name>` does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { unstable_readConfig } from "wrangler";
import { ROOT } from "./harness.mjs";

const CONFIG = join(ROOT, "wrangler.toml");
const ENVIRONMENTS = ["staging", "free"];

function read(env) {
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(" "));
  try {
    return { config: unstable_readConfig({ config: CONFIG, env }), warnings };
  } finally {
    console.warn = warn;
  }
}

/** The names a Worker's code reaches: vars and every binding. */
function surface(config) {
  return {
    vars: Object.keys(config.vars).sort(),
    d1: config.d1_databases.map((d) => d.binding),
    kv: config.kv_namespaces.map((k) => k.binding),
    producers: config.queues.producers.map((p) => p.binding).sort(),
    consumers: config.queues.consumers.length,
    objects: config.durable_objects.bindings.map((o) => `${o.name}:${o.class_name}`).sort(),
    email: config.send_email.map((e) => e.name),
    assets: config.assets?.binding,
    crons: config.triggers.crons,
  };
}

test("every environment declares the top level's vars and bindings, and wrangler reads it without a warning", () => {
  const top = read(undefined);
  assert.deepEqual(top.warnings, []);
  for (const env of ENVIRONMENTS) {
    const { config, warnings } = read(env);
    assert.deepEqual(warnings, [], `env.${env}`);
    assert.deepEqual(surface(config), surface(top.config), `env.${env}`);
    // The Durable Object classes' migrations are the top level's, inherited.
    assert.deepEqual(config.migrations, top.config.migrations, `env.${env}`);
  }
});

test("in every environment the queue handler's names are that environment's queues, each with its dead-letter queue", () => {
  for (const env of [undefined, ...ENVIRONMENTS]) {
    const { config } = read(env);
    const producers = Object.fromEntries(config.queues.producers.map((p) => [p.binding, p.queue]));
    const consumed = config.queues.consumers.map((c) => c.queue).sort();
    assert.deepEqual(consumed, [config.vars.DELIVERIES_QUEUE, config.vars.EVENTS_QUEUE].sort(), `${env ?? "top level"}`);
    assert.equal(producers.DELIVERIES, config.vars.DELIVERIES_QUEUE);
    assert.equal(producers.EVENTS, config.vars.EVENTS_QUEUE);
    for (const consumer of config.queues.consumers) assert.ok(consumer.dead_letter_queue, `${consumer.queue} has a dead-letter queue`);
  }
  // staging is a separate deployment: none of its resources is production's.
  const production = read(undefined).config;
  const staging = read("staging").config;
  assert.notEqual(staging.name, production.name);
  assert.notEqual(staging.d1_databases[0].database_name, production.d1_databases[0].database_name);
  const queues = (c) => c.queues.consumers.flatMap((q) => [q.queue, q.dead_letter_queue]);
  assert.deepEqual(queues(staging).filter((q) => queues(production).includes(q)), []);
});

test("the free environment fits Workers Free's 50 subrequests; the others use Paid's 10,000", () => {
  const free = read("free").config;
  assert.equal(free.vars.SUBREQUEST_BUDGET, "50");
  assert.equal(free.queues.consumers.find((c) => c.queue === free.vars.DELIVERIES_QUEUE).max_batch_size, 3);
  for (const env of [undefined, "staging"]) assert.equal(read(env).config.vars.SUBREQUEST_BUDGET, "10000");
});

test("no placeholder resource ids: wrangler provisions the database and the namespace on the first deploy", () => {
  const text = readFileSync(CONFIG, "utf8");
  assert.doesNotMatch(text, /^\s*(database_id|id)\s*=/m);
  assert.doesNotMatch(text, /00000000/);
});
