// The project's deployment policy (STYLE.md, "Deployment"; docs/operations.md), checked on a
// rendered set of objects. Each rule returns readable problems naming the object and field.
import { objectName } from "./schema.mjs";

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);
const CLUSTER_SCOPED = new Set([
  "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
  "PriorityClass", "IngressClass", "CustomResourceDefinition", "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration", "RuntimeClass",
]);

export function checkPolicy(objects) {
  const problems = [];
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const ns = (o) => o.metadata?.namespace ?? "";

  for (const o of objects) {
    if (!o.metadata?.name) problems.push(`${objectName(o)}: metadata.name is missing`);
    if (!CLUSTER_SCOPED.has(o.kind) && !o.metadata?.namespace) {
      problems.push(`${objectName(o)}: no metadata.namespace (it would land in whatever namespace kubectl points at)`);
    }
    if (o.kind === "Secret") {
      problems.push(`${objectName(o)}: Secret contents must not be in the manifests; reference a Secret created out of band`);
    }
  }

  for (const w of objects.filter((o) => WORKLOAD_KINDS.has(o.kind))) {
    problems.push(...checkPodTemplate(w, objects));
  }

  for (const d of byKind("Deployment")) {
    const labels = d.spec?.template?.metadata?.labels ?? {};
    const containers = d.spec?.template?.spec?.containers ?? [];
    for (const c of containers) {
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        if (!c[probe]) problems.push(`${objectName(d)}: container ${c.name} has no ${probe}`);
      }
      const servesGrpc = (c.ports ?? []).some((p) => p.name === "grpc");
      if (servesGrpc && c.readinessProbe && !c.readinessProbe.grpc) {
        problems.push(`${objectName(d)}: container ${c.name} serves gRPC; its readinessProbe must be a native grpc probe`);
      }
    }
    const pdbs = byKind("PodDisruptionBudget").filter(
      (p) => ns(p) === ns(d) && selects(p.spec?.selector, labels));
    if (pdbs.length === 0) problems.push(`${objectName(d)}: no PodDisruptionBudget selects its pods`);
    const services = byKind("Service").filter(
      (s) => ns(s) === ns(d) && s.spec?.selector && selectsLabels(s.spec.selector, labels));
    if (!services.some((s) => (s.spec.ports ?? []).some((p) => p.name === "grpc"))) {
      problems.push(`${objectName(d)}: no Service with a port named grpc selects its pods`);
    }
    problems.push(...checkShutdownBudget(d, objects));
  }

  for (const h of byKind("HorizontalPodAutoscaler")) {
    const ref = h.spec?.scaleTargetRef ?? {};
    if (!objects.some((o) => o.kind === ref.kind && o.metadata?.name === ref.name && ns(o) === ns(h))) {
      problems.push(`${objectName(h)}: scaleTargetRef ${ref.kind} ${ref.name} is not in the manifests`);
    }
    if ((h.spec?.minReplicas ?? 1) > (h.spec?.maxReplicas ?? 0)) {
      problems.push(`${objectName(h)}: minReplicas is larger than maxReplicas`);
    }
  }

  for (const i of byKind("Ingress")) {
    for (const rule of i.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const svc = p.backend?.service;
        if (!svc) continue;
        const target = byKind("Service").find((s) => s.metadata?.name === svc.name && ns(s) === ns(i));
        if (!target) {
          problems.push(`${objectName(i)}: path ${p.path} routes to Service ${svc.name}, which is not in the manifests`);
        } else if (svc.port?.name && !(target.spec?.ports ?? []).some((sp) => sp.name === svc.port.name)) {
          problems.push(`${objectName(i)}: path ${p.path} routes to port ${svc.port.name}, which Service ${svc.name} does not have`);
        }
      }
    }
  }

  const namespaces = new Set([
    ...byKind("Namespace").map((n) => n.metadata?.name),
    ...objects.filter((o) => !CLUSTER_SCOPED.has(o.kind) && o.metadata?.namespace).map(ns),
  ]);
  for (const n of namespaces) {
    const denyAll = byKind("NetworkPolicy").some((p) => ns(p) === n && isDefaultDenyAll(p));
    if (!denyAll) {
      problems.push(`Namespace ${n}: no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)`);
    }
  }
  return problems;
}

function checkPodTemplate(w, objects) {
  const problems = [];
  const name = objectName(w);
  const pod = w.spec?.template?.spec ?? {};
  const podSc = pod.securityContext ?? {};
  const all = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];

  if (pod.automountServiceAccountToken !== false) {
    problems.push(`${name}: automountServiceAccountToken must be false on the pod`);
  }
  const sa = pod.serviceAccountName;
  if (!sa || sa === "default") {
    problems.push(`${name}: runs as the default ServiceAccount; give it its own`);
  } else if (!objects.some((o) => o.kind === "ServiceAccount" && o.metadata?.name === sa)) {
    problems.push(`${name}: ServiceAccount ${sa} is not in the manifests`);
  }
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${name}: uses host namespaces`);

  for (const c of all) {
    const where = `${name}: container ${c.name}`;
    const res = c.resources ?? {};
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) {
        if (res[kind]?.[r] === undefined) problems.push(`${where} has no resources.${kind}.${r}`);
      }
    }
    problems.push(...checkImage(where, c.image));
    const sc = c.securityContext ?? {};
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) {
      problems.push(`${where}: securityContext.runAsNonRoot must be true (pod or container)`);
    }
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) problems.push(`${where}: runs as user 0`);
    if (sc.readOnlyRootFilesystem !== true) {
      problems.push(`${where}: securityContext.readOnlyRootFilesystem must be true`);
    }
    if (sc.allowPrivilegeEscalation !== false) {
      problems.push(`${where}: securityContext.allowPrivilegeEscalation must be false`);
    }
    if (sc.privileged === true) problems.push(`${where}: must not be privileged`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) {
      problems.push(`${where}: securityContext.capabilities.drop must include ALL`);
    }
    if ((sc.capabilities?.add ?? []).length > 0) {
      problems.push(`${where}: must not add capabilities (${sc.capabilities.add.join(", ")})`);
    }
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      problems.push(`${where}: seccompProfile.type must be RuntimeDefault (pod or container)`);
    }
    problems.push(...checkConfigRefs(where, w, c, objects));
  }
  return problems;
}

// An image must say exactly what runs: a tag other than latest, or a digest.
export function checkImage(where, image) {
  if (!image) return [`${where} has no image`];
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return [];
  const lastSegment = image.split("/").pop();
  const colon = lastSegment.lastIndexOf(":");
  if (colon < 0) return [`${where}: image ${image} has no tag (pin a version, not :latest)`];
  if (lastSegment.slice(colon + 1) === "latest") return [`${where}: image ${image} uses :latest; pin a version`];
  return [];
}

// ConfigMaps a container reads must be in the same rendered set (Secrets are created out of
// band and are only referenced).
function checkConfigRefs(where, w, c, objects) {
  const problems = [];
  const ns = w.metadata?.namespace ?? "";
  const has = (name) => objects.some(
    (o) => o.kind === "ConfigMap" && o.metadata?.name === name && (o.metadata?.namespace ?? "") === ns);
  const names = new Set();
  for (const e of c.envFrom ?? []) if (e.configMapRef && !e.configMapRef.optional) names.add(e.configMapRef.name);
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.configMapKeyRef;
    if (ref && !ref.optional) names.add(ref.name);
  }
  for (const v of w.spec?.template?.spec?.volumes ?? []) {
    if (v.configMap && !v.configMap.optional) names.add(v.configMap.name);
  }
  for (const n of names) if (!has(n)) problems.push(`${where}: reads ConfigMap ${n}, which is not in the manifests`);
  return problems;
}

// terminationGracePeriodSeconds must outlast the drain grace plus the shutdown timeout the
// process is configured with, or the kubelet kills calls the process would have finished.
function checkShutdownBudget(d, objects) {
  const pod = d.spec?.template?.spec ?? {};
  const env = {};
  for (const c of pod.containers ?? []) {
    for (const e of c.envFrom ?? []) {
      const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === e.configMapRef?.name);
      Object.assign(env, cm?.data ?? {});
    }
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  }
  if (env.STP_SHUTDOWN_TIMEOUT === undefined) return [];
  const needed = seconds(env.STP_DRAIN_GRACE ?? "0") + seconds(env.STP_SHUTDOWN_TIMEOUT);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!(grace > needed)) {
    return [`${objectName(d)}: terminationGracePeriodSeconds (${grace}) must exceed STP_DRAIN_GRACE + STP_SHUTDOWN_TIMEOUT (${needed}s)`];
  }
  return [];
}

function seconds(duration) {
  const units = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const [, n, u] of String(duration).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)?/g)) total += Number(n) * (units[u ?? "s"]);
  return total;
}

function isDefaultDenyAll(p) {
  const sel = p.spec?.podSelector ?? {};
  const empty = Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
  const types = p.spec?.policyTypes ?? [];
  return empty && types.includes("Ingress") && types.includes("Egress") &&
    (p.spec?.ingress ?? []).length === 0 && (p.spec?.egress ?? []).length === 0;
}

function selects(selector, labels) {
  if (!selector) return false;
  const ml = selector.matchLabels ?? {};
  if (!selectsLabels(ml, labels)) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const v = labels[e.key];
    if (e.operator === "In" && !(has && e.values.includes(v))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(v)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return Object.keys(ml).length > 0 || (selector.matchExpressions ?? []).length > 0;
}

function selectsLabels(wanted, labels) {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}
