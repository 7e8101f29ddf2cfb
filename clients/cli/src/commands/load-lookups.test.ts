import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import {
  captured,
  deleteKeys,
  FRAUD_PIPELINE,
  startTestRedis,
  type TestRedis,
} from "@sluice/testing";
import { runSluice } from "../program.js";

const run = (...args: string[]) => captured((output) => runSluice(args, { output }));

describe("sluice load-lookups", () => {
  let redis: TestRedis;
  let dir: string;
  let config: string;
  /** In every user id here, so the test's hashes can be deleted. */
  const id = randomUUID();

  before(async () => {
    redis = await startTestRedis();
    dir = await mkdtemp(join(tmpdir(), "sluice-load-lookups-"));
    config = join(dir, "fraud.yaml");
    await writeFile(config, await readFile(FRAUD_PIPELINE, "utf8"));
  });
  after(async () => {
    if (redis) await deleteKeys(redis.client, `user:${id}*`);
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const load = (file: string, ...flags: string[]) =>
    run("load-lookups", "--config", config, "--input", file, "--redis-url", redis.url, ...flags);

  test("loads a CSV profile table into the hashes the example's lookup reads", async () => {
    const csv = join(dir, "profiles.csv");
    const rows = Array.from({ length: 2_500 }, (_, i) => `${id}-${i},${i % 2 ? "NG" : "FR"},x`);
    // A BOM, a quoted name with a comma, a blank line: what spreadsheets write.
    await writeFile(
      csv,
      `\ufeffuser_id,home_country,name\n${rows.join("\n")}\n\n"${id}-q","US","Doe, J."\n`,
    );
    const { code, out, err } = await load(csv, "--batch-size", "1000");
    assert.equal(code, 0, err);
    assert.equal(
      out,
      "loaded 2501 records into user:{user_id} (home_country) from profiles.csv: 2501 rows, 0 rejected\n",
    );
    assert.equal(await redis.client.hget(`user:${id}-0`, "home_country"), "FR");
    assert.equal(await redis.client.hget(`user:${id}-2499`, "home_country"), "NG");
    assert.deepEqual(await redis.client.hgetall(`user:${id}-q`), { home_country: "US" });
  });

  test("loads JSON lines with the key in another column; names the rows it cannot load and exits 1", async () => {
    const jsonl = join(dir, "users.jsonl");
    await writeFile(
      jsonl,
      [
        JSON.stringify({ id: `${id}-j1`, home_country: "AU" }),
        "",
        JSON.stringify({ id: `${id}-j2`, home_country: "BR", tier: "gold" }),
        "{not json",
        JSON.stringify({ home_country: "DE" }),
        JSON.stringify({ id: `${id}-j3` }),
        JSON.stringify([1, 2]),
      ].join("\n"),
    );
    const { code, out, err } = await load(jsonl, "--key-field", "id");
    assert.equal(code, 1);
    assert.equal(
      out,
      "loaded 2 records into user:{user_id} (home_country) from users.jsonl: 6 rows, 4 rejected\n",
    );
    const lines = err.split("\n");
    // The parser's own words differ between Node versions.
    assert.match(lines[0]!, /^users\.jsonl:4: expected a JSON object, got invalid JSON \(.+\)$/);
    assert.deepEqual(lines.slice(1, 5), [
      "users.jsonl:5: id: expected the key's value (a string or number), got nothing",
      "users.jsonl:6: expected a value for home_country, got none",
      "users.jsonl:7: expected a JSON object, got [1,2]",
      "error: 4 rows of users.jsonl were not loaded (named above)",
    ]);
    assert.deepEqual(await redis.client.hgetall(`user:${id}-j2`), { home_country: "BR" });
  });

  test("refuses what it cannot load at all, before touching Redis", async () => {
    const unknown = await load(join(dir, "profiles.txt"));
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.err,
      /--input ".*profiles\.txt": expected a \.csv, \.jsonl or \.ndjson file, or --format csv\|jsonl/,
    );

    const document = parseYaml(await readFile(config, "utf8")) as {
      pipeline: { features: { vector: Record<string, unknown>[] } };
    };
    document.pipeline.features.vector = document.pipeline.features.vector.filter(
      (feature) => feature["lookup"] === undefined,
    );
    document.pipeline.features.vector.push({ name: "country_mismatch", field: "country_flag" });
    const noLookups = join(dir, "no-lookups.yaml");
    await writeFile(noLookups, stringify(document));
    const csv = join(dir, "one.csv");
    await writeFile(csv, `user_id,home_country\n${id}-z,FR\n`);
    const none = await run(
      "load-lookups",
      "--config",
      noLookups,
      "--input",
      csv,
      "--redis-url",
      redis.url,
    );
    assert.equal(none.code, 2);
    assert.match(none.err, /no-lookups\.yaml: the pipeline's features have no lookup to load/);
    assert.equal(await redis.client.exists(`user:${id}-z`), 0);
  });
});
