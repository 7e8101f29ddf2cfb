import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStubServer, type StubServer } from "@sluice/testing";
import { sluice as run } from "../test-kit.js";
import { create } from "@bufbuild/protobuf";
import { ModelInferResponseSchema, type ModelInferRequest } from "@sluice/proto";
import type { InferResult } from "@sluice/client";
import { parseInputFile, parseInputSpec, resultToJson, formatResult } from "./infer.js";

describe("parseInputSpec", () => {
  test("name:DATATYPE:shape:values to a typed tensor", () => {
    assert.deepEqual(parseInputSpec("features:FP32:1x3:0.5,-1,2e3"), {
      name: "features",
      datatype: "FP32",
      shape: [1, 3],
      data: new Float32Array([0.5, -1, 2000]),
    });
    assert.deepEqual(
      parseInputSpec("ids:int64:2:-9223372036854775808,9223372036854775807").data,
      new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    );
    assert.deepEqual(parseInputSpec("flags:BOOL:3:true,0,1").data, new Uint8Array([1, 0, 1]));
    assert.deepEqual(parseInputSpec("h:FP16:2:1,-2").data, new Uint16Array([0x3c00, 0xc000]));
    assert.deepEqual(parseInputSpec("f:FP64:2:nan,-inf").data, new Float64Array([NaN, -Infinity]));
    assert.deepEqual(parseInputSpec("scalar:INT32::7"), {
      name: "scalar",
      datatype: "INT32",
      shape: [],
      data: new Int32Array([7]),
    });
    assert.deepEqual(parseInputSpec("empty:FP32:0x4:").data, new Float32Array(0));
  });

  test("BYTES values are text, and may contain colons", () => {
    assert.deepEqual(parseInputSpec("text:BYTES:2:a:b,c").data, ["a:b", "c"]);
    assert.deepEqual(parseInputSpec("text:BYTES:1:").data, [""]);
  });

  test("errors say what was expected and what came", () => {
    const refuses = (spec: string, message: RegExp) =>
      assert.throws(() => parseInputSpec(spec), { name: "UsageError", message });
    refuses(
      "features",
      /--input "features": expected name:DATATYPE:shape:values such as features:FP32:1x3:0\.1,0\.2,0\.3, got 1 part$/,
    );
    refuses("features:FP32:1x3", /got 3 parts$/);
    refuses(":FP32:1:1", /expected a tensor name before the first ":"/);
    refuses(
      "x:FLOAT:1:1",
      /--input "x": expected a datatype such as FP32, INT64, BOOL or BYTES, got "FLOAT"/,
    );
    refuses(
      "x:FP32:1,3:1,2,3",
      /--input "x": expected a shape of non-negative integers joined by "x" such as 1x20, got "1,3"/,
    );
    refuses("x:FP32:1x-3:1", /got "1x-3"/);
    refuses("x:FP32:2x2:1,2,3", /--input "x": shape 2x2 needs 4 values, got 3$/);
    refuses("x:FP32::1,2", /--input "x": shape \(scalar\) needs 1 value, got 2$/);
    refuses("x:FP32:2:1,abc", /--input "x": element 1: expected a number \(FP32\), got "abc"/);
    refuses(
      "x:INT8:2:1,300",
      /--input "x": element 1: expected an integer in \[-128, 127\] \(INT8\), got "300"/,
    );
    refuses(
      "x:UINT64:1:-1",
      /expected an integer in \[0, 18446744073709551615\] \(UINT64\), got "-1"/,
    );
    refuses(
      "x:INT32:1:1.5",
      /expected an integer in \[-2147483648, 2147483647\] \(INT32\), got "1\.5"/,
    );
    refuses("x:BOOL:1:yes", /element 0: expected true, false, 1 or 0, got "yes"/);
  });
});

describe("parseInputFile", () => {
  test("the KServe V2 JSON form, nested data flattened, requested outputs kept", () => {
    const parsed = parseInputFile(
      JSON.stringify({
        inputs: [
          {
            name: "features",
            datatype: "FP32",
            shape: [2, 2],
            data: [
              [1, 2],
              [3, 4],
            ],
          },
          { name: "text", datatype: "BYTES", shape: [1], data: ["hi"] },
        ],
        outputs: [{ name: "probabilities" }],
      }),
      "req.json",
    );
    assert.deepEqual(parsed, {
      inputs: [
        { name: "features", datatype: "FP32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
        { name: "text", datatype: "BYTES", shape: [1], data: ["hi"] },
      ],
      outputs: ["probabilities"],
    });
  });

  test("errors name the file and the path inside it", () => {
    const refuses = (json: string, message: RegExp) =>
      assert.throws(() => parseInputFile(json, "req.json"), { name: "UsageError", message });
    refuses("{", /^req\.json: expected JSON, got a parse error/);
    refuses("{}", /^req\.json: expected \{"inputs": \[/);
    refuses(
      '{"inputs":[{"name":"x","datatype":"FP32","shape":"1x3","data":[1,2,3]}]}',
      /req\.json: inputs\[0\]\.shape: expected an array of non-negative integers, got "1x3"/,
    );
    refuses(
      '{"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]}',
      /inputs\[0\]\.name: expected a tensor name, got nothing/,
    );
    refuses(
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,2]}]}',
      /inputs\[0\]\.data: shape \[3\] needs 3 values, got 2/,
    );
    refuses(
      '{"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":["a"]}]}',
      /inputs\[0\]\.data: element 0: expected an integer in \[-128, 127\] \(INT8\), got "a"/,
    );
    refuses(
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{}]}',
      /outputs\[0\]\.name: expected an output name/,
    );
  });
});

function result(outputs: InferResult["outputs"]): InferResult {
  return {
    modelName: "fraud",
    modelVersion: "2",
    id: "r1",
    outputs,
    output: () => {
      throw new Error("unused");
    },
  };
}

describe("printing results", () => {
  const outputs = new Map([
    [
      "p",
      {
        name: "p",
        datatype: "FP32" as const,
        shape: [1, 2],
        data: new Float32Array([0.1, Infinity]),
      },
    ],
    [
      "ids",
      {
        name: "ids",
        datatype: "INT64" as const,
        shape: [1],
        data: new BigInt64Array([2n ** 62n + 1n]),
      },
    ],
    ["ok", { name: "ok", datatype: "BOOL" as const, shape: [1], data: new Uint8Array([1]) }],
    ["h", { name: "h", datatype: "FP16" as const, shape: [1], data: new Uint16Array([0x2e66]) }],
    [
      "label",
      { name: "label", datatype: "BYTES" as const, shape: [1], data: [Buffer.from('fraud "yes"')] },
    ],
  ]);

  test("--json: KServe V2 JSON with float32s at their shortest, 64-bit integers exact", () => {
    const text = resultToJson(result(outputs));
    assert.ok(text.includes('"data": [4611686018427387905]'), "every digit of the int64");
    const json = JSON.parse(text) as { outputs: { name: string; data: unknown[] }[] };
    assert.deepEqual(JSON.parse(text), {
      model_name: "fraud",
      model_version: "2",
      id: "r1",
      outputs: [
        { name: "p", datatype: "FP32", shape: [1, 2], data: [0.1, "Infinity"] },
        { name: "ids", datatype: "INT64", shape: [1], data: [json.outputs[1]?.data[0]] },
        { name: "ok", datatype: "BOOL", shape: [1], data: [true] },
        { name: "h", datatype: "FP16", shape: [1], data: [0.1] },
        { name: "label", datatype: "BYTES", shape: [1], data: ['fraud "yes"'] },
      ],
    });
  });

  test("table: one row per output, long data cut short", () => {
    const long = new Map([
      [
        "y",
        {
          name: "y",
          datatype: "INT32" as const,
          shape: [10],
          data: Int32Array.from({ length: 10 }, (_, i) => i),
        },
      ],
    ]);
    assert.equal(
      formatResult(result(long)),
      [
        "model fraud, version 2, id r1",
        "OUTPUT  DATATYPE  SHAPE  DATA",
        "y       INT32     10     0, 1, 2, 3, 4, 5, 6, 7, … (2 more)",
      ].join("\n"),
    );
  });
});

describe("sluice infer against a server", () => {
  let server: StubServer;
  let url: string;
  let dir: string;
  const received: ModelInferRequest[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-infer-"));
    server = await startStubServer({
      modelInfer: (call, callback) => {
        received.push(call.request);
        const { request } = call;
        callback(
          null,
          create(ModelInferResponseSchema, {
            modelName: request.modelName,
            modelVersion: request.modelVersion || "1",
            outputs: [
              { name: "sum", datatype: "FP32", shape: [1n], contents: { fp32Contents: [6.5] } },
            ],
          }),
        );
      },
    });
    url = server.url;
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("--input and --version reach the server; --json prints the result", async () => {
    const { code, out } = await run(
      "infer",
      "adder",
      "--version",
      "3",
      "--input",
      "x:FP32:1x2:1.5,5",
      "--output",
      "sum",
      "--json",
      "--url",
      url,
    );
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), {
      model_name: "adder",
      model_version: "3",
      id: "",
      outputs: [{ name: "sum", datatype: "FP32", shape: [1], data: [6.5] }],
    });
    const request = received.at(-1);
    assert.equal(request?.modelVersion, "3", "the subcommand's --version, not the program's");
    assert.deepEqual(
      request?.outputs.map((output) => output.name),
      ["sum"],
    );
    assert.deepEqual(
      Buffer.from(request?.rawInputContents[0] ?? []),
      Buffer.from(new Float32Array([1.5, 5]).buffer),
    );
  });

  test("--input-file with the KServe JSON form", async () => {
    const file = join(dir, "request.json");
    await writeFile(
      file,
      JSON.stringify({ inputs: [{ name: "x", datatype: "INT32", shape: [3], data: [1, 2, 3] }] }),
    );
    const { code, out } = await run("infer", "adder", "--input-file", file, "--url", url);
    assert.equal(code, 0);
    assert.match(
      out,
      /^model adder, version 1\nOUTPUT  DATATYPE  SHAPE  DATA\nsum     FP32      1      6\.5\n$/,
    );
  });

  test("a bad --input is a usage error: exit 2, message on stderr, nothing sent", async () => {
    const before = received.length;
    const { code, err } = await run("infer", "adder", "--input", "x:FP32:2:1", "--url", url);
    assert.equal(code, 2);
    assert.equal(
      err,
      'error: --input "x": shape 2 needs 2 values, got 1\n(add --help for usage)\n',
    );
    assert.equal(received.length, before);
  });

  test("no inputs at all is a usage error", async () => {
    const { code, err } = await run("infer", "adder", "--url", url);
    assert.equal(code, 2);
    assert.equal(err, "error: no inputs: give --input or --input-file\n(add --help for usage)\n");
  });
});
