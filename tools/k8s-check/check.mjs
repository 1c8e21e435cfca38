#!/usr/bin/env node
// Checks the deployment manifests the way CI does, without a cluster:
//
//   check.mjs manifests [DIR...]      yamllint, then render k8s/base and every k8s/overlays/*
//                                     (or the given kustomization DIRs) with `kubectl kustomize`,
//                                     validate each object against the Kubernetes schemas and
//                                     apply the project's policy. Fails on any problem.
//   check.mjs expect-reject DIR...    the same checks on known-bad fixtures: passes only when
//                                     every fixture is rejected with each message listed in its
//                                     expected-errors.txt, so a policy rule that stops firing
//                                     is noticed. A DIR without a kustomization.yaml stands for
//                                     its subfolders that have an expected-errors.txt.
//
// Exit status: 0 all good, 1 problems found, 2 the tools themselves could not run.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { checkPolicy } from "./lib/policy.mjs";
import { validateObject } from "./lib/schema.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const rel = (p) => path.relative(REPO, p) || ".";

class ToolError extends Error {}

function need(tool, args) {
  const r = spawnSync(tool, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new ToolError(`${tool} is needed and did not run (${r.error?.message ?? r.stderr.trim()}); ` +
      "deploy/install-deps.sh --test installs it");
  }
}

function render(dir) {
  try {
    const out = execFileSync("kubectl", ["kustomize", dir], {
      encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"],
    });
    const docs = YAML.parseAllDocuments(out);
    const bad = docs.flatMap((d) => d.errors.map((e) => e.message));
    if (bad.length) return { problems: bad.map((m) => `rendered YAML: ${m}`), objects: [] };
    return { problems: [], objects: docs.map((d) => d.toJS()).filter((o) => o !== null) };
  } catch (err) {
    const msg = (err.stderr || err.message || "").toString().trim().split("\n").slice(0, 5).join("\n  ");
    return { problems: [`kubectl kustomize failed: ${msg}`], objects: [] };
  }
}

async function checkKustomization(dir) {
  const { problems, objects } = render(dir);
  for (const o of objects) problems.push(...(await validateObject(o)));
  if (objects.length) problems.push(...checkPolicy(objects));
  return { problems, count: objects.length };
}

function yamllint(targets) {
  const r = spawnSync("yamllint", ["--strict", "-f", "parsable", "-c", path.join(REPO, ".yamllint"), ...targets],
    { encoding: "utf8", cwd: REPO });
  if (r.error) throw new ToolError(`yamllint did not run: ${r.error.message}`);
  return r.status === 0 ? [] : (r.stdout + r.stderr).trim().split("\n").filter(Boolean);
}

// Every component must be used by some overlay, so that rendering the overlays checks it.
function unusedComponents() {
  const dir = path.join(REPO, "k8s/components");
  if (!existsSync(dir)) return [];
  const overlays = path.join(REPO, "k8s/overlays");
  const used = readdirSync(overlays)
    .map((o) => path.join(overlays, o, "kustomization.yaml"))
    .filter(existsSync)
    .flatMap((f) => (YAML.parse(readFileSync(f, "utf8"))?.components ?? [])
      .map((c) => path.resolve(path.dirname(f), c)));
  return readdirSync(dir)
    .map((c) => path.join(dir, c))
    .filter((c) => !used.includes(c))
    .map((c) => `${rel(c)}: no overlay uses this component, so nothing renders and checks it`);
}

function report(label, problems, count) {
  if (problems.length === 0) {
    console.log(`ok    ${label}${count !== undefined ? ` (${count} objects)` : ""}`);
  } else {
    console.log(`FAIL  ${label}`);
    for (const p of problems) console.log(`      - ${p}`);
  }
}

async function manifests(dirs) {
  need("kubectl", ["version", "--client"]);
  need("yamllint", ["--version"]);
  let failed = 0;
  if (dirs.length === 0) {
    const lint = yamllint(["k8s", "deploy/compose.yaml", "tests/k8s"].filter((t) => existsSync(path.join(REPO, t))));
    report("yamllint k8s/ deploy/compose.yaml tests/k8s/", lint);
    failed += lint.length > 0;
    const unused = unusedComponents();
    report("every component is rendered by an overlay", unused);
    failed += unused.length > 0;
    const overlays = path.join(REPO, "k8s/overlays");
    dirs = [path.join(REPO, "k8s/base"),
      ...readdirSync(overlays).sort().map((o) => path.join(overlays, o))
        .filter((d) => statSync(d).isDirectory())];
  }
  for (const dir of dirs) {
    const { problems, count } = await checkKustomization(path.resolve(dir));
    report(rel(path.resolve(dir)), problems, count);
    failed += problems.length > 0;
  }
  return failed;
}

async function expectReject(dirs) {
  need("kubectl", ["version", "--client"]);
  if (dirs.length === 0) throw new ToolError("expect-reject needs fixture directories");
  // A folder of fixtures stands for every subfolder with an expected-errors.txt.
  const fixtures = dirs.map((d) => path.resolve(d)).flatMap((d) =>
    existsSync(path.join(d, "kustomization.yaml")) ? [d]
      : readdirSync(d).sort().map((s) => path.join(d, s))
        .filter((s) => existsSync(path.join(s, "expected-errors.txt"))));
  if (fixtures.length === 0) throw new ToolError(`no fixtures in ${dirs.join(", ")}`);
  let failed = 0;
  for (const dir of fixtures) {
    const expectedFile = path.join(dir, "expected-errors.txt");
    if (!existsSync(expectedFile)) throw new ToolError(`${rel(dir)}: no expected-errors.txt`);
    const expected = readFileSync(expectedFile, "utf8").split("\n")
      .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const { problems } = await checkKustomization(dir);
    const missing = expected.filter((e) => !problems.some((p) => p.includes(e)));
    if (problems.length === 0) {
      report(`${rel(dir)} is rejected`, ["the checks accepted this broken fixture"]);
      failed++;
    } else if (missing.length) {
      report(`${rel(dir)} is rejected for the expected reasons`,
        [...missing.map((m) => `expected a problem containing "${m}"; got:`), ...problems.map((p) => `  ${p}`)]);
      failed++;
    } else {
      console.log(`ok    ${rel(dir)} is rejected (${problems.length} problems, ${expected.length} expected):`);
      for (const p of problems) console.log(`        ${p}`);
    }
  }
  return failed;
}

const [mode, ...args] = process.argv.slice(2);
try {
  let failed;
  if (mode === "manifests") failed = await manifests(args);
  else if (mode === "expect-reject") failed = await expectReject(args);
  else throw new ToolError("usage: check.mjs manifests [DIR...] | check.mjs expect-reject DIR...");
  console.log(failed ? `\n${failed} check(s) failed` : "\nall checks passed");
  process.exit(failed ? 1 : 0);
} catch (err) {
  if (!(err instanceof ToolError)) throw err;
  console.error(`k8s-check: ${err.message}`);
  process.exit(2);
}
