/**
 * The package layers hold because `npm run lint` fails on an upward import: this proves the rules
 * (eslint.layers.js) catch deliberate violations, and let the allowed imports through.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ESLint } from "eslint";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";
import { REPO_ROOT } from "@sluice/testing";
// @ts-expect-error -- a plain ESM config module without types
import { importSettings, layerRules } from "../eslint.layers.js";

const eslint = new ESLint({
  cwd: REPO_ROOT,
  overrideConfigFile: true,
  overrideConfig: [
    { files: ["**/*.ts"], languageOptions: { parser: tseslint.parser } },
    {
      files: ["**/*.ts"],
      plugins: { "import-x": importX },
      settings: importSettings as Record<string, unknown>,
      rules: { "import-x/no-relative-packages": "error" },
    },
    ...(layerRules as ESLint.Options["overrideConfig"][]),
  ] as ESLint.Options["overrideConfig"],
});

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe("package layers", () => {
  it("refuse an import from a layer above", async () => {
    const found = await problems(
      "kit/src/violation.ts",
      'import { startSidecar } from "@sluice/server";\nexport { startSidecar };\n',
    );
    assert.equal(found.length, 1);
    assert.match(
      found[0]!,
      /^no-restricted-imports: .*kit \(kit\/\) may import only no other Sluice package, not @sluice\/server/,
    );
  });

  it("refuse an import from a package beside it", async () => {
    const found = await problems(
      "server/src/violation.ts",
      'import { startPipeline } from "@sluice/consumer";\nexport { startPipeline };\n',
    );
    assert.match(
      found.join("\n"),
      /server \(server\/\) may import only @sluice\/kit, @sluice\/proto, not @sluice\/consumer/,
    );
  });

  it("refuse the testing kit in a package's sources, allow it in its tests", async () => {
    const code = 'import { waitFor } from "@sluice/testing";\nexport { waitFor };\n';
    assert.equal((await problems("consumer/src/pipeline/violation.ts", code)).length, 1);
    assert.deepEqual(await problems("consumer/src/pipeline/allowed.test.ts", code), []);
  });

  it("allow the layers below, subpaths included", async () => {
    assert.deepEqual(
      await problems(
        "consumer/src/adapters/allowed.ts",
        'import { InferenceClient } from "@sluice/client";\nimport { SluiceError } from "@sluice/kit";\nexport { InferenceClient, SluiceError };\n',
      ),
      [],
    );
    assert.deepEqual(
      await problems(
        "clients/cli/src/commands/allowed.ts",
        'import { ensureStack } from "@sluice/testing/stack";\nexport { ensureStack };\n',
      ),
      [],
    );
  });

  it("keep Kafka, Redis and gRPC libraries in the consumer's adapters, and gRPC out of the server's models", async () => {
    const kafka = 'import { Kafka } from "kafkajs";\nexport { Kafka };\n';
    assert.match(
      (await problems("consumer/src/pipeline/violation.ts", kafka)).join("\n"),
      /kafkajs sits behind a port of the consumer: import it in consumer\/src\/adapters\/ only/,
    );
    assert.deepEqual(await problems("consumer/src/adapters/allowed.ts", kafka), []);
    const grpc = 'import { status } from "@grpc/grpc-js";\nexport { status };\n';
    assert.match(
      (await problems("server/src/models/violation.ts", grpc)).join("\n"),
      /map to gRPC in server\/src\/grpc\//,
    );
    // The confined folders keep their package's layer rule too.
    const upward = 'import { startPipeline } from "@sluice/consumer";\nexport { startPipeline };\n';
    assert.match(
      (await problems("server/src/models/violation.ts", upward)).join("\n"),
      /server \(server\/\) may import only/,
    );
  });

  it("refuse a relative path into another package", async () => {
    const found = await problems(
      "consumer/src/pipeline/violation.ts",
      'import { startSidecar } from "../../../server/src/sidecar.js";\nexport { startSidecar };\n',
    );
    assert.match(found.join("\n"), /^import-x\/no-relative-packages: /m);
  });
});
