// The layers of Sluice (docs/architecture.md): a package may import only the packages below it, so
// arrows run one way, apps → libraries → kit/proto. Checked by `npm run lint` in CI; test/layering.test.ts
// proves a deliberate violation fails.
//
//   kit        errors, log, metrics server, config issues, backoff        (imports nothing of ours)
//   proto      the wire: .proto, generated code, tensors, the status error (kit)
//   client     the Open Inference Protocol client library               (kit, proto)
//   server     the inference sidecar                                     (kit, proto)
//   consumer   the Kafka pipeline                                        (kit, proto, client)
//   testing    the testing kit: local stack, harnesses, fixtures         (all of the above)
//   demo       fraud events, load generator, verifier                    (… and testing)
//   cli        the sluice command                                        (everything)
//
// Tests (`*.test.ts` beside the code) may also use @sluice/testing.
import importX from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";

/**
 * How import-x reads the module graph: `./x.js` resolves to `./x.ts`, a workspace to its sources
 * (the `source` condition), and imported modules are parsed as TypeScript (for no-cycle).
 */
export const importSettings = {
  ...importX.flatConfigs.typescript.settings,
  "import-x/resolver-next": [
    createTypeScriptImportResolver({
      project: "./tsconfig.check.json",
      conditionNames: ["source", "types", "import", "node", "default"],
    }),
  ],
};

/** Each package: its folder and the packages its non-test sources may import. */
export const LAYERS = {
  kit: { dir: "kit", may: [] },
  proto: { dir: "proto", may: ["kit"] },
  client: { dir: "clients/client", may: ["kit", "proto"] },
  server: { dir: "server", may: ["kit", "proto"] },
  consumer: { dir: "consumer", may: ["kit", "proto", "client"] },
  testing: { dir: "testing", may: ["kit", "proto", "client", "server", "consumer"] },
  demo: { dir: "clients/demo", may: ["kit", "proto", "client", "server", "consumer", "testing"] },
  cli: {
    dir: "clients/cli",
    may: ["kit", "proto", "client", "server", "consumer", "testing", "demo"],
  },
};

/**
 * Inside a package: folders that must not import a library which sits behind a boundary of the
 * package elsewhere (the server's models know nothing of gRPC; the consumer reaches Kafka, Redis
 * and the sidecar only through its ports, implemented in adapters/). Merged into the layer rule
 * of those files, as a later `no-restricted-imports` block would replace it.
 */
const behindPort = (name) => ({
  name,
  message: `${name} sits behind a port of the consumer: import it in consumer/src/adapters/ only (docs/architecture.md)`,
});
export const CONFINED = {
  server: [
    {
      files: [
        "server/src/models/**/*.ts",
        "server/src/repository/**/*.ts",
        "server/src/batching/**/*.ts",
      ],
      ignores: [],
      paths: [{ name: "@grpc/grpc-js", message: "map to gRPC in server/src/grpc/" }],
    },
  ],
  consumer: [
    {
      files: ["consumer/src/**/*.ts"],
      ignores: ["consumer/src/adapters/**"],
      paths: ["kafkajs", "@platformatic/kafka", "ioredis", "@grpc/grpc-js"].map(behindPort),
    },
  ],
};

function restrict(name, allowed, files, ignores = [], paths = []) {
  const forbidden = Object.keys(LAYERS).filter(
    (other) => other !== name && !allowed.includes(other),
  );
  return {
    files,
    ignores,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths,
          patterns: forbidden.map((other) => ({
            group: [`@sluice/${other}`, `@sluice/${other}/*`],
            message: `${name} (${LAYERS[name].dir}/) may import only ${allowed.map((a) => `@sluice/${a}`).join(", ") || "no other Sluice package"}, not @sluice/${other} (the layers: docs/architecture.md)`,
          })),
        },
      ],
    },
  };
}

/**
 * Flat-config blocks: one for each package's sources, one for its tests (which may use testing),
 * then one for each of its confined folders (sources only).
 */
export const layerRules = Object.entries(LAYERS).flatMap(([name, { dir, may }]) => [
  restrict(name, may, [`${dir}/src/**/*.ts`], [`${dir}/src/**/*.test.ts`]),
  restrict(name, [...new Set([...may, "testing"])], [`${dir}/src/**/*.test.ts`]),
  ...(CONFINED[name] ?? []).map(({ files, ignores, paths }) =>
    restrict(name, may, files, [`${dir}/src/**/*.test.ts`, ...ignores], paths),
  ),
]);
