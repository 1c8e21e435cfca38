// Validates Kubernetes objects against the official OpenAPI schemas, as packaged by
// kubernetes-models (one generated validator per kind), and rejects fields the schemas do not
// know. The OpenAPI schemas allow unknown fields, so a typo ("readinesProbe") would pass them;
// the strict check walks the object along the package's type declarations instead, the way
// kubeconform's -strict or the API server's fieldValidation=Strict do.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const MODELS_DIR = path.dirname(require.resolve("kubernetes-models/package.json"));
const NODE_MODULES = path.dirname(MODELS_DIR);

// "apps/v1" -> "apps/v1", "v1" -> "v1": the package mirrors API groups as folders.
function modelDir(apiVersion) {
  return path.join(MODELS_DIR, ...apiVersion.split("/"));
}

export function objectName(obj) {
  const meta = obj.metadata ?? {};
  const ns = meta.namespace ? `${meta.namespace}/` : "";
  return `${obj.kind ?? "?"} ${ns}${meta.name ?? "?"}`;
}

// Returns a list of readable problems; empty when the object is valid.
export async function validateObject(obj) {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    return ["document is not a Kubernetes object"];
  }
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return [`${objectName(obj)}: apiVersion and kind are required`];
  }
  const dts = path.join(modelDir(apiVersion), `${kind}.d.ts`);
  const js = path.join(modelDir(apiVersion), `${kind}.js`);
  if (!/^[A-Za-z0-9.\-/]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind) || !existsSync(js)) {
    return [
      `${objectName(obj)}: no schema for ${apiVersion} ${kind} ` +
        "(not a built-in Kubernetes kind; custom resources are not allowed in these manifests)",
    ];
  }
  const problems = [];
  const mod = require(js);
  const Model = mod[kind];
  try {
    new Model(obj).validate();
  } catch (err) {
    const errors = Array.isArray(err.errors) ? err.errors : null;
    if (errors) {
      for (const e of errors) {
        const where = e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "(object)";
        problems.push(`${objectName(obj)}: schema: ${where} ${e.message}`);
      }
    } else {
      problems.push(`${objectName(obj)}: schema: ${err.message}`);
    }
  }
  for (const field of unknownFields(obj, dts, `I${kind}`)) {
    problems.push(`${objectName(obj)}: schema: unknown field ${field}`);
  }
  return problems;
}

// ---------------------------------------------------------------- strict fields

const interfaces = new Map(); // d.ts path -> Map(field -> {type, file}) or null for leaves

function resolveImport(fromFile, spec) {
  const base = spec.startsWith(".")
    ? path.resolve(path.dirname(fromFile), spec)
    : path.join(NODE_MODULES, spec);
  return `${base}.d.ts`;
}

// Parses the main interface of a generated declaration file: its field names and, for each,
// the declaration file of the field's type when that type is itself an object.
function loadInterface(file, name) {
  const key = `${file}#${name}`;
  if (interfaces.has(key)) return interfaces.get(key);
  interfaces.set(key, null);
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, "utf8").split("\n");
  const imports = new Map();
  for (const line of lines) {
    const m = line.match(/^import \{ ([^}]+) \} from "([^"]+)";/);
    if (!m) continue;
    for (const n of m[1].split(",").map((s) => s.trim())) imports.set(n, resolveImport(file, m[2]));
  }
  const isDecl = (l, n) => l.startsWith(`export interface ${n} `) && l.endsWith("{");
  const start = lines.findIndex((l) => isDecl(l, name));
  if (start < 0) return null; // a type alias (Quantity, IntOrString, Time): no fields to check
  const typeFile = (t) => {
    if (imports.has(t)) return { file: imports.get(t), name: exportedName(imports.get(t)) };
    if (lines.some((l) => isDecl(l, t))) return { file, name: t };
    return null;
  };
  const fields = new Map();
  for (let i = start + 1; i < lines.length && lines[i] !== "}"; i++) {
    const m = lines[i].match(/^ {4}"([^"]+)"\??: (.*?);?$/);
    if (!m) continue;
    const [, field, type] = m;
    let shape = { kind: "leaf" };
    const arr = type.match(/^Array<(\w+)>$/);
    if (/^\w+$/.test(type) && typeFile(type)) {
      shape = { kind: "object", ...typeFile(type) };
    } else if (arr && typeFile(arr[1])) {
      shape = { kind: "array", ...typeFile(arr[1]) };
    } else if (type === "{") {
      const inner = lines[i + 1]?.match(/^ {8}\[key: string\]: (\w+);$/);
      if (inner && typeFile(inner[1])) shape = { kind: "map", ...typeFile(inner[1]) };
    }
    fields.set(field, shape);
  }
  interfaces.set(key, fields);
  return fields;
}

// The generated files export interface I<File> and re-export it under its long name.
function exportedName(file) {
  return `I${path.basename(file, ".d.ts")}`;
}

function unknownFields(value, file, name, where = "") {
  const fields = loadInterface(file, name);
  if (!fields || typeof value !== "object" || value === null || Array.isArray(value)) return [];
  const found = [];
  for (const [k, v] of Object.entries(value)) {
    const at = where ? `${where}.${k}` : k;
    const shape = fields.get(k);
    if (!shape) {
      found.push(at);
      continue;
    }
    if (shape.kind === "object") found.push(...unknownFields(v, shape.file, shape.name, at));
    if (shape.kind === "array" && Array.isArray(v)) {
      v.forEach((item, i) => found.push(...unknownFields(item, shape.file, shape.name, `${at}[${i}]`)));
    }
    if (shape.kind === "map" && v && typeof v === "object") {
      for (const [mk, mv] of Object.entries(v)) {
        found.push(...unknownFields(mv, shape.file, shape.name, `${at}.${mk}`));
      }
    }
  }
  return found;
}
