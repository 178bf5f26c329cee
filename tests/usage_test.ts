/**
 * Bad usage of every command-line tool (issue 12, item 7): whatever the
 * spelling (`--x V`, `--x=V`, a forgotten value, an unknown option, a stray
 * argument), exactly one line saying what is wrong, then one line pointing to
 * `--help`, nothing on stdout, exit 2. The client and the server are checked
 * in newcomer_test.ts; here every other script.
 */

import assert from "node:assert/strict";
import { Script } from "./_cli.ts";

const TASK = (name: string) => `deno task ${name}`;
const RELAY = "deno run --allow-net relay.ts";
const DEMO = "deno run --allow-net --allow-run demo.ts";
const RELAY_ARGS = ["--listen", "0", "--target", "127.0.0.1:9"];

/** [script, args, the line that says what is wrong (without the tool's prefix), the help command]. */
const CASES: [string, string[], string, string][] = [
  [
    "diagram.ts",
    ["--max", "-1", "a.jsonl"],
    '--max is "-1", expected an integer >= 0',
    TASK("diagram"),
  ],
  [
    "diagram.ts",
    ["--max=-1", "a.jsonl"],
    '--max is "-1", expected an integer >= 0',
    TASK("diagram"),
  ],
  [
    "diagram.ts",
    ["--head", "x", "a.jsonl"],
    '--head is "x", expected an integer >= 0',
    TASK("diagram"),
  ],
  ["diagram.ts", ["--tail"], "--tail needs a value", TASK("diagram")],
  ["diagram.ts", ["--bogus", "a.jsonl"], "unknown option --bogus", TASK("diagram")],
  [
    "relay.ts",
    [...RELAY_ARGS, "--seed", "-1"],
    '--seed is "-1", expected an integer in 0..4294967295',
    RELAY,
  ],
  [
    "relay.ts",
    [...RELAY_ARGS, "--seed=-1"],
    '--seed is "-1", expected an integer in 0..4294967295',
    RELAY,
  ],
  ["relay.ts", ["--loss"], "--loss needs a value", RELAY],
  ["relay.ts", ["--bogus=1"], "unknown option --bogus", RELAY],
  [
    "relay.ts",
    ["--listen", "0", "--target", "localhost:0"],
    '--target is "localhost:0", expected HOST:PORT with PORT in 1..65535',
    RELAY,
  ],
  ["relay.ts", ["extra"], 'unexpected argument "extra"', RELAY],
  [
    "relay.ts",
    [...RELAY_ARGS, "--rule", "drop:DATA:2"],
    "--rule is \"drop:DATA:2\", expected 4 parts separated by ':' " +
    "(ACTION:KIND:N:TO, such as drop:DATA:2:server)",
    RELAY,
  ],
  [
    "relay.ts",
    [...RELAY_ARGS, "--rule", "lose:DATA:2:server"],
    '--rule is "lose:DATA:2:server", ACTION "lose" is not one of drop, duplicate, hold ' +
    "(ACTION:KIND:N:TO, such as drop:DATA:2:server)",
    RELAY,
  ],
  [
    "relay.ts",
    [...RELAY_ARGS, "--rule", "drop:DATA:2:servidor"],
    '--rule is "drop:DATA:2:servidor", TO "servidor" is not server or client ' +
    "(ACTION:KIND:N:TO, such as drop:DATA:2:server)",
    RELAY,
  ],
  [
    "relay.ts",
    [...RELAY_ARGS, "--case", "lost-dato"],
    '--case is "lost-dato", expected a case id: ascii, utf8, binary, empty, one-segment, ' +
    "two-segments, lost-syn, lost-synack, lost-handshake-ack, lost-length, lost-data, " +
    "lost-data-ack, lost-last-data-ack, lost-fin, lost-finack, lost-last-ack, lost-last-acks, " +
    "lost-finacks, duplicate-data, " +
    "duplicate-ack, delayed-segment, loss-10, loss-20",
    RELAY,
  ],
  [
    "relay.ts",
    [...RELAY_ARGS, "--case", "loss-10", "--loss", "0.5"],
    "--case sets the faults itself: leave out --loss",
    RELAY,
  ],
  [
    "conformance.ts",
    ["--server", "x {port}", "--bound", "-1"],
    '--bound is "-1", expected a number > 0',
    TASK("conformance"),
  ],
  [
    "conformance.ts",
    ["--server", "x {port}", "--bound=-1"],
    '--bound is "-1", expected a number > 0',
    TASK("conformance"),
  ],
  ["conformance.ts", ["--server"], "--server needs a value", TASK("conformance")],
  ["conformance.ts", ["--bogus"], "unknown option --bogus", TASK("conformance")],
  [
    "conformance.ts",
    ["--server", "python3", "x.py", "{port}"],
    'unexpected argument "x.py" (quote the command template)',
    TASK("conformance"),
  ],
  ["lab.ts", ["--port", "-1"], '--port is "-1", expected a port number in 0..65535', TASK("lab")],
  ["lab.ts", ["--port=-1"], '--port is "-1", expected a port number in 0..65535', TASK("lab")],
  ["lab.ts", ["--port"], "--port needs a value", TASK("lab")],
  ["lab.ts", ["--bogus"], "unknown option --bogus", TASK("lab")],
  ["lab.ts", ["extra"], 'unexpected argument "extra"', TASK("lab")],
  [
    "plot.ts",
    ["--connection", "x", "t.jsonl"],
    '--connection is "x", expected a connection number >= 1',
    TASK("plot"),
  ],
  [
    "plot.ts",
    ["--connection=-1", "t.jsonl"],
    '--connection is "-1", expected a connection number >= 1',
    TASK("plot"),
  ],
  ["plot.ts", ["--output"], "--output needs a value", TASK("plot")],
  ["scenarios.ts", ["--case", "nope"], 'unknown case "nope" (see --list)', TASK("report")],
  ["scenarios.ts", ["--case=nope"], 'unknown case "nope" (see --list)', TASK("report")],
  ["scenarios.ts", ["--case"], "--case needs a value", TASK("report")],
  ["scenarios.ts", ["--bogus"], "unknown option --bogus", TASK("report")],
  ["soak.ts", ["--seconds", "-1"], '--seconds is "-1", expected an integer >= 1', TASK("soak")],
  ["soak.ts", ["--seconds=-1"], '--seconds is "-1", expected an integer >= 1', TASK("soak")],
  ["soak.ts", ["--max"], "unknown option --max (did you mean --max-size?)", TASK("soak")],
  ["demo.ts", ["--loss", "2"], '--loss is "2", expected a probability in 0..1 (below 1)', DEMO],
  ["demo.ts", ["--loss=2"], '--loss is "2", expected a probability in 0..1 (below 1)', DEMO],
  ["demo.ts", ["--size"], "--size needs a value", DEMO],
  ["demo.ts", ["extra"], 'unexpected argument "extra"', DEMO],
];

/** The prefix of a script's lines: its task's name (`scenarios.ts` is `deno task report`). */
function toolOf(script: string, command: string): string {
  return /^deno task (\S+)/.exec(command)?.[1] ?? script.replace(/\.ts$/, "");
}

Deno.test("bad usage of every tool, in every spelling: one line, a pointer to --help, exit 2", async () => {
  const results: { code: number; stderr: string; stdout: Uint8Array }[] = new Array(CASES.length);
  let next = 0;
  // Six processes at a time: each is a `deno run`.
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < CASES.length) {
      const index = next++;
      const [script, args] = CASES[index];
      results[index] = await new Script(script, args, {
        permissions: ["--allow-net", "--allow-run"],
      }).result();
    }
  }));
  results.forEach((result, i) => {
    const [script, args, line, command] = CASES[i];
    const tool = toolOf(script, command);
    const what = `${script} ${args.join(" ")}`;
    assert.equal(result.code, 2, `${what}: ${result.stderr}`);
    assert.equal(
      result.stderr,
      `${tool}: ${line}\n${tool}: run "${command} --help" for usage`,
      what,
    );
    assert.equal(result.stdout.length, 0, what);
  });
});
