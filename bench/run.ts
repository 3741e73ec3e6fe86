// `./dev bench`: runs every bench/*.ts except run.ts and _*.ts, each as a child process
// (`deno run --allow-all bench/<name>.ts`), collects the result records they print (one
// JSON BenchResult per stdout line, see _lib.ts; `better` says which way the ratio
// counts, "lower" when absent unless `met` says otherwise), and writes bench/results.json and
// BENCHMARKS.md. A bench whose records do not say they are medians of several runs
// (`runs` > 1) is run BENCH_REPEAT times (default 3) and its figures are the medians.
// bench/plot.ts also draws bench/throughput.png (rsvg-convert, installed with apt-get
// when missing), which BENCHMARKS.md shows. Exits 1 when a bench fails or prints
// something that is not a record; a missed target is reported, not an error.
// Usage: ./dev bench [NAME_PREFIX...]
import { type BenchResult, betterOf, ensureDebianTool, median, repoRoot, result } from "./_lib.ts";

const REPEAT = Number(Deno.env.get("BENCH_REPEAT") ?? 3);

interface BenchRun {
  file: string;
  ok: boolean;
  seconds: number;
  results: BenchResult[];
  error?: string;
}

function isResult(value: unknown): value is BenchResult {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.name === "string" && typeof record.unit === "string" &&
    ["ours", "baseline", "ratio", "target"].every((key) => typeof record[key] === "number") &&
    typeof record.met === "boolean";
}

async function benchFiles(only: string[]): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${repoRoot}bench`)) {
    const name = entry.name;
    if (!entry.isFile || !name.endsWith(".ts") || name === "run.ts" || name.startsWith("_")) {
      continue;
    }
    if (only.length === 0 || only.some((wanted) => name.startsWith(wanted))) files.push(name);
  }
  return files.sort();
}

/** Runs a bench once, or REPEAT times with medians when it does not take medians itself. */
async function runBench(file: string): Promise<BenchRun> {
  const first = await runBenchOnce(file);
  const single = first.results.some((record) => runsOf(record) < 2);
  if (!first.ok || !single || REPEAT < 2) return first;
  const runs = [first];
  for (let i = 1; i < REPEAT; i++) {
    console.error(`bench: ${file}: repeat ${i + 1} of ${REPEAT} (it reports single runs)`);
    const next = await runBenchOnce(file);
    if (!next.ok) return next;
    runs.push(next);
  }
  const seconds = Math.round(runs.reduce((sum, run) => sum + run.seconds, 0) * 10) / 10;
  return { file, ok: true, seconds, results: mergeRuns(runs.map((run) => run.results)) };
}

/** How many runs a record is the median of: its `runs`, else "median of N" in its note. */
function runsOf(record: BenchResult): number {
  if (record.runs !== undefined) return record.runs;
  const stated = /median of (\d+)/.exec(record.note ?? "");
  return stated ? Number(stated[1]) : 1;
}

/** Per figure: the medians of ours and baseline over the bench's runs. */
function mergeRuns(runs: BenchResult[][]): BenchResult[] {
  return runs[0].map((record) => {
    const same = runs.map((results) => results.find((r) => r.name === record.name))
      .filter((r): r is BenchResult => r !== undefined);
    const note = `${record.note ? `${record.note}; ` : ""}median of ${same.length} runs ` +
      "of the bench (bench/run.ts)";
    return result({
      name: record.name,
      ours: median(same.map((r) => r.ours)),
      baseline: median(same.map((r) => r.baseline)),
      unit: record.unit,
      target: record.target,
      better: betterOf(record),
      note,
      runs: same.length,
    });
  });
}

async function runBenchOnce(file: string): Promise<BenchRun> {
  console.error(`bench: ${file}`);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${repoRoot}bench/${file}`],
    cwd: repoRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = await child.output();
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const results: BenchResult[] = [];
  const lines = new TextDecoder().decode(output.stdout).split("\n").filter((l) => l.trim());
  for (const line of lines) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (!isResult(parsed)) {
      return { file, ok: false, seconds, results, error: `not a result record: ${line}` };
    }
    results.push(parsed);
  }
  if (!output.success) {
    return { file, ok: false, seconds, results, error: `exited with ${output.code}` };
  }
  if (results.length === 0) return { file, ok: false, seconds, results, error: "no results" };
  return { file, ok: true, seconds, results };
}

/** "<= 1.3" for times, ">= 0.9" for throughputs. */
function bound(result: BenchResult): string {
  return `${betterOf(result) === "lower" ? "<=" : ">="} ${formatNumber(result.target)}`;
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
}

function markdown(runs: BenchRun[], meta: Record<string, string>): string {
  const lines = [
    "# Benchmarks",
    "",
    "Written by `./dev bench` (bench/run.ts); the raw records are in bench/results.json.",
    `Measured ${meta.date} with Deno ${meta.deno} on ${meta.machine}.`,
    "",
    "| figure | ours | baseline | ratio | target | met |",
    "|---|---|---|---|---|---|",
  ];
  const plotted = runs.some((run) => run.file === "plot.ts" && run.ok) &&
    existsSync(`${repoRoot}bench/throughput.png`);
  for (const result of runs.flatMap((run) => run.results)) {
    lines.push(
      `| ${result.name} | ${formatNumber(result.ours)} ${result.unit} | ` +
        `${formatNumber(result.baseline)} ${result.unit} | ${formatNumber(result.ratio)} | ` +
        `${bound(result)} | ${result.met ? "yes" : "**no**"} |`,
    );
  }
  if (plotted) {
    lines.push(
      "",
      "Throughput against write size on each path (bench/plot.ts; data in " +
        "bench/throughput.json):",
      "",
      "![Throughput against write size](bench/throughput.png)",
    );
  }
  const notes = runs.flatMap((run) => run.results).filter((r) => r.note);
  if (notes.length > 0) {
    lines.push("", "How each figure is taken:", "");
    for (const result of notes) lines.push(`- ${result.name}: ${result.note}`);
  }
  const failed = runs.filter((run) => !run.ok);
  if (failed.length > 0) {
    lines.push("", "Benches that failed:", "");
    for (const run of failed) lines.push(`- bench/${run.file}: ${run.error}`);
  }
  return lines.join("\n") + "\n";
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const files = await benchFiles(Deno.args);
if (files.includes("plot.ts")) await ensureDebianTool("rsvg-convert", "librsvg2-bin");
if (files.length === 0) {
  console.error("bench: no bench files match");
  Deno.exit(1);
}
const runs: BenchRun[] = [];
for (const file of files) runs.push(await runBench(file));
const meta = {
  date: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  deno: Deno.version.deno,
  machine: `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
};
await Deno.writeTextFile(
  `${repoRoot}bench/results.json`,
  JSON.stringify({ ...meta, runs }, null, 2) + "\n",
);
await Deno.writeTextFile(`${repoRoot}BENCHMARKS.md`, markdown(runs, meta));
// The files written here are checked by `deno fmt --check` like any other.
const written = [
  "bench/results.json",
  "BENCHMARKS.md",
  "bench/throughput.json",
  "bench/throughput.svg",
]
  .map((path) => `${repoRoot}${path}`).filter(existsSync);
await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...written], cwd: repoRoot })
  .output();
for (const result of runs.flatMap((run) => run.results)) {
  console.log(
    `${result.met ? "met   " : "MISSED"} ${result.name}: ${formatNumber(result.ours)} vs ` +
      `${formatNumber(result.baseline)} ${result.unit}, ratio ${formatNumber(result.ratio)} ` +
      `(target ${bound(result)})`,
  );
}
for (const run of runs.filter((r) => !r.ok)) console.log(`FAILED bench/${run.file}: ${run.error}`);
Deno.exit(runs.every((run) => run.ok) ? 0 : 1);
