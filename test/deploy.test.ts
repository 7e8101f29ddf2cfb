/**
 * The deployment files, checked by the implementations that will read them (docs/deployment.md,
 * "What is validated"):
 * - docker-compose.yml: loaded by compose-go, the loader of `docker compose` itself (schema,
 *   interpolation, anchors, profiles, references), then the topology asserted on the result;
 * - deploy/prometheus: `promtool check config`, `promtool check rules`, `promtool test rules`;
 * - deploy/grafana: the dashboard's structure, and every PromQL expression parsed by Prometheus'
 *   parser, naming only documented metrics;
 * - deploy/kubernetes: `kustomize build` of each overlay, validated by kubeconform against strict
 *   schemas generated from the Kubernetes release's OpenAPI document and KEDA's CRD.
 * `npm test` builds the tools first (test/deploy/prepare.sh, from scripts/prepare-tests.mjs, the `pretest` script).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { parsePipelineYaml, type PipelineConfig } from "@sluice/consumer";
import { KAFKA_VERSION, REPO_ROOT } from "@sluice/testing";

const run = promisify(execFile);
const PREPARE_HINT = "run `bash test/deploy/prepare.sh` (npm test does it first)";
const TOOLS_ENV = join(REPO_ROOT, ".cache/deploy-tools.env");
const CLI = join(REPO_ROOT, "clients/cli/bin/sluice.js");
/** The input topic's partitions in the compose stack, and so KEDA's most replicas. */
const PARTITIONS = 6;

type Json = Record<string, unknown>;
interface Tools {
  kubeconform: string;
  kustomize: string;
  promtool: string;
  deploycheck: string;
  schemas: string;
}

let tools: Tools;

before(() => {
  assert.ok(existsSync(TOOLS_ENV), `the deployment check tools are not built: ${PREPARE_HINT}`);
  const env = new Map(
    readFileSync(TOOLS_ENV, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split("=", 2) as [string, string]),
  );
  const get = (key: string): string => {
    const value = env.get(key);
    assert.ok(value && existsSync(value), `${key} is missing from ${TOOLS_ENV}: ${PREPARE_HINT}`);
    return value;
  };
  tools = {
    kubeconform: get("SLUICE_KUBECONFORM"),
    kustomize: get("SLUICE_KUSTOMIZE"),
    promtool: get("SLUICE_PROMTOOL"),
    deploycheck: get("SLUICE_DEPLOYCHECK"),
    schemas: get("SLUICE_KUBERNETES_SCHEMAS"),
  };
});

/** Runs a tool; a non-zero exit fails with its output, which names what is wrong. */
async function tool(
  file: string,
  args: string[],
  input?: string,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

function asObject(value: unknown, what: string): Json {
  assert.ok(
    value !== null && typeof value === "object" && !Array.isArray(value),
    `${what}: expected an object`,
  );
  return value as Json;
}

function asArray(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what}: expected an array`);
  return value;
}

function readYaml(path: string): Json {
  return asObject(parseYaml(readFileSync(join(REPO_ROOT, path), "utf8")), path);
}

/** The pipeline file as the consumer reads it. */
function pipelineFrom(text: string, source: string): PipelineConfig {
  return parsePipelineYaml(text, source, {}, REPO_ROOT);
}
const examplePipeline = (): PipelineConfig =>
  pipelineFrom(
    readFileSync(join(REPO_ROOT, "examples/pipelines/fraud.yaml"), "utf8"),
    "fraud.yaml",
  );

/** The long flags a `sluice` subcommand accepts, from its own --help. */
async function cliFlags(command: string): Promise<Set<string>> {
  const { stdout } = await run(process.execPath, [CLI, command, "--help"], { cwd: REPO_ROOT });
  return new Set([...stdout.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!));
}

/** Asserts every `--flag` in `args` is one the subcommand (args[0]) accepts. */
async function assertFlagsExist(args: string[], where: string): Promise<void> {
  const [command, ...rest] = args;
  assert.ok(command, `${where}: no subcommand`);
  const accepted = await cliFlags(command);
  for (const arg of rest) {
    const flag = /^(--[a-z][a-z0-9-]*)/.exec(arg)?.[1];
    if (flag) assert.ok(accepted.has(flag), `${where}: \`sluice ${command}\` has no ${flag} flag`);
  }
}

// ---------------------------------------------------------------------------------------------
// PromQL: parsed by Prometheus' parser; metric names checked against docs/metrics.md.

interface ParsedExpr {
  expr: string;
  metrics: string[];
  error?: string;
}

async function parsePromQL(exprs: string[]): Promise<ParsedExpr[]> {
  const { stdout } = await tool(tools.deploycheck, ["promql"], JSON.stringify(exprs));
  return JSON.parse(stdout) as ParsedExpr[];
}

/** Metric names from docs/metrics.md's tables; a histogram also has _bucket, _sum and _count. */
function documentedMetrics(): { names: Set<string>; prefixes: string[] } {
  const text = readFileSync(join(REPO_ROOT, "docs/metrics.md"), "utf8");
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const match of text.matchAll(/^\| `(sluice_[a-z0-9_]+)(\*?)` \| ([a-z]+) \|/gm)) {
    const [, name, star, type] = match;
    if (star) prefixes.push(name!);
    names.add(name!);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name! + s);
  }
  assert.ok(names.size > 20, "docs/metrics.md: expected its metric tables");
  return { names, prefixes };
}

function recordedMetrics(): Set<string> {
  const rules = readYaml("deploy/prometheus/alerts.yml");
  const names = new Set<string>();
  for (const group of asArray(rules["groups"], "groups")) {
    for (const rule of asArray(asObject(group, "group")["rules"], "rules")) {
      const record = asObject(rule, "rule")["record"];
      if (typeof record === "string") names.add(record);
    }
  }
  return names;
}

/** Fails naming every expression that does not parse or reads an undocumented metric. */
async function assertPromQL(exprs: { where: string; expr: string }[]): Promise<void> {
  const documented = documentedMetrics();
  const recorded = recordedMetrics();
  // Prometheus' own series, which no Sluice document lists.
  const builtin = new Set(["up"]);
  const parsed = await parsePromQL(exprs.map((e) => e.expr));
  const problems: string[] = [];
  parsed.forEach((result, i) => {
    const where = exprs[i]!.where;
    if (result.error) problems.push(`${where}: ${result.error}`);
    for (const metric of result.metrics) {
      const known =
        documented.names.has(metric) ||
        documented.prefixes.some((prefix) => metric.startsWith(prefix)) ||
        recorded.has(metric) ||
        builtin.has(metric);
      if (!known) problems.push(`${where}: metric "${metric}" is not in docs/metrics.md`);
    }
  });
  assert.deepEqual(problems, []);
}

// ---------------------------------------------------------------------------------------------

describe("docker-compose.yml, loaded by compose-go (the loader of docker compose)", () => {
  let project: Json;
  let services: Record<string, Json>;

  before(async () => {
    const { stdout } = await tool(tools.deploycheck, ["compose", "docker-compose.yml"]);
    project = JSON.parse(stdout) as Json;
    services = asObject(project["services"], "services") as Record<string, Json>;
  });

  const service = (name: string): Json => asObject(services[name], `service ${name}`);
  const command = (name: string): string[] =>
    asArray(service(name)["command"], `${name}.command`) as string[];

  it("brings up the whole stack; the load generator only with --profile load", async () => {
    assert.deepEqual(Object.keys(services).sort(), [
      "consumer",
      "grafana",
      "jaeger",
      "kafka",
      "kafka-init",
      "prometheus",
      "redis",
      "sidecar",
    ]);
    assert.deepEqual(project["x-disabled-services"], ["producer"]);
    const { stdout } = await tool(tools.deploycheck, ["compose", "docker-compose.yml", "load"]);
    const withLoad = asObject(JSON.parse(stdout), "project");
    const producer = asObject(asObject(withLoad["services"], "services")["producer"], "producer");
    assert.equal((producer["command"] as string[])[0], "produce");
  });

  it("pins every image; Kafka is the official image at the local stack's version", () => {
    for (const [name, definition] of Object.entries(services)) {
      const image = definition["image"];
      assert.equal(typeof image, "string", `${name}: no image`);
      assert.match(image as string, /:[\w.-]+$/, `${name}: image ${String(image)} has no tag`);
      assert.doesNotMatch(
        image as string,
        /:latest$/,
        `${name}: image ${String(image)} is not pinned`,
      );
    }
    assert.equal(service("kafka")["image"], `apache/kafka:${KAFKA_VERSION}`);
    assert.equal(service("kafka-init")["image"], `apache/kafka:${KAFKA_VERSION}`);
    assert.match(service("redis")["image"] as string, /^redis:\d+\.\d+\.\d+$/);
    assert.match(service("jaeger")["image"] as string, /^jaegertracing\/jaeger:2\.\d+\.\d+$/);
  });

  it("has health checks: Kafka's ApiVersions, redis-cli ping, the sidecar's gRPC health", () => {
    const test = (name: string) =>
      (asObject(service(name)["healthcheck"], `${name}.healthcheck`)["test"] as string[]).join(" ");
    assert.match(test("kafka"), /kafka-broker-api-versions\.sh --bootstrap-server localhost:9092/);
    assert.match(test("redis"), /^CMD redis-cli ping$/);
    assert.match(
      test("sidecar"),
      /^CMD node \/app\/clients\/cli\/dist\/main\.js health --url 127\.0\.0\.1:8001/,
    );
    assert.match(test("consumer"), /127\.0\.0\.1:8003\/metrics/);
    assert.match(test("prometheus"), /\/-\/ready/);
  });

  it("starts each service after what it needs is healthy (or, for kafka-init, done)", () => {
    const conditions = (name: string) =>
      Object.fromEntries(
        Object.entries(asObject(service(name)["depends_on"], `${name}.depends_on`)).map(
          ([dep, value]) => [dep, asObject(value, dep)["condition"]],
        ),
      );
    assert.deepEqual(conditions("kafka-init"), { kafka: "service_healthy" });
    assert.deepEqual(conditions("consumer"), {
      "kafka-init": "service_completed_successfully",
      redis: "service_healthy",
      sidecar: "service_healthy",
    });
    assert.deepEqual(conditions("grafana"), { prometheus: "service_healthy" });
  });

  it("creates the pipeline's topics with enough partitions to scale", () => {
    const pipeline = examplePipeline();
    const script = command("kafka-init").join("\n");
    const topics = /for topic in ([^;]+);/.exec(script)?.[1]?.trim().split(/\s+/);
    const { input, output, deadLetter, review } = pipeline.topics;
    assert.deepEqual(topics?.sort(), [input, output, deadLetter, review].sort());
    assert.match(script, /--partitions "\$\{SLUICE_PARTITIONS\}"/);
    const environment = asObject(service("kafka-init")["environment"], "kafka-init.environment");
    assert.equal(Number(environment["SLUICE_PARTITIONS"]), PARTITIONS);
  });

  it("lets the consumer scale: no container name, no host port, found by Prometheus' DNS discovery", () => {
    const consumer = service("consumer");
    assert.equal(consumer["container_name"], undefined);
    assert.equal(consumer["ports"], undefined);
    const args = command("consumer");
    assert.equal(args[0], "consume");
    assert.ok(args.includes("--sidecar=sidecar:8001"), "the consumer calls the sidecar service");
    assert.ok(args.includes("--metrics-host=0.0.0.0"), "Prometheus scrapes over the network");
    const prometheus = readYaml("deploy/prometheus/prometheus.yml");
    const job = asArray(prometheus["scrape_configs"], "scrape_configs")
      .map((j) => asObject(j, "job"))
      .find((j) => j["job_name"] === "sluice-consumer");
    const dns = asObject(asArray(job?.["dns_sd_configs"], "dns_sd_configs")[0], "dns_sd_config");
    assert.deepEqual(dns["names"], ["consumer"]);
    assert.equal(dns["type"], "A");
    assert.ok(
      args.includes(`--metrics-port=${String(dns["port"])}`),
      "the scraped port is the served one",
    );
  });

  it("passes only flags the sluice command has", async () => {
    await assertFlagsExist(command("sidecar"), "sidecar");
    await assertFlagsExist(command("consumer"), "consumer");
    const { stdout } = await tool(tools.deploycheck, ["compose", "docker-compose.yml", "load"]);
    const producer = asObject(asObject(JSON.parse(stdout), "project")["services"], "services")[
      "producer"
    ];
    await assertFlagsExist(asObject(producer, "producer")["command"] as string[], "producer");
  });

  it("sends every Sluice process's traces to Jaeger under its own service name", () => {
    const names = ["sidecar", "consumer"].map((name) => {
      const environment = asObject(service(name)["environment"], `${name}.environment`);
      assert.equal(environment["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://jaeger:4318");
      return environment["OTEL_SERVICE_NAME"];
    });
    assert.deepEqual(names, ["sluice-server", "sluice-consumer"]);
  });

  it("publishes ports on loopback only", () => {
    for (const [name, definition] of Object.entries(services)) {
      for (const port of (definition["ports"] as Json[] | undefined) ?? []) {
        assert.equal(port["host_ip"], "127.0.0.1", `${name}: port ${String(port["target"])}`);
      }
    }
  });

  it("mounts Grafana's provisioning where its datasource and dashboard provider point", () => {
    const grafana = service("grafana");
    const volumes = asArray(grafana["volumes"], "grafana.volumes").map((v) =>
      asObject(v, "volume"),
    );
    const mount = (source: string) =>
      volumes.find((v) => String(v["source"]).endsWith(source))?.["target"] as string | undefined;
    assert.equal(mount("deploy/grafana/provisioning"), "/etc/grafana/provisioning");
    const provider = asObject(
      asArray(
        readYaml("deploy/grafana/provisioning/dashboards/sluice.yml")["providers"],
        "providers",
      )[0],
      "provider",
    );
    const dashboards = asObject(provider["options"], "options")["path"];
    assert.equal(mount("deploy/grafana/dashboards"), dashboards);
    const home = asObject(grafana["environment"], "grafana.environment")[
      "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ];
    assert.equal(home, `${String(dashboards)}/sluice.json`);
    assert.ok(existsSync(join(REPO_ROOT, "deploy/grafana/dashboards/sluice.json")));
  });
});

describe("Prometheus configuration and rules, checked by promtool", () => {
  it("accepts the compose and the Kubernetes configurations (and the rule files they load)", async () => {
    for (const file of ["prometheus.yml", "prometheus-kubernetes.yml"]) {
      const { stdout } = await tool(tools.promtool, [
        "check",
        "config",
        join("deploy/prometheus", file),
      ]);
      assert.match(stdout, /SUCCESS/);
    }
  });

  it("accepts the rules", async () => {
    const { stdout } = await tool(tools.promtool, [
      "check",
      "rules",
      "deploy/prometheus/alerts.yml",
    ]);
    assert.match(stdout, /SUCCESS: \d+ rules found/);
  });

  it("passes the alerts' unit tests: each fires past its threshold and not before", async () => {
    const { stdout } = await tool(tools.promtool, [
      "test",
      "rules",
      "deploy/prometheus/alerts.test.yml",
    ]);
    assert.match(stdout, /SUCCESS/);
  });

  it("has a unit test, a severity and the documented annotations for every alert", () => {
    const rules = asArray(readYaml("deploy/prometheus/alerts.yml")["groups"], "groups").flatMap(
      (g) => asArray(asObject(g, "group")["rules"], "rules").map((r) => asObject(r, "rule")),
    );
    const tested = readFileSync(join(REPO_ROOT, "deploy/prometheus/alerts.test.yml"), "utf8");
    const alerts = rules.filter((rule) => typeof rule["alert"] === "string");
    assert.ok(alerts.length >= 5);
    for (const alert of alerts) {
      const name = alert["alert"] as string;
      assert.match(tested, new RegExp(`alertname: ${name}$`, "m"), `${name} has no unit test`);
      assert.match(String(asObject(alert["labels"], name)["severity"]), /^(page|warning)$/);
      const annotations = asObject(alert["annotations"], name);
      for (const key of ["threshold", "summary", "description"]) {
        assert.ok(annotations[key], `${name}: no ${key} annotation`);
      }
    }
    const deployment = readFileSync(join(REPO_ROOT, "docs/deployment.md"), "utf8");
    for (const alert of alerts) {
      assert.ok(
        deployment.includes(alert["alert"] as string),
        `docs/deployment.md does not list ${String(alert["alert"])}`,
      );
    }
  });

  it("reads only metrics that docs/metrics.md documents", async () => {
    const rules = asArray(readYaml("deploy/prometheus/alerts.yml")["groups"], "groups").flatMap(
      (g) => asArray(asObject(g, "group")["rules"], "rules").map((r) => asObject(r, "rule")),
    );
    await assertPromQL(
      rules.map((rule) => ({
        where: `alerts.yml ${String(rule["alert"] ?? rule["record"])}`,
        expr: String(rule["expr"]),
      })),
    );
  });
});

describe("Grafana dashboard", () => {
  const dashboard = asObject(
    JSON.parse(readFileSync(join(REPO_ROOT, "deploy/grafana/dashboards/sluice.json"), "utf8")),
    "dashboard",
  );
  const panels = asArray(dashboard["panels"], "panels").map((p) => asObject(p, "panel"));
  const datasourceUid = asObject(
    asArray(
      readYaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"],
      "datasources",
    )[0],
    "datasource",
  )["uid"];

  it("is a provisionable dashboard: uid, title, unique panel ids, panels inside the 24-column grid without overlap", () => {
    assert.equal(dashboard["uid"], "sluice-pipeline");
    assert.equal(typeof dashboard["title"], "string");
    assert.equal(typeof dashboard["schemaVersion"], "number");
    const ids = panels.map((p) => p["id"]);
    assert.equal(new Set(ids).size, ids.length, "panel ids repeat");
    const cells = new Map<string, unknown>();
    for (const panel of panels) {
      const { x, y, w, h } = asObject(
        panel["gridPos"],
        `panel ${String(panel["title"])} gridPos`,
      ) as Record<string, number>;
      assert.ok(
        x! >= 0 && w! > 0 && x! + w! <= 24 && h! > 0,
        `panel ${String(panel["title"])} is off the grid`,
      );
      for (let row = y!; row < y! + h!; row++) {
        for (let col = x!; col < x! + w!; col++) {
          const other = cells.get(`${row},${col}`);
          assert.equal(
            other,
            undefined,
            `panels "${String(other)}" and "${String(panel["title"])}" overlap`,
          );
          cells.set(`${row},${col}`, panel["title"]);
        }
      }
    }
  });

  it("queries the provisioned Prometheus datasource in every panel, with a description", () => {
    for (const panel of panels.filter((p) => p["type"] !== "row")) {
      const title = String(panel["title"]);
      assert.equal(
        asObject(panel["datasource"], title)["uid"],
        datasourceUid,
        `${title}: datasource`,
      );
      assert.ok(
        typeof panel["description"] === "string" && panel["description"].length > 20,
        `${title}: no description`,
      );
      const targets = asArray(panel["targets"], `${title}.targets`).map((t) => asObject(t, title));
      assert.ok(targets.length > 0, `${title}: no query`);
      for (const target of targets) {
        assert.equal(
          asObject(target["datasource"], title)["uid"],
          datasourceUid,
          `${title}: target datasource`,
        );
        assert.equal(typeof target["expr"], "string", `${title}: target without expr`);
      }
    }
  });

  it("has the panels docs/deployment.md describes", () => {
    const titles = panels.filter((p) => p["type"] !== "row").map((p) => String(p["title"]));
    const deployment = readFileSync(join(REPO_ROOT, "docs/deployment.md"), "utf8");
    for (const title of titles) {
      assert.ok(
        deployment.includes(`**${title}**`),
        `docs/deployment.md does not describe "${title}"`,
      );
    }
    for (const wanted of [
      "Throughput in / out",
      "Lag per partition",
      "End-to-end latency p50 / p95 / p99",
      "Time per stage (p95)",
      "Micro-batch size",
      "Sidecar batch size",
      "Sidecar queue and compute time (p95)",
      "Dead letters and reviews",
      "Retries and errors by cause",
      "Score distribution",
      "Confidence distribution",
      "Model version in use",
      "Rebalances and assigned partitions",
    ]) {
      assert.ok(titles.includes(wanted), `no panel "${wanted}"`);
    }
    const heatmaps = panels.filter((p) => p["type"] === "heatmap").map((p) => p["title"]);
    assert.deepEqual(heatmaps, ["Score distribution", "Confidence distribution"]);
  });

  it("has PromQL that Prometheus parses, reading only documented metrics", async () => {
    // Grafana's variables, replaced by values of their kind so Prometheus' parser sees real PromQL.
    const substitute = (expr: string) =>
      expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$__interval", "1m")
        .replaceAll("$__range", "1h")
        .replace(/\$\{?pipeline\}?/g, ".*");
    const exprs = panels.flatMap((panel) =>
      ((panel["targets"] as Json[] | undefined) ?? []).map((target) => ({
        where: `panel "${String(panel["title"])}" ${String(target["refId"])}`,
        expr: substitute(String(target["expr"])),
      })),
    );
    assert.ok(exprs.length > 20);
    await assertPromQL(exprs);
  });
});

describe("Kubernetes manifests: kustomize build, validated by kubeconform", () => {
  const overlays = ["dev", "prod"] as const;
  const rendered = new Map<string, { text: string; objects: Json[] }>();

  before(async () => {
    for (const overlay of overlays) {
      const { stdout } = await tool(tools.kustomize, [
        "build",
        `deploy/kubernetes/overlays/${overlay}`,
      ]);
      const objects = parseAllDocuments(stdout).map((doc) => asObject(doc.toJSON(), overlay));
      rendered.set(overlay, { text: stdout, objects });
    }
  });

  /** kubeconform's verdict on manifests read from stdin, strict, with our offline schemas only. */
  async function kubeconform(manifests: string): Promise<{ summary: Json; resources: Json[] }> {
    const args = [
      "-strict",
      "-summary",
      "-output",
      "json",
      "-schema-location",
      join(tools.schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
      "-schema-location",
      join(tools.schemas, "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
      "-",
    ];
    // Invalid manifests exit 1 but still print the report, which the assertions read.
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        tools.kubeconform,
        args,
        { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
        (error, stdout, stderr) => {
          if (error && error.code !== 1)
            reject(new Error(`kubeconform: ${error.message}\n${stderr}`));
          else resolve(stdout);
        },
      );
      child.stdin?.end(manifests);
    });
    const report = JSON.parse(output) as { resources?: Json[]; summary: Json };
    return { summary: report.summary, resources: report.resources ?? [] };
  }

  const find = (overlay: string, kind: string, name?: string): Json => {
    const object = rendered
      .get(overlay)!
      .objects.find(
        (o) =>
          o["kind"] === kind &&
          (name === undefined || asObject(o["metadata"], kind)["name"] === name),
      );
    return asObject(object, `${overlay}: ${kind} ${name ?? ""}`);
  };
  const podSpec = (overlay: string): Json =>
    asObject(
      asObject(asObject(find(overlay, "Deployment")["spec"], "spec")["template"], "template")[
        "spec"
      ],
      "pod spec",
    );
  const container = (overlay: string, list: "containers" | "initContainers", name: string): Json =>
    asObject(
      asArray(podSpec(overlay)[list], list)
        .map((c) => asObject(c, name))
        .find((c) => c["name"] === name),
      `${overlay}: container ${name}`,
    );

  for (const overlay of overlays) {
    it(`${overlay}: every object is valid against the Kubernetes and KEDA schemas`, async () => {
      const { summary, resources } = await kubeconform(rendered.get(overlay)!.text);
      assert.deepEqual(
        resources,
        [],
        `kubeconform found problems: ${JSON.stringify(resources, null, 2)}`,
      );
      assert.deepEqual(summary, { valid: 5, invalid: 0, errors: 0, skipped: 0 });
      const kinds = rendered
        .get(overlay)!
        .objects.map((o) => `${String(o["apiVersion"])} ${String(o["kind"])}`);
      assert.deepEqual(kinds.sort(), [
        "apps/v1 Deployment",
        "keda.sh/v1alpha1 ScaledObject",
        "policy/v1 PodDisruptionBudget",
        "v1 ConfigMap",
        "v1 ConfigMap",
      ]);
    });
  }

  it("the schemas catch mistakes: a misspelt field, a wrong type, an unknown ScaledObject field", async () => {
    const text = rendered.get("dev")!.text;
    for (const [what, broken] of [
      [
        "misspelt container field",
        text.replace(/^( +)name: consumer$/m, "$1name: consumer\n$1imagePulPolicy: Always"),
      ],
      ["string replicas", text.replace(/^ {2}replicas: 1$/m, '  replicas: "one"')],
      [
        "unknown ScaledObject field",
        text.replace(/^ {2}maxReplicaCount: 2$/m, "  maxReplicaCount: 2\n  maxReplicas: 2"),
      ],
      ["named gRPC probe port", text.replace(/^( +)port: 8001$/m, "$1port: grpc")],
      [
        "numeric KEDA metadata",
        text.replace(/^( +)bootstrapServers: .*$/m, "$1bootstrapServers: 5"),
      ],
    ] as const) {
      assert.notEqual(broken, text, `${what}: the mutation did not apply`);
      const { summary } = await kubeconform(broken);
      assert.equal(summary["invalid"], 1, `${what}: kubeconform accepted it`);
    }
  });

  it("runs the sidecar beside the consumer: native sidecar, gRPC probes on its health port, consumer on loopback", async () => {
    for (const overlay of overlays) {
      const sidecar = container(overlay, "initContainers", "sidecar");
      assert.equal(
        sidecar["restartPolicy"],
        "Always",
        "a native sidecar: started first, stopped last",
      );
      const args = sidecar["args"] as string[];
      const grpcPort = Number(
        /^--grpc-port=(\d+)$/.exec(args.find((a) => a.startsWith("--grpc-port="))!)?.[1],
      );
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const grpc = asObject(asObject(sidecar[probe], probe)["grpc"], `${probe}.grpc`);
        assert.equal(grpc["port"], grpcPort, `${overlay}: ${probe} checks the gRPC health port`);
      }
      const consumer = container(overlay, "containers", "consumer");
      const consumerArgs = consumer["args"] as string[];
      assert.ok(consumerArgs.includes(`--sidecar=127.0.0.1:${grpcPort}`));
      for (const probe of ["startupProbe", "livenessProbe"]) {
        assert.equal(
          asObject(asObject(consumer[probe], probe)["httpGet"], probe)["path"],
          "/metrics",
        );
      }
      const annotations = asObject(
        asObject(
          asObject(asObject(find(overlay, "Deployment")["spec"], "spec")["template"], "t")[
            "metadata"
          ],
          "m",
        )["annotations"],
        "annotations",
      );
      assert.equal(annotations["prometheus.io/scrape"], "true");
      assert.ok(
        consumerArgs.includes(`--metrics-port=${String(annotations["prometheus.io/port"])}`),
      );
      await assertFlagsExist(args, `${overlay} sidecar`);
      await assertFlagsExist(consumerArgs, `${overlay} consumer`);
    }
  });

  it("gives the consumer the example pipeline, and KEDA the same group, topic and brokers", () => {
    for (const overlay of overlays) {
      const configMaps = rendered.get(overlay)!.objects.filter((o) => o["kind"] === "ConfigMap");
      const data = (prefix: string) =>
        asObject(
          configMaps.find((c) => String(asObject(c["metadata"], "m")["name"]).startsWith(prefix))?.[
            "data"
          ],
          prefix,
        );
      const endpoints = data("sluice-fraud-endpoints");
      const pipeline = pipelineFrom(
        String(data("sluice-fraud-pipeline")["pipeline.yaml"]),
        `${overlay} ConfigMap`,
      );
      const example = examplePipeline();
      // Addresses come from the environment in a pod; everything else is the worked example.
      assert.deepEqual(
        {
          ...pipeline,
          kafka: { ...pipeline.kafka, brokers: [] },
          redis: { ...pipeline.redis, url: "" },
        },
        {
          ...example,
          kafka: { ...example.kafka, brokers: [] },
          redis: { ...example.redis, url: "" },
        },
      );
      const trigger = asObject(
        asArray(asObject(find(overlay, "ScaledObject")["spec"], "spec")["triggers"], "triggers")[0],
        "trigger",
      );
      assert.equal(trigger["type"], "kafka");
      const metadata = asObject(trigger["metadata"], "metadata");
      assert.equal(metadata["bootstrapServers"], endpoints["KAFKA_BROKERS"]);
      assert.equal(metadata["consumerGroup"], pipeline.kafka.groupId);
      assert.equal(metadata["topic"], pipeline.topics.input);
      assert.ok(String(endpoints["REDIS_URL"]).startsWith("redis://"));
    }
  });

  it("dev is one small pod; prod keeps two, with more resources, a PDB minimum and KEDA up to the partitions", () => {
    const spec = (overlay: string, kind: string) => asObject(find(overlay, kind)["spec"], kind);
    assert.equal(spec("dev", "Deployment")["replicas"], 1);
    assert.equal(spec("prod", "Deployment")["replicas"], 2);
    assert.equal(spec("prod", "ScaledObject")["minReplicaCount"], 2);
    assert.equal(spec("prod", "ScaledObject")["maxReplicaCount"], PARTITIONS);
    assert.ok(Number(spec("dev", "ScaledObject")["maxReplicaCount"]) <= PARTITIONS);
    assert.equal(spec("prod", "PodDisruptionBudget")["minAvailable"], "50%");
    assert.equal(spec("dev", "PodDisruptionBudget")["maxUnavailable"], 1);
    const memory = (overlay: string, list: "containers" | "initContainers", name: string) =>
      String(
        asObject(asObject(container(overlay, list, name)["resources"], "r")["requests"], "q")[
          "memory"
        ],
      );
    const mib = (q: string) => (q.endsWith("Gi") ? parseFloat(q) * 1024 : parseFloat(q));
    for (const [list, name] of [
      ["containers", "consumer"],
      ["initContainers", "sidecar"],
    ] as const) {
      assert.ok(
        mib(memory("prod", list, name)) > mib(memory("dev", list, name)),
        `${name}: prod > dev memory`,
      );
    }
    // The PDB and the ScaledObject select and scale this Deployment.
    for (const overlay of overlays) {
      const labels = asObject(
        asObject(spec(overlay, "Deployment")["selector"], "selector")["matchLabels"],
        "l",
      );
      assert.deepEqual(
        asObject(spec(overlay, "PodDisruptionBudget")["selector"], "s")["matchLabels"],
        labels,
      );
      const target = asObject(spec(overlay, "ScaledObject")["scaleTargetRef"], "scaleTargetRef");
      assert.equal(target["name"], asObject(find(overlay, "Deployment")["metadata"], "m")["name"]);
    }
  });
});
