// The Helm chart (helm/llm-expo) rendered by a real `helm template` (.ci/run builds a pinned Helm into
// ~/.cache/llm-expo/bin), parsed into plain objects, and the Kubernetes models that validate them.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { parse, parseAllDocuments } from "yaml";
import { findTool } from "../../harness/minioAdmin.js";

export const HELM = findTool("HELM_BIN", "helm");
/** The source tree's root (tests run from dist/test/). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const CHART = join(REPO, "helm", "llm-expo");
/** A Helm built with `go install` defaults to Kubernetes 1.20; the chart needs 1.27 or newer. */
export const KUBE_VERSION = "1.31.0";

/** The chart's example values files (helm/llm-expo/ci/*-values.yaml). */
export function ciValuesFiles(): string[] {
  return readdirSync(join(CHART, "ci"))
    .filter((f) => f.endsWith("-values.yaml"))
    .sort()
    .map((f) => join(CHART, "ci", f));
}

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
  [field: string]: any;
};

function helm(args: string[]): string {
  if (!HELM) throw new Error("helm not installed (.ci/run builds it)");
  return execFileSync(HELM, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `helm template` of the chart with the given values files and --set flags, one object per document. */
export function renderChart(
  options: { values?: string[]; set?: string[]; setJson?: string[]; release?: string; namespace?: string } = {},
): Obj[] {
  const args = ["template", options.release ?? "expo", CHART, "--kube-version", KUBE_VERSION];
  args.push("--namespace", options.namespace ?? "default");
  for (const v of options.values ?? []) args.push("-f", v);
  for (const s of options.set ?? []) args.push("--set", s);
  for (const s of options.setJson ?? []) args.push("--set-json", s);
  const docs = parseAllDocuments(helm(args));
  return docs.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

/** `helm template` expected to fail: the error text. */
export function renderError(options: { set?: string[]; setJson?: string[]; values?: string[] } = {}): string {
  try {
    renderChart(options);
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
  throw new Error(`helm template succeeded with ${JSON.stringify(options)}`);
}

export function lintChart(values?: string): string {
  const args = ["lint", "--strict", CHART, "--kube-version", KUBE_VERSION];
  if (values) args.push("-f", values);
  return helm(args);
}

/** The values a file sets, merged over the chart's defaults (as Helm merges maps; lists replace). */
export function mergedValues(file?: string): Obj {
  const defaults = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Obj;
  return file ? merge(defaults, parse(readFileSync(file, "utf8"))) : defaults;
}

// biome-ignore lint/suspicious/noExplicitAny: values are untyped YAML
function merge(a: any, b: any): any {
  if (typeof a !== "object" || a === null || Array.isArray(a)) return b;
  if (typeof b !== "object" || b === null || Array.isArray(b)) return b;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
  return out;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "batch/v1/Job": Job,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
};

/** Validates an object against its Kubernetes (or prometheus-operator) schema; throws on an unknown kind. */
export function validateObject(o: Obj): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind} (${o.metadata?.name})`);
  new Model(o as never).validate();
}
