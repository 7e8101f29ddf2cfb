// A node:test reporter that names every skipped test and suite, with its reason, after the run:
// the runner's own summary counts skipped tests but not skipped suites, and names neither, so a
// suite that skips on a fresh clone (the Jaeger end-to-end test without Jaeger) would be invisible.
export default async function* skipsReporter(source) {
  const skipped = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { skip, name, file, details } = event.data;
    if (skip === undefined || skip === false) continue;
    skipped.push({
      what: details?.type === "suite" ? "suite" : "test",
      name,
      file: file ?? "",
      reason: typeof skip === "string" ? skip : "",
    });
  }
  if (skipped.length === 0) {
    yield "skipped: none\n";
    return;
  }
  const suites = skipped.filter((s) => s.what === "suite").length;
  yield `skipped: ${skipped.length}${suites > 0 ? ` (${suites} of them ${suites === 1 ? "a suite" : "suites"})` : ""}\n`;
  for (const { what, name, file, reason } of skipped) {
    const where = file.replace(process.cwd() + "/", "");
    yield `  - ${what} "${name}" (${where})${reason ? `: ${reason}` : ""}\n`;
  }
}
