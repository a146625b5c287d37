// Validates real responses against the schemas in the Worker's own OpenAPI document.
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import assert from "node:assert/strict";

export async function loadSpec(worker) {
  const res = await worker.api("/api/openapi.json");
  assert.equal(res.status, 200);
  const doc = await res.json();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, "openapi");
  return {
    doc,
    /** Asserts `body` matches the documented response of `method path` with `status`. */
    check(method, path, status, body) {
      const operation = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(operation, `${method} ${path} is not documented`);
      const response = operation.responses[String(status)];
      assert.ok(response, `${method} ${path} does not document status ${status}`);
      const schema = response.content?.["application/json"]?.schema;
      if (!schema) {
        assert.equal(body, undefined, `${method} ${path} ${status} documents no body`);
        return;
      }
      const pointer = schema.$ref ? `openapi${schema.$ref}` : null;
      const validate = pointer ? ajv.getSchema(pointer) : ajv.compile(schema);
      assert.ok(validate(body), `${method} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
    },
  };
}
