// JSON Schema for the event catalogue (`/api/event-types`), called from Rust (`platform::schema`): checking a
// schema when a type is saved, and an event's `data` against its type's schema at ingest, inside the organization's
// object.
//
// The engine is @cfworker/json-schema (drafts 4, 7, 2019-09 and 2020-12; no `eval`, made for Workers), 6.4 KiB
// gzipped in the bundle. The Rust crates measured first add far more to the Worker: `boon` +500 KiB gzipped (1,115
// KiB instead of 615), most of it `regex` and its Unicode tables, and `jsonschema` more still (docs/api.md, The event catalogue).
// JavaScript's own RegExp is also what JSON Schema's `pattern` means (ECMA-262).
import { Validator } from "@cfworker/json-schema";
import draft07 from "ajv/dist/refs/json-schema-draft-07.json" with { type: "json" };

/** The draft a schema without `$schema` is read as. */
const DEFAULT_DRAFT = "2020-12";
const DRAFTS = {
  "http://json-schema.org/draft-04/schema#": "4",
  "http://json-schema.org/draft-07/schema#": "7",
  "https://json-schema.org/draft/2019-09/schema": "2019-09",
  "https://json-schema.org/draft/2020-12/schema": "2020-12",
};

/** Checks schemas' keywords: every draft's keywords have the same shapes as draft 7's where they share them. */
const metaschema = new Validator(draft07, "7", false);

/** Validators of the schemas used lately in this isolate, most recent last: compiling costs more than checking. */
const kept = new Map();
const KEPT = 32;

function validator(schemaText) {
  let found = kept.get(schemaText);
  if (found) {
    kept.delete(schemaText);
  } else {
    const schema = JSON.parse(schemaText);
    const draft = (typeof schema === "object" && DRAFTS[schema.$schema]) || DEFAULT_DRAFT;
    found = new Validator(schema, draft, true);
    if (kept.size >= KEPT) kept.delete(kept.keys().next().value);
  }
  kept.set(schemaText, found);
  return found;
}

/** `#/lines/1/sku` as a JSON pointer (`/lines/1/sku`; `` for the whole value). */
function pointer(instanceLocation) {
  return instanceLocation.replace(/^#/, "");
}

/** The most specific of a failed validation's errors: the last, deepest one. */
function leaf(errors) {
  return errors.reduce((best, e) => (e.instanceLocation.length >= best.instanceLocation.length ? e : best));
}

/**
 * What is wrong with a schema (JSON text), or null. Rust has already checked it is JSON, an object or a boolean,
 * within its size, and refers to nothing outside itself.
 */
export function schemaProblem(schemaText) {
  const schema = JSON.parse(schemaText);
  if (typeof schema === "object" && schema.$schema !== undefined && !DRAFTS[schema.$schema]) {
    return `$schema must be one of ${Object.keys(DRAFTS).join(", ")}`;
  }
  const checked = metaschema.validate(schema);
  if (!checked.valid) {
    const e = leaf(checked.errors);
    return `not a valid JSON Schema at ${pointer(e.instanceLocation) || "the top level"}: ${e.error}`;
  }
  try {
    validator(schemaText).validate({});
  } catch (e) {
    return `not a valid JSON Schema: ${e.message.split("\n")[0]}`;
  }
  return null;
}

/**
 * Whether `data` (JSON text) fits the schema: null, or `{ path, message }` with `path` a JSON pointer into `data`.
 * A schema that cannot be evaluated refuses nothing (it was checked when saved): that answers null too.
 */
export function dataMismatch(schemaText, dataText) {
  let result;
  try {
    result = validator(schemaText).validate(JSON.parse(dataText));
  } catch {
    return null;
  }
  if (result.valid) return null;
  const e = leaf(result.errors);
  return { path: pointer(e.instanceLocation), message: e.error };
}
