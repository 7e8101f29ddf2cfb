/**
 * `sluice infer`: one inference from the command line. Inputs come from `--input` specs or a KServe
 * V2 JSON file; the result prints as a table or, with `--json`, as KServe V2 JSON.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import {
  type Datatype,
  type InferInput,
  type InferOptions,
  type InferOutput,
  type InferResult,
  type TensorData,
  datatypeInfo,
  float16ToNumber,
  isDatatype,
  numberToFloat16,
  typedArrayFrom,
} from "@sluice/client";
import type { ConnectionFlags } from "../flags/connection.js";
import { registerClientCommand } from "../flags/client-command.js";
import { collect } from "../flags/parsers.js";
import { UsageError } from "../output/exit.js";
import { formatTable } from "../output/table.js";

interface InferFlags extends ConnectionFlags {
  version?: string;
  input?: string[];
  inputFile?: string;
  output?: string[];
  json?: boolean;
}

/** Elements shown per output in the table; --json prints them all. */
const TABLE_ELEMENTS = 8;

export function registerInfer(program: Command): void {
  registerClientCommand<InferFlags>(program, {
    name: "infer <model>",
    description: "run one inference and print the outputs",
    options: (command) =>
      command
        .option(
          "--version <version>",
          "model version number or label (default: the server's choice)",
        )
        .option(
          "--input <name:DATATYPE:shape:values>",
          "an input tensor, name:DATATYPE:shape:values such as x:FP32:1x3:0.1,0.2,0.3 (repeatable; sluice metadata MODEL shows what the model expects)",
          collect,
        )
        .option(
          "--input-file <file>",
          'KServe V2 JSON request: {"inputs":[{"name","datatype","shape","data":[...]}]}',
        )
        .option("--output <name>", "output to return (repeatable; default: all)", collect)
        .option("--json", "print the result as KServe V2 JSON"),
    notes: [
      'Shapes are dimensions joined by "x" (1x20); values are comma-separated; BYTES values are UTF-8',
      "text. `sluice metadata MODEL` shows each input's name, datatype and shape.",
    ].join("\n"),
    examples: [
      "sluice infer fraud --input features:FP32:1x20:6.37,6.14,4,6,6,2.13,6,3.98,1,-0.13,-0.99,1,0,0,0,0,1,0,0,0",
      "sluice infer fraud --version stable --input-file examples/requests/fraud.json --output probabilities --json",
      "sluice infer fraud --version canary --input-file examples/requests/fraud.json --output label",
    ],
    run: async ({ client, flags, args: [model = ""], print }) => {
      const fromFile =
        flags.inputFile === undefined ? undefined : await readInputFile(flags.inputFile);
      const inputs = [...(flags.input ?? []).map(parseInputSpec), ...(fromFile?.inputs ?? [])];
      if (inputs.length === 0) throw new UsageError("no inputs: give --input or --input-file");
      const options: InferOptions = {};
      if (flags.version !== undefined) options.version = flags.version;
      const outputs = flags.output ?? fromFile?.outputs ?? [];
      if (outputs.length > 0) options.outputs = outputs;
      const result = await client.infer(model, inputs, options);
      print(flags.json === true ? resultToJson(result) : formatResult(result));
    },
  });
}

/** Parses `name:DATATYPE:d1xd2:v1,v2,...`. Throws UsageError saying what was expected and what came. */
export function parseInputSpec(spec: string): InferInput {
  const parts = spec.split(":");
  if (parts.length < 4) {
    throw new UsageError(
      `--input "${spec}": expected name:DATATYPE:shape:values such as features:FP32:1x3:0.1,0.2,0.3, got ${parts.length} part${parts.length === 1 ? "" : "s"}`,
    );
  }
  const [name = "", datatypeText = "", shapeText = ""] = parts;
  const valuesText = parts.slice(3).join(":");
  const where = `--input "${name}"`;
  if (name === "")
    throw new UsageError(`--input "${spec}": expected a tensor name before the first ":"`);
  const datatype = parseDatatype(where, datatypeText);
  const shape = parseShape(where, shapeText);
  const count = shape.reduce((product, dim) => product * dim, 1);
  const values = valuesText === "" && count === 0 ? [] : valuesText.split(",");
  if (values.length !== count) {
    throw new UsageError(
      `${where}: shape ${shapeText || "(scalar)"} needs ${count} value${count === 1 ? "" : "s"}, got ${values.length}`,
    );
  }
  return { name, datatype, shape, data: parseValues(where, datatype, values) };
}

/** Reads a KServe V2 JSON request file: its inputs, and its requested outputs if any. */
export async function readInputFile(
  path: string,
): Promise<{ inputs: InferInput[]; outputs: string[] }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`--input-file: cannot read "${path}": ${(error as Error).message}`);
  }
  return parseInputFile(text, path);
}

/** Parses the KServe V2 JSON request form; errors name the file and the path inside it. */
export function parseInputFile(
  text: string,
  file: string,
): { inputs: InferInput[]; outputs: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file}: expected JSON, got a parse error: ${(error as Error).message}`);
  }
  if (!isObject(json) || !Array.isArray(json["inputs"]) || json["inputs"].length === 0) {
    throw new UsageError(
      `${file}: expected {"inputs": [{"name", "datatype", "shape", "data"}, ...]}`,
    );
  }
  const inputs = (json["inputs"] as unknown[]).map((entry, index) => {
    const at = `${file}: inputs[${index}]`;
    if (!isObject(entry)) throw new UsageError(`${at}: expected an object, got ${show(entry)}`);
    const { name, datatype, shape, data } = entry;
    if (typeof name !== "string" || name === "") {
      throw new UsageError(`${at}.name: expected a tensor name, got ${show(name)}`);
    }
    const parsedDatatype = parseDatatype(
      `${at}.datatype`,
      typeof datatype === "string" ? datatype : show(datatype),
    );
    if (
      !Array.isArray(shape) ||
      !shape.every((dim) => Number.isSafeInteger(dim) && (dim as number) >= 0)
    ) {
      throw new UsageError(
        `${at}.shape: expected an array of non-negative integers, got ${show(shape)}`,
      );
    }
    const dims = shape as number[];
    const values = Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data];
    const count = dims.reduce((product, dim) => product * dim, 1);
    if (values.length !== count) {
      throw new UsageError(
        `${at}.data: shape [${dims.join(", ")}] needs ${count} values, got ${values.length}`,
      );
    }
    return {
      name,
      datatype: parsedDatatype,
      shape: dims,
      data: parseValues(`${at}.data`, parsedDatatype, values),
    };
  });
  const requested = json["outputs"];
  const outputs = Array.isArray(requested)
    ? requested.map((entry: unknown, index) => {
        const name = isObject(entry) ? entry["name"] : undefined;
        if (typeof name !== "string" || name === "") {
          throw new UsageError(
            `${file}: outputs[${index}].name: expected an output name, got ${show(name)}`,
          );
        }
        return name;
      })
    : [];
  return { inputs, outputs };
}

function parseDatatype(where: string, text: string): Datatype {
  const datatype = text.toUpperCase();
  if (!isDatatype(datatype)) {
    throw new UsageError(
      `${where}: expected a datatype such as FP32, INT64, BOOL or BYTES, got "${text}"`,
    );
  }
  return datatype;
}

function parseShape(where: string, text: string): number[] {
  if (text === "") return [];
  return text.split("x").map((dim) => {
    const value = Number(dim);
    if (!/^\d+$/.test(dim) || !Number.isSafeInteger(value)) {
      throw new UsageError(
        `${where}: expected a shape of non-negative integers joined by "x" such as 1x20, got "${text}"`,
      );
    }
    return value;
  });
}

/** Converts text or JSON values to the datatype's typed array (strings for BYTES). */
export function parseValues(
  where: string,
  datatype: Datatype,
  values: readonly unknown[],
): TensorData | string[] {
  const element = (index: number, expected: string, value: unknown): UsageError =>
    new UsageError(`${where}: element ${index}: expected ${expected}, got ${show(value)}`);
  switch (datatype) {
    case "BYTES":
      return values.map((value, i) => {
        if (typeof value !== "string") throw element(i, "a string", value);
        return value;
      });
    case "BOOL":
      return typedArrayFrom(
        datatype,
        values.map((value, i) => {
          if (value === true || value === "true" || value === 1 || value === "1") return 1;
          if (value === false || value === "false" || value === 0 || value === "0") return 0;
          throw element(i, "true, false, 1 or 0", value);
        }),
      );
    case "FP16":
    case "FP32":
    case "FP64": {
      const numbers = values.map((value, i) => {
        const number = toFloat(value);
        if (number === undefined) throw element(i, `a number (${datatype})`, value);
        return number;
      });
      return typedArrayFrom(datatype, datatype === "FP16" ? numbers.map(numberToFloat16) : numbers);
    }
    default: {
      const [min, max] = datatypeInfo(datatype).range!;
      const integers = values.map((value, i) => {
        const integer = toInteger(value);
        if (integer === undefined || integer < min || integer > max) {
          throw element(i, `an integer in [${min}, ${max}] (${datatype})`, value);
        }
        return integer;
      });
      return typedArrayFrom(datatype, integers);
    }
  }
}

const SPECIAL_FLOATS = new Map([
  ["nan", NaN],
  ["inf", Infinity],
  ["+inf", Infinity],
  ["-inf", -Infinity],
  ["infinity", Infinity],
  ["-infinity", -Infinity],
]);

function toFloat(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const special = SPECIAL_FLOATS.get(value.trim().toLowerCase());
  if (special !== undefined) return special;
  const number = Number(value);
  return Number.isNaN(number) ? undefined : number;
}

function toInteger(value: unknown): bigint | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (typeof value !== "string" || !/^\s*[-+]?\d+\s*$/.test(value)) return undefined;
  return BigInt(value.trim());
}

/** The result as KServe V2 JSON, one output per line; 64-bit integers keep every digit. */
export function resultToJson(result: InferResult): string {
  const outputs = [...result.outputs.values()].map((output) => {
    const data = elements(output).map(jsonValue).join(", ");
    const shape = output.shape.join(", ");
    return `    {"name": ${JSON.stringify(output.name)}, "datatype": "${output.datatype}", "shape": [${shape}], "data": [${data}]}`;
  });
  return [
    "{",
    `  "model_name": ${JSON.stringify(result.modelName)},`,
    `  "model_version": ${JSON.stringify(result.modelVersion)},`,
    `  "id": ${JSON.stringify(result.id)},`,
    `  "outputs": [${outputs.length === 0 ? "]" : `\n${outputs.join(",\n")}\n  ]`}`,
    "}",
  ].join("\n");
}

/** The result as a readable table; long outputs show their first elements. */
export function formatResult(result: InferResult): string {
  const rows = [...result.outputs.values()].map((output) => {
    const values = elements(output);
    const shown = values
      .slice(0, TABLE_ELEMENTS)
      .map((value) => (typeof value === "string" ? JSON.stringify(value) : String(value)));
    const more =
      values.length > TABLE_ELEMENTS ? `, … (${values.length - TABLE_ELEMENTS} more)` : "";
    return [
      output.name,
      output.datatype,
      output.shape.join("x") || "(scalar)",
      shown.join(", ") + more,
    ];
  });
  const header = `model ${result.modelName}, version ${result.modelVersion || "(default)"}${result.id ? `, id ${result.id}` : ""}`;
  return `${header}\n${formatTable(["OUTPUT", "DATATYPE", "SHAPE", "DATA"], rows)}`;
}

type Element = number | bigint | boolean | string;

const utf8 = new TextDecoder();

/** An output's elements as printable values: floats at their shortest exact form, FP16 as numbers. */
function elements(output: InferOutput): Element[] {
  const data: TensorData = output.data;
  switch (output.datatype) {
    case "BYTES":
      return (data as readonly Uint8Array[]).map((bytes) => utf8.decode(bytes));
    case "BOOL":
      return Array.from(data as Uint8Array, (value) => value !== 0);
    case "FP16":
      return Array.from(data as Uint16Array, (bits) =>
        shortest(float16ToNumber(bits), (n) => numberToFloat16(n) === bits),
      );
    case "FP32":
      return Array.from(data as Float32Array, (value) =>
        shortest(value, (n) => Math.fround(n) === value),
      );
    default:
      return Array.from(data as ArrayLike<number | bigint>);
  }
}

/** The number with the fewest digits that still converts back to the same element. */
function shortest(value: number, same: (candidate: number) => boolean): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits < 17; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (same(candidate)) return candidate;
  }
  return value;
}

// JSON has no NaN or Infinity: those go as strings rather than silently as null.
function jsonValue(value: Element): string {
  if (typeof value === "number" && !Number.isFinite(value)) return JSON.stringify(String(value));
  if (typeof value === "bigint") return value.toString();
  return JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  // Everything here came from JSON.parse or the command line, so JSON.stringify can show it.
  return value === undefined ? "nothing" : JSON.stringify(value);
}
