// ctest openapi/validate: api/openapi.json is a valid OpenAPI 3.1 document
// (checked against the official schemas by @seriousme/openapi-schema-validator,
// every $ref resolved), and every example validates against its schema (ajv,
// JSON Schema draft 2020-12, the dialect of OpenAPI 3.1):
// - in the document: the examples of media types, parameters and schemas;
// - in api/README.md: each fenced block after a marker line naming what it
//   shows (api/README.md, "Examples in this file"):
//     <!-- schema: GET /v1/zones 200 -->             a response body
//     <!-- schema: PUT /v1/arrays/{name} request --> a request body
//     <!-- schema: Error -->                         a component schema
//   A ```json block is the JSON itself; a ```sh block's first `-d '...'` is
//   the body. Every ```json block in the README needs a marker, so a new
//   example cannot go unchecked.
// Usage: node validate.mjs DOCUMENT README. Exits 1 naming each failure.
// The route table is compared with the document by the C++ unit test
// (tests/unit/api/openapi_test.cc), which runs the real router.

import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, "node_modules", "ajv")) ||
    !existsSync(join(here, "node_modules", "@seriousme", "openapi-schema-validator"))) {
  console.error(`openapi: ${join(here, "node_modules")} is missing or incomplete: run tests/deps.sh ` +
                `(it runs npm ci in tests/openapi)`);
  process.exit(1);
}
const { Validator } = await import("@seriousme/openapi-schema-validator");
const { default: Ajv2020 } = await import("ajv/dist/2020.js");
const { default: addFormats } = await import("ajv-formats");

const [documentPath, readmePath] = process.argv.slice(2);
if (!documentPath || !readmePath) {
  console.error("usage: node validate.mjs api/openapi.json api/README.md");
  process.exit(2);
}

const failures = [];
const fail = (message) => failures.push(message);

// --- The document itself.
const document = JSON.parse(readFileSync(documentPath, "utf8"));
const validator = new Validator();
const result = await validator.validate(structuredClone(document));
if (!result.valid) {
  fail(`${documentPath} is not a valid OpenAPI document:\n${JSON.stringify(result.errors, null, 2)}`);
} else if (validator.version !== "3.1") {
  fail(`${documentPath}: expected OpenAPI 3.1, got ${validator.version}`);
} else {
  try {
    validator.resolveRefs();  // throws on a $ref that points nowhere
  } catch (error) {
    fail(`${documentPath}: ${error.message}`);
  }
}

// --- Schemas: the document as one schema resource, so that the component
// schemas' "#/components/schemas/X" references resolve in it.
const ajv = new Ajv2020({ strictSchema: true, strictNumbers: true, strictTuples: true,
                          strictTypes: false, strictRequired: false, allErrors: true });
addFormats(ajv);
// An unknown keyword is an error; strictTypes and strictRequired would refuse
// "required" beside an allOf that sets the type and defines the properties.
// "components" holds the schemas in the resource that refers to them.
ajv.addKeyword("components");
const base = "https://rotor.invalid/openapi.json";
ajv.addSchema({ $id: base, components: { schemas: document.components.schemas } });

const compiled = new Map();
function compile(schema, where) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    // An inline schema gets the document's base, so its references resolve too.
    const ref = schema.$ref && Object.keys(schema).length === 1 ? schema.$ref : null;
    if (ref && ref.startsWith("#/components/schemas/")) {
      compiled.set(key, ajv.getSchema(base + ref));
    } else {
      compiled.set(key, ajv.compile({ $id: `${base}/inline/${compiled.size}`,
                                     ...rewriteRefs(schema) }));
    }
  }
  const check = compiled.get(key);
  if (!check) throw new Error(`${where}: cannot compile its schema`);
  return check;
}
// "#/components/schemas/X" -> the document's absolute URI, for inline schemas.
function rewriteRefs(value) {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = key === "$ref" && typeof inner === "string" && inner.startsWith("#/") ? base + inner
                                                                                    : rewriteRefs(inner);
  }
  return out;
}

function resolve(node) {
  // A $ref to a component (examples, responses, parameters), followed once.
  if (node && typeof node.$ref === "string" && node.$ref.startsWith("#/components/")) {
    const [, , kind, name] = node.$ref.split("/");
    const target = document.components[kind]?.[name];
    if (!target) throw new Error(`no ${node.$ref}`);
    return target;
  }
  return node;
}

function check(schema, value, where) {
  const validate = compile(schema, where);
  if (!validate(value)) {
    fail(`${where} does not match its schema:\n  ${ajv.errorsText(validate.errors, { separator: "\n  " })}`);
  }
}

// --- The document's examples.
// Shared components (a response used by many operations) are counted once.
const seenExamples = new Set();
function checkExamples(holder, where) {
  if (!holder?.schema) return;
  for (const [name, example] of Object.entries(holder.examples ?? {})) {
    check(holder.schema, resolve(example).value, `${where} example "${name}"`);
    seenExamples.add(example);
  }
  if ("example" in holder) {
    check(holder.schema, holder.example, `${where} example`);
    seenExamples.add(holder);
  }
}
const methods = ["get", "put", "post", "patch", "delete", "head", "options"];
for (const [path, item] of Object.entries(document.paths)) {
  for (const parameter of item.parameters ?? []) checkExamples(resolve(parameter), `${path} parameter`);
  for (const method of methods.filter((m) => item[m])) {
    const operation = item[method];
    const name = `${method.toUpperCase()} ${path}`;
    for (const parameter of operation.parameters ?? []) {
      const resolved = resolve(parameter);
      checkExamples(resolved, `${name} parameter ${resolved.name}`);
    }
    for (const [type, media] of Object.entries(resolve(operation.requestBody)?.content ?? {})) {
      checkExamples(media, `${name} request ${type}`);
    }
    for (const [status, response] of Object.entries(operation.responses)) {
      for (const [type, media] of Object.entries(resolve(response).content ?? {})) {
        checkExamples(media, `${name} ${status} ${type}`);
      }
    }
  }
}
for (const [name, response] of Object.entries(document.components.responses ?? {})) {
  for (const [type, media] of Object.entries(response.content ?? {})) {
    checkExamples(media, `components.responses.${name} ${type}`);
  }
}
for (const [name, parameter] of Object.entries(document.components.parameters ?? {})) {
  checkExamples(parameter, `components.parameters.${name}`);
}
for (const [name, schema] of Object.entries(document.components.schemas)) {
  for (const [i, example] of (schema.examples ?? []).entries()) {
    check({ $ref: `#/components/schemas/${name}` }, example, `components.schemas.${name} examples[${i}]`);
    seenExamples.add(example);
  }
}
const documentExamples = seenExamples.size;

// --- The README's examples.
// The schema a marker names: "GET /v1/zones 200", "PUT /v1/arrays/{name} request", "Error".
function markedSchema(marker) {
  const words = marker.trim().split(/\s+/);
  if (words.length === 1) {
    if (!document.components.schemas[words[0]]) throw new Error(`no component schema ${words[0]}`);
    return { $ref: `#/components/schemas/${words[0]}` };
  }
  if (words.length !== 3) throw new Error(`expected "METHOD PATH STATUS|request" or a schema's name`);
  const [method, path, what] = words;
  const operation = document.paths[path]?.[method.toLowerCase()];
  if (!operation) throw new Error(`no operation ${method} ${path} in the document`);
  const content = what === "request" ? resolve(operation.requestBody)?.content
                                     : resolve(operation.responses[what] ?? {}).content;
  const media = content?.["application/json"] ?? content?.["application/merge-patch+json"];
  if (!media?.schema) throw new Error(`${method} ${path} has no JSON ${what === "request" ? "request body" : what + " response"}`);
  return media.schema;
}

// `-d '...'` of a curl command in a shell block.
function curlBody(text) {
  const found = text.match(/-d\s+'([^']*)'/);
  if (!found) throw new Error("a marked sh block needs a curl -d '...' body");
  return found[1];
}

const readme = readFileSync(readmePath, "utf8").split("\n");
let readmeExamples = 0;
for (let i = 0; i < readme.length; i++) {
  const fence = readme[i].match(/^```(\w*)\s*$/);
  if (!fence || !fence[1]) continue;
  const language = fence[1];
  const end = readme.findIndex((line, j) => j > i && line.startsWith("```"));
  if (end < 0) {
    fail(`${readmePath}:${i + 1}: a fenced block without its end`);
    break;
  }
  const text = readme.slice(i + 1, end).join("\n");
  let back = i - 1;
  while (back >= 0 && readme[back].trim() === "") back--;
  const marker = back >= 0 ? readme[back].match(/^<!--\s*schema:\s*(.+?)\s*-->\s*$/) : null;
  const where = `${readmePath}:${i + 1}`;
  if (!marker) {
    if (language === "json") fail(`${where}: a json block without a "<!-- schema: ... -->" line above it`);
    i = end;
    continue;
  }
  try {
    const schema = markedSchema(marker[1]);
    const value = JSON.parse(language === "sh" ? curlBody(text) : text);
    check(schema, value, `${where} (${marker[1]})`);
    readmeExamples++;
  } catch (error) {
    fail(`${where} (${marker[1]}): ${error.message}`);
  }
  i = end;
}

// Not trivially: both sources must have examples, and every operation is documented.
if (documentExamples < 20) fail(`only ${documentExamples} examples in ${documentPath}; expected at least 20`);
if (readmeExamples < 20) fail(`only ${readmeExamples} marked examples in ${readmePath}; expected at least 20`);
const operations = Object.values(document.paths).flatMap((item) => methods.filter((m) => item[m]));
if (operations.length === 0) fail(`${documentPath} has no operations`);

if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL ${failure}`);
  process.exit(1);
}
console.log(`openapi: ${documentPath} is valid OpenAPI ${validator.version} with ${operations.length} ` +
            `operations; ${documentExamples} examples in it and ${readmeExamples} in ${readmePath} match their schemas`);
